package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

type fakeBatch struct {
	driver.Batch // methods not overridden panic: the writer must not use them
	c            *fakeConn
	query        string
	rows         [][]any
}

func (b *fakeBatch) Append(v ...any) error {
	if b.c.appendErr != nil {
		return b.c.appendErr
	}
	b.rows = append(b.rows, v)
	return nil
}
func (b *fakeBatch) Abort() error { b.c.aborts++; return nil }
func (b *fakeBatch) Send() error {
	if len(b.c.sendErrs) > 0 {
		err := b.c.sendErrs[0]
		b.c.sendErrs = b.c.sendErrs[1:]
		return err
	}
	b.c.sent[b.query] = append(b.c.sent[b.query], b.rows...)
	return nil
}

type fakeConn struct {
	sendErrs  []error
	appendErr error
	sent      map[string][][]any
	aborts    int
	execs     []string
}

func (c *fakeConn) PrepareBatch(_ context.Context, q string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	return &fakeBatch{c: c, query: q}, nil
}
func (c *fakeConn) Exec(_ context.Context, q string, _ ...any) error {
	c.execs = append(c.execs, q)
	return nil
}
func (c *fakeConn) Ping(context.Context) error { return nil }
func (c *fakeConn) Close() error               { return nil }

func testWriter(c *fakeConn) (*ClickHouseWriter, *[]time.Duration) {
	w := newWriter(c, Config{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second})
	var sleeps []time.Duration
	w.sleep = func(ctx context.Context, d time.Duration) error { sleeps = append(sleeps, d); return ctx.Err() }
	w.rand = func() float64 { return 0.5 }
	return w, &sleeps
}

func TestWriterGroupsByTableAndRetries(t *testing.T) {
	c := &fakeConn{sent: map[string][][]any{}, sendErrs: []error{
		&clickhouse.Exception{Code: 252, Message: "too many parts"}, io.ErrUnexpectedEOF}}
	w, sleeps := testWriter(c)
	rows := []Row{Statement{StatementID: "1"}, Recommendation{ItemID: "a"}, Statement{StatementID: "2"}}
	if err := w.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	sq := InsertQuery("statements", statementColumns)
	if got := c.sent[sq]; len(got) != 2 || got[1][1] != "2" {
		t.Fatalf("statements sent: %v", got)
	}
	if len(c.sent) != 2 || c.aborts != 2 {
		t.Fatalf("sent %d tables, %d aborts", len(c.sent), c.aborts)
	}
	if want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}; fmt.Sprint(*sleeps) != fmt.Sprint(want) {
		t.Fatalf("backoff %v, want %v", *sleeps, want)
	}
	if !strings.HasPrefix(sq, "INSERT INTO statements (tenant, statement_id,") {
		t.Fatal(sq)
	}
}

func TestWriterGivesUp(t *testing.T) {
	// a permanent server error is not retried
	c := &fakeConn{sent: map[string][][]any{}, sendErrs: []error{&clickhouse.Exception{Code: 60, Message: "unknown table"}}}
	w, sleeps := testWriter(c)
	err := w.Write(context.Background(), []Row{Statement{}})
	var we *WriteError
	if !errors.As(err, &we) || we.Attempts != 1 || len(*sleeps) != 0 {
		t.Fatalf("got %v after %d sleeps", err, len(*sleeps))
	}
	// transient errors: MaxAttempts tries
	c = &fakeConn{sent: map[string][][]any{}, sendErrs: []error{io.EOF, io.EOF, io.EOF, io.EOF, io.EOF}}
	w, _ = testWriter(c)
	if err := w.Write(context.Background(), []Row{Statement{}}); !errors.As(err, &we) || we.Attempts != 4 || !errors.Is(err, io.EOF) {
		t.Fatalf("got %v", err)
	}
	// a value the column rejects is an encoder bug: no retry
	c = &fakeConn{sent: map[string][][]any{}, appendErr: errors.New("converting string to UUID")}
	w, _ = testWriter(c)
	if err := w.Write(context.Background(), []Row{Statement{}}); !errors.As(err, &we) || we.Attempts != 1 {
		t.Fatalf("got %v", err)
	}
	// a cancelled context stops retrying
	ctx, cancel := context.WithCancel(context.Background())
	c = &fakeConn{sent: map[string][][]any{}, sendErrs: []error{io.EOF, io.EOF, io.EOF}}
	w, _ = testWriter(c)
	w.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if err := w.Write(ctx, []Row{Statement{}}); err == nil || len(c.sent) != 0 {
		t.Fatalf("got %v", err)
	}
}

func TestBackoff(t *testing.T) {
	base, max := 200*time.Millisecond, 10*time.Second
	for attempt, want := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 4: 1600 * time.Millisecond, 7: 10 * time.Second, 60: 10 * time.Second} {
		if got := Backoff(attempt, base, max, 0.999999999); got > want || got < want*99/100 {
			t.Errorf("attempt %d: cap %v, want %v", attempt, got, want)
		}
		if got := Backoff(attempt, base, max, 0); got != 0 {
			t.Errorf("attempt %d: full jitter starts at 0, got %v", attempt, got)
		}
	}
	if Retryable(context.Canceled) || Retryable(&clickhouse.Exception{Code: 62}) || !Retryable(&clickhouse.Exception{Code: 241}) || !Retryable(context.DeadlineExceeded) {
		t.Fatal("Retryable")
	}
}
