package streams_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// BenchmarkAdaptiveMemory reports the adaptive consumer's heap per item
// and per learner (Elo difficulty per item, ability and BKT mastery per
// learner and skill, what it has not yet checkpointed), the counterpart of
// BenchmarkRecommenderMemory: 5,000 items over 500 skills, then 20,000
// learners of 10 scored attempts each (up to 10 skills per learner).
// Checkpoints off, so that what is measured is the state, not a snapshot
// being written. Run with -benchtime 1x.
func BenchmarkAdaptiveMemory(b *testing.B) {
	const items, skills, learners, perLearner = 5000, 500, 20000, 10
	g := graph.New()
	for s := range skills {
		g.PutSkill(graph.Skill{ID: fmt.Sprintf("s%d", s)})
	}
	for i := range items {
		g.PutActivity(graph.Activity{ID: fmt.Sprintf("https://example.com/q%d", i), Type: graph.TypeItem,
			Assesses: []string{fmt.Sprintf("s%d", i%skills)}})
	}
	store, err := projections.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
	a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: nullSink{},
		CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	off := 0
	handle := func(e event.Event) {
		if err := a.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(off)}, e); err != nil {
			b.Fatal(err)
		}
		off++
	}
	base := heap()
	// Phase 1: every item, by 10 learners.
	for i := range items {
		handle(scoredEvent(b, off, fmt.Sprintf("seed%d@example.com", i%10), fmt.Sprintf("https://example.com/q%d", i), `{"success":true}`))
	}
	afterItems := heap()
	for u := range learners {
		for j := range perLearner {
			handle(scoredEvent(b, off, fmt.Sprintf("learner%d@example.com", u), fmt.Sprintf("https://example.com/q%d", (u*31+j*977)%items),
				fmt.Sprintf(`{"success":%v}`, (u+j)%3 != 0)))
		}
	}
	afterLearners := heap()
	b.ReportMetric(float64(afterItems-base)/items, "B/item")
	b.ReportMetric(float64(afterLearners-afterItems)/learners, "B/learner")
	runtime.KeepAlive(a)
}
