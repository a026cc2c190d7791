package streams_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/adaptive"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// nullSink acknowledges every publish at once: the benchmark measures the
// consumer, not a broker.
type nullSink struct{}

func (nullSink) PublishEvents(context.Context, string, ...event.Event) error { return nil }

// BenchmarkAdaptiveHandle: statements through Adaptive.Handle (parse the
// statement, catalog lookup, Observe, build and queue the events) against
// the baseline of Model.Observe alone on the same attempts. 2,000 learners,
// 200 items over 20 skills, one partition; checkpoints off.
func BenchmarkAdaptiveHandle(b *testing.B) {
	const learners, items, skills, n = 2000, 200, 20, 20000
	g := graph.New()
	for s := range skills {
		g.PutSkill(graph.Skill{ID: fmt.Sprintf("s%d", s)})
	}
	for i := range items {
		g.PutActivity(graph.Activity{ID: fmt.Sprintf("https://example.com/q%d", i), Type: graph.TypeItem,
			Assesses: []string{fmt.Sprintf("s%d", i%skills)}})
	}
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = scoredEvent(b, i, fmt.Sprintf("l%d@example.com", (i*7919)%learners),
			fmt.Sprintf("https://example.com/q%d", (i*31)%items), fmt.Sprintf(`{"success":%v}`, i%3 != 0))
	}
	b.Run("handle", func(b *testing.B) {
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
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := a.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}, evs[i%n]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("observe-baseline", func(b *testing.B) {
		m, _ := adaptive.New(adaptive.DefaultConfig())
		atts := make([]adaptive.Event, n)
		for i := range atts {
			c := 1.0
			if i%3 == 0 {
				c = 0
			}
			it := (i * 31) % items
			atts[i] = adaptive.Event{Learner: int32((i * 7919) % learners), Item: int32(it), Skills: []int32{int32(it % skills)}, Score: c}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := m.Observe(&atts[i%n]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
