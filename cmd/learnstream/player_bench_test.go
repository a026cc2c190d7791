package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRuntimeCommitThroughput measures SCORM commits through the run-time
// endpoint (each reports one new interaction: one answered statement, and
// the attempt state written back) beside plain POST /xapi/statements of
// one statement, sequentially on one embedded-broker server. It runs only
// with LEARNSTREAM_BENCH_RUNTIME=N (N calls of each): it starts a server,
// which a Go benchmark's repeated runs would restart.
func TestRuntimeCommitThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LEARNSTREAM_BENCH_RUNTIME"))
	if n <= 0 {
		t.Skip("set LEARNSTREAM_BENCH_RUNTIME=N to measure N run-time commits and N statement writes")
	}
	b := t
	dir := b.TempDir()
	p := startServe(b, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data")}, isolate()...)...)
	zipPath := writeZip(b, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest, "intro.html", "x", "quiz/index.html", "x")
	pkgID := p.importPackage(b, zipPath)
	_, _, body := p.do(b, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkgID+`","unit":"quiz"}`)
	var reg struct{ Launch string }
	json.Unmarshal(body, &reg)
	post := func(body string) { runtimeCall(b, p, reg.Launch, body) }
	defer p.stop(b)
	post(`{"event":"initialize","session":"bench"}`)
	start := time.Now()
	for i := 0; i < n; i++ {
		post(fmt.Sprintf(`{"event":"commit","session":"bench","data":{"cmi.interactions.%d.id":"q%d","cmi.interactions.%d.student_response":"a","cmi.interactions.%d.result":"correct"}}`, i, i, i, i))
	}
	commits := float64(n) / time.Since(start).Seconds()
	start = time.Now()
	for i := 0; i < n; i++ {
		if code, _, body := p.do(b, "POST", "/xapi/statements", statement(i)); code != http.StatusOK {
			b.Fatalf("%d %s", code, body)
		}
	}
	writes := float64(n) / time.Since(start).Seconds()
	t.Logf("%d sequential calls each: %.0f run-time commits/s, %.0f POST /xapi/statements/s", n, commits, writes)
}
