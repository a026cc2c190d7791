package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/learnstream/learnstream/bench/ingest"
)

func init() {
	commands["bench"] = command{
		summary: "load tools (bench ingest)",
		subs: map[string]command{
			"ingest": {summary: "post statements to a running LRS and measure it (--url, --batch, --concurrency, --duration)", run: runBenchIngest},
		},
	}
}

func runBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg ingest.Config
	var asJSON, noMetrics bool
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/xapi", "xAPI endpoint of the LRS under test (the base of /statements)")
	fs.StringVar(&cfg.Key, "key", "", "HTTP Basic key (default $LEARNSTREAM_ADMIN_KEY)")
	fs.StringVar(&cfg.Secret, "secret", "", "HTTP Basic secret (default $LEARNSTREAM_ADMIN_SECRET)")
	fs.IntVar(&cfg.Batch, "batch", 1, "statements per POST: 1 posts single statements, more post arrays")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "clients posting at once")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to post (0: until --count)")
	fs.IntVar(&cfg.Count, "count", 0, "statements to post in all (0: until --duration)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "pace the load to this many statements/s over all clients (0: as fast as the answers come)")
	fs.IntVar(&cfg.Readers, "readers", 0, "clients sending filtered GETs (agent+verb, activity+related_activities, limit 10) while the load runs; their latency is reported per shape")
	fs.DurationVar(&cfg.Probe, "probe", 0, "also post one single statement every this interval while the load runs (e.g. 100ms) and report those requests' latency apart: the server's own stalls (0: none)")
	fs.IntVar(&cfg.Learners, "learners", 1000, "learners in the generated population")
	fs.IntVar(&cfg.Activities, "activities", 200, "activities in the generated population")
	fs.DurationVar(&cfg.Progress, "progress", 5*time.Second, "interval between progress lines (0: none)")
	fs.BoolVar(&cfg.Verify, "verify", true, "read back every acknowledged statement by id afterwards")
	fs.BoolVar(&cfg.AnyAnswer, "any-answer", false, "count every 200 as acknowledged without checking the ids in the answer (a floor handler that only reads the body; needs --verify=false)")
	fs.StringVar(&cfg.MetricsURL, "metrics", "", "Prometheus endpoint of the server (learnstream: <server>/metrics) to follow consumer lag and CPU; default derived from --url for learnstream")
	fs.BoolVar(&noMetrics, "no-metrics", false, "do not read server metrics nor import a catalog (an LRS other than learnstream)")
	fs.IntVar(&cfg.Skills, "skills", 20, "learnstream: first import a catalog in which each generated activity teaches and assesses one of this many skills, so mastery events are published (0: none)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 10*time.Minute, "how long to wait for the server's consumers to drain")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "bound on one request")
	fs.StringVar(&cfg.Pprof, "pprof", "", "pprof endpoint of the server (learnstream serve --pprof host:port): take a CPU profile while loading and report the server's CPU by part (API, store, broker, each consumer)")
	fs.DurationVar(&cfg.ProfileWindow, "pprof-window", 0, "length of that profile, taken in the middle of a --duration load (default 20s, at most half the duration); a --count load's starts with it and runs its whole length")
	fs.StringVar(&cfg.ProfileOut, "pprof-out", "", "also save that profile to this file (for go tool pprof)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated statements")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.Key == "" {
		cfg.Key = os.Getenv("LEARNSTREAM_ADMIN_KEY")
	}
	if cfg.Secret == "" {
		cfg.Secret = os.Getenv("LEARNSTREAM_ADMIN_SECRET")
	}
	if cfg.MetricsURL == "" && !noMetrics {
		cfg.MetricsURL = metricsURLFor(cfg.URL)
	}
	if noMetrics {
		cfg.MetricsURL = ""
	}
	// The catalog is learnstream's: imported only when the URL is
	// learnstream's xAPI endpoint, unless --skills asks for it anyway
	// (then a URL that is not one is an error).
	skillsSet := false
	fs.Visit(func(f *flag.Flag) { skillsSet = skillsSet || f.Name == "skills" })
	if base := learnstreamBase(cfg.URL); base != "" && !noMetrics {
		cfg.CatalogURL = base + "/v1/catalog/import"
	} else if !skillsSet {
		cfg.Skills = 0
	}
	rep, err := ingest.Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if v := rep.Verified; v != nil && (len(v.Missing) > 0 || v.Errors > 0) {
		return fmt.Errorf("verification: %d acknowledged statements missing, %d read errors", len(v.Missing), v.Errors)
	}
	if rep.Acknowledged == 0 {
		return errors.New("no statement was acknowledged")
	}
	return nil
}

// metricsURLFor derives learnstream's /metrics from its xAPI URL
// (http://host:8080/xapi → http://host:8080/metrics).
func metricsURLFor(xapiURL string) string {
	if base := learnstreamBase(xapiURL); base != "" {
		return base + "/metrics"
	}
	return ""
}

// learnstreamBase is the server's base URL when xapiURL is learnstream's
// xAPI endpoint (http://host:8080/xapi → http://host:8080), else "".
func learnstreamBase(xapiURL string) string {
	base := strings.TrimRight(xapiURL, "/")
	if b, ok := strings.CutSuffix(base, "/xapi"); ok {
		return b
	}
	return ""
}

func printReport(w io.Writer, r ingest.Report) {
	fmt.Fprintf(w, "acknowledged   %d statements in %d requests, %.1fs\n", r.Acknowledged, r.Requests, r.Elapsed.Seconds())
	fmt.Fprintf(w, "throughput     %.0f statements/s acknowledged\n", r.PerSecond)
	fmt.Fprintf(w, "latency        p50 %s  p90 %s  p99 %s  max %s (per request)\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(w, "failed         %d statements\n", r.Failed)
	for e, n := range r.Errors {
		fmt.Fprintf(w, "  %-40s %d requests\n", e, n)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "drained        %v, %.1fs after the load (max lag %v)\n", s.Drained, s.DrainAfterLoad.Seconds(), s.MaxLag)
		fmt.Fprintf(w, "end to end     %.0f statements/s (load + drain)\n", s.EndToEndPerSecond)
		fmt.Fprintf(w, "server cpu     %.2fs, %s per statement; resident %d MiB\n", s.CPU.Seconds(), s.CPUPerStatement, s.ResidentBytes>>20)
		if s.BusiestSecond > 0 {
			fmt.Fprintf(w, "busiest second %.2f cores of server CPU during the load\n", s.BusiestSecond)
		}
		if len(s.MaxLagSeconds) > 0 {
			names := slices.Sorted(maps.Keys(s.MaxLagSeconds))
			parts := make([]string, len(names))
			for i, n := range names {
				parts[i] = fmt.Sprintf("%s=%.2f", n, s.MaxLagSeconds[n])
			}
			fmt.Fprintf(w, "max lag        seconds of input: %s\n", strings.Join(parts, " "))
		}
		for _, name := range slices.Sorted(maps.Keys(s.Derived)) {
			d := s.Derived[name]
			fmt.Fprintf(w, "%-14s %d events, p50 %s  p99 %s after their statement's acknowledgement\n", name, d.Events, d.P50, d.P99)
		}
	}
	if v := r.Verified; v != nil {
		fmt.Fprintf(w, "verified       %d read back, %d missing, %d errors\n", v.Checked, len(v.Missing), v.Errors)
	}
}
