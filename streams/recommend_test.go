package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

type fakeCatalog struct{ g *graph.Graph }

func (f fakeCatalog) Graph(string) (*graph.Graph, error)         { return f.g, nil }
func (f fakeCatalog) LearnerRole(string, string) (string, error) { return "", nil }

type memSink struct {
	mu   sync.Mutex
	evs  map[string][]event.Event
	fail bool
}

func (m *memSink) PublishEvents(_ context.Context, topic string, evs ...event.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return fmt.Errorf("broker down")
	}
	if m.evs == nil {
		m.evs = map[string][]event.Event{}
	}
	m.evs[topic] = append(m.evs[topic], evs...)
	return nil
}

func (m *memSink) recs() []event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]event.Event(nil), m.evs[streams.TopicRecommendations]...)
}

func stmtEvent(t testing.TB, i int, learner, item, verb string) event.Event {
	t.Helper()
	data := fmt.Sprintf(`{"id":"%08d-0000-4000-8000-000000000000","actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/%s"},
	  "object":{"id":"%s"},"timestamp":"2026-11-29T10:00:00Z","stored":"2026-11-29T10:00:00Z","version":"1.0.0",
	  "authority":{"mbox":"mailto:admin@example.com"}}`, i, learner, verb, item)
	e, err := event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "test", "t1", "mbox:mailto:"+learner,
		time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newRecommender(t testing.TB, store *projections.Store, sink streams.EventSink, g *graph.Graph) *streams.Recommender {
	t.Helper()
	return newRecommenderWith(t, store, sink, g, nil)
}

// newRecommenderWith is newRecommender with set applied to its
// configuration first.
func newRecommenderWith(t testing.TB, store *projections.Store, sink streams.EventSink, g *graph.Graph, set func(*streams.RecommenderConfig)) *streams.Recommender {
	t.Helper()
	ck, err := projections.NewRecommenderCheckpoints(store)
	if err != nil {
		t.Fatal(err)
	}
	cfg := streams.RecommenderConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: sink,
		CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1}
	if set != nil {
		set(&cfg)
	}
	r, err := streams.NewRecommender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecommenderPublishesOnTopNChangeAndResumesDeterministically(t *testing.T) {
	dir := t.TempDir()
	store, err := projections.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New()
	sink := &memSink{}
	r := newRecommender(t, store, sink, g)
	ctx := context.Background()
	var evs []event.Event
	for i := 0; i < 200; i++ {
		evs = append(evs, stmtEvent(t, i, fmt.Sprintf("l%d@example.com", i%10), fmt.Sprintf("https://example.com/c/%d", (i*7+i/10)%40), "completed"))
	}
	handle := func(r *streams.Recommender, from, to int) {
		for i := from; i < to; i++ {
			if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Partition: 0, Offset: int64(i)}, evs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	handle(r, 0, 100)
	if err := r.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	handle(r, 100, 200)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all := sink.recs()
	if len(all) == 0 {
		t.Fatal("no RecommendationsUpdated published")
	}
	if len(all) >= 200 {
		t.Errorf("published %d updates for 200 events: not only on top-N changes", len(all))
	}
	var d projections.RecommendationsUpdated
	if err := json.Unmarshal(all[len(all)-1].Data, &d); err != nil || len(d.Items) == 0 || d.Items[0].Rank != 1 || d.BasedOn == "" {
		t.Fatalf("last update = %s (%v)", all[len(all)-1].Data, err)
	}
	// Redelivered offsets are not learned twice.
	before := len(all)
	handle(r, 150, 200)
	r.Flush(ctx)
	if n := len(sink.recs()); n != before {
		t.Errorf("redelivery published %d more events", n-before)
	}

	// A new instance resumes from the checkpoint at 100 and re-applies
	// 100..199: same events, same ids, same content.
	sink2 := &memSink{}
	r2 := newRecommender(t, store, sink2, g)
	next, ok, err := r2.NextOffset(ctx, streams.TopicStatements, 0)
	if err != nil || !ok || next != 100 {
		t.Fatalf("resume offset = %d %v %v, want 100", next, ok, err)
	}
	handle(r2, 100, 200)
	r2.Flush(ctx)
	var after []event.Event
	for _, e := range all {
		var d projections.RecommendationsUpdated
		json.Unmarshal(e.Data, &d)
		if n := offsetOf(d.BasedOn); n >= 100 {
			after = append(after, e)
		}
	}
	got := sink2.recs()
	if len(got) != len(after) {
		t.Fatalf("after restore: %d updates, originally %d", len(got), len(after))
	}
	for i := range got {
		if got[i].ID != after[i].ID || string(got[i].Data) != string(after[i].Data) {
			t.Fatalf("update %d differs after restore:\n%s %s\n%s %s", i, got[i].ID, got[i].Data, after[i].ID, after[i].Data)
		}
	}
	store.Close()
}

func offsetOf(id string) int {
	var n int
	fmt.Sscanf(id, "ev-%d", &n)
	return n
}

func TestRecommenderRetriesPublishWithoutRelearning(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sink := &memSink{}
	r := newRecommender(t, store, sink, graph.New())
	ctx := context.Background()
	pos := func(i int) streams.Position {
		return streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}
	}
	r.Handle(ctx, pos(0), stmtEvent(t, 0, "a@example.com", "https://example.com/c/1", "completed"))
	r.Handle(ctx, pos(1), stmtEvent(t, 1, "b@example.com", "https://example.com/c/2", "completed"))
	sink.mu.Lock()
	sink.fail = true
	sink.mu.Unlock()
	e := stmtEvent(t, 2, "b@example.com", "https://example.com/c/1", "completed")
	if err := r.Handle(ctx, pos(2), e); err != nil {
		t.Fatal(err)
	}
	// A checkpoint cannot pass an unacknowledged update.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := r.Checkpoint(tctx); err == nil {
		t.Fatal("checkpoint succeeded while updates were not acknowledged")
	}
	before := r.Stats()[0]
	r.Handle(ctx, pos(2), e) // redelivery: not learned again
	sink.mu.Lock()
	sink.fail = false
	sink.mu.Unlock()
	if err := r.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Stats()[0] != before {
		t.Errorf("the redelivered event was learned twice")
	}
	if n := len(sink.recs()); n == 0 || sink.recs()[n-1].ID != streams.DerivedID("recommendations", e.ID) {
		t.Errorf("the update was not published after the broker came back")
	}
}

func TestRecommenderRejectsBadStatements(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := newRecommender(t, store, &memSink{}, graph.New())
	for _, tc := range []struct {
		name string
		typ  string
		data string
	}{
		{"not json", event.TypeStatementStored, `{`},
		{"unknown major", "learnstream.xapi.statement.stored.v9", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := event.New("x", tc.typ, "test", "t1", "k", time.Now(), []byte(tc.data))
			if err := r.Handle(context.Background(), streams.Position{}, e); !event.IsRejected(err) {
				t.Errorf("err = %v, want a rejection (DLQ)", err)
			}
		})
	}
}
