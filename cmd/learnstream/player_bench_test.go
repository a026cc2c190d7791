package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
)

// BenchmarkRuntimeCommit measures SCORM commits through the run-time
// endpoint (each reports one new interaction: one answered statement, and
// the attempt state written back) beside plain POST /xapi/statements of
// one statement, the baseline, sequentially on one embedded-broker server
// that both sub-benchmarks share (the parent body runs once).
func BenchmarkRuntimeCommit(b *testing.B) {
	dir := b.TempDir()
	p := startServe(b, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data")}, isolate()...)...)
	defer p.stop(b)
	zipPath := writeZip(b, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest, "intro.html", "x", "quiz/index.html", "x")
	pkgID := p.importPackage(b, zipPath)
	_, _, body := p.do(b, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkgID+`","unit":"quiz"}`)
	var reg struct{ Launch string }
	if err := json.Unmarshal(body, &reg); err != nil {
		b.Fatalf("registration: %s", body)
	}
	runtimeCall(b, p, reg.Launch, `{"event":"initialize","session":"bench"}`)
	next := 0
	b.Run("runtime-commit", func(b *testing.B) {
		for b.Loop() {
			runtimeCall(b, p, reg.Launch, fmt.Sprintf(`{"event":"commit","session":"bench","data":{"cmi.interactions.%d.id":"q%d","cmi.interactions.%d.student_response":"a","cmi.interactions.%d.result":"correct"}}`, next, next, next, next))
			next++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})
	b.Run("statement-post", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if code, _, body := p.do(b, "POST", "/xapi/statements", statement(i)); code != http.StatusOK {
				b.Fatalf("%d %s", code, body)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "statements/s")
	})
}
