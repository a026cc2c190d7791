package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestMigrateNeedsAnAddress(t *testing.T) {
	t.Setenv("LEARNSTREAM_CLICKHOUSE_ADDR", "")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"migrate"}, io.Discard, &stderr); code == 0 {
		t.Fatal("migrate without an address succeeded")
	}
	if !strings.Contains(stderr.String(), "--clickhouse-addr") {
		t.Errorf("error %q does not name --clickhouse-addr", stderr.String())
	}
}

// With a live ClickHouse (LEARNSTREAM_CLICKHOUSE_ADDR, e.g. from docker
// compose), migrate applies the schema, and again is a no-op.
func TestMigrateLive(t *testing.T) {
	if os.Getenv("LEARNSTREAM_CLICKHOUSE_ADDR") == "" {
		t.Skip("LEARNSTREAM_CLICKHOUSE_ADDR is not set: no live ClickHouse server (the schema is verified on chDB in ./analytics)")
	}
	for i := 0; i < 2; i++ {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"migrate"}, &stdout, &stderr); code != 0 {
			t.Fatalf("migrate run %d: %s", i+1, stderr.String())
		}
		if !strings.Contains(stdout.String(), "schema at migration") {
			t.Errorf("migrate printed %q", stdout.String())
		}
	}
}
