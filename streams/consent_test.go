package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

func consentSet(t testing.TB, id, learner string, personalisation bool) event.Event {
	t.Helper()
	b, _ := json.Marshal(privacy.ConsentSet{Learner: learner, Personalisation: personalisation, Analytics: true, By: "k", At: time.Now().UTC()})
	e, err := event.New(id, privacy.TypeConsentSet, "test", "t1", learner, time.Now(), b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A learner who withdraws consent to personalisation is neither learned
// from nor personalised for by either model, across a restart, until the
// consent is given again.
func TestModelConsumersHonourConsent(t *testing.T) {
	ctx := context.Background()
	const l0 = "mbox:mailto:l0@example.com"
	consumers := []struct {
		name string
		open func(t *testing.T, store *projections.Store, sink *memSink) modelConsumer
		stmt func(t *testing.T, i int, learner string) event.Event
		// learned reports whether what sink holds shows l0 learned from
		// (adaptive: events about l0) or personalised for (recommender:
		// a list of l0 without the not_personalised reason).
		personal func(t *testing.T, sink *memSink) (published, personal bool)
	}{
		{
			name: streams.RecommenderConsumer,
			open: func(t *testing.T, store *projections.Store, sink *memSink) modelConsumer {
				ck, _ := projections.NewRecommenderCheckpoints(store)
				g := graph.New()
				r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
				if err != nil {
					t.Fatal(err)
				}
				return r
			},
			stmt: func(t *testing.T, i int, learner string) event.Event {
				return stmtEvent(t, i, learner, fmt.Sprintf("https://example.com/c/%d", i%7), "completed")
			},
			personal: func(t *testing.T, sink *memSink) (bool, bool) {
				published, personal := false, false
				for _, e := range sink.recs() {
					if e.Key != l0 {
						continue
					}
					var ru projections.RecommendationsUpdated
					json.Unmarshal(e.Data, &ru)
					published = true
					personal = false
					for _, it := range ru.Items {
						if !slices.Contains(it.Reasons, streams.ReasonNotPersonalised) {
							personal = true
						}
					}
				}
				return published, personal
			},
		},
		{
			name: streams.AdaptiveConsumer,
			open: func(t *testing.T, store *projections.Store, sink *memSink) modelConsumer {
				ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
				a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{adaptiveGraph(t)}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
				if err != nil {
					t.Fatal(err)
				}
				return a
			},
			stmt: func(t *testing.T, i int, learner string) event.Event {
				return scoredEvent(t, i, learner, fmt.Sprintf("https://example.com/q%d", 1+i%3), fmt.Sprintf(`{"success":%v}`, i%2 == 0))
			},
			personal: func(t *testing.T, sink *memSink) (bool, bool) {
				sink.mu.Lock()
				defer sink.mu.Unlock()
				for _, e := range sink.evs[streams.TopicAdaptive] {
					if e.Key == l0 {
						return true, true
					}
				}
				return false, false
			},
		},
	}
	for _, c := range consumers {
		t.Run(c.name, func(t *testing.T) {
			store := openStore(t)
			sink := &memSink{}
			m := c.open(t, store, sink)
			off, n := int64(0), 0
			handle := func(e event.Event) {
				t.Helper()
				if err := m.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Partition: 0, Offset: off}, e); err != nil {
					t.Fatal(err)
				}
				off++
			}
			statements := func(k int) {
				t.Helper()
				for range k {
					handle(c.stmt(t, n, fmt.Sprintf("l%d@example.com", n%3)))
					n++
				}
				if err := m.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			reset := func() {
				sink.mu.Lock()
				sink.evs = nil
				sink.mu.Unlock()
			}
			steps := []struct {
				name          string
				do            func()
				wantPublished bool
				wantPersonal  bool
			}{
				{"before: personal", func() { statements(12) }, true, true},
				{"withdrawn", func() { handle(consentSet(t, "c1", l0, false)); statements(0) }, c.name == streams.RecommenderConsumer, false},
				{"statements after: not learned, not personal", func() { statements(12) }, c.name == streams.RecommenderConsumer, false},
				{"after a restart: still withdrawn", func() { m = c.open(t, store, sink); statements(12) }, c.name == streams.RecommenderConsumer, false},
				{"given again: learned and personal", func() { handle(consentSet(t, "c2", l0, true)); statements(12) }, true, true},
			}
			for _, s := range steps {
				reset()
				s.do()
				published, personal := c.personal(t, sink)
				if published != s.wantPublished || personal != s.wantPersonal {
					t.Errorf("%s: published %v personal %v, want %v %v", s.name, published, personal, s.wantPublished, s.wantPersonal)
				}
			}
		})
	}
}

// A withdrawal before the model has seen anything of the tenant or the
// learner: a popular list (here from the catalog), no crash.
func TestRecommenderConsentOfAnUnknownLearner(t *testing.T) {
	sink := &memSink{}
	ck, _ := projections.NewRecommenderCheckpoints(openStore(t))
	g := adaptiveGraph(t) // sql is entry-level; the course teaches it
	r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: sink,
		Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(context.Background(), streams.Position{Topic: streams.TopicStatements}, consentSet(t, "c1", "mbox:mailto:new@example.com", false)); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := sink.recs()
	if len(recs) != 1 {
		t.Fatalf("%d lists published, want 1", len(recs))
	}
	var ru projections.RecommendationsUpdated
	json.Unmarshal(recs[0].Data, &ru)
	if !ru.ColdStart || ru.Learner != "mbox:mailto:new@example.com" || len(ru.Items) != 3 {
		t.Errorf("list %+v, want the three entry-level activities", ru)
	}
	for _, it := range ru.Items {
		if !slices.Contains(it.Reasons, streams.ReasonNotPersonalised) {
			t.Errorf("item %s: reasons %v lack %s", it.Item, it.Reasons, streams.ReasonNotPersonalised)
		}
	}
}
