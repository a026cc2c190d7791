package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProfilesSplitByRole: a profile of the server tells its parts apart
// by label (docs/operations.md, "Profiles"): the API's connections, the
// store's and the broker's own goroutines, the log's shared readers, and
// each consumer. CPU samples carry the labels of the goroutine they
// were taken in, so `go tool pprof -tags` splits a CPU profile the same
// way; the goroutine profile shows them without a load.
func TestProfilesSplitByRole(t *testing.T) {
	p := startServe(t, credEnv(), "--data-dir", t.TempDir(), "--pprof", "127.0.0.1:0")
	postStatements(t, p, 0, 3) // leaves a keep-alive connection open on the API
	addr := p.pprofURL(t)
	deadline := time.Now().Add(30 * time.Second)
	want := []string{`"role":"api"`, `"role":"store"`, `"role":"broker"`, `"role":"fetch"`,
		`"consumer":"statements"`, `"consumer":"recommender"`, `"consumer":"progress"`,
		// Two consumers named adaptive (the model and its read model) on
		// their topics.
		`"consumer":"adaptive", "topic":"learnstream.statements.v1"`, `"consumer":"adaptive", "topic":"learnstream.adaptive.v1"`}
	var missing []string
	for time.Now().Before(deadline) {
		resp, err := http.Get(addr + "goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("goroutine profile lacks the labels %v", missing)
	}
}

// pprofURL is the base of the profiles a serve started with --pprof
// 127.0.0.1:0 serves, from its log.
func (p *proc) pprofURL(t testing.TB) string {
	t.Helper()
	re := regexp.MustCompile(`pprof profiles served.*?(http://127\.0\.0\.1:\d+/debug/pprof/)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.logs.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no pprof address in the logs:\n%s", p.logs)
	return ""
}
