package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config is how the sink reaches ClickHouse.
type Config struct {
	// Addr is host:port of the native protocol (9000, or 9440 with TLS);
	// several addresses may be given separated by commas.
	Addr     string
	Database string // default "default"
	Username string // default "default"
	Password string

	// Retry bounds. Zero values take the defaults: 8 attempts, 200ms base
	// delay doubling up to 10s, each delay drawn uniformly from [0, cap].
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	DialTimeout time.Duration // default 10s
}

func (c *Config) defaults() {
	if c.Database == "" {
		c.Database = "default"
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = 200 * time.Millisecond
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// conn is the part of clickhouse-go's driver.Conn the writer uses; tests
// substitute a fake.
type conn interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
	Exec(ctx context.Context, query string, args ...any) error
	Ping(ctx context.Context) error
	Close() error
}

// ClickHouseWriter inserts row batches into ClickHouse over the native
// protocol. Write returns only once ClickHouse has accepted every row, so the
// sink may commit its Kafka offsets after a nil error; transient failures are
// retried with capped exponential backoff and full jitter. Retrying a batch
// that was partly applied is safe because every table is replay-safe.
type ClickHouseWriter struct {
	conn  conn
	cfg   Config
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64
}

// Open connects to ClickHouse and checks the connection with a ping
// (retried like a write, so a server that is still starting is waited for).
func Open(ctx context.Context, cfg Config) (*ClickHouseWriter, error) {
	cfg.defaults()
	if strings.TrimSpace(cfg.Addr) == "" {
		return nil, &ConfigError{"ClickHouse address is empty"}
	}
	var addrs []string
	for _, a := range strings.Split(cfg.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	c, err := clickhouse.Open(&clickhouse.Options{
		Addr:        addrs,
		Auth:        clickhouse.Auth{Database: cfg.Database, Username: cfg.Username, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		ClientInfo: clickhouse.ClientInfo{Products: []struct {
			Name    string
			Version string
		}{{Name: "learnstream-analytics", Version: fmt.Sprint(IngestVersion)}}},
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: open ClickHouse %s: %w", cfg.Addr, err)
	}
	w := newWriter(c, cfg)
	if err := w.retry(ctx, "ping", func(ctx context.Context) error { return w.conn.Ping(ctx) }); err != nil {
		c.Close()
		return nil, err
	}
	return w, nil
}

func newWriter(c conn, cfg Config) *ClickHouseWriter {
	cfg.defaults()
	return &ClickHouseWriter{conn: c, cfg: cfg, sleep: sleepCtx, rand: rand.Float64}
}

// Conn returns the underlying clickhouse-go connection, for queries.
func (w *ClickHouseWriter) Conn() driver.Conn {
	c, _ := w.conn.(driver.Conn)
	return c
}

// Close closes the connection.
func (w *ClickHouseWriter) Close() error { return w.conn.Close() }

// Exec runs one statement, retrying transient failures; it makes the writer
// an Execer, so Migrate(ctx, w) applies the schema.
func (w *ClickHouseWriter) Exec(ctx context.Context, query string) error {
	return w.retry(ctx, "exec", func(ctx context.Context) error { return w.conn.Exec(ctx, query) })
}

// Write inserts rows, one INSERT per destination table in order of first
// appearance, each retried as a whole on transient errors. It returns nil
// only when every row was accepted.
func (w *ClickHouseWriter) Write(ctx context.Context, rows []Row) error {
	type group struct {
		cols []string
		rows []Row
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range rows {
		g, ok := groups[r.Table()]
		if !ok {
			g = &group{cols: r.Columns()}
			groups[r.Table()] = g
			order = append(order, r.Table())
		}
		g.rows = append(g.rows, r)
	}
	for _, table := range order {
		g := groups[table]
		q := InsertQuery(table, g.cols)
		err := w.retry(ctx, "insert into "+table, func(ctx context.Context) error {
			return w.insertOnce(ctx, q, g.rows)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// InsertQuery is the INSERT a batch of table's rows is sent with.
func InsertQuery(table string, cols []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ")"
}

func (w *ClickHouseWriter) insertOnce(ctx context.Context, query string, rows []Row) (err error) {
	b, err := w.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			b.Abort()
		}
	}()
	for i, r := range rows {
		if err := b.Append(r.Values()...); err != nil {
			// A value the column cannot take is a bug in the encoder, not a
			// transient failure: say which row.
			return permanent(fmt.Errorf("row %d: %w", i, err))
		}
	}
	return b.Send()
}

// WriteError reports a write that failed for good.
type WriteError struct {
	Op       string
	Attempts int
	Err      error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("analytics: %s failed after %d attempt(s): %v", e.Op, e.Attempts, e.Err)
}
func (e *WriteError) Unwrap() error { return e.Err }

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }
func permanent(err error) error        { return permanentError{err} }

func (w *ClickHouseWriter) retry(ctx context.Context, op string, f func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err == nil {
				err = cerr
			}
			return &WriteError{Op: op, Attempts: attempt - 1, Err: err}
		}
		err = f(ctx)
		if err == nil {
			return nil
		}
		if !Retryable(err) || attempt >= w.cfg.MaxAttempts || ctx.Err() != nil {
			return &WriteError{Op: op, Attempts: attempt, Err: err}
		}
		if serr := w.sleep(ctx, Backoff(attempt, w.cfg.BaseDelay, w.cfg.MaxDelay, w.rand())); serr != nil {
			return &WriteError{Op: op, Attempts: attempt, Err: err}
		}
	}
}

// Backoff is the delay before retry number attempt (1-based): full jitter
// over an exponentially growing cap, u in [0,1) being the random draw.
func Backoff(attempt int, base, max time.Duration, u float64) time.Duration {
	c := base
	for i := 1; i < attempt && c < max; i++ {
		c *= 2
	}
	if c > max {
		c = max
	}
	return time.Duration(u * float64(c))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Server error codes worth retrying: overload, limits and timeouts that
// pass, replicas catching up, and inserts whose outcome is unknown.
var retryableCodes = map[int32]bool{
	159: true, // TIMEOUT_EXCEEDED
	164: true, // READONLY
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY
	252: true, // TOO_MANY_PARTS
	285: true, // TOO_FEW_LIVE_REPLICAS
	319: true, // UNKNOWN_STATUS_OF_INSERT
	394: true, // QUERY_WAS_CANCELLED
	425: true, // SYSTEM_ERROR
	439: true, // CANNOT_SCHEDULE_TASK
	999: true, // KEEPER_EXCEPTION
}

// Retryable reports whether err may pass on retry: network failures,
// timeouts, and server errors from the list above. Syntax, type and schema
// errors are not retried: they would fail the same way forever.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var p permanentError
	if errors.As(err, &p) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return retryableCodes[ex.Code]
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, clickhouse.ErrAcquireConnTimeout) {
		return true
	}
	return false
}

// Count runs a query whose answer is one number (SELECT count() ...),
// retrying transient failures; with Exec it makes the writer a Forgetter.
func (w *ClickHouseWriter) Count(ctx context.Context, query string) (int64, error) {
	c := w.Conn()
	if c == nil {
		return 0, errors.New("analytics: count: the connection cannot query")
	}
	var n uint64
	err := w.retry(ctx, "count", func(ctx context.Context) error { return c.QueryRow(ctx, query).Scan(&n) })
	return int64(n), err
}
