package mf

import (
	"compress/gzip"
	"context"
	"math"
	"os"
	"testing"
)

func TestPrequentialCounts(t *testing.T) {
	evs := []Event{
		{User: "a", Item: "x", Weight: 1}, // cold learner, unseen item: miss
		{User: "b", Item: "x", Weight: 1}, // cold learner, popularity ranks x first: hit at rank 0
		{User: "a", Item: "x", Weight: 1}, // repeat: learned, not scored
		{User: "c", Item: "y", Weight: 1}, // unseen item: miss
		{User: "c", Item: "x", Weight: 1}, // the only item left for c: hit at rank 0
	}
	var ranks []int
	res, err := Prequential(context.Background(), evs, EvalOptions{Model: DefaultConfig(),
		Hook: func(e Event, scored bool, mr, br int) {
			if scored {
				ranks = append(ranks, mr)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 5 || res.Scored != 4 || res.ColdStart != 3 || res.NewItem != 2 || res.Users != 3 || res.Items != 2 {
		t.Fatalf("counts %+v", res)
	}
	if res.Model.Hits != 2 || res.Model.Recall != 0.5 || res.Model.NDCG != 0.5 || res.Baseline.Recall != 0.5 {
		t.Fatalf("metrics %+v %+v", res.Model, res.Baseline)
	}
	if want := []int{-1, 0, -1, 0}; len(ranks) != 4 || ranks[0] != want[0] || ranks[1] != 0 || ranks[3] != 0 {
		t.Fatalf("ranks %v", ranks)
	}
	if res.EventsPerSecond <= 0 {
		t.Fatal("no speed measured")
	}
}

func TestPrequentialCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Prequential(ctx, clusters(1, 2, 5, 5, 3), EvalOptions{Model: DefaultConfig()}); err == nil {
		t.Fatal("cancelled context ignored")
	}
	if _, err := Prequential(context.Background(), nil, EvalOptions{Model: Config{}}); err == nil {
		t.Fatal("invalid model config accepted")
	}
}

func TestPrequentialBeatsPopularityOnClusters(t *testing.T) {
	res, err := Prequential(context.Background(), clusters(9, 8, 60, 15, 6), EvalOptions{Model: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.Recall < 2*res.Baseline.Recall || res.Model.NDCG <= res.Baseline.NDCG {
		t.Fatalf("model %+v, popularity %+v", res.Model, res.Baseline)
	}
}

// On the real MOOCCube course enrolments (label-1 rows, file order) the
// online model beats popularity and ISGD.
func TestPrequentialMOOCCube(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	f, err := os.Open("../../../shared/data/mooccube_kgan_course/ratings_final.txt.gz")
	if err != nil {
		t.Skipf("MOOCCube data not available: %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ReadEvents(z, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 32086 {
		t.Fatalf("%d label-1 events, want 32086", len(evs))
	}
	res, err := Prequential(context.Background(), evs, EvalOptions{Model: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	isgdCfg := DefaultConfig()
	isgdCfg.Algorithm = ISGD
	isgdCfg.Negatives = 0
	isgd, err := Prequential(context.Background(), evs, EvalOptions{Model: isgdCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recall@10: model %.4f, ISGD %.4f, popularity %.4f", res.Model.Recall, isgd.Model.Recall, res.Baseline.Recall)
	if math.Abs(res.Baseline.Recall-0.3615) > 0.001 {
		t.Errorf("popularity recall %.4f, want 0.3615 (the protocol changed?)", res.Baseline.Recall)
	}
	if res.Model.Recall < 1.15*res.Baseline.Recall || res.Model.Recall < 1.5*isgd.Model.Recall {
		t.Errorf("model recall %.4f: want >= 1.15 x popularity %.4f and >= 1.5 x ISGD %.4f",
			res.Model.Recall, res.Baseline.Recall, isgd.Model.Recall)
	}
}
