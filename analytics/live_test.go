package analytics

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// liveRunner runs the engine checks on a ClickHouse server through the
// production path: ClickHouseWriter (native protocol, PrepareBatch/Append/
// Send) for inserts and migrations, clickhouse-go queries for reads.
type liveRunner struct{ w *ClickHouseWriter }

func (l liveRunner) Exec(ctx context.Context, q string) error { return l.w.Exec(ctx, q) }
func (l liveRunner) Insert(rows []Row) error                  { return l.w.Write(context.Background(), rows) }

// Query returns rows shaped like chDB's JSONEachRow output, so the same
// comparisons apply: numbers as float64, dates and times as text, NULL as nil.
func (l liveRunner) Query(q string, params map[string]string) ([]map[string]any, float64, error) {
	ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters(params)))
	start := time.Now()
	rows, err := l.w.Conn().Query(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, 0, err
		}
		m := map[string]any{}
		for i, ct := range cts {
			m[ct.Name()] = normalise(reflect.ValueOf(ptrs[i]).Elem(), ct.DatabaseTypeName())
		}
		out = append(out, m)
	}
	return out, time.Since(start).Seconds(), rows.Err()
}

func normalise(v reflect.Value, typ string) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	base := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(typ, "Nullable("), "LowCardinality("), ")")
	switch x := v.Interface().(type) {
	case time.Time:
		switch {
		case strings.HasPrefix(base, "Date32"), base == "Date":
			return x.UTC().Format("2006-01-02")
		case strings.HasPrefix(base, "DateTime64"):
			return x.UTC().Format("2006-01-02 15:04:05.000")
		default:
			return x.UTC().Format("2006-01-02 15:04:05")
		}
	case fmt.Stringer:
		return x.String()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	}
	return v.Interface()
}

// TestLiveClickHouse runs the migrations, the sink writer and the whole
// cookbook on a live server. It needs LEARNSTREAM_CLICKHOUSE_ADDR (native
// protocol host:port). With the address empty it skips, even when
// LEARNSTREAM_REQUIRE_SERVICES=1: CI has no ClickHouse server and requires
// chDB instead. With the address set, a server that cannot be reached fails.
func TestLiveClickHouse(t *testing.T) {
	addr := os.Getenv("LEARNSTREAM_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("LEARNSTREAM_CLICKHOUSE_ADDR is not set: no live ClickHouse server to test the clickhouse-go path against (chDB covers the engine)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := Config{Addr: addr, Username: os.Getenv("LEARNSTREAM_CLICKHOUSE_USER"), Password: os.Getenv("LEARNSTREAM_CLICKHOUSE_PASSWORD"), MaxAttempts: 3}
	admin, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("LEARNSTREAM_CLICKHOUSE_ADDR=%s is set but the server is not usable: %v", addr, err)
	}
	defer admin.Close()
	db := fmt.Sprintf("learnstream_test_%d", time.Now().UnixNano())
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	cfg.Database = db
	w, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	exerciseEngine(t, liveRunner{w})
}
