package streams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

var forgetSecret = privacy.Secret("0123456789abcdef0123456789abcdef")

func learnerErased(t testing.TB, id, tenant, learnerKey string) event.Event {
	t.Helper()
	p := forgetSecret.Pseudonym(tenant, learnerKey)
	b, _ := json.Marshal(privacy.LearnerErased{Erasure: "er-" + id, Pseudonym: p, At: time.Now().UTC()})
	e, err := event.New(id, privacy.TypeLearnerErased, "test", tenant, p, time.Now(), b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// recordedAnswers are the erasure answers recorded in the store.
func recordedAnswers(t testing.TB, store *projections.Store) []privacy.ErasureApplied {
	t.Helper()
	pending, err := store.PendingErasureAnswers()
	if err != nil {
		t.Fatal(err)
	}
	var out []privacy.ErasureApplied
	for _, p := range pending {
		out = append(out, p.Answer)
	}
	return out
}

// checkpointBytes is everything a consumer's checkpoint space holds.
func checkpointBytes(t testing.TB, store *projections.Store, name string) []byte {
	t.Helper()
	ck, err := projections.NewModelCheckpoints(store, name)
	if err != nil {
		t.Fatal(err)
	}
	cp, ok, err := ck.Load(streams.TopicStatements, 0)
	if err != nil || !ok {
		t.Fatalf("checkpoint of %s: %v, %v", name, ok, err)
	}
	var all []byte
	for _, b := range cp.Tenants {
		all = append(all, b...)
	}
	return all
}

// modelConsumer is the part of the recommender and the adaptive consumer
// the erasure test drives.
type modelConsumer interface {
	Handle(ctx context.Context, pos streams.Position, e event.Event) error
	Flush(ctx context.Context) error
}

func TestModelConsumersForgetErasedLearner(t *testing.T) {
	ctx := context.Background()
	consumers := []struct {
		name   string
		ckpt   string
		open   func(t *testing.T, store *projections.Store, sink *memSink, ps privacy.Pseudonyms) modelConsumer
		stmt   func(t *testing.T, i int, learner string) event.Event
		counts string // the answer's counts for the erased learner
	}{
		{
			name: streams.RecommenderConsumer, ckpt: projections.RecommenderName,
			open: func(t *testing.T, store *projections.Store, sink *memSink, ps privacy.Pseudonyms) modelConsumer {
				ck, _ := projections.NewRecommenderCheckpoints(store)
				r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: ps, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1 << 30, FlushInterval: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return r
			},
			stmt: func(t *testing.T, i int, learner string) event.Event {
				return stmtEvent(t, i, learner, fmt.Sprintf("https://example.com/c/%d", i%7), "completed")
			},
			counts: "completed_items=4,history_items=4,learner_factors=1,recent_items=3,unpublished_recommendations=3",
		},
		{
			name: streams.AdaptiveConsumer, ckpt: projections.AdaptiveModelName,
			open: func(t *testing.T, store *projections.Store, sink *memSink, ps privacy.Pseudonyms) modelConsumer {
				ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
				a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{adaptiveGraph(t)}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: ps, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1 << 30, FlushInterval: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return a
			},
			stmt: func(t *testing.T, i int, learner string) event.Event {
				return scoredEvent(t, i, learner, fmt.Sprintf("https://example.com/q%d", 1+i%3), fmt.Sprintf(`{"success":%v}`, i%2 == 0))
			},
			counts: "learner_states=1,unpublished_events=9",
		},
	}
	for _, c := range consumers {
		for _, tc := range []struct {
			name       string
			pseudonyms privacy.Pseudonyms
			erase      string // learner key
			reject     string
			counts     string
		}{
			{"erase a learner", forgetSecret, "mbox:mailto:l0@example.com", "", c.counts},
			{"a learner the models never saw", forgetSecret, "mbox:mailto:nobody@example.com", "", ""},
			{"no pseudonyms", nil, "mbox:mailto:l0@example.com", "no pseudonyms", ""},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				store := openStore(t)
				sink := &memSink{}
				m := c.open(t, store, sink, tc.pseudonyms)
				off := int64(0)
				handle := func(e event.Event) error {
					err := m.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Partition: 0, Offset: off}, e)
					off++
					return err
				}
				for i := range 20 {
					if err := handle(c.stmt(t, i, fmt.Sprintf("l%d@example.com", i%5))); err != nil {
						t.Fatal(err)
					}
				}
				err := handle(learnerErased(t, "x1", "t1", tc.erase))
				if tc.reject != "" {
					if !event.IsRejected(err) || !strings.Contains(err.Error(), tc.reject) {
						t.Fatalf("got %v, want a rejection naming %q", err, tc.reject)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				// Answered once, in the checkpoint without the learner.
				as := recordedAnswers(t, store)
				if len(as) != 1 || as[0].Consumer != c.name || as[0].Erasure != "er-x1" {
					t.Fatalf("answers %+v, want one of %s", as, c.name)
				}
				var kv []string
				for k, v := range as[0].Removed {
					if v > 0 {
						kv = append(kv, fmt.Sprintf("%s=%d", k, v))
					}
				}
				slices.Sort(kv)
				if got := strings.Join(kv, ","); got != tc.counts {
					t.Errorf("removed %s, want %s", got, tc.counts)
				}
				snap := checkpointBytes(t, store, c.ckpt)
				if erased := tc.counts != ""; bytes.Contains(snap, []byte("l0@example.com")) == erased {
					t.Errorf("the checkpoint holds l0: %v, want %v", !erased, !erased)
				}
				if !bytes.Contains(snap, []byte("l1@example.com")) {
					t.Error("the checkpoint lost another learner")
				}
				// The consumer publishes the erasure again on its output topic,
				// after every event it published of the learner: the read
				// models delete them too, and compaction of the
				// recommendations topic leaves nothing of them there.
				if err := m.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				out := map[string]string{streams.RecommenderConsumer: streams.TopicRecommendations, streams.AdaptiveConsumer: streams.TopicAdaptive}[c.name]
				sink.mu.Lock()
				evs := sink.evs[out]
				sink.mu.Unlock()
				if tc.counts != "" {
					if len(evs) == 0 || evs[len(evs)-1].Type != privacy.TypeLearnerErased || evs[len(evs)-1].Key != forgetSecret.Pseudonym("t1", tc.erase) {
						t.Errorf("the last record on %s is not the erasure", out)
					}
				}
				sink.mu.Lock()
				sink.evs = nil
				sink.mu.Unlock()
				for i := 20; i < 30; i++ {
					if err := handle(c.stmt(t, i, fmt.Sprintf("l%d@example.com", 1+i%4))); err != nil {
						t.Fatal(err)
					}
				}
				if err := m.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				// From here on nothing published names the learner.
				for topic, evs := range sink.evs {
					for _, e := range evs {
						if strings.Contains(string(e.Data), "l0@example.com") || e.Key == "mbox:mailto:l0@example.com" {
							t.Errorf("%s: published %s about the erased learner", topic, e.Type)
						}
					}
				}
			})
		}
	}
}

// A RetentionApplied makes the model consumers forget the learners whose
// latest statement was stored before the cut-off; the others stay.
func TestModelConsumersApplyRetention(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, name := range []string{streams.RecommenderConsumer, streams.AdaptiveConsumer} {
		t.Run(name, func(t *testing.T) {
			store := openStore(t)
			sink := &memSink{}
			var m modelConsumer
			var stmt func(i int, learner string) event.Event
			ckpt := projections.RecommenderName
			if name == streams.RecommenderConsumer {
				ck, _ := projections.NewRecommenderCheckpoints(store)
				r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1 << 30, FlushInterval: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				m = r
				stmt = func(i int, learner string) event.Event {
					return stmtEvent(t, i, learner, fmt.Sprintf("https://example.com/c/%d", i%7), "completed")
				}
			} else {
				ckpt = projections.AdaptiveModelName
				ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
				a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{adaptiveGraph(t)}, Checkpoints: ck, Publisher: sink,
					Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1 << 30, FlushInterval: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				m = a
				stmt = func(i int, learner string) event.Event {
					return scoredEvent(t, i, learner, fmt.Sprintf("https://example.com/q%d", 1+i%3), `{"success":true}`)
				}
			}
			off := int64(0)
			handle := func(e event.Event) {
				t.Helper()
				if err := m.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Partition: 0, Offset: off}, e); err != nil {
					t.Fatal(err)
				}
				off++
			}
			// old@ learned from only before the cut-off, mixed@ on both
			// sides of it, new@ only after.
			for i := range 12 {
				learner, at := []string{"old@example.com", "mixed@example.com", "new@example.com"}[i%3], t0
				if i >= 6 && i%3 != 0 {
					at = t0.Add(48 * time.Hour)
				}
				e := stmt(i, learner)
				e.Time = at
				handle(e)
			}
			b, _ := json.Marshal(privacy.RetentionApplied{Tenant: "t1", Before: t0.Add(24 * time.Hour)})
			ret, err := event.New("ret1", privacy.TypeRetentionApplied, "test", "t1", "t1", t0.Add(72*time.Hour), b)
			if err != nil {
				t.Fatal(err)
			}
			handle(ret)
			snap := checkpointBytes(t, store, ckpt)
			for learner, want := range map[string]bool{"old@example.com": false, "mixed@example.com": true, "new@example.com": true} {
				if got := bytes.Contains(snap, []byte(learner)); got != want {
					t.Errorf("after retention the checkpoint holds %s: %v, want %v", learner, got, want)
				}
			}
		})
	}
}
