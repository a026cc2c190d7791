package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// readCounter is a catalog and adaptive read model whose answers are
// fixed functions of the learner and item, counting how it is read.
type readCounter struct {
	g *graph.Graph

	mu     sync.Mutex
	single map[string]int // LearnerRole, Mastery, PredictSuccess calls
	batchN map[string]int // LearnerRoles, MasteryOf, SuccessPredictorFor calls
}

func (c *readCounter) count(m map[string]int, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[name]++
}

func roleOf(learner string) string {
	if len(learner)%2 == 0 {
		return "analyst"
	}
	return "engineer"
}

func masteryOf(learner string) map[string]float64 {
	h := fnv.New32a()
	h.Write([]byte(learner))
	return map[string]float64{"sql": float64(h.Sum32()%100) / 100, "not-in-the-catalog": 0.9}
}

func successOf(learner, item string) float64 {
	h := fnv.New32a()
	h.Write([]byte(learner + item))
	return float64(h.Sum32()%1000) / 1000
}

func (c *readCounter) Graph(string) (*graph.Graph, error) { return c.g, nil }
func (c *readCounter) LearnerRole(_, learner string) (string, error) {
	c.count(c.single, "LearnerRole")
	return roleOf(learner), nil
}
func (c *readCounter) Mastery(_ context.Context, _, learner string) (map[string]float64, error) {
	c.count(c.single, "Mastery")
	return masteryOf(learner), nil
}
func (c *readCounter) PredictSuccess(_ context.Context, _, learner string, items []string) ([]float64, error) {
	c.count(c.single, "PredictSuccess")
	return c.predict(learner, items), nil
}

// predict is successOf each item, by position.
func (c *readCounter) predict(learner string, items []string) []float64 {
	out := make([]float64, len(items))
	for i, it := range items {
		out[i] = successOf(learner, it)
	}
	return out
}

// batchCounter adds the batch reads to readCounter.
type batchCounter struct{ *readCounter }

func (c batchCounter) LearnerRoles(string) (func(string) string, error) {
	c.count(c.batchN, "LearnerRoles")
	return roleOf, nil
}

// batchSkills numbers the skills batchCounter's answers hold: the
// catalog's sql is not the first, and the first is none of its skills.
var batchSkills = []string{"not-in-the-catalog", "sql"}

func (c batchCounter) MasteryOf(_ context.Context, _ string, learners []string) (map[string][]projections.SkillLevel, error) {
	c.count(c.batchN, "MasteryOf")
	out := map[string][]projections.SkillLevel{}
	for _, l := range learners {
		for s, p := range masteryOf(l) {
			out[l] = append(out[l], projections.SkillLevel{Skill: int32(slices.Index(batchSkills, s)), P: p})
		}
	}
	return out, nil
}
func (c batchCounter) SkillName(n int32) string { return batchSkills[n] }
func (c batchCounter) SuccessPredictorFor(_ context.Context, _ string, _ []string) (func(context.Context, string, []string) ([]float64, error), error) {
	c.count(c.batchN, "SuccessPredictorFor")
	return func(_ context.Context, learner string, items []string) ([]float64, error) {
		return c.predict(learner, items), nil
	}, nil
}

// The recommender reads roles, mastery and success predictions once per
// fetched batch when the read models can answer for many learners, and
// publishes exactly what it publishes reading them per learner.
func TestRecommenderReadsOncePerBatch(t *testing.T) {
	g := graph.New()
	const batches, perBatch = 3, 60
	var evs []event.Event
	for i := range batches * perBatch {
		evs = append(evs, stmtEvent(t, i, fmt.Sprintf("l%d@example.com", i%12), fmt.Sprintf("https://example.com/c/%d", (i*7+i/12)%30), "completed"))
	}
	run := func(batch bool) (*readCounter, []event.Event) {
		store, err := projections.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		ck, err := projections.NewRecommenderCheckpoints(store)
		if err != nil {
			t.Fatal(err)
		}
		rc := &readCounter{g: g, single: map[string]int{}, batchN: map[string]int{}}
		cfg := streams.RecommenderConfig{Catalog: rc, Mastery: rc, Success: rc, Checkpoints: ck, Publisher: &memSink{},
			CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1}
		if batch {
			bc := batchCounter{rc}
			cfg.Catalog, cfg.Mastery, cfg.Success = bc, bc, bc
		}
		sink := cfg.Publisher.(*memSink)
		r, err := streams.NewRecommender(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for b := range batches {
			pos := make([]streams.Position, perBatch)
			for i := range pos {
				pos[i] = streams.Position{Topic: streams.TopicStatements, Offset: int64(b*perBatch + i)}
			}
			if n, err := r.HandleBatch(ctx, pos, evs[b*perBatch:(b+1)*perBatch]); err != nil || n != perBatch {
				t.Fatalf("batch %d: %d applied, %v", b, n, err)
			}
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return rc, sink.recs()
	}
	perLearner, want := run(false)
	batched, got := run(true)

	cases := []struct {
		name      string
		single    int
		batchCall int
	}{
		{"LearnerRole", 0, 0},
		{"LearnerRoles", 0, batches},
		{"Mastery", 0, 0},
		{"MasteryOf", 0, batches},
		{"PredictSuccess", 0, 0},
		{"SuccessPredictorFor", 0, batches},
	}
	for _, tc := range cases {
		if n := batched.single[tc.name]; n != tc.single {
			t.Errorf("%s called %d times with batch reads, want %d", tc.name, n, tc.single)
		}
		if n := batched.batchN[tc.name]; n != tc.batchCall {
			t.Errorf("%s called %d times for %d batches, want %d", tc.name, n, batches, tc.batchCall)
		}
	}
	if perLearner.single["LearnerRole"] != batches*perBatch || perLearner.single["Mastery"] == 0 || perLearner.single["PredictSuccess"] == 0 {
		t.Errorf("without batch reads: %v, want a read per statement and per learner", perLearner.single)
	}
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("published %d updates with batch reads, %d without", len(got), len(want))
	}
	for i := range want {
		var a, b projections.RecommendationsUpdated
		if err := json.Unmarshal(want[i].Data, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got[i].Data, &b); err != nil {
			t.Fatal(err)
		}
		if a.Learner != b.Learner || a.Role != b.Role || !slices.EqualFunc(a.Items, b.Items, func(x, y projections.Recommendation) bool {
			return x.Item == y.Item && x.Score == y.Score && slices.Equal(x.Reasons, y.Reasons)
		}) {
			t.Errorf("update %d differs:\n per learner %s\n batched     %s", i, want[i].Data, got[i].Data)
		}
	}
}

// slowCheckpoints takes d to save, as a large model does.
type slowCheckpoints struct {
	streams.ModelCheckpoints
	d     time.Duration
	mu    sync.Mutex
	saves int
}

func (s *slowCheckpoints) Save(topic string, cps map[int]projections.PartitionCheckpoint, answers ...projections.PendingAnswer) error {
	time.Sleep(s.d)
	s.mu.Lock()
	s.saves++
	s.mu.Unlock()
	return s.ModelCheckpoints.Save(topic, cps, answers...)
}

// Checkpoints that take long are spaced by their cost: a model consumer
// keeps learning most of the time whatever the size of its models, where
// a checkpoint every CheckpointEvery events would take all its time.
func TestSlowCheckpointsAreSpacedByTheirCost(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ck, err := projections.NewRecommenderCheckpoints(store)
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowCheckpoints{ModelCheckpoints: ck, d: 20 * time.Millisecond}
	r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: slow, Publisher: discardSink{},
		CheckpointEvery: 10, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for b := range 40 {
		var pos []streams.Position
		var evs []event.Event
		for i := b * 10; i < (b+1)*10; i++ {
			pos = append(pos, streams.Position{Topic: streams.TopicStatements, Offset: int64(i)})
			evs = append(evs, stmtEvent(t, i, fmt.Sprintf("l%d@example.com", i%7), fmt.Sprintf("https://example.com/c/%d", i%13), "completed"))
		}
		if _, err := r.HandleBatch(ctx, pos, evs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // the next fetch
	}
	elapsed := time.Since(start)
	slow.mu.Lock()
	saves := slow.saves
	slow.mu.Unlock()
	// Every 10 events would be 40 checkpoints, 800 ms of the run; spaced,
	// at most a tenth of the run goes to them (and one may start last).
	if limit := int(elapsed/(10*slow.d)) + 1; saves < 1 || saves > limit {
		t.Errorf("%d checkpoints of %s in %s, want between 1 and %d", saves, slow.d, elapsed, limit)
	}
	// An explicit checkpoint is not spaced: Close must write the last one.
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.saves != saves+1 {
		t.Errorf("Close wrote %d checkpoints, want 1", slow.saves-saves)
	}
}
