package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// predictor answers fixed success probabilities, or fails.
type predictor struct {
	p    map[string]float64
	fail bool
}

func (f predictor) PredictSuccess(_ context.Context, _, _ string, items []string) ([]float64, error) {
	if f.fail {
		return nil, errors.New("read model closed")
	}
	out := make([]float64, len(items))
	for i, it := range items {
		out[i] = math.NaN()
		if p, ok := f.p[it]; ok {
			out[i] = p
		}
	}
	return out, nil
}

// TestRecommenderDifficultyFit: with an adaptive predictor the list carries
// difficulty reasons and favours the item whose predicted success is at
// the target; without one (or when it fails) nothing breaks.
func TestRecommenderDifficultyFit(t *testing.T) {
	const fit, hard = "https://example.com/c/fit", "https://example.com/c/hard"
	run := func(t *testing.T, pred streams.SuccessPredictor) []projections.Recommendation {
		store, err := projections.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		ck, err := projections.NewRecommenderCheckpoints(store)
		if err != nil {
			t.Fatal(err)
		}
		sink := &memSink{}
		r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck, Publisher: sink,
			Success: pred, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Other learners make both items equally popular; the learner
		// under test then completes something else.
		i := 0
		for _, item := range []string{fit, hard, fit, hard, "https://example.com/c/other"} {
			learner := fmt.Sprintf("o%d@example.com", i)
			if item == "https://example.com/c/other" {
				learner = "me@example.com"
			}
			if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}, stmtEvent(t, i, learner, item, "completed")); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		recs := sink.recs()
		var d projections.RecommendationsUpdated
		if err := json.Unmarshal(recs[len(recs)-1].Data, &d); err != nil || d.Learner != "mbox:mailto:me@example.com" {
			t.Fatalf("last update %s: %v", recs[len(recs)-1].Data, err)
		}
		return d.Items
	}
	find := func(items []projections.Recommendation, id string) projections.Recommendation {
		i := slices.IndexFunc(items, func(r projections.Recommendation) bool { return r.Item == id })
		if i < 0 {
			t.Fatalf("%s not recommended: %+v", id, items)
		}
		return items[i]
	}

	without := run(t, nil)
	with := run(t, predictor{p: map[string]float64{fit: 0.7, hard: 0.05}})
	f, h := find(with, fit), find(with, hard)
	if !slices.Contains(f.Reasons, mf.ReasonDifficultyFit) || !slices.Contains(h.Reasons, mf.ReasonTooHard) {
		t.Errorf("reasons: fit %v, hard %v; want %s and %s", f.Reasons, h.Reasons, mf.ReasonDifficultyFit, mf.ReasonTooHard)
	}
	// The bonus is FitBonus at the target and shrinks linearly with the
	// distance: the fitting item gains on the hard one by exactly that.
	o := mf.DefaultRerankOptions()
	wantGain := o.FitBonus - o.FitBonus*(1-(o.TargetSuccess-0.05)/o.TargetSuccess)
	gain := (f.Score - h.Score) - (find(without, fit).Score - find(without, hard).Score)
	if math.Abs(gain-wantGain) > 1e-4 {
		t.Errorf("difficulty fit moved the fitting item by %.4f against the hard one, want %.4f", gain, wantGain)
	}
	for _, pred := range []streams.SuccessPredictor{nil, predictor{fail: true}} {
		for _, r := range run(t, pred) {
			if slices.Contains(r.Reasons, mf.ReasonDifficultyFit) || slices.Contains(r.Reasons, mf.ReasonTooHard) {
				t.Errorf("predictor %v: difficulty reasons without predictions: %+v", pred, r)
			}
		}
	}
}
