package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/learnstream/learnstream/domain/adaptive"
)

func init() {
	commands["fit"] = command{
		summary: "fit model parameters from history (fit bkt)",
		subs: map[string]command{
			"bkt": {summary: "fit per-skill BKT parameters by EM (--data FILE)", run: runFitBKT},
		},
	}
}

type fitSkillJSON struct {
	Skill        string  `json:"skill"`
	Prior        float64 `json:"prior"`
	Learn        float64 `json:"learn"`
	Forget       float64 `json:"forget"`
	Guess        float64 `json:"guess"`
	Slip         float64 `json:"slip"`
	LogLik       float64 `json:"log_likelihood"`
	Iterations   int     `json:"iterations"`
	Observations int     `json:"observations"`
	Learners     int     `json:"learners"`
	Degenerate   bool    `json:"degenerate,omitempty"`
}

type fitJSON struct {
	Skills       []fitSkillJSON `json:"skills"`
	Observations int            `json:"observations"`
	FitSeconds   float64        `json:"fit_seconds"`
}

// runFitBKT fits per-skill BKT parameters by EM and prints them.
func runFitBKT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fit bkt", stderr)
	var data string
	var asJSON, skipBad bool
	var opt adaptive.FitOptions
	fs.StringVar(&data, "data", "", "CSV/TSV (optionally .gz) with learner,item,skill,correct[,timestamp] (required)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of a table")
	fs.BoolVar(&skipBad, "skip-bad", false, "skip bad rows (counted on stderr) instead of failing on the first")
	fitFlags(fs, &opt)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if data == "" {
		return usageError(fs, "--data is required")
	}
	opt, err := opt.WithDefaults()
	if err != nil {
		return flagError(err)
	}
	ix := adaptive.NewIndex()
	fmt.Fprintf(stderr, "fit bkt: reading %s\n", data)
	d, err := readKT(data, ix, skipBad)
	if err != nil {
		return err
	}
	reportSkips(stderr, data, d)
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "fit bkt: fitting %d rows\n", d.Len())
	t0 := time.Now()
	fits, err := adaptive.FitBKT(adaptive.BuildSequences(d), opt)
	if err != nil {
		return flagError(err)
	}
	elapsed := time.Since(t0)

	out := fitJSON{FitSeconds: elapsed.Seconds()}
	for _, f := range fits {
		out.Observations += f.Observations
		out.Skills = append(out.Skills, fitSkillJSON{
			Skill: ix.Skills.Name(f.Skill), Prior: f.Params.Prior, Learn: f.Params.Learn, Forget: f.Params.Forget,
			Guess: f.Params.Guess, Slip: f.Params.Slip, LogLik: f.LogLik, Iterations: f.Iterations,
			Observations: f.Observations, Learners: f.Sequences, Degenerate: f.Degenerate,
		})
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "skill\tprior\tlearn\tforget\tguess\tslip\tloglik\titers\tattempts\tlearners\t")
	for _, s := range out.Skills {
		note := ""
		if s.Degenerate {
			note = " (degenerate: refitted with guess, slip <= 0.45)"
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f\t%d\t%d\t%d\t%s\n", s.Skill, s.Prior, s.Learn, s.Forget, s.Guess, s.Slip, s.LogLik, s.Iterations, s.Observations, s.Learners, note)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "fitted %d skills from %d attempts in %s (EM, %d restarts, at most %d iterations)\n",
		len(fits), out.Observations, elapsed.Round(time.Millisecond), opt.Restarts, opt.MaxIter)
	return nil
}
