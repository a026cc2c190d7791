package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/bench/ingest"
)

// TestBenchIngestAgainstServe points the load tool at a running serve (all
// roles, embedded broker): every acknowledged statement is read back, and
// the consumers' lag is followed until it drains.
func TestBenchIngestAgainstServe(t *testing.T) {
	p := startServe(t, credEnv(), "--data-dir", t.TempDir(), "--pprof", "127.0.0.1:0")
	for _, mode := range []struct {
		name string
		args []string
		want int
	}{
		{"single", []string{"--batch", "1", "--concurrency", "4", "--count", "60"}, 60},
		// With the server's CPU profiled while loading, split by part.
		{"batch", []string{"--batch", "25", "--concurrency", "2", "--count", "110", "--pprof", p.pprofURL(t), "--pprof-window", "1s"}, 110},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Setenv("LEARNSTREAM_ADMIN_KEY", testKey)
			t.Setenv("LEARNSTREAM_ADMIN_SECRET", testSecret)
			var stdout, stderr bytes.Buffer
			args := append([]string{"bench", "ingest", "--url", p.url + "/xapi", "--json", "--progress", "200ms",
				"--learners", "20", "--activities", "10", "--drain-timeout", "60s"}, mode.args...)
			if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("bench ingest exited %d:\n%s", code, stderr.String())
			}
			var rep ingest.Report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
			}
			if rep.Acknowledged != mode.want || rep.Failed != 0 {
				t.Errorf("acknowledged %d, failed %d; want %d, 0", rep.Acknowledged, rep.Failed, mode.want)
			}
			if v := rep.Verified; v == nil || v.Checked != mode.want || len(v.Missing) != 0 || v.Errors != 0 {
				t.Errorf("verification %+v, want all %d read back", v, mode.want)
			}
			s := rep.Server
			if s == nil || !s.Drained || s.CPU <= 0 || s.ResidentBytes <= 0 {
				t.Fatalf("server figures %+v, want drained with CPU and memory read", s)
			}
			for _, c := range []string{"statements", "recommender", "adaptive", "progress"} {
				if _, ok := s.MaxLag[c]; !ok {
					t.Errorf("max lag %v lacks consumer %s", s.MaxLag, c)
				}
			}
			// The run imported a catalog with skills: scored statements
			// move mastery, and every consumer's lag in seconds was read.
			for _, ev := range []string{"recommendations_updated", "mastery_updated"} {
				if d := s.Derived[ev]; d.Events == 0 || d.P50 <= 0 || d.P99 < d.P50 {
					t.Errorf("%s delay %+v, want events with ordered percentiles", ev, d)
				}
			}
			if _, ok := s.MaxLagSeconds["recommender"]; !ok {
				t.Errorf("max lag in seconds %v lacks the recommender", s.MaxLagSeconds)
			}
			if slices.Contains(args, "--pprof") {
				pr := rep.Profile
				if pr == nil || pr.CPU <= 0 || len(pr.Parts) == 0 {
					t.Fatalf("profile %+v, want the server's CPU by part", pr)
				}
				var share float64
				for _, part := range pr.Parts {
					share += part.Share
					if part.Part != "unlabelled" && !strings.HasPrefix(part.Part, "role=") && !strings.HasPrefix(part.Part, "consumer=") {
						t.Errorf("part %q is not a role, a consumer or the unlabelled rest", part.Part)
					}
				}
				if share < 0.999 || share > 1.001 {
					t.Errorf("parts' shares sum to %g, want 1", share)
				}
				if !strings.Contains(stderr.String(), "server CPU by part") {
					t.Errorf("no profile lines in the progress output:\n%s", stderr.String())
				}
			}
			if !strings.Contains(stderr.String(), "consumers drained") {
				t.Errorf("no drain line in the progress output:\n%s", stderr.String())
			}
			// The server exports its goroutines' scheduling latency, and
			// the tool reports it.
			if sc := s.Scheduling; sc == nil || sc.Events == 0 || sc.P99 < sc.P50 {
				t.Errorf("scheduling latency %+v, want waits with ordered percentiles", sc)
			} else if !strings.Contains(stderr.String(), "server goroutines waited to run") {
				t.Errorf("no scheduling line in the progress output:\n%s", stderr.String())
			}
		})
	}
}

func TestBenchIngestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "ingest"},
		{[]string{"bench", "ingest", "--key", "k", "--secret", "s", "--count", "1", "--batch", "0"}, "batch: must be at least 1"},
		{[]string{"bench", "ingest", "--key", "k", "--secret", "s"}, "duration, count: one of them must be set"},
		{[]string{"bench", "ingest", "--count", "1", "--url", "nope"}, `url: "nope" is not an http(s) URL`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), tc.args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure naming %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

func TestPprofOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true}, {"[::1]:0", true}, {"localhost:6060", true},
		{"0.0.0.0:6060", false}, {":6060", false}, {"10.1.2.3:6060", false}, {"6060", false},
	} {
		if err := loopbackAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("loopbackAddr(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}
