package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// URL is the LRS endpoint, the base the xAPI resources hang from
	// (http://127.0.0.1:8080/xapi for learnstream).
	URL string
	// Key and Secret are the HTTP Basic credential.
	Key, Secret string
	// Batch is the statements per POST; 1 posts single statements as a
	// JSON object, more post an array.
	Batch int
	// Concurrency is the number of clients posting at once.
	Concurrency int
	// Duration and Count end the run: whichever comes first (0: unbounded;
	// at least one must be set).
	Duration time.Duration
	Count    int
	// Rate, when positive, paces the load to this many statements per
	// second over all clients (an open load: a request is sent when due,
	// whatever the answers before it took), so that consumers are
	// measured at a given input rate rather than at saturation.
	Rate float64
	// Learners and Activities size the generated population.
	Learners, Activities int
	// Progress is the interval between progress lines (0: none).
	Progress time.Duration
	// Verify reads back every acknowledged statement by id afterwards.
	Verify bool
	// AnyAnswer counts every 200 as acknowledging the statements sent,
	// without reading the ids from the answer: for the floor, a handler
	// that only reads the body. Verify must be off with it.
	AnyAnswer bool
	// MetricsURL is a Prometheus endpoint of the server (learnstream's
	// /metrics); when set, the run reports the server's CPU and resident
	// memory and waits for its consumers' lag to drain.
	MetricsURL string
	// CatalogURL is learnstream's catalog import endpoint
	// (POST /v1/catalog/import); with Skills > 0 the run first imports a
	// catalog in which every generated activity teaches and assesses one
	// of Skills skills, so that the adaptive model publishes mastery
	// events and the recommender ranks with skills, as with a real
	// catalogue.
	CatalogURL string
	Skills     int
	// Readers, when positive, is the number of clients reading while the
	// load runs, each sending filtered GETs of the generated population
	// one after another, in turn of two shapes: agent + verb, and
	// activity + related_activities (limit 10 each).
	Readers int
	// Probe, when positive, adds one client that posts a single statement
	// every Probe while the load runs, and reports those requests apart
	// (Report.Probe). A light request's wait is the server's own: the
	// load's latencies mix it with their batches' size and with queueing
	// behind each other, and a stall of the whole server (a broker held,
	// a compaction taking every core) shows in the probe as a slow answer
	// at the time it happened.
	Probe time.Duration
	// DrainTimeout bounds the wait for consumers to drain.
	DrainTimeout time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
	// Pprof, when set, is the server's pprof endpoint (learnstream serve
	// --pprof host:port: host:port or its /debug/pprof/ URL): the run
	// takes a CPU profile of ProfileWindow while loading and reports the
	// server's CPU by part (Report.Profile), saved to ProfileOut when set.
	Pprof         string
	ProfileWindow time.Duration
	ProfileOut    string
	// Seed makes the generated statements repeatable (ids stay random).
	Seed uint64
}

func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", c.URL))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("batch: must be at least 1, got %d", c.Batch))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: must be at least 1, got %d", c.Concurrency))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: must not be negative, got %g", c.Rate))
	}
	if c.Duration < 0 || c.Count < 0 {
		errs = append(errs, errors.New("duration, count: must not be negative"))
	}
	if c.Duration == 0 && c.Count == 0 {
		errs = append(errs, errors.New("duration, count: one of them must be set (the run needs an end)"))
	}
	if c.AnyAnswer && c.Verify {
		errs = append(errs, errors.New("any-answer, verify: a run that does not check the answers cannot read the statements back"))
	}
	if c.Learners < 1 || c.Activities < 1 {
		errs = append(errs, fmt.Errorf("learners, activities: must be at least 1, got %d and %d", c.Learners, c.Activities))
	}
	if c.Readers < 0 {
		errs = append(errs, fmt.Errorf("readers: must not be negative, got %d", c.Readers))
	}
	if c.Probe < 0 {
		errs = append(errs, fmt.Errorf("probe: must not be negative, got %s", c.Probe))
	}
	if c.Skills < 0 {
		errs = append(errs, fmt.Errorf("skills: must not be negative, got %d", c.Skills))
	}
	if c.Skills > 0 {
		if u, err := url.Parse(c.CatalogURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("catalog: %q is not an http(s) URL (skills need learnstream's catalog import)", c.CatalogURL))
		}
	}
	if c.Pprof != "" {
		if _, err := pprofBase(c.Pprof); err != nil {
			errs = append(errs, err)
		}
		switch {
		case c.ProfileWindow == 0 && c.Duration > 0 && c.Duration < time.Second:
			// No window asked for (Run sets it after validation): the
			// load is what is too short.
			errs = append(errs, fmt.Errorf("pprof: a profile takes at least 1s, the load (duration %s) is shorter", c.Duration))
		case c.ProfileWindow == 0:
		case c.ProfileWindow < time.Second:
			errs = append(errs, fmt.Errorf("pprof-window: must be at least 1s, got %s", c.ProfileWindow))
		case c.Duration > 0 && c.ProfileWindow > c.Duration:
			errs = append(errs, fmt.Errorf("pprof-window: the profile (%s) must fit in the load (duration %s)", c.ProfileWindow, c.Duration))
		}
	} else if c.ProfileOut != "" {
		errs = append(errs, errors.New("pprof-out: needs --pprof (the server's pprof endpoint)"))
	}
	if c.MetricsURL != "" {
		if u, err := url.Parse(c.MetricsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("metrics: %q is not an http(s) URL", c.MetricsURL))
		}
	}
	return errors.Join(errs...)
}

// Latency summarises request latencies.
type Latency struct {
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// Report is the outcome of a run.
type Report struct {
	Requests     int            `json:"requests"`
	Acknowledged int            `json:"acknowledged"`
	Failed       int            `json:"failed_statements"`
	Errors       map[string]int `json:"errors,omitempty"` // by HTTP status or transport error, in requests
	Elapsed      time.Duration  `json:"elapsed"`
	PerSecond    float64        `json:"statements_per_second"`
	Latency      Latency        `json:"latency"`

	// Reads are the filtered GETs of Config.Readers, per shape.
	Reads map[string]*Reads `json:"reads,omitempty"`
	// Probe is what the single POSTs of Config.Probe saw.
	Probe *Probe `json:"probe,omitempty"`

	Verified *Verification  `json:"verified,omitempty"`
	Server   *ServerFigures `json:"server,omitempty"`
	// Profile is the server's CPU by part while loading (Config.Pprof).
	Profile *Profile `json:"profile,omitempty"`
}

// Reads is what the readers saw of one shape of query during the load.
type Reads struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"` // not 200, or a transport error
	Latency  Latency `json:"latency"`
}

// Probe is what the probe's single POSTs saw during the load. Its
// statements are read back with the load's (Config.Verify) and counted in
// the server's CPU per statement, not in the load's throughput.
type Probe struct {
	Every    time.Duration `json:"every"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"` // not acknowledged, or a transport error
	Latency  Latency       `json:"latency"`
	// Slow counts the acknowledged probes slower than each of
	// ProbeThresholds: how often the server stalled, and how badly.
	Slow map[string]int `json:"slow"`
}

// ProbeThresholds are the latencies Probe.Slow counts probes above.
var ProbeThresholds = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, time.Second}

// Read shapes (Report.Reads keys).
const (
	ReadAgentVerb       = "agent+verb"
	ReadActivityRelated = "activity+related_activities"
)

// Verification is the outcome of reading every acknowledged id back.
type Verification struct {
	Checked int           `json:"checked"`
	Missing []string      `json:"missing,omitempty"` // ids the LRS acknowledged but does not return
	Errors  int           `json:"errors"`
	Elapsed time.Duration `json:"elapsed"`
}

// ServerFigures are what the server's metrics said about the run.
type ServerFigures struct {
	// CPU is the server's CPU time from the start of the load until its
	// consumers drained (or the drain timeout).
	CPU             time.Duration `json:"cpu"`
	CPUPerStatement time.Duration `json:"cpu_per_statement"`
	ResidentBytes   int64         `json:"resident_bytes"`
	// BusiestSecond is the server's CPU in its busiest second of the
	// load, in cores: the store's compactions come in bursts that use
	// every core for a second or more, which the run's average hides.
	BusiestSecond  float64          `json:"busiest_second_cores,omitempty"`
	Drained        bool             `json:"drained"`
	DrainAfterLoad time.Duration    `json:"drain_after_load"` // from the end of the load to every lag being 0
	MaxLag         map[string]int64 `json:"max_lag"`          // the largest total lag seen, per consumer
	// MaxLagSeconds is the largest lag in seconds of input seen per
	// consumer (learnstream_consumer_lag_seconds, read every second):
	// the age of the oldest statement it had not applied.
	MaxLagSeconds map[string]float64 `json:"max_lag_seconds"`
	// Derived is, per derived event (recommendations_updated,
	// mastery_updated), the delay from a statement's write to the log to
	// the broker acknowledging the event derived from it, over the run
	// (learnstream_derived_event_delay_seconds).
	Derived map[string]Delay `json:"derived_event_delay,omitempty"`
	// Scheduling is how long the server's goroutines waited to run once
	// they were runnable, from the start of the load to the drain
	// (go_sched_latencies_seconds, when the server exports it; Events
	// counts the waits): with every core busy, a request's tail is
	// mostly this queueing rather than its own work.
	Scheduling        *Delay  `json:"scheduling_latency,omitempty"`
	EndToEndPerSecond float64 `json:"end_to_end_per_second"` // acknowledged / (load + drain)
}

// Delay summarises the server's histogram of one derived event's delay
// over a run: percentiles interpolated within the histogram's buckets.
type Delay struct {
	Events int64         `json:"events"`
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
}

// result of one request.
type result struct {
	ids     []string
	latency time.Duration
	err     string // "" when acknowledged
}

// Run executes one load run against cfg.URL, writing progress lines to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (Report, error) {
	if cfg.Learners == 0 {
		cfg.Learners = 1000
	}
	if cfg.Activities == 0 {
		cfg.Activities = 200
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Minute
	}
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	// Validated: a --duration load has at least 1 s, so the default
	// window fits in it.
	if cfg.Pprof != "" && cfg.ProfileWindow == 0 {
		cfg.ProfileWindow = 20 * time.Second
		if cfg.Duration > 0 {
			cfg.ProfileWindow = max(time.Second, min(cfg.ProfileWindow, cfg.Duration/2))
		}
	}
	if cfg.Pprof != "" {
		cfg.Pprof, _ = pprofBase(cfg.Pprof) // validated
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	client := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		MaxIdleConns: (cfg.Concurrency + cfg.Readers) * 2, MaxIdleConnsPerHost: (cfg.Concurrency + cfg.Readers) * 2, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()

	var first sample
	var metrics *metricsReader
	if cfg.MetricsURL != "" {
		metrics = &metricsReader{url: cfg.MetricsURL, client: client}
		var err error
		if first, err = metrics.read(ctx); err != nil {
			return Report{}, fmt.Errorf("metrics: %w", err)
		}
	}

	if cfg.Pprof != "" {
		// Found before the load rather than after it.
		if err := checkPprof(ctx, cfg.Pprof); err != nil {
			return Report{}, err
		}
	}

	if cfg.Skills > 0 {
		if err := importCatalog(ctx, client, cfg); err != nil {
			return Report{}, fmt.Errorf("catalog: %w", err)
		}
		fmt.Fprintf(out, "imported a catalog of %d activities over %d skills\n", cfg.Activities, cfg.Skills)
	}

	mode := "single statements"
	if cfg.Batch > 1 {
		mode = fmt.Sprintf("batches of %d", cfg.Batch)
	}
	if cfg.Rate > 0 {
		mode += fmt.Sprintf(" at %.0f statements/s", cfg.Rate)
	}
	fmt.Fprintf(out, "posting %s to %s with %d clients (%s)\n", mode, cfg.URL, cfg.Concurrency,
		newGenerator(0, cfg.Learners, cfg.Activities).describe())

	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	if cfg.Duration > 0 {
		loadCtx, stop = context.WithTimeout(loadCtx, cfg.Duration)
		defer stop()
	}
	// budget is the statements still to send when Count bounds the run.
	var budget atomic.Int64
	budget.Store(int64(cfg.Count))
	take := func() int {
		if cfg.Count == 0 {
			return cfg.Batch
		}
		for {
			left := budget.Load()
			if left <= 0 {
				return 0
			}
			n := min(left, int64(cfg.Batch))
			if budget.CompareAndSwap(left, left-n) {
				return int(n)
			}
		}
	}

	results := make(chan result, cfg.Concurrency*4)
	var wg sync.WaitGroup
	var scheduled atomic.Int64 // statements given a send time (Rate)
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGenerator(cfg.Seed+uint64(w)+1, cfg.Learners, cfg.Activities)
			for loadCtx.Err() == nil {
				n := take()
				if n == 0 {
					return
				}
				if cfg.Rate > 0 {
					k := scheduled.Add(int64(n)) - int64(n)
					sleepCtx(loadCtx, time.Until(start.Add(time.Duration(float64(k)/cfg.Rate*float64(time.Second)))))
					if loadCtx.Err() != nil {
						return
					}
				}
				body, ids := g.body(n, cfg.Batch == 1)
				t0 := time.Now()
				// The end of the run stops new requests; those in flight
				// finish, so that what the LRS stored was acknowledged.
				err := post(ctx, client, cfg, body, ids)
				r := result{ids: ids, latency: time.Since(t0)}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: neither acknowledged nor failed
					}
					r.err = err.Error()
				}
				results <- r
				if err != nil {
					// Do not spin on a failing server.
					sleepCtx(loadCtx, 100*time.Millisecond)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	reads := startReaders(loadCtx, client, cfg)
	probe := startProbe(loadCtx, ctx, client, cfg)
	var ackedN atomic.Int64 // what the profile counts in its window
	prof := startProfile(ctx, cfg, &ackedN)

	var rep Report
	rep.Errors = map[string]int{}
	var acked []string
	var lats, window []time.Duration
	windowAcked := 0
	var tick <-chan time.Time
	if cfg.Progress > 0 {
		t := time.NewTicker(cfg.Progress)
		defer t.Stop()
		tick = t.C
	}
	lastTick := start
	var lagDuring map[string]int64
	var secondsDuring map[string]float64
	cpu := newCPUMeter(first, start)
	// The lag in seconds is read every second, apart from the progress
	// lines, so that its maximum is not missed between them.
	var lagTick <-chan time.Time
	if metrics != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		lagTick = t.C
	}
	for done := false; !done; {
		select {
		case r, ok := <-results:
			if !ok {
				done = true
				break
			}
			rep.Requests++
			if r.err != "" {
				rep.Errors[r.err]++
				rep.Failed += len(r.ids)
				continue
			}
			acked = append(acked, r.ids...)
			ackedN.Store(int64(len(acked)))
			lats = append(lats, r.latency)
			window = append(window, r.latency)
			windowAcked += len(r.ids)
		case now := <-lagTick:
			if m, err := metrics.read(ctx); err == nil {
				lagDuring = maxLag(lagDuring, m.lag)
				secondsDuring = maxSeconds(secondsDuring, m.lagSeconds)
				cpu.observe(m, now)
			}
		case now := <-tick:
			l := percentiles(window)
			line := fmt.Sprintf("%6.1fs  acked %9d  %8.0f/s  p50 %-8s p99 %-8s errors %d",
				now.Sub(start).Seconds(), len(acked), float64(windowAcked)/now.Sub(lastTick).Seconds(),
				round(l.P50), round(l.P99), rep.Failed)
			if probe != nil {
				line += fmt.Sprintf("  probe max %s", round(probe.takeWindow()))
			}
			if metrics != nil {
				if m, err := metrics.read(ctx); err == nil {
					line += "  lag " + m.lagLine()
					lagDuring = maxLag(lagDuring, m.lag)
					secondsDuring = maxSeconds(secondsDuring, m.lagSeconds)
					if c, sec := m.mostBehind(); sec > 0 {
						line += fmt.Sprintf("  behind %.2fs (%s)", sec, c)
					}
					cpu.observe(m, now)
					if avg, peak, ok := cpu.window(m, now); ok {
						line += fmt.Sprintf("  cpu %.2f cores (busiest second %.2f)", avg, peak)
					}
				}
			}
			fmt.Fprintln(out, line)
			window, windowAcked, lastTick = window[:0], 0, now
		}
	}
	loadEnd := time.Now()
	// A run bounded by Count ends when the last statement is answered:
	// the readers and the probe stop with the load.
	stop()
	rep.Elapsed = loadEnd.Sub(start)
	rep.Acknowledged = len(acked)
	rep.PerSecond = float64(len(acked)) / rep.Elapsed.Seconds()
	rep.Latency = percentiles(lats)
	fmt.Fprintf(out, "load done: %d statements acknowledged in %.1fs (%.0f/s), p50 %s p90 %s p99 %s per request, %d failed\n",
		rep.Acknowledged, rep.Elapsed.Seconds(), rep.PerSecond, round(rep.Latency.P50), round(rep.Latency.P90), round(rep.Latency.P99), rep.Failed)
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	if rep.Reads = reads(); rep.Reads != nil {
		for _, shape := range []string{ReadAgentVerb, ReadActivityRelated} {
			r := rep.Reads[shape]
			fmt.Fprintf(out, "reads %s: %d requests while loading, p50 %s p90 %s p99 %s, %d errors\n",
				shape, r.Requests, round(r.Latency.P50), round(r.Latency.P90), round(r.Latency.P99), r.Errors)
		}
	}

	var probeAcked []string
	if rep.Probe, probeAcked = probe.wait(); rep.Probe != nil {
		p := rep.Probe
		slow := make([]string, len(ProbeThresholds))
		for i, th := range ProbeThresholds {
			slow[i] = fmt.Sprintf("over %s: %d", th, p.Slow[th.String()])
		}
		fmt.Fprintf(out, "probe: %d single statements, one every %s: p50 %s p90 %s p99 %s max %s; %s; %d errors\n",
			p.Requests, p.Every, round(p.Latency.P50), round(p.Latency.P90), round(p.Latency.P99), round(p.Latency.Max),
			strings.Join(slow, ", "), p.Errors)
		acked = append(acked, probeAcked...)
	}

	// A profile that failed leaves the run's own figures standing, and
	// one that could not be saved is reported all the same.
	p, err, saveErr := prof.wait()
	if err != nil {
		fmt.Fprintf(out, "no profile of the server: %v\n", err)
	} else if p != nil {
		rep.Profile = p
		fmt.Fprintln(out, p.line())
	}
	if saveErr != nil {
		fmt.Fprintf(out, "profile not saved: %v\n", saveErr)
	}

	if metrics != nil {
		sf, err := drain(ctx, metrics, cfg, out, start, loadEnd, first, len(acked), lagDuring, secondsDuring)
		if err != nil {
			return rep, err
		}
		sf.BusiestSecond = cpu.peak
		rep.Server = sf
	}
	if cfg.Verify {
		v, err := verify(ctx, client, cfg, acked, out)
		if err != nil {
			return rep, err
		}
		rep.Verified = v
	}
	return rep, ctx.Err()
}

// startReaders starts cfg.Readers clients sending filtered GETs until
// ctx ends, and returns the function that waits for them and sums up what
// they saw (nil without readers).
func startReaders(ctx context.Context, client *http.Client, cfg Config) func() map[string]*Reads {
	if cfg.Readers == 0 {
		return func() map[string]*Reads { return nil }
	}
	type read struct {
		shape   string
		latency time.Duration
		ok      bool
	}
	seen := make([][]read, cfg.Readers)
	var wg sync.WaitGroup
	for w := range cfg.Readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed+uint64(w)+1000, 7))
			for i := 0; ctx.Err() == nil; i++ {
				shape, q := ReadAgentVerb, url.Values{"limit": {"10"}}
				if i%2 == 0 {
					agent := `{"mbox":"mailto:learner` + strconv.Itoa(rng.IntN(cfg.Learners)) + `@example.com"}`
					q.Set("agent", agent)
					q.Set("verb", verbs[rng.IntN(len(verbs))].id)
				} else {
					shape = ReadActivityRelated
					q.Set("activity", activityID(int(float64(cfg.Activities)*rng.Float64()*rng.Float64())))
					q.Set("related_activities", "true")
				}
				t0 := time.Now()
				ok := getQuery(ctx, client, cfg, q)
				if ctx.Err() != nil {
					return // cut by the end of the load: not counted
				}
				seen[w] = append(seen[w], read{shape, time.Since(t0), ok})
			}
		}()
	}
	return func() map[string]*Reads {
		wg.Wait()
		out := map[string]*Reads{ReadAgentVerb: {}, ReadActivityRelated: {}}
		lats := map[string][]time.Duration{}
		for _, rs := range seen {
			for _, r := range rs {
				out[r.shape].Requests++
				if !r.ok {
					out[r.shape].Errors++
					continue
				}
				lats[r.shape] = append(lats[r.shape], r.latency)
			}
		}
		for shape, r := range out {
			r.Latency = percentiles(lats[shape])
		}
		return out
	}
}

// prober is the probe of cfg.Probe while it runs (nil without one).
type prober struct {
	p      Probe
	acked  []string
	lats   []time.Duration
	done   chan struct{}
	window atomic.Int64 // the slowest probe since the last progress line, in ns
}

// startProbe starts the probe of cfg.Probe: a single statement posted
// every cfg.Probe until loadCtx ends (a request in flight then finishes,
// bounded by ctx, so that what the LRS stored was acknowledged).
func startProbe(loadCtx, ctx context.Context, client *http.Client, cfg Config) *prober {
	if cfg.Probe == 0 {
		return nil
	}
	pr := &prober{p: Probe{Every: cfg.Probe, Slow: map[string]int{}}, done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		g := newGenerator(cfg.Seed+probeSeed, cfg.Learners, cfg.Activities)
		t := time.NewTicker(cfg.Probe)
		defer t.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			// A probe slower than the interval delays the next, which
			// then goes at once: the ticker drops the ticks missed.
			body, ids := g.body(1, true)
			t0 := time.Now()
			err := post(ctx, client, cfg, body, ids)
			lat := time.Since(t0)
			if ctx.Err() != nil {
				return
			}
			pr.p.Requests++
			if err != nil {
				pr.p.Errors++
				continue
			}
			pr.acked = append(pr.acked, ids...)
			pr.lats = append(pr.lats, lat)
			for _, th := range ProbeThresholds {
				if lat > th {
					pr.p.Slow[th.String()]++
				}
			}
			for {
				old := pr.window.Load()
				if int64(lat) <= old || pr.window.CompareAndSwap(old, int64(lat)) {
					break
				}
			}
		}
	}()
	return pr
}

// takeWindow returns the slowest probe since the last call, so that a
// progress line places a stall in its interval.
func (pr *prober) takeWindow() time.Duration {
	if pr == nil {
		return 0
	}
	return time.Duration(pr.window.Swap(0))
}

// wait waits for the probe to end and sums up what it saw, with the ids
// the LRS acknowledged.
func (pr *prober) wait() (*Probe, []string) {
	if pr == nil {
		return nil, nil
	}
	<-pr.done
	pr.p.Latency = percentiles(pr.lats)
	return &pr.p, pr.acked
}

// probeSeed sets the probe's generator apart from the load's clients'.
const probeSeed = 1 << 20

// getQuery sends one GET /statements with q and reports whether it was
// answered 200 with a statement result.
func getQuery(ctx context.Context, client *http.Client, cfg Config, q url.Values) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL+"/statements?"+q.Encode(), nil)
	if err != nil {
		return false
	}
	setHeaders(req, cfg)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var res struct {
		Statements []json.RawMessage `json:"statements"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res)
	return resp.StatusCode == http.StatusOK && err == nil && res.Statements != nil
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(10 * time.Nanosecond) // scheduling waits are often below a microsecond
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func setHeaders(req *http.Request, cfg Config) {
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	if cfg.Key != "" || cfg.Secret != "" {
		req.SetBasicAuth(cfg.Key, cfg.Secret)
	}
}

// post sends one request and checks the answer names every id sent.
func post(ctx context.Context, client *http.Client, cfg Config, body []byte, ids []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+"/statements", bytes.NewReader(body))
	if err != nil {
		return err
	}
	setHeaders(req, cfg)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return transportError(err)
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if cfg.AnyAnswer {
		return nil
	}
	var got []string
	if err := json.Unmarshal(ans, &got); err != nil {
		return errors.New("answer is not a JSON array of ids")
	}
	if !slices.Equal(got, ids) {
		return errors.New("answer does not list the ids sent")
	}
	return nil
}

// transportError keeps error kinds few, so that they can be counted.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timeout")
		}
		err = ue.Err
	}
	return fmt.Errorf("transport: %v", err)
}

// verify reads back every acknowledged id with GET statements?statementId.
func verify(ctx context.Context, client *http.Client, cfg Config, ids []string, out io.Writer) (*Verification, error) {
	fmt.Fprintf(out, "verifying %d acknowledged statements (GET by id)\n", len(ids))
	start := time.Now()
	v := &Verification{}
	var mu sync.Mutex
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				found, err := getByID(ctx, client, cfg, ids[i])
				mu.Lock()
				v.Checked++
				switch {
				case err != nil:
					v.Errors++
				case !found:
					v.Missing = append(v.Missing, ids[i])
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.Elapsed = time.Since(start)
	sort.Strings(v.Missing)
	fmt.Fprintf(out, "verified %d statements in %.1fs: %d missing, %d errors\n", v.Checked, v.Elapsed.Seconds(), len(v.Missing), v.Errors)
	return v, nil
}

// getByID reports whether the LRS returns the statement with id.
func getByID(ctx context.Context, client *http.Client, cfg Config, id string) (bool, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL+"/statements?statementId="+url.QueryEscape(id), nil)
		if err != nil {
			return false, err
		}
		setHeaders(req, cfg)
		resp, err := client.Do(req)
		if err != nil {
			if attempt < 3 {
				continue
			}
			return false, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return false, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var st struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				return false, fmt.Errorf("statement %s: %w", id, err)
			}
			return st.ID == id, nil
		case http.StatusNotFound:
			return false, nil
		default:
			if attempt < 3 {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			return false, fmt.Errorf("statement %s: HTTP %d", id, resp.StatusCode)
		}
	}
}

// importCatalog posts the catalog of the generated activities, each
// teaching and assessing skill n mod Skills, all or nothing.
func importCatalog(ctx context.Context, client *http.Client, cfg Config) error {
	type skill struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	type activity struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Title    string   `json:"title"`
		Teaches  []string `json:"teaches"`
		Assesses []string `json:"assesses"`
	}
	var doc struct {
		Skills     []skill    `json:"skills"`
		Activities []activity `json:"activities"`
	}
	for k := range cfg.Skills {
		doc.Skills = append(doc.Skills, skill{ID: fmt.Sprintf("bench-skill-%d", k), Name: fmt.Sprintf("Bench skill %d", k)})
	}
	for n := range cfg.Activities {
		s := []string{doc.Skills[n%cfg.Skills].ID}
		doc.Activities = append(doc.Activities, activity{ID: activityID(n), Type: "item", Title: fmt.Sprintf("Lesson %d", n), Teaches: s, Assesses: s})
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.CatalogURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if cfg.Key != "" || cfg.Secret != "" {
		req.SetBasicAuth(cfg.Key, cfg.Secret)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return transportError(err)
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %s", cfg.CatalogURL, resp.StatusCode, bytes.TrimSpace(ans))
	}
	return nil
}

// drain follows the server's consumer lag from the end of the load until
// every consumer has caught up, and reads its CPU time then.
func drain(ctx context.Context, m *metricsReader, cfg Config, out io.Writer, start, loadEnd time.Time,
	first sample, acked int, lagDuring map[string]int64, secondsDuring map[string]float64) (*ServerFigures, error) {
	sf := &ServerFigures{MaxLag: lagDuring, MaxLagSeconds: maxSeconds(secondsDuring, nil)}
	deadline := loadEnd.Add(cfg.DrainTimeout)
	lastLine := time.Time{}
	// Lag gauges are refreshed by the server about every second: a zero
	// counts only when read after a refresh that followed the load.
	zeroes := 0
	var snap sample
	for {
		var err error
		snap, err = m.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		sf.MaxLag = maxLag(sf.MaxLag, snap.lag)
		sf.MaxLagSeconds = maxSeconds(sf.MaxLagSeconds, snap.lagSeconds)
		now := time.Now()
		if snap.totalLag() == 0 {
			zeroes++
		} else {
			zeroes = 0
		}
		if zeroes >= 2 && now.Sub(loadEnd) >= 1500*time.Millisecond || zeroes >= 2 && len(snap.lag) == 0 {
			sf.Drained = true
			sf.DrainAfterLoad = now.Sub(loadEnd)
			break
		}
		if now.After(deadline) {
			sf.DrainAfterLoad = now.Sub(loadEnd)
			break
		}
		if cfg.Progress > 0 && now.Sub(lastLine) >= cfg.Progress {
			fmt.Fprintf(out, "draining %6.1fs  lag %s\n", now.Sub(loadEnd).Seconds(), snap.lagLine())
			lastLine = now
		}
		sleepCtx(ctx, 250*time.Millisecond)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	sf.CPU = time.Duration((snap.cpu - first.cpu) * float64(time.Second))
	for name, h := range snap.delays {
		d := h.since(first.delays[name])
		if d.count == 0 {
			continue
		}
		if sf.Derived == nil {
			sf.Derived = map[string]Delay{}
		}
		sf.Derived[name] = Delay{Events: int64(d.count), P50: d.quantile(0.50), P99: d.quantile(0.99)}
	}
	if d := snap.sched.since(first.sched); d.count > 0 {
		sf.Scheduling = &Delay{Events: int64(d.count), P50: d.quantile(0.50), P99: d.quantile(0.99)}
	}
	if acked > 0 {
		sf.CPUPerStatement = sf.CPU / time.Duration(acked)
	}
	sf.ResidentBytes = int64(snap.rss)
	total := time.Since(start)
	if sf.Drained {
		total = loadEnd.Sub(start) + sf.DrainAfterLoad
	}
	sf.EndToEndPerSecond = float64(acked) / total.Seconds()
	state := "drained"
	if !sf.Drained {
		state = "NOT drained (timeout; lag " + snap.lagLine() + ")"
	}
	fmt.Fprintf(out, "consumers %s %.1fs after the load; server CPU %.1fs (%s per statement), resident %d MiB; end to end %.0f statements/s\n",
		state, sf.DrainAfterLoad.Seconds(), sf.CPU.Seconds(), round(sf.CPUPerStatement), sf.ResidentBytes>>20, sf.EndToEndPerSecond)
	if c, sec := mostBehind(sf.MaxLagSeconds); c != "" {
		fmt.Fprintf(out, "most behind: %s, %.2fs of input at most\n", c, sec)
	}
	if s := sf.Scheduling; s != nil {
		fmt.Fprintf(out, "server goroutines waited to run: p50 %s, p99 %s (%d waits)\n", round(s.P50), round(s.P99), s.Events)
	}
	return sf, nil
}

func maxSeconds(into, now map[string]float64) map[string]float64 {
	if into == nil {
		into = map[string]float64{}
	}
	for c, v := range now {
		into[c] = max(into[c], v)
	}
	return into
}

// mostBehind names the consumer with the largest lag in seconds ("" when
// there is none).
func mostBehind(secs map[string]float64) (string, float64) {
	name, most := "", 0.0
	for c, v := range secs {
		if v > most || v == most && name != "" && c < name {
			name, most = c, v
		}
	}
	return name, most
}

func maxLag(into, now map[string]int64) map[string]int64 {
	if into == nil {
		into = map[string]int64{}
	}
	for c, n := range now {
		into[c] = max(into[c], n)
	}
	return into
}

// cpuMeter follows the server's CPU time (process_cpu_seconds_total) as
// the tool reads its metrics: each progress window's average and busiest
// second, and the busiest second of the load, in cores.
type cpuMeter struct {
	last, windowStart float64 // CPU seconds at lastAt, at windowAt
	lastAt, windowAt  time.Time
	peak, windowPeak  float64
	seen              bool // the series is there
}

func newCPUMeter(first sample, at time.Time) *cpuMeter {
	return &cpuMeter{last: first.cpu, windowStart: first.cpu, lastAt: at, windowAt: at, seen: first.cpu > 0}
}

// observe takes a read of the metrics at now. A rate is taken over at
// least 0.9 s: the counter moves in steps of the kernel's ticks, and
// reads close together (a progress line right after the lag's read)
// would make noise of them.
func (c *cpuMeter) observe(s sample, now time.Time) {
	if s.cpu <= 0 {
		return
	}
	if !c.seen {
		*c = cpuMeter{last: s.cpu, windowStart: s.cpu, lastAt: now, windowAt: now, seen: true}
		return
	}
	if d := now.Sub(c.lastAt).Seconds(); d >= 0.9 {
		r := (s.cpu - c.last) / d
		c.peak, c.windowPeak = max(c.peak, r), max(c.windowPeak, r)
		c.last, c.lastAt = s.cpu, now
	}
}

// window returns the average and the busiest second since the last
// window, and starts the next; ok is false when the server reports no
// CPU or the window is too short to say.
func (c *cpuMeter) window(s sample, now time.Time) (avg, peak float64, ok bool) {
	d := now.Sub(c.windowAt).Seconds()
	if !c.seen || s.cpu <= 0 || d <= 0 {
		return 0, 0, false
	}
	avg, peak = (s.cpu-c.windowStart)/d, max(c.windowPeak, (s.cpu-c.windowStart)/d)
	c.windowStart, c.windowAt, c.windowPeak = s.cpu, now, 0
	return avg, peak, true
}

// metricsReader scrapes the few series the tool needs from a Prometheus
// text endpoint.
type metricsReader struct {
	url    string
	client *http.Client
}

type sample struct {
	cpu        float64              // process_cpu_seconds_total
	rss        float64              // process_resident_memory_bytes
	lag        map[string]int64     // learnstream_consumer_lag summed per consumer
	lagSeconds map[string]float64   // learnstream_consumer_lag_seconds, the largest per consumer
	delays     map[string]histogram // learnstream_derived_event_delay_seconds per event
	sched      histogram            // go_sched_latencies_seconds
}

func (s sample) mostBehind() (string, float64) { return mostBehind(s.lagSeconds) }

// histogram is a Prometheus histogram: cumulative counts per upper bound.
type histogram struct {
	le    []float64 // upper bounds, ascending, the last +Inf
	cum   []float64 // observations at or below each
	count float64
}

func (h *histogram) add(le, n float64) {
	i, _ := slices.BinarySearch(h.le, le)
	h.le = slices.Insert(h.le, i, le)
	h.cum = slices.Insert(h.cum, i, n)
}

// since is the histogram of what was observed after earlier (a zero
// histogram: everything).
func (h histogram) since(earlier histogram) histogram {
	d := histogram{le: h.le, cum: slices.Clone(h.cum), count: h.count - earlier.count}
	for i, le := range h.le {
		if j, ok := slices.BinarySearch(earlier.le, le); ok {
			d.cum[i] -= earlier.cum[j]
		}
	}
	return d
}

// quantile interpolates linearly within the bucket the q-th observation
// falls in, as Prometheus' histogram_quantile does; in the +Inf bucket it
// is the largest finite bound (a lower bound of the truth).
func (h histogram) quantile(q float64) time.Duration {
	if h.count <= 0 || len(h.le) == 0 {
		return 0
	}
	rank := q * h.count
	lo, below := 0.0, 0.0
	for i, le := range h.le {
		if h.cum[i] >= rank {
			if math.IsInf(le, 1) {
				return time.Duration(lo * float64(time.Second))
			}
			frac := 1.0
			if n := h.cum[i] - below; n > 0 {
				frac = (rank - below) / n
			}
			return time.Duration((lo + frac*(le-lo)) * float64(time.Second))
		}
		lo, below = le, h.cum[i]
	}
	return time.Duration(lo * float64(time.Second))
}

func (s sample) totalLag() int64 {
	var n int64
	for _, v := range s.lag {
		n += v
	}
	return n
}

func (s sample) lagLine() string {
	names := make([]string, 0, len(s.lag))
	for n := range s.lag {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, s.lag[n])
	}
	return strings.Join(parts, " ")
}

func (m *metricsReader) read(ctx context.Context) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return sample{}, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("GET %s: HTTP %d", m.url, resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format (the lines it needs).
func parseMetrics(r io.Reader) (sample, error) {
	s := sample{lag: map[string]int64{}, lagSeconds: map[string]float64{}, delays: map[string]histogram{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			s.cpu = value
		case "process_resident_memory_bytes":
			s.rss = value
		case "learnstream_consumer_lag":
			s.lag[labelValue(labels, "consumer")] += int64(value)
		case "learnstream_consumer_lag_seconds":
			c := labelValue(labels, "consumer")
			s.lagSeconds[c] = max(s.lagSeconds[c], value)
		case "learnstream_derived_event_delay_seconds_bucket":
			le, err := strconv.ParseFloat(labelValue(labels, "le"), 64)
			if err != nil {
				continue
			}
			ev := labelValue(labels, "event")
			h := s.delays[ev]
			h.add(le, value)
			s.delays[ev] = h
		case "learnstream_derived_event_delay_seconds_count":
			ev := labelValue(labels, "event")
			h := s.delays[ev]
			h.count = value
			s.delays[ev] = h
		case "go_sched_latencies_seconds_bucket":
			if le, err := strconv.ParseFloat(labelValue(labels, "le"), 64); err == nil {
				s.sched.add(le, value)
			}
		case "go_sched_latencies_seconds_count":
			s.sched.count = value
		}
	}
	return s, sc.Err()
}

// splitSample splits `name{labels} value` (labels optional).
func splitSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return "", "", 0, false
		}
		name, rest = line[:sp], line[sp:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return name, labels, v, true
}

func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
