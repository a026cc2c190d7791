package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	f, _ := os.Open(zipPath)
	req, _ := http.NewRequest("POST", p.url+"/v1/packages", f)
	req.SetBasicAuth(testKey, testSecret)
	resp, err := http.DefaultClient.Do(req)
	f.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("import: %v %v", resp, err)
	}
	var pkg struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&pkg)
	resp.Body.Close()
	_, _, body := p.do(b, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkg.ID+`","unit":"quiz"}`)
	var reg struct{ Launch string }
	json.Unmarshal(body, &reg)
	token := strings.TrimPrefix(reg.Launch, "/player/")
	post := func(body string) {
		resp, err := http.Post(p.url+"/v1/runtime/"+token, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("runtime: %v %v", resp, err)
		}
		resp.Body.Close()
	}
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
