package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/learnstream/learnstream/analytics"
)

func init() {
	commands["migrate"] = command{summary: "apply the ClickHouse schema migrations (idempotent)", run: runMigrate}
}

// clickhouseFlags are the connection flags the migrate command and the
// analytics role share.
type clickhouseFlags struct {
	addr, database, user, password string
}

func (c *clickhouseFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "clickhouse-addr", "", "ClickHouse native protocol address host:port (comma-separated for several); empty disables analytics")
	fs.StringVar(&c.database, "clickhouse-database", "default", "ClickHouse database")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password (prefer LEARNSTREAM_CLICKHOUSE_PASSWORD)")
}

func (c *clickhouseFlags) config() analytics.Config {
	return analytics.Config{Addr: c.addr, Database: c.database, Username: c.user, Password: c.password}
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var ch clickhouseFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ch.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if ch.addr == "" {
		return errors.New("--clickhouse-addr: required (or LEARNSTREAM_CLICKHOUSE_ADDR)")
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	w, err := analytics.Open(octx, ch.config())
	if err != nil {
		return fmt.Errorf("clickhouse at %s: %w", ch.addr, err)
	}
	defer w.Close()
	ms, err := analytics.Migrations()
	if err != nil {
		return err
	}
	if err := analytics.Migrate(ctx, w); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clickhouse %s/%s: schema at migration %d (%s)\n", ch.addr, ch.database, ms[len(ms)-1].Version, ms[len(ms)-1].Name)
	return nil
}
