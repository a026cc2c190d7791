package mf

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
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
	// a, b and c score their first event with no history; c's second comes
	// after one prior event. Every item is new (< 50 interactions).
	h := res.ByHistory
	if h[0].Scored != 3 || h[0].Model.Hits != 1 || h[1].Scored != 1 || h[1].Model.Hits != 1 || h[1].Model.Recall != 1 {
		t.Fatalf("by history %+v", h)
	}
	if res.NewItems.Scored != 4 || res.NewItems.Model.Hits != 2 || res.NewItems.Baseline.Recall != 0.5 {
		t.Fatalf("new items %+v", res.NewItems)
	}
	if res.Curve.By != "events" || len(res.Curve.Points) != 5 || res.Curve.Points[2].Events != 1 || res.Curve.Points[2].Scored != 0 ||
		res.Curve.Points[4].Model.Recall != 1 || res.Curve.Points[0].Model.Hits != 0 {
		t.Fatalf("curve %+v", res.Curve)
	}
}

func TestHistoryBucket(t *testing.T) {
	for _, tc := range []struct {
		prior int
		want  string
	}{{0, "0"}, {1, "1"}, {2, "2-5"}, {5, "2-5"}, {6, "6-20"}, {20, "6-20"}, {21, "21-100"}, {100, "21-100"}, {101, ">100"}, {5000, ">100"}} {
		if got := HistoryBuckets[HistoryBucket(tc.prior)]; got != tc.want {
			t.Errorf("%d prior events: bucket %q, want %q", tc.prior, got, tc.want)
		}
	}
}

// A learner's events move through the buckets one by one (repeats count as
// prior events but are not scored), and an item leaves new_items after its
// 50th interaction.
func TestPrequentialSplits(t *testing.T) {
	var evs []Event
	// 60 learners each use item "hot" first: "hot" has 59 prior events at
	// the last of them.
	for u := range 60 {
		evs = append(evs, Event{User: fmt.Sprintf("u%d", u), Item: "hot", Weight: 1})
	}
	// One learner with a long history: 120 distinct items, then 3 repeats,
	// then one more new item.
	for j := range 120 {
		evs = append(evs, Event{User: "long", Item: fmt.Sprintf("i%d", j), Weight: 1})
	}
	evs = append(evs, Event{User: "long", Item: "i0", Weight: 1}, Event{User: "long", Item: "i1", Weight: 1},
		Event{User: "long", Item: "i2", Weight: 1}, Event{User: "long", Item: "last", Weight: 1})
	res, err := Prequential(context.Background(), evs, EvalOptions{Model: DefaultConfig(), Windows: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := [6]int{60 + 1, 1, 4, 15, 80, 19 + 1}
	total := 0
	for b, sp := range res.ByHistory {
		if sp.Scored != want[b] {
			t.Errorf("bucket %s: %d scored, want %d", HistoryBuckets[b], sp.Scored, want[b])
		}
		total += sp.Scored
	}
	if total != res.Scored || res.Scored != len(evs)-3 {
		t.Errorf("buckets sum to %d, scored %d, events %d", total, res.Scored, len(evs))
	}
	// "hot" is old (>= 50 prior) for the last 10 of its learners.
	if res.NewItems.Scored != res.Scored-10 {
		t.Errorf("new items %d, want %d", res.NewItems.Scored, res.Scored-10)
	}
	if len(res.Curve.Points) != 7 {
		t.Fatalf("%d windows, want 7", len(res.Curve.Points))
	}
	ev, sc := 0, 0
	for k, p := range res.Curve.Points {
		ev += p.Events
		sc += p.Scored
		if p.Scored > 0 && math.Abs(p.Model.Recall-float64(p.Model.Hits)/float64(p.Scored)) > 1e-12 {
			t.Errorf("window %d: recall %v of %d/%d", k, p.Model.Recall, p.Model.Hits, p.Scored)
		}
	}
	if ev != len(evs) || sc != res.Scored || res.Curve.Points[6].End != float64(len(evs)) {
		t.Errorf("curve covers %d events, %d scored; last window ends at %v", ev, sc, res.Curve.Points[6].End)
	}
}

func TestWindowerByTime(t *testing.T) {
	evs := []Event{{Time: 10}, {Time: 12}, {Time: 14.99}, {Time: 15}, {Time: 30}}
	w := NewWindower(evs, 4)
	c := w.Curve()
	if c.By != "time" || len(c.Points) != 4 || c.Points[0].Start != 10 || c.Points[0].End != 15 || c.Points[3].End != 30 {
		t.Fatalf("curve %+v", c)
	}
	for pos, want := range []int{0, 0, 0, 1, 3} {
		if got := w.Window(pos, evs[pos].Time); got != want {
			t.Errorf("time %v: window %d, want %d", evs[pos].Time, got, want)
		}
	}
	// Without distinct times the windows hold equal event counts.
	w = NewWindower(make([]Event, 10), 4)
	for pos, want := range []int{0, 0, 0, 1, 1, 2, 2, 2, 3, 3} {
		if got := w.Window(pos, 0); got != want {
			t.Errorf("event %d: window %d, want %d", pos, got, want)
		}
	}
}

func TestHistorySplitsJSON(t *testing.T) {
	var h HistorySplits
	h[4] = Split{Scored: 2, Model: Metrics{Hits: 1, Recall: 0.5, NDCG: 0.25}}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	b := []byte(s)
	if !strings.HasPrefix(s, `{"0":{"scored":0,`) || !strings.Contains(s, `"21-100":{"scored":2,"model":{"hits":1,"recall_at_n":0.5,"ndcg_at_n":0.25}`) ||
		strings.Index(s, `"6-20"`) > strings.Index(s, `"21-100"`) || strings.Index(s, `"21-100"`) > strings.Index(s, `">100"`) {
		t.Fatalf("JSON %s", s)
	}
	var back HistorySplits
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Fatalf("round trip %v: %+v", err, back)
	}
	if err := json.Unmarshal([]byte(`{"7-9":{"scored":1}}`), &back); err == nil || !strings.Contains(err.Error(), "7-9") {
		t.Fatalf("unknown bucket: %v", err)
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
