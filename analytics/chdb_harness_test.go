package analytics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// requireServices reports whether missing services must fail the tests.
func requireServices() bool { return os.Getenv("LEARNSTREAM_REQUIRE_SERVICES") == "1" }

// chdbSession drives testdata/chdb_runner.py: the real ClickHouse engine
// in-process in a python child, one session per test.
type chdbSession struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startChDB starts the harness, or skips (fails under
// LEARNSTREAM_REQUIRE_SERVICES=1) when no chDB python is configured.
func startChDB(t testing.TB) *chdbSession {
	t.Helper()
	py := os.Getenv("LEARNSTREAM_CHDB_PYTHON")
	if py == "" {
		msg := "LEARNSTREAM_CHDB_PYTHON is not set: point it at a python with chdb installed (python3 -m venv .cache/venv && .cache/venv/bin/pip install chdb) to run the schema and cookbook on the real ClickHouse engine"
		if requireServices() {
			t.Fatal(msg + " (LEARNSTREAM_REQUIRE_SERVICES=1)")
		}
		t.Skip(msg)
	}
	// LEARNSTREAM_CHDB_DIR keeps the session's database (e.g. a loaded
	// latency data set) for exploring it afterwards with chDB.
	dir := os.Getenv("LEARNSTREAM_CHDB_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(py, "testdata/chdb_runner.py", dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chDB harness with %s: %v", py, err)
	}
	s := &chdbSession{cmd: cmd, in: in, out: bufio.NewReaderSize(outp, 1<<20)}
	t.Cleanup(s.close)
	var ready struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := s.read(&ready); err != nil || !ready.OK {
		t.Fatalf("chDB harness did not start (is chdb installed for %s?): %v %s", py, err, ready.Error)
	}
	return s
}

func (s *chdbSession) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in != nil {
		fmt.Fprintln(s.in, `{"op":"close"}`)
		s.in.Close()
		s.in = nil
		s.cmd.Wait()
	}
}

func (s *chdbSession) read(v any) error {
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("chDB harness: %w", err)
	}
	return json.Unmarshal(line, v)
}

type chdbReply struct {
	OK      bool             `json:"ok"`
	Error   string           `json:"error"`
	Rows    []map[string]any `json:"rows"`
	Elapsed float64          `json:"elapsed"`
}

func (s *chdbSession) call(req map[string]any, payload []byte) (chdbReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		return chdbReply{}, fmt.Errorf("chDB harness is closed")
	}
	b, _ := json.Marshal(req)
	b = append(b, '\n')
	if _, err := s.in.Write(b); err != nil {
		return chdbReply{}, err
	}
	if payload != nil {
		if _, err := s.in.Write(payload); err != nil {
			return chdbReply{}, err
		}
	}
	var r chdbReply
	if err := s.read(&r); err != nil {
		return r, err
	}
	if !r.OK {
		return r, fmt.Errorf("chDB: %s", r.Error)
	}
	return r, nil
}

// Exec makes the session an Execer, so Migrate runs on it unchanged.
func (s *chdbSession) Exec(_ context.Context, q string) error {
	_, err := s.call(map[string]any{"op": "exec", "sql": q}, nil)
	return err
}

// Query runs a query with {name:Type} parameters and returns its rows.
func (s *chdbSession) Query(q string, params map[string]string) ([]map[string]any, float64, error) {
	r, err := s.call(map[string]any{"op": "query", "sql": q, "params": params}, nil)
	return r.Rows, r.Elapsed, err
}

// Insert writes rows as JSONEachRow, one request per table and chunk.
func (s *chdbSession) Insert(rows []Row) error {
	const chunk = 8 << 20
	bufs := map[string][]byte{}
	cols := map[string][]string{}
	var order []string
	flush := func(table string) error {
		if len(bufs[table]) == 0 {
			return nil
		}
		_, err := s.call(map[string]any{"op": "insert", "table": table, "columns": cols[table], "bytes": len(bufs[table])}, bufs[table])
		bufs[table] = bufs[table][:0]
		return err
	}
	for _, r := range rows {
		t := r.Table()
		if _, ok := cols[t]; !ok {
			cols[t] = r.Columns()
			order = append(order, t)
		}
		b := r.AppendJSON(bufs[t])
		bufs[t] = append(b, '\n')
		if len(bufs[t]) >= chunk {
			if err := flush(t); err != nil {
				return err
			}
		}
	}
	for _, t := range order {
		if err := flush(t); err != nil {
			return err
		}
	}
	return nil
}
