package ingest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// labelledCPU is ns of CPU sampled with labels (nil: none).
type labelledCPU struct {
	labels map[string][]string
	ns     int64
}

// cpuProfile is a CPU profile whose samples carry labels as learnstream's
// goroutines do.
func cpuProfile(t *testing.T, samples []labelledCPU) []byte {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "work"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		Function:   []*profile.Function{fn},
		Location:   []*profile.Location{loc},
	}
	for _, s := range samples {
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{loc}, Value: []int64{s.ns / 10_000_000, s.ns}, Label: s.labels})
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestProfileSplitsTheServersCPUByPart(t *testing.T) {
	raw := cpuProfile(t, []labelledCPU{
		{map[string][]string{"role": {"api"}}, 300e6},
		{map[string][]string{"consumer": {"statements"}, "topic": {"t1"}}, 400e6},
		{map[string][]string{"consumer": {"statements"}, "topic": {"t1"}}, 100e6},
		{map[string][]string{"consumer": {"statements"}, "topic": {"t2"}}, 20e6},
		{map[string][]string{"role": {"store"}}, 150e6},
		{nil, 30e6},
	})
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.String()
		w.Write(raw)
	}))
	defer srv.Close()
	base, err := pprofBase(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fetchProfile(t.Context(), base, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if asked != "/debug/pprof/profile?seconds=3" {
		t.Errorf("asked %s, want /debug/pprof/profile?seconds=3", asked)
	}
	p, err := splitProfile(b, 3*time.Second, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []ProfilePart{
		{Part: "consumer=statements topic=t1", CPU: 500 * time.Millisecond, Share: 0.5, PerStatement: 500 * time.Microsecond},
		{Part: "role=api", CPU: 300 * time.Millisecond, Share: 0.3, PerStatement: 300 * time.Microsecond},
		{Part: "role=store", CPU: 150 * time.Millisecond, Share: 0.15, PerStatement: 150 * time.Microsecond},
		{Part: "unlabelled", CPU: 30 * time.Millisecond, Share: 0.03, PerStatement: 30 * time.Microsecond},
		{Part: "consumer=statements topic=t2", CPU: 20 * time.Millisecond, Share: 0.02, PerStatement: 20 * time.Microsecond},
	}
	if p.CPU != time.Second || len(p.Parts) != len(want) {
		t.Fatalf("profile %+v, want 1s of CPU in %d parts", p, len(want))
	}
	for i, w := range want {
		if g := p.Parts[i]; g.Part != w.Part || g.CPU != w.CPU || g.PerStatement != w.PerStatement || g.Share < w.Share-1e-9 || g.Share > w.Share+1e-9 {
			t.Errorf("part %d: %+v, want %+v", i, g, w)
		}
	}
	if _, err := splitProfile([]byte("not a profile"), time.Second, 1); err == nil {
		t.Error("a body that is not a profile was split")
	}
}

func TestPprofBase(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6060":                    "http://127.0.0.1:6060/debug/pprof/",
		"http://127.0.0.1:6060":             "http://127.0.0.1:6060/debug/pprof/",
		"http://127.0.0.1:6060/debug/pprof": "http://127.0.0.1:6060/debug/pprof/",
		"https://h:1/x/debug/pprof/":        "https://h:1/x/debug/pprof/",
	} {
		if got, err := pprofBase(in); err != nil || got != want {
			t.Errorf("pprofBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://h:1", "http://", ":://"} {
		if _, err := pprofBase(bad); err == nil {
			t.Errorf("pprofBase(%q) accepted", bad)
		}
	}
}

// TestRunTakesAProfileWhileLoading: with Pprof, the run reports the
// server's CPU by part and saves the profile it split; one it cannot
// save it reports all the same.
func TestRunTakesAProfileWhileLoading(t *testing.T) {
	raw := cpuProfile(t, []labelledCPU{{map[string][]string{"role": {"api"}}, 20e6}, {map[string][]string{"consumer": {"progress"}}, 20e6}})
	f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}}
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {}) // the index
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // a profile answers after its window
		w.Write(raw)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "cpu.pprof")
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2, Duration: 2 * time.Second, Verify: true,
		Pprof: srv.URL, ProfileWindow: time.Second, ProfileOut: out}
	rep, err := Run(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Profile; p == nil || len(p.Parts) != 2 || p.Statements <= 0 || p.Parts[0].PerStatement <= 0 {
		t.Fatalf("profile %+v (acknowledged %d in all), want two parts over the statements acknowledged meanwhile", rep.Profile, rep.Acknowledged)
	}
	if saved, err := os.ReadFile(out); err != nil || !bytes.Equal(saved, raw) {
		t.Errorf("saved profile: %d bytes, %v; want the %d bytes served", len(saved), err, len(raw))
	}

	// A profile that cannot be saved is still split and reported, and
	// the failure to save it is a line of its own.
	cfg.ProfileOut = filepath.Join(t.TempDir(), "missing", "cpu.pprof")
	var lines strings.Builder
	rep, err = Run(t.Context(), cfg, &lines)
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Profile; p == nil || len(p.Parts) != 2 {
		t.Errorf("profile %+v, want it split though it was not saved", rep.Profile)
	}
	if !strings.Contains(lines.String(), "profile not saved: pprof-out:") || !strings.Contains(lines.String(), "missing") {
		t.Errorf("output:\n%s\nwant a line saying the profile was not saved, and where", lines.String())
	}
}

// TestRunChecksThePprofEndpointFirst: an endpoint that does not serve
// profiles is an error before the load, not after it.
func TestRunChecksThePprofEndpointFirst(t *testing.T) {
	f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}}
	srv := httptest.NewServer(f) // no /debug/pprof/
	defer srv.Close()
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2, Count: 50, Pprof: srv.URL}
	_, err := Run(t.Context(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pprof:") {
		t.Fatalf("error %v, want one naming pprof", err)
	}
	if n := f.posts.Load(); n != 0 {
		t.Errorf("%d POSTs before the endpoint was found wanting, want none", n)
	}
}

// TestRunReportsAFailedProfileAndGoesOn: a profile that fails once the
// load runs (the server stopped serving them) is a line in the output,
// and the run's own figures stand.
func TestRunReportsAFailedProfileAndGoesOn(t *testing.T) {
	f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}}
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "profiling is busy", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var out strings.Builder
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2, Count: 50, Pprof: srv.URL, Verify: true}
	rep, err := Run(t.Context(), cfg, &out)
	if err != nil || rep.Acknowledged != 50 || rep.Verified == nil || rep.Verified.Checked != 50 {
		t.Fatalf("report %+v, %v; want the 50 statements acknowledged and read back", rep, err)
	}
	if rep.Profile != nil || !strings.Contains(out.String(), "no profile of the server: pprof:") {
		t.Errorf("profile %+v, output:\n%s\nwant no profile and a line saying why", rep.Profile, out.String())
	}
}
