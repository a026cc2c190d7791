package adaptive

import (
	"errors"
	"fmt"
	"time"
)

// EvalOptions configure Prequential.
type EvalOptions struct {
	Config Config
	// FitBKT fits per-skill BKT parameters by EM on the training data before
	// the replay (the only batch step, and only with training data); without
	// it, or without training data, every skill uses Config.BKT.
	FitBKT bool
	Fit    FitOptions
	// FreezeShared freezes shared parameters while scoring the test data (see
	// Model.FreezeShared): the protocol of batch baselines. By default the
	// models keep learning from every test event after predicting it, as
	// they do in production.
	FreezeShared bool
	// Progress, if set, is called every ProgressEvery events and once at the
	// end with the events replayed so far; a non-nil error stops the replay.
	Progress func(done, total int) error
}

// ProgressEvery is how often Prequential reports progress, in events.
const ProgressEvery = 1 << 16

// EvalResult is the outcome of a prequential run.
type EvalResult struct {
	Warmup int     // training events learned from without scoring
	Events int     // test events scored
	Ours   Metrics // the combined predictor
	Elo    Metrics
	BKT    Metrics
	Fits   []SkillFit // the BKT fit, when FitBKT
	// FitTime is the BKT EM fit (sequence building included); ReplayTime the
	// warm-up plus the scored replay. EventsPerSecond is (Warmup + Events) /
	// ReplayTime: all three models predict and learn on every event.
	FitTime, ReplayTime time.Duration
	EventsPerSecond     float64
}

// Prequential evaluates the models on test: for each event in order it
// predicts from the current state, records the prediction, then learns from
// the event. train (may be nil) is replayed first to warm the models up,
// learning only. Both datasets must come from the same Index.
func Prequential(train, test *Dataset, opt EvalOptions) (*EvalResult, error) {
	if test == nil || test.Len() == 0 {
		return nil, errors.New("prequential: no test events")
	}
	m, err := New(opt.Config)
	if err != nil {
		return nil, err
	}
	res := &EvalResult{}
	if opt.FitBKT && train != nil && train.Len() > 0 {
		t0 := time.Now()
		fits, err := FitBKT(BuildSequences(train), opt.Fit)
		if err != nil {
			return nil, err
		}
		res.FitTime = time.Since(t0)
		res.Fits = fits
		for _, f := range fits {
			if err := m.SetSkillBKT(f.Skill, f.Params); err != nil {
				return nil, fmt.Errorf("skill %d: %w", f.Skill, err)
			}
		}
	}
	total := test.Len()
	if train != nil {
		total += train.Len()
	}
	done := 0
	progress := func() error {
		if opt.Progress != nil {
			return opt.Progress(done, total)
		}
		return nil
	}
	var e Event
	t0 := time.Now()
	if train != nil {
		for i := 0; i < train.Len(); i++ {
			train.Event(i, &e)
			if _, err := m.Observe(&e); err != nil {
				return nil, &RowError{Line: int(train.Line[i]), Err: err}
			}
			done++
			if done%ProgressEvery == 0 {
				if err := progress(); err != nil {
					return nil, err
				}
			}
		}
		res.Warmup = train.Len()
	}
	m.FreezeShared(opt.FreezeShared)
	n := test.Len()
	ours, elo, bkt, y := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		test.Event(i, &e)
		p, err := m.Observe(&e)
		if err != nil {
			return nil, &RowError{Line: int(test.Line[i]), Err: err}
		}
		ours[i], elo[i], bkt[i], y[i] = p.P, p.Elo, p.BKT, e.Score
		done++
		if done%ProgressEvery == 0 {
			if err := progress(); err != nil {
				return nil, err
			}
		}
	}
	res.ReplayTime = time.Since(t0)
	if err := progress(); err != nil {
		return nil, err
	}
	res.Events = n
	res.EventsPerSecond = float64(res.Warmup+res.Events) / res.ReplayTime.Seconds()
	res.Ours = Score(ours, y)
	res.Elo = Score(elo, y)
	res.BKT = Score(bkt, y)
	return res, nil
}
