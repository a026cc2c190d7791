package adaptive

import (
	"errors"
	"testing"
)

func TestPrequentialSynthetic(t *testing.T) {
	// One population, split by learner like the real data: 400 learners
	// to warm up on, 100 to score.
	all := synthetic(500, 300, 10, 40, 11)
	train := prefix(all, 400*40)
	test := suffix(all, 400*40)
	calls := 0
	res, err := Prequential(train, test, EvalOptions{Config: DefaultConfig(), FitBKT: true, Progress: func(done, total int) error {
		calls++
		if done > total {
			t.Fatalf("progress %d/%d", done, total)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Warmup != train.Len() || res.Events != test.Len() || calls == 0 || len(res.Fits) != 10 {
		t.Fatalf("%+v", res)
	}
	// The generator is an Elo-like model, so Elo and the combined predictor
	// must do well and BKT clearly better than chance.
	t.Logf("ours %.4f  elo %.4f  bkt %.4f", res.Ours.AUC, res.Elo.AUC, res.BKT.AUC)
	if res.Elo.AUC < 0.7 || res.Ours.AUC < 0.7 || res.BKT.AUC < 0.55 {
		t.Fatalf("AUC: ours %.3f elo %.3f bkt %.3f", res.Ours.AUC, res.Elo.AUC, res.BKT.AUC)
	}
	stop := errors.New("stop")
	if _, err := Prequential(nil, train, EvalOptions{Config: DefaultConfig(), Progress: func(int, int) error { return stop }}); !errors.Is(err, stop) {
		t.Fatalf("progress error not returned: %v", err)
	}
	if _, err := Prequential(train, &Dataset{}, EvalOptions{Config: DefaultConfig()}); err == nil {
		t.Fatal("empty test accepted")
	}
}

// TestAssist2009Prefix runs the real protocol on a prefix of the data:
// warm up on the first 60,000 training rows, then score the first 15,000
// test rows. Floors sit a little under the measured values (combined
// 0.766, Elo 0.730, BKT 0.720 on this prefix) so that a regression fails
// loudly. A prefix keeps the test under a second.
func TestAssist2009Prefix(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the real data set; skipped in -short mode")
	}
	ix := NewIndex()
	train := readGervet(t, ix, "preprocessed_data_train.csv.gz")
	test := readGervet(t, ix, "preprocessed_data_test.csv.gz")
	if train.Len() != 220070 || test.Len() != 58266 {
		t.Fatalf("rows: %d train, %d test", train.Len(), test.Len())
	}
	train, test = prefix(train, 60000), prefix(test, 15000)
	res, err := Prequential(train, test, EvalOptions{Config: DefaultConfig(), FitBKT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ours %.4f  elo %.4f  bkt %.4f", res.Ours.AUC, res.Elo.AUC, res.BKT.AUC)
	for _, c := range []struct {
		name       string
		got, floor float64
	}{{"combined", res.Ours.AUC, floorOurs}, {"elo", res.Elo.AUC, floorElo}, {"bkt", res.BKT.AUC, floorBKT}} {
		if c.got < c.floor {
			t.Errorf("%s AUC %.4f below the floor %.2f", c.name, c.got, c.floor)
		}
	}
	if res.Ours.AUC <= res.Elo.AUC || res.Ours.AUC <= res.BKT.AUC {
		t.Errorf("the combined predictor must beat its parts: %.4f vs elo %.4f, bkt %.4f", res.Ours.AUC, res.Elo.AUC, res.BKT.AUC)
	}
}

func suffix(d *Dataset, from int) *Dataset {
	return &Dataset{
		Learner: d.Learner[from:], Item: d.Item[from:], Score: d.Score[from:], Line: d.Line[from:],
		skillOff: d.skillOff[from:], skillPool: d.skillPool,
	}
}

// AUC floors of TestAssist2009Prefix; see its comment.
const floorOurs, floorElo, floorBKT = 0.75, 0.71, 0.70

func prefix(d *Dataset, n int) *Dataset {
	return &Dataset{
		Learner: d.Learner[:n], Item: d.Item[:n], Score: d.Score[:n], Line: d.Line[:n],
		skillOff: d.skillOff[:n+1], skillPool: d.skillPool,
	}
}
