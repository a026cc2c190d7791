package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/learnstream/learnstream/domain/adaptive"
)

// configFlagNames maps adaptive config fields to the flags that set them,
// so a range error names the flag the user typed.
var configFlagNames = map[string]string{
	"elo.ability.a":           "--elo-ability-a",
	"elo.ability.b":           "--elo-ability-b",
	"elo.skill_ability.a":     "--elo-skill-a",
	"elo.skill_ability.b":     "--elo-skill-b",
	"elo.difficulty.a":        "--elo-difficulty-a",
	"elo.difficulty.b":        "--elo-difficulty-b",
	"bkt.prior":               "--bkt-prior",
	"bkt.learn":               "--bkt-learn",
	"bkt.guess":               "--bkt-guess",
	"bkt.slip":                "--bkt-slip",
	"bkt.guess+bkt.slip":      "--bkt-guess and --bkt-slip",
	"predictor.learning_rate": "--lr",
	"predictor.l2":            "--l2",
	"predictor.recency":       "--recency",
	"features":                "--features",
	"fit.restarts":            "--bkt-restarts",
	"fit.max_iter":            "--bkt-max-iter",
	"fit.tol":                 "--bkt-tol",
	"fit.workers":             "--bkt-workers",
}

// flagError rewrites a validation error of the adaptive package so that it
// names the flag; other errors pass through.
func flagError(err error) error {
	var ve *adaptive.ValidationError
	if errors.As(err, &ve) {
		if name, ok := configFlagNames[ve.Field]; ok {
			return fmt.Errorf("flag %s: %s (got %s)", name, ve.Rule, ve.Value)
		}
	}
	return err
}

// fitFlags registers the BKT fit flags.
func fitFlags(fs *flag.FlagSet, o *adaptive.FitOptions) {
	fs.IntVar(&o.Restarts, "bkt-restarts", 5, "EM runs per skill (first from defaults, others random); the best likelihood wins")
	fs.IntVar(&o.MaxIter, "bkt-max-iter", 100, "EM iterations per run at most")
	fs.Float64Var(&o.Tol, "bkt-tol", 1e-3, "stop a run when the log-likelihood improves by less")
	fs.BoolVar(&o.FitForget, "bkt-forget", false, "also fit the forget probability (fixed at 0 otherwise)")
	fs.IntVar(&o.Workers, "bkt-workers", 0, "goroutines for the fit (0 = GOMAXPROCS)")
	fs.Uint64Var(&o.Seed, "bkt-seed", 0, "seed of the random restarts")
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// readKT reads one dataset file (gzip is detected from its content).
func readKT(path string, ix *adaptive.Index, skipBad bool) (*adaptive.Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := adaptive.ReadDataset(f, ix, adaptive.ReadOptions{SkipBad: skipBad})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// reportSkips tells on stderr how many rows were skipped or defaulted.
func reportSkips(stderr io.Writer, path string, d *adaptive.Dataset) {
	for _, m := range []struct {
		what   string
		counts map[string]int
	}{{"skipped", d.Skipped}, {"used with a default", d.Defaulted}} {
		keys := make([]string, 0, len(m.counts))
		for k := range m.counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stderr, "%s: %d rows %s (%s)\n", path, m.counts[k], m.what, k)
		}
	}
}

// jsonNum keeps NaN (an AUC with one class only) out of the JSON as null.
func jsonNum(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

type evalKTJSON struct {
	AUC             any             `json:"auc"`
	RMSE            any             `json:"rmse"`
	Accuracy        any             `json:"accuracy"`
	Baselines       evalKTBaselines `json:"baselines"`
	Events          int             `json:"events"`
	EventsPerSecond float64         `json:"events_per_second"`
}

// evalKTBaselines is a struct, not a map, to keep elo before bkt.
type evalKTBaselines struct {
	Elo evalKTBaseline `json:"elo"`
	BKT evalKTBaseline `json:"bkt"`
}

type evalKTBaseline struct {
	AUC  any `json:"auc"`
	RMSE any `json:"rmse"`
}

// runEvalKT replays a dataset prequentially through the adaptive models.
func runEvalKT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval kt", stderr)
	var kf struct {
		data, train   string
		json, skipBad bool
	}
	cfg := adaptive.DefaultConfig()
	var fit adaptive.FitOptions
	var features string
	var noFit, freeze bool
	fs.StringVar(&kf.data, "data", "", "CSV/TSV (optionally .gz) with learner,item,skill,correct[,timestamp] to score prequentially (required)")
	fs.StringVar(&kf.train, "train", "", "CSV/TSV of training learners: learned from first, not scored")
	fs.BoolVar(&kf.json, "json", false, "print one JSON object instead of a table")
	fs.BoolVar(&kf.skipBad, "skip-bad", false, "skip bad rows (counted on stderr) instead of failing on the first")
	fs.BoolVar(&freeze, "freeze-shared", false, "score the test learners with item and predictor parameters frozen after --train (the protocol of batch-trained baselines)")
	fs.BoolVar(&noFit, "no-bkt-fit", false, "do not fit BKT on --train; every skill uses the BKT flags below")
	fs.Float64Var(&cfg.Elo.Ability.A, "elo-ability-a", cfg.Elo.Ability.A, "Elo step a of U(n)=a/(1+bn), learner global ability")
	fs.Float64Var(&cfg.Elo.Ability.B, "elo-ability-b", cfg.Elo.Ability.B, "Elo b, learner global ability")
	fs.Float64Var(&cfg.Elo.SkillAbility.A, "elo-skill-a", cfg.Elo.SkillAbility.A, "Elo a, learner ability per skill")
	fs.Float64Var(&cfg.Elo.SkillAbility.B, "elo-skill-b", cfg.Elo.SkillAbility.B, "Elo b, learner ability per skill")
	fs.Float64Var(&cfg.Elo.Difficulty.A, "elo-difficulty-a", cfg.Elo.Difficulty.A, "Elo a, item difficulty")
	fs.Float64Var(&cfg.Elo.Difficulty.B, "elo-difficulty-b", cfg.Elo.Difficulty.B, "Elo b, item difficulty")
	fs.Float64Var(&cfg.BKT.Prior, "bkt-prior", cfg.BKT.Prior, "BKT prior for skills without a fit")
	fs.Float64Var(&cfg.BKT.Learn, "bkt-learn", cfg.BKT.Learn, "BKT learn for skills without a fit")
	fs.Float64Var(&cfg.BKT.Guess, "bkt-guess", cfg.BKT.Guess, "BKT guess for skills without a fit")
	fs.Float64Var(&cfg.BKT.Slip, "bkt-slip", cfg.BKT.Slip, "BKT slip for skills without a fit")
	fs.Float64Var(&cfg.Predictor.LearningRate, "lr", cfg.Predictor.LearningRate, "Adagrad learning rate of the combined predictor")
	fs.Float64Var(&cfg.Predictor.L2, "l2", cfg.Predictor.L2, "L2 penalty of the combined predictor")
	fs.Float64Var(&cfg.Predictor.Recency, "recency", cfg.Predictor.Recency, "decay of the recent-success features, in (0,1)")
	fs.StringVar(&features, "features", "all", "predictor feature groups: all, or a comma list of "+strings.Join(adaptive.FeatureNames(), ", ")+"; -name removes one")
	fitFlags(fs, &fit)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if kf.data == "" {
		return usageError(fs, "--data is required")
	}
	fset, err := adaptive.ParseFeatures(features)
	if err != nil {
		return flagError(err)
	}
	cfg.Predictor.Features = fset
	if err := cfg.Validate(); err != nil {
		return flagError(err)
	}

	start := time.Now()
	ix := adaptive.NewIndex()
	var train *adaptive.Dataset
	if kf.train != "" {
		fmt.Fprintf(stderr, "eval kt: reading %s\n", kf.train)
		if train, err = readKT(kf.train, ix, kf.skipBad); err != nil {
			return err
		}
		reportSkips(stderr, kf.train, train)
	}
	fmt.Fprintf(stderr, "eval kt: reading %s\n", kf.data)
	test, err := readKT(kf.data, ix, kf.skipBad)
	if err != nil {
		return err
	}
	reportSkips(stderr, kf.data, test)
	if test.Len() == 0 {
		return fmt.Errorf("%s: no rows to score", kf.data)
	}
	if train != nil && !noFit {
		fmt.Fprintf(stderr, "eval kt: fitting BKT on %d training rows\n", train.Len())
	}
	lastReport := time.Now()
	res, err := adaptive.Prequential(train, test, adaptive.EvalOptions{
		Config:       cfg,
		FitBKT:       !noFit,
		Fit:          fit,
		FreezeShared: freeze,
		Progress: func(done, total int) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if time.Since(lastReport) >= time.Second || done == total {
				fmt.Fprintf(stderr, "eval kt: replayed %d/%d events\n", done, total)
				lastReport = time.Now()
			}
			return nil
		},
	})
	if err != nil {
		return flagError(err)
	}

	if kf.json {
		out := evalKTJSON{
			AUC: jsonNum(res.Ours.AUC), RMSE: jsonNum(res.Ours.RMSE), Accuracy: jsonNum(res.Ours.Accuracy),
			Baselines: evalKTBaselines{
				Elo: evalKTBaseline{AUC: jsonNum(res.Elo.AUC), RMSE: jsonNum(res.Elo.RMSE)},
				BKT: evalKTBaseline{AUC: jsonNum(res.BKT.AUC), RMSE: jsonNum(res.BKT.RMSE)},
			},
			Events:          res.Events,
			EventsPerSecond: math.Round(res.EventsPerSecond),
		}
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	}
	protocol := "prequential: predict, record, then learn"
	if freeze {
		protocol += "; item and predictor parameters frozen after warm-up"
	}
	fmt.Fprintf(stdout, "%d test events scored (%s)", res.Events, protocol)
	if res.Warmup > 0 {
		fmt.Fprintf(stdout, ", after %d warm-up events", res.Warmup)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tAUC\tRMSE\taccuracy")
	for _, r := range []struct {
		name string
		m    adaptive.Metrics
	}{{"combined", res.Ours}, {"elo", res.Elo}, {"bkt", res.BKT}} {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\n", r.name, r.m.AUC, r.m.RMSE, r.m.Accuracy)
	}
	tw.Flush()
	if res.Fits != nil {
		fmt.Fprintf(stdout, "BKT fit: %d skills in %s\n", len(res.Fits), res.FitTime.Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, "replay: %d events in %s (%.0f events/s, 3 models each); total %s\n",
		res.Warmup+res.Events, res.ReplayTime.Round(time.Millisecond), res.EventsPerSecond, time.Since(start).Round(time.Millisecond))
	return nil
}
