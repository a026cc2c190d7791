package ingest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
)

// Profile is a CPU profile of the server taken while the load ran, split
// by the profiler labels learnstream puts on its goroutines
// (docs/operations.md, "Profiles").
type Profile struct {
	// Window is how long the profile sampled; Statements were
	// acknowledged meanwhile.
	Window     time.Duration `json:"window"`
	Statements int           `json:"statements"`
	// CPU is the CPU time the profile sampled.
	CPU time.Duration `json:"cpu"`
	// Parts is the CPU by part, the largest first.
	Parts []ProfilePart `json:"parts"`
}

// ProfilePart is one part's share of a Profile.
type ProfilePart struct {
	// Part is "role=api", "role=store", "role=broker", "role=fetch",
	// "consumer=<name> topic=<topic>" (two consumers may share a name on
	// different topics), or "unlabelled" (the runtime's collector, and
	// goroutines started outside every labelled part).
	Part  string        `json:"part"`
	CPU   time.Duration `json:"cpu"`
	Share float64       `json:"share"`
	// PerStatement is the part's CPU over the statements acknowledged in
	// the window (0 when none were).
	PerStatement time.Duration `json:"per_statement"`
}

// The labels learnstream sets, in the order a part is named by.
var profileLabels = []string{"consumer", "role"}

// pprofBase turns --pprof's value into the base of the profile handlers:
// host:port, or a URL with or without /debug/pprof/.
func pprofBase(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("pprof: %q is not host:port nor an http URL", s)
	}
	if p := strings.TrimRight(u.Path, "/"); p == "" {
		u.Path = "/debug/pprof/"
	} else {
		u.Path = p + "/"
	}
	return u.String(), nil
}

// profiler takes one CPU profile of the server while the load runs.
type profiler struct {
	done chan struct{}
	prof *Profile
	err  error
	// saveErr is a failure to save the profile to ProfileOut: the
	// profile taken is split and reported all the same.
	saveErr error
}

// startProfile starts taking a CPU profile of cfg.ProfileWindow: in the
// middle of a load bounded by Duration (away from its start and its end),
// at once for one bounded by Count only (the profile may then outlast the
// load and take in some of the drain). acked counts the
// statements acknowledged so far. Nil when no profile is asked for.
func startProfile(ctx context.Context, cfg Config, acked *atomic.Int64) *profiler {
	if cfg.Pprof == "" {
		return nil
	}
	pr := &profiler{done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		if cfg.Duration > 0 {
			if sleepCtx(ctx, (cfg.Duration-cfg.ProfileWindow)/2); ctx.Err() != nil {
				pr.err = ctx.Err()
				return
			}
		}
		from, t0 := acked.Load(), time.Now()
		raw, err := fetchProfile(ctx, cfg.Pprof, cfg.ProfileWindow)
		if err != nil {
			pr.err = err
			return
		}
		window, n := time.Since(t0), int(acked.Load()-from)
		if cfg.ProfileOut != "" {
			if err := os.WriteFile(cfg.ProfileOut, raw, 0o644); err != nil {
				pr.saveErr = fmt.Errorf("pprof-out: save the profile: %w", err)
			}
		}
		pr.prof, pr.err = splitProfile(raw, window, n)
	}()
	return pr
}

// wait returns the profile once taken, and whether saving it failed.
func (pr *profiler) wait() (prof *Profile, err, saveErr error) {
	if pr == nil {
		return nil, nil, nil
	}
	<-pr.done
	return pr.prof, pr.err, pr.saveErr
}

// checkPprof asks for the index of the server's profiles.
func checkPprof(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := getPprof(ctx, base)
	return err
}

// fetchProfile asks the server's pprof handler for a CPU profile of d.
// The answer comes after the window, so the request has no timeout of
// its own.
func fetchProfile(ctx context.Context, base string, d time.Duration) ([]byte, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	return getPprof(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, secs))
}

// getPprof GETs u from the server's pprof handler and returns the body of
// a 200 answer.
func getPprof(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pprof: %s does not answer (is the server run with --pprof?): %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("pprof: read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pprof: %s answered %s: %.200s", u, resp.Status, b)
	}
	return b, nil
}

// splitProfile sums a CPU profile's samples by part.
func splitProfile(raw []byte, window time.Duration, statements int) (*Profile, error) {
	p, err := profile.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("pprof: not a profile: %w", err)
	}
	idx := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "cpu" && st.Unit == "nanoseconds" })
	if idx < 0 {
		return nil, fmt.Errorf("pprof: not a CPU profile (sample types %v)", p.SampleType)
	}
	byPart := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		part := "unlabelled"
		for _, k := range profileLabels {
			if v := s.Label[k]; len(v) > 0 {
				part = k + "=" + v[0]
				break
			}
		}
		if t := s.Label["topic"]; len(t) > 0 && part != "unlabelled" {
			part += " topic=" + t[0]
		}
		byPart[part] += s.Value[idx]
		total += s.Value[idx]
	}
	out := &Profile{Window: window, Statements: statements, CPU: time.Duration(total)}
	for part, ns := range byPart {
		pp := ProfilePart{Part: part, CPU: time.Duration(ns)}
		if total > 0 {
			pp.Share = float64(ns) / float64(total)
		}
		if statements > 0 {
			pp.PerStatement = time.Duration(ns / int64(statements))
		}
		out.Parts = append(out.Parts, pp)
	}
	slices.SortFunc(out.Parts, func(a, b ProfilePart) int {
		return cmp.Or(cmp.Compare(b.CPU, a.CPU), strings.Compare(a.Part, b.Part))
	})
	return out, nil
}

// line is the profile as a progress line.
func (p *Profile) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server CPU by part (profile of %.0fs while loading, %d statements acknowledged in it, %.2f cores):",
		p.Window.Seconds(), p.Statements, p.CPU.Seconds()/max(p.Window.Seconds(), 1e-9))
	for _, pp := range p.Parts {
		fmt.Fprintf(&b, "\n  %-60s %5.1f%%", pp.Part, 100*pp.Share)
		if pp.PerStatement > 0 {
			fmt.Fprintf(&b, "  %7.1f µs a statement", float64(pp.PerStatement)/float64(time.Microsecond))
		}
	}
	return b.String()
}
