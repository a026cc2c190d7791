package ingest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLRS is an in-process LRS: it stores what it acknowledges, and can be
// told to lose statements or fail requests, so the tests can show the tool
// notices. Its /metrics reports a lag that drains after the load.
type fakeLRS struct {
	mu       sync.Mutex
	stored   map[string]bool
	posts    atomic.Int64
	loseEach int   // acknowledge but do not store every n-th statement (0: none)
	failEach int   // answer 500 to every n-th POST (0: none)
	lag      int64 // reported lag, decremented by each /metrics read
	cpu      float64

	slowSingle int // answer every n-th single-statement POST after 300 ms (0: none)
	singles    atomic.Int64

	failReads bool           // answer 500 to filtered GETs
	queries   map[string]int // filtered GETs by shape, when well formed
}

func (f *fakeLRS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/metrics":
		f.mu.Lock()
		f.cpu += 0.5
		lag := f.lag
		if f.lag > 0 {
			f.lag--
		}
		f.mu.Unlock()
		fmt.Fprintf(w, "# HELP x\nprocess_cpu_seconds_total %g\nprocess_resident_memory_bytes 1.048576e+07\n", f.cpu)
		fmt.Fprintf(w, "learnstream_consumer_lag{consumer=\"recommender\",partition=\"0\",topic=\"t\"} %d\n", lag)
		fmt.Fprintf(w, "learnstream_consumer_lag{consumer=\"statements\",partition=\"1\",topic=\"t\"} 0\n")
		fmt.Fprintf(w, "learnstream_consumer_lag_seconds{consumer=\"recommender\",topic=\"t\"} %g\n", float64(lag)/4)
		// Every stored statement has had its recommendations: half
		// within 10 ms, nine in ten within 100 ms.
		f.mu.Lock()
		n := len(f.stored)
		f.mu.Unlock()
		fmt.Fprintf(w, "learnstream_derived_event_delay_seconds_bucket{event=\"recommendations_updated\",le=\"0.01\"} %d\n", n/2)
		fmt.Fprintf(w, "learnstream_derived_event_delay_seconds_bucket{event=\"recommendations_updated\",le=\"0.1\"} %d\n", n*9/10)
		fmt.Fprintf(w, "learnstream_derived_event_delay_seconds_bucket{event=\"recommendations_updated\",le=\"+Inf\"} %d\n", n)
		fmt.Fprintf(w, "learnstream_derived_event_delay_seconds_count{event=\"recommendations_updated\"} %d\n", n)
	case r.Header.Get("X-Experience-API-Version") != "1.0.3":
		http.Error(w, "version", http.StatusBadRequest)
	case r.Method == http.MethodPost && r.URL.Path == "/xapi/statements":
		if k, s, _ := r.BasicAuth(); k != "k" || s != "s" {
			http.Error(w, "auth", http.StatusUnauthorized)
			return
		}
		n := f.posts.Add(1)
		if f.failEach > 0 && n%int64(f.failEach) == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var sts []struct{ ID string }
		if strings.HasPrefix(string(body), "[") {
			if err := json.Unmarshal(body, &sts); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		} else {
			if n := f.singles.Add(1); f.slowSingle > 0 && n%int64(f.slowSingle) == 0 {
				time.Sleep(300 * time.Millisecond)
			}
			var st struct{ ID string }
			if err := json.Unmarshal(body, &st); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			sts = append(sts, st)
		}
		ids := make([]string, len(sts))
		f.mu.Lock()
		for i, st := range sts {
			ids[i] = st.ID
			if f.loseEach == 0 || (len(f.stored)+i+1)%f.loseEach != 0 {
				f.stored[st.ID] = true
			}
		}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(ids)
	case r.Method == http.MethodGet && r.URL.Path == "/xapi/statements" && r.URL.Query().Get("statementId") == "":
		q := r.URL.Query()
		shape := "malformed"
		var agent struct{ Mbox string }
		switch {
		case q.Get("limit") != "10":
		case json.Unmarshal([]byte(q.Get("agent")), &agent) == nil && strings.HasPrefix(agent.Mbox, "mailto:learner") && strings.HasPrefix(q.Get("verb"), "http"):
			shape = ReadAgentVerb
		case strings.HasPrefix(q.Get("activity"), activityBase) && q.Get("related_activities") == "true":
			shape = ReadActivityRelated
		}
		f.mu.Lock()
		f.queries[shape]++
		f.mu.Unlock()
		if f.failReads {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"statements":[],"more":""}`)
	case r.Method == http.MethodGet && r.URL.Path == "/xapi/statements":
		id := r.URL.Query().Get("statementId")
		f.mu.Lock()
		ok := f.stored[id]
		f.mu.Unlock()
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id": id})
	default:
		http.NotFound(w, r)
	}
}

func TestRunAgainstInProcessLRS(t *testing.T) {
	cases := []struct {
		name        string
		cfg         Config
		loseEach    int
		failEach    int
		lag         int64
		wantAcked   int
		wantMissing bool
		wantFailed  bool
		wantDrained bool
	}{
		{name: "single, count", cfg: Config{Batch: 1, Concurrency: 4, Count: 200}, wantAcked: 200},
		{name: "batches, count not a multiple", cfg: Config{Batch: 30, Concurrency: 3, Count: 100}, wantAcked: 100},
		{name: "duration", cfg: Config{Batch: 10, Concurrency: 2, Duration: 300 * time.Millisecond}},
		{name: "lost statements are found missing", cfg: Config{Batch: 10, Concurrency: 2, Count: 100},
			loseEach: 7, wantAcked: 100, wantMissing: true},
		{name: "failed requests counted, not acknowledged", cfg: Config{Batch: 5, Concurrency: 1, Count: 50},
			failEach: 3, wantFailed: true},
		{name: "waits for the lag to drain", cfg: Config{Batch: 5, Concurrency: 1, Count: 20, Rate: 50},
			lag: 4, wantAcked: 20, wantDrained: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLRS{stored: map[string]bool{}, loseEach: tc.loseEach, failEach: tc.failEach, lag: tc.lag}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := tc.cfg
			cfg.URL, cfg.Key, cfg.Secret, cfg.Verify = srv.URL+"/xapi/", "k", "s", true
			cfg.Progress = 100 * time.Millisecond
			if tc.wantDrained {
				cfg.MetricsURL = srv.URL + "/metrics"
				cfg.DrainTimeout = 30 * time.Second
			}
			var out strings.Builder
			rep, err := Run(t.Context(), cfg, &out)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			if tc.wantAcked > 0 && rep.Acknowledged != tc.wantAcked {
				t.Errorf("acknowledged %d, want %d", rep.Acknowledged, tc.wantAcked)
			}
			f.mu.Lock()
			stored := len(f.stored)
			f.mu.Unlock()
			if !tc.wantMissing && rep.Acknowledged != stored {
				t.Errorf("acknowledged %d but the LRS stored %d", rep.Acknowledged, stored)
			}
			if rep.Acknowledged == 0 {
				t.Fatal("nothing acknowledged")
			}
			if rep.Verified == nil || rep.Verified.Checked != rep.Acknowledged {
				t.Fatalf("verification %+v, want every acknowledged id checked", rep.Verified)
			}
			if got := len(rep.Verified.Missing); (got > 0) != tc.wantMissing {
				t.Errorf("missing %d, want missing: %v", got, tc.wantMissing)
			}
			if tc.wantMissing && len(rep.Verified.Missing) != rep.Acknowledged-stored {
				t.Errorf("missing %d, the LRS lost %d", len(rep.Verified.Missing), rep.Acknowledged-stored)
			}
			if (rep.Failed > 0) != tc.wantFailed || (len(rep.Errors) > 0) != tc.wantFailed {
				t.Errorf("failed %d, errors %v; want failures: %v", rep.Failed, rep.Errors, tc.wantFailed)
			}
			if tc.wantFailed && rep.Errors["HTTP 500"] == 0 {
				t.Errorf("errors %v, want HTTP 500 counted", rep.Errors)
			}
			if rep.PerSecond <= 0 || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.Latency.Max < rep.Latency.P99 {
				t.Errorf("rate %.0f, latency %+v: want positive, ordered percentiles", rep.PerSecond, rep.Latency)
			}
			if tc.wantDrained {
				s := rep.Server
				if s == nil || !s.Drained {
					t.Fatalf("server figures %+v, want drained", s)
				}
				if s.MaxLag["recommender"] < 1 || s.CPU <= 0 || s.ResidentBytes != 10<<20 {
					t.Errorf("server figures %+v: want the lag seen, CPU and resident memory read", s)
				}
				// The first read after the start saw a lag of 3: 0.75 s.
				if got := s.MaxLagSeconds["recommender"]; got != 0.75 {
					t.Errorf("max lag %v s, want recommender 0.75 s", s.MaxLagSeconds)
				}
				d := s.Derived["recommendations_updated"]
				if d.Events != int64(rep.Acknowledged) || d.P50 != 10*time.Millisecond || d.P99 != 100*time.Millisecond {
					t.Errorf("derived event delay %+v, want %d events, p50 10ms, p99 100ms (the largest finite bound)", d, rep.Acknowledged)
				}
				if !strings.Contains(out.String(), "consumers drained") {
					t.Errorf("output lacks the drain line:\n%s", out.String())
				}
				if !strings.Contains(out.String(), " cores (busiest second ") {
					t.Errorf("progress lines lack the server's CPU:\n%s", out.String())
				}
			}
		})
	}
}

// A floor handler reads the body and answers 200 with nothing: only
// AnyAnswer counts that as acknowledged.
// Readers send the two filtered shapes while the load runs, and
// their latency and errors are reported per shape.
func TestReadersQueryWhileLoading(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing reads %v", fail), func(t *testing.T) {
			f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}, failReads: fail}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2,
				Duration: 300 * time.Millisecond, Readers: 3}
			var out strings.Builder
			rep, err := Run(t.Context(), cfg, &out)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.queries["malformed"] > 0 || f.queries[ReadAgentVerb] == 0 || f.queries[ReadActivityRelated] == 0 {
				t.Fatalf("queries the LRS saw: %v", f.queries)
			}
			for _, shape := range []string{ReadAgentVerb, ReadActivityRelated} {
				r := rep.Reads[shape]
				if r == nil || r.Requests == 0 || r.Requests > f.queries[shape] {
					t.Fatalf("%s: %+v, the LRS saw %d", shape, r, f.queries[shape])
				}
				if fail && (r.Errors != r.Requests || r.Latency.P99 != 0) || !fail && (r.Errors != 0 || r.Latency.P50 <= 0) {
					t.Errorf("%s: %+v with failing reads %v", shape, r, fail)
				}
				if !strings.Contains(out.String(), "reads "+shape+": ") {
					t.Errorf("no summary line for %s:\n%s", shape, out.String())
				}
			}
		})
	}
}

func TestProbeReportsStalls(t *testing.T) {
	f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}, slowSingle: 3}
	srv := httptest.NewServer(f)
	defer srv.Close()
	// The load posts arrays, so every single statement is the probe's, and
	// every third of them is answered after 300 ms.
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2,
		Duration: 1500 * time.Millisecond, Probe: 20 * time.Millisecond, Verify: true, Progress: 200 * time.Millisecond}
	var out strings.Builder
	rep, err := Run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Probe
	if p == nil || p.Requests < 6 || p.Errors != 0 || p.Every != cfg.Probe {
		t.Fatalf("probe: %+v", p)
	}
	singles := int(f.singles.Load())
	if p.Requests != singles {
		t.Errorf("probe counted %d requests, the LRS answered %d single statements", p.Requests, singles)
	}
	slow, slower := p.Slow["250ms"], p.Slow["100ms"]
	if slow != singles/3 || slower != slow || p.Slow["1s"] != 0 {
		t.Errorf("slow probes %v of %d, want %d over 100ms and 250ms and none over 1s", p.Slow, singles, singles/3)
	}
	if p.Latency.Max < 300*time.Millisecond || p.Latency.P50 >= 300*time.Millisecond {
		t.Errorf("probe latency %+v", p.Latency)
	}
	// The probe's statements are read back with the load's, and are not
	// the load's throughput.
	if rep.Verified == nil || rep.Verified.Checked != rep.Acknowledged+p.Requests || len(rep.Verified.Missing) != 0 {
		t.Errorf("verified %+v, acknowledged %d + %d probes", rep.Verified, rep.Acknowledged, p.Requests)
	}
	// Each progress line names the slowest probe of its interval: the
	// stalls' lines show one of at least 300 ms.
	stalled := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if _, rest, ok := strings.Cut(line, "probe max "); ok {
			if d, err := time.ParseDuration(strings.Fields(rest)[0]); err == nil && d >= 300*time.Millisecond {
				stalled++
			}
		}
	}
	if stalled == 0 || stalled > slow {
		t.Errorf("%d progress lines with a probe of 300 ms or more, %d slow probes:\n%s", stalled, slow, out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("probe: %d single statements, one every 20ms", p.Requests)) {
		t.Errorf("no probe line:\n%s", out.String())
	}

	rep, err = Run(t.Context(), Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 1, Count: 20}, io.Discard)
	if err != nil || rep.Probe != nil {
		t.Errorf("without a probe: %+v, %v", rep.Probe, err)
	}
}

// A run bounded by a count of statements ends when they are answered,
// readers and probe with it.
func TestCountedRunStopsReadersAndProbe(t *testing.T) {
	f := &fakeLRS{stored: map[string]bool{}, queries: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 2, Count: 2000,
		Readers: 1, Probe: 5 * time.Millisecond, Verify: true}
	type outcome struct {
		rep Report
		err error
	}
	ran := make(chan outcome, 1)
	go func() {
		rep, err := Run(t.Context(), cfg, io.Discard)
		ran <- outcome{rep, err}
	}()
	select {
	case o := <-ran:
		if o.err != nil || o.rep.Acknowledged != 2000 || o.rep.Probe == nil || o.rep.Reads == nil {
			t.Fatalf("report %+v, %v", o.rep, o.err)
		}
		if o.rep.Verified.Checked != 2000+o.rep.Probe.Requests {
			t.Errorf("verified %d, want the 2000 statements and %d probes", o.rep.Verified.Checked, o.rep.Probe.Requests)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a run of 2000 statements with a reader and a probe did not end")
	}
}

func TestAnyAnswerAcceptsAFloorHandler(t *testing.T) {
	var bodies atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			bodies.Add(1)
		}
	}))
	defer srv.Close()
	for _, anyAnswer := range []bool{false, true} {
		cfg := Config{URL: srv.URL, Batch: 10, Concurrency: 2, Count: 100, AnyAnswer: anyAnswer}
		rep, err := Run(t.Context(), cfg, io.Discard)
		if err != nil {
			t.Fatalf("any answer %v: %v", anyAnswer, err)
		}
		want := 0
		if anyAnswer {
			want = 100
		}
		if rep.Acknowledged != want || rep.Acknowledged+rep.Failed != 100 {
			t.Errorf("any answer %v: acknowledged %d, failed %d; want %d acknowledged of 100", anyAnswer, rep.Acknowledged, rep.Failed, want)
		}
	}
	if bodies.Load() < 20 {
		t.Errorf("handler read %d bodies, want at least 20", bodies.Load())
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "ftp://x", Batch: 1, Concurrency: 1, Count: 1}, "url:"},
		{Config{URL: "http://x", Batch: 0, Concurrency: 1, Count: 1}, "batch:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 0, Count: 1}, "concurrency:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1}, "one of them must be set"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, MetricsURL: "x"}, "metrics:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, AnyAnswer: true, Verify: true}, "any-answer, verify:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Rate: -1}, "rate:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Skills: -1}, "skills:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Skills: 5}, "catalog:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Readers: -1}, "readers:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Probe: -time.Second}, "probe:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Pprof: "ftp://h:1"}, "pprof:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, Pprof: "h:1", ProfileWindow: time.Millisecond}, "pprof-window:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Duration: time.Second, Pprof: "h:1", ProfileWindow: 5 * time.Second}, "pprof-window:"},
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Count: 1, ProfileOut: "p.pprof"}, "pprof-out:"},
		// No window asked for: the error is the load's, not --pprof-window's.
		{Config{URL: "http://x", Batch: 1, Concurrency: 1, Duration: 500 * time.Millisecond, Pprof: "h:1"}, "pprof: a profile takes at least 1s, the load (duration 500ms)"},
	}
	for _, tc := range cases {
		_, err := Run(t.Context(), tc.cfg, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.cfg, err, tc.want)
		}
	}
}

func TestGeneratedStatementsAreJSONOfTypicalSize(t *testing.T) {
	g := newGenerator(7, 50, 20)
	body, ids := g.body(100, false)
	var sts []map[string]any
	if err := json.Unmarshal(body, &sts); err != nil {
		t.Fatalf("generated batch is not JSON: %v", err)
	}
	if len(sts) != 100 || len(ids) != 100 {
		t.Fatalf("%d statements, %d ids", len(sts), len(ids))
	}
	seen := map[string]bool{}
	for i, st := range sts {
		if st["id"] != ids[i] || seen[ids[i]] {
			t.Fatalf("statement %d id %v, want unique %s", i, st["id"], ids[i])
		}
		seen[ids[i]] = true
	}
	if per := len(body) / 100; per < 500 || per > 1100 {
		t.Errorf("%d bytes per statement, want a typical 0.5-1.1 KB", per)
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 2.097152e+08
learnstream_consumer_lag{consumer="adaptive",partition="0",topic="learnstream.statements.v1"} 3
learnstream_consumer_lag{consumer="adaptive",partition="1",topic="learnstream.statements.v1"} 4
learnstream_consumer_lag{consumer="statements",partition="0",topic="learnstream.statements.v1"} 0
`
	s, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.cpu != 12.5 || s.rss != 200<<20 || s.lag["adaptive"] != 7 || s.lag["statements"] != 0 || s.totalLag() != 7 {
		t.Errorf("parsed %+v", s)
	}
}

func TestParseMetricsLagSecondsAndDelays(t *testing.T) {
	in := `learnstream_consumer_lag_seconds{consumer="adaptive",topic="learnstream.statements.v1"} 0.25
learnstream_consumer_lag_seconds{consumer="adaptive",topic="learnstream.adaptive.v1"} 1.5
learnstream_consumer_lag_seconds{consumer="statements",topic="learnstream.statements.v1"} 0
learnstream_derived_event_delay_seconds_bucket{event="mastery_updated",le="0.001"} 0
learnstream_derived_event_delay_seconds_bucket{event="mastery_updated",le="0.002"} 6
learnstream_derived_event_delay_seconds_bucket{event="mastery_updated",le="+Inf"} 8
learnstream_derived_event_delay_seconds_sum{event="mastery_updated"} 0.3
learnstream_derived_event_delay_seconds_count{event="mastery_updated"} 8
`
	s, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.lagSeconds["adaptive"] != 1.5 || s.lagSeconds["statements"] != 0 {
		t.Errorf("lag seconds %v, want the largest per consumer", s.lagSeconds)
	}
	if c, sec := s.mostBehind(); c != "adaptive" || sec != 1.5 {
		t.Errorf("most behind %s %.2f", c, sec)
	}
	h := s.delays["mastery_updated"]
	if h.count != 8 || len(h.le) != 3 || h.cum[1] != 6 {
		t.Errorf("histogram %+v", h)
	}
}

// The server's scheduling latency is read, and only the waits after the
// first sample count.
func TestParseMetricsSchedulingLatency(t *testing.T) {
	at := func(le1, le2, inf float64) string {
		return fmt.Sprintf(`# TYPE go_sched_latencies_seconds histogram
go_sched_latencies_seconds_bucket{le="1e-06"} %g
go_sched_latencies_seconds_bucket{le="0.001"} %g
go_sched_latencies_seconds_bucket{le="+Inf"} %g
go_sched_latencies_seconds_sum NaN
go_sched_latencies_seconds_count %g
`, le1, le2, inf, inf)
	}
	before, err := parseMetrics(strings.NewReader(at(500, 500, 500)))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMetrics(strings.NewReader(at(600, 690, 700)))
	if err != nil {
		t.Fatal(err)
	}
	d := after.sched.since(before.sched)
	if d.count != 200 {
		t.Fatalf("%v waits since the first sample, want 200", d.count)
	}
	// 100 waits under 1 µs, 90 up to 1 ms, 10 beyond: the median is the
	// first bucket's bound, the 99th percentile past the second's.
	if p50 := d.quantile(0.5); p50 != time.Microsecond {
		t.Errorf("p50 %v, want 1µs", p50)
	}
	if p99 := d.quantile(0.99); p99 != time.Millisecond {
		t.Errorf("p99 %v, want 1ms (the largest finite bound)", p99)
	}
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	earlier := histogram{le: []float64{0.01, 0.1, 1, inf}, cum: []float64{10, 10, 10, 10}, count: 10}
	now := histogram{le: []float64{0.01, 0.1, 1, inf}, cum: []float64{10, 60, 108, 110}, count: 110}
	run := now.since(earlier) // 50 in (0.01, 0.1], 48 in (0.1, 1], 2 above 1
	cases := []struct {
		name string
		h    histogram
		q    float64
		want time.Duration
	}{
		{"p50 interpolated in its bucket", run, 0.5, 100 * time.Millisecond},
		{"p25", run, 0.25, 55 * time.Millisecond},
		{"p99 beyond the last bound reads as it", run, 0.99, time.Second},
		{"p97 in the last finite bucket", run, 0.97, 981250 * time.Microsecond},
		{"nothing observed", histogram{}, 0.5, 0},
		{"the whole history when there is no earlier one", now.since(histogram{}), 0.05, 5500 * time.Microsecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.quantile(tc.q)
			if d := got - tc.want; d > time.Microsecond || d < -time.Microsecond {
				t.Errorf("quantile(%.2f) = %s, want %s", tc.q, got, tc.want)
			}
		})
	}
	if run.count != 100 {
		t.Errorf("observations in the run: %v, want 100", run.count)
	}
}

// A paced run sends at the rate asked, not as fast as the LRS answers.
func TestRatePacesTheLoad(t *testing.T) {
	cases := []struct {
		name        string
		rate        float64
		minDuration time.Duration
	}{
		{"500 statements/s", 500, 370 * time.Millisecond}, // the last batch is due at 190/500 s
		{"unpaced", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLRS{stored: map[string]bool{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 4, Count: 200, Rate: tc.rate}
			rep, err := Run(t.Context(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Acknowledged != 200 {
				t.Fatalf("acknowledged %d, want 200", rep.Acknowledged)
			}
			if rep.Elapsed < tc.minDuration {
				t.Errorf("200 statements in %s, want at least %s", rep.Elapsed, tc.minDuration)
			}
			if tc.rate > 0 && rep.PerSecond > tc.rate*1.1 {
				t.Errorf("%.0f statements/s, want at most %.0f", rep.PerSecond, tc.rate)
			}
		})
	}
}

// With Skills, the run first imports a catalog naming every activity the
// generated statements use, each assessing one skill.
func TestCatalogOfTheGeneratedActivities(t *testing.T) {
	f := &fakeLRS{stored: map[string]bool{}}
	var doc struct {
		Skills     []struct{ ID string }
		Activities []struct {
			ID, Type          string
			Teaches, Assesses []string
		}
	}
	var auth bool
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("POST /v1/catalog/import", func(w http.ResponseWriter, r *http.Request) {
		k, s, _ := r.BasicAuth()
		auth = k == "k" && s == "s"
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := Config{URL: srv.URL + "/xapi", Key: "k", Secret: "s", Batch: 10, Concurrency: 1, Count: 50,
		Learners: 5, Activities: 7, Skills: 3, CatalogURL: srv.URL + "/v1/catalog/import"}
	if _, err := Run(t.Context(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !auth || len(doc.Skills) != 3 || len(doc.Activities) != 7 {
		t.Fatalf("catalog imported with credentials %v: %d skills, %d activities; want 3 and 7", auth, len(doc.Skills), len(doc.Activities))
	}
	ids := map[string]bool{}
	for n, a := range doc.Activities {
		ids[a.ID] = true
		want := doc.Skills[n%3].ID
		if a.Type != "item" || len(a.Assesses) != 1 || a.Assesses[0] != want || len(a.Teaches) != 1 || a.Teaches[0] != want {
			t.Errorf("activity %d: %+v, want an item teaching and assessing %s", n, a, want)
		}
	}
	g := newGenerator(1, 5, 7)
	body, _ := g.body(200, false)
	var sts []struct{ Object struct{ ID string } }
	if err := json.Unmarshal(body, &sts); err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if !ids[st.Object.ID] {
			t.Fatalf("statement about %s, which the catalog lacks", st.Object.ID)
		}
	}

	// A catalog the server refuses stops the run before any statement.
	mux2 := http.NewServeMux()
	mux2.Handle("/", f)
	mux2.HandleFunc("POST /v1/catalog/import", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"no"}`, http.StatusForbidden)
	})
	srv2 := httptest.NewServer(mux2)
	defer srv2.Close()
	before := f.posts.Load()
	cfg.URL, cfg.CatalogURL = srv2.URL+"/xapi", srv2.URL+"/v1/catalog/import"
	if _, err := Run(t.Context(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("refused catalog: %v, want an error naming HTTP 403", err)
	}
	if f.posts.Load() != before {
		t.Error("statements were posted after the catalog was refused")
	}
}

// The CPU meter's windows and busiest second, from reads of the server's
// CPU counter at known times.
func TestCPUMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	type step struct {
		at, cpu float64 // seconds since t0, the counter
		window  bool    // a progress line: want its average and busiest second
		avg     float64
		peak    float64
	}
	cases := []struct {
		name     string
		first    float64 // the counter at t0 (0: no such series)
		steps    []step
		wantPeak float64
	}{
		{"steady", 10, []step{{at: 1, cpu: 11}, {at: 2, cpu: 12}, {at: 2, cpu: 12, window: true, avg: 1, peak: 1}}, 1},
		{"a burst inside a window", 10, []step{
			{at: 1, cpu: 10.5}, {at: 2, cpu: 12.4}, {at: 3, cpu: 12.9}, {at: 4, cpu: 13.4},
			{at: 4, cpu: 13.4, window: true, avg: 0.85, peak: 1.9},
			{at: 5, cpu: 14}, {at: 5, cpu: 14, window: true, avg: 0.6, peak: 0.6},
		}, 1.9},
		{"reads close together make no rate", 10, []step{
			{at: 1, cpu: 11}, {at: 1.1, cpu: 11.3}, {at: 2, cpu: 12},
			{at: 2, cpu: 12, window: true, avg: 1, peak: 1},
		}, 1},
		{"no CPU series", 0, []step{{at: 1}, {at: 1, window: true}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCPUMeter(sample{cpu: tc.first}, t0)
			for i, st := range tc.steps {
				s := sample{cpu: st.cpu}
				c.observe(s, at(st.at))
				if !st.window {
					continue
				}
				avg, peak, ok := c.window(s, at(st.at))
				if ok != (tc.first > 0) {
					t.Fatalf("step %d: window ok %v with a counter of %v", i, ok, tc.first)
				}
				if math.Abs(avg-st.avg) > 1e-9 || math.Abs(peak-st.peak) > 1e-9 {
					t.Errorf("step %d: window %.3f cores, busiest %.3f; want %.3f, %.3f", i, avg, peak, st.avg, st.peak)
				}
			}
			if math.Abs(c.peak-tc.wantPeak) > 1e-9 {
				t.Errorf("busiest second %.3f, want %.3f", c.peak, tc.wantPeak)
			}
		})
	}
}
