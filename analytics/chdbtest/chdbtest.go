// Package chdbtest runs SQL on the real ClickHouse engine in tests: chDB
// (ClickHouse in-process, from PyPI) in a python child that speaks the
// protocol of analytics/testdata/chdb_runner.py. The analytics package's
// schema and cookbook tests use it, and so do end-to-end tests that check
// the rows the analytics sink makes from a running server's events.
//
// LEARNSTREAM_CHDB_PYTHON names a python with chdb installed; without it
// the test is skipped, or fails under LEARNSTREAM_REQUIRE_SERVICES=1.
package chdbtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Session is one chDB session, its database private to the test.
type Session struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// Reply is the runner's answer to one request.
type Reply struct {
	OK      bool             `json:"ok"`
	Error   string           `json:"error"`
	Rows    []map[string]any `json:"rows"`
	Elapsed float64          `json:"elapsed"`
}

// runner is the harness script, found beside this package's source so that
// tests of any package can start it.
func runner() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "chdb_runner.py")
}

// Start starts a session, or skips the test (fails it under
// LEARNSTREAM_REQUIRE_SERVICES=1) when no chDB python is configured. The
// session ends with the test.
func Start(t testing.TB) *Session {
	t.Helper()
	py := os.Getenv("LEARNSTREAM_CHDB_PYTHON")
	if py == "" {
		msg := "LEARNSTREAM_CHDB_PYTHON is not set: point it at a python with chdb installed (python3 -m venv .cache/venv && .cache/venv/bin/pip install chdb) to run the schema and cookbook on the real ClickHouse engine"
		if os.Getenv("LEARNSTREAM_REQUIRE_SERVICES") == "1" {
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
	cmd := exec.Command(py, runner(), dir)
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
	s := &Session{cmd: cmd, in: in, out: bufio.NewReaderSize(outp, 1<<20)}
	t.Cleanup(s.Close)
	var ready Reply
	if err := s.read(&ready); err != nil || !ready.OK {
		t.Fatalf("chDB harness did not start (is chdb installed for %s?): %v %s", py, err, ready.Error)
	}
	return s
}

// Close ends the session and its python child.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in != nil {
		fmt.Fprintln(s.in, `{"op":"close"}`)
		s.in.Close()
		s.in = nil
		s.cmd.Wait()
	}
}

func (s *Session) read(v any) error {
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("chDB harness: %w", err)
	}
	return json.Unmarshal(line, v)
}

// Call sends one request (and, for an insert, its payload) and reads the
// reply; a reply that is not ok is an error naming chDB's message.
func (s *Session) Call(req map[string]any, payload []byte) (Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		return Reply{}, fmt.Errorf("chDB harness is closed")
	}
	b, _ := json.Marshal(req)
	b = append(b, '\n')
	if _, err := s.in.Write(b); err != nil {
		return Reply{}, err
	}
	if payload != nil {
		if _, err := s.in.Write(payload); err != nil {
			return Reply{}, err
		}
	}
	var r Reply
	if err := s.read(&r); err != nil {
		return r, err
	}
	if !r.OK {
		return r, fmt.Errorf("chDB: %s", r.Error)
	}
	return r, nil
}

// Exec runs a statement; it makes the session an analytics.Execer, so
// the migrations run on it unchanged.
func (s *Session) Exec(_ context.Context, q string) error {
	_, err := s.Call(map[string]any{"op": "exec", "sql": q}, nil)
	return err
}

// Query runs a query with {name:Type} parameters and returns its rows and
// the engine's elapsed seconds.
func (s *Session) Query(q string, params map[string]string) ([]map[string]any, float64, error) {
	r, err := s.Call(map[string]any{"op": "query", "sql": q, "params": params}, nil)
	return r.Rows, r.Elapsed, err
}

// InsertJSON inserts rows given as JSONEachRow (one object a line) into
// table's columns.
func (s *Session) InsertJSON(table string, columns []string, rows []byte) error {
	_, err := s.Call(map[string]any{"op": "insert", "table": table, "columns": columns, "bytes": len(rows)}, rows)
	return err
}
