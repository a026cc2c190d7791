package streams

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

// memPublisher records what the Eraser publishes, per topic.
type memPublisher struct{ got map[string][]event.Event }

func (m *memPublisher) PublishEvents(_ context.Context, topic string, evs ...event.Event) error {
	m.got[topic] = append(m.got[topic], evs...)
	return nil
}

// The orchestrator's records are the same whenever it (re)does an
// erasure, and a key a racing write made during the erasure goes too.
func TestEraserRecordsAreDeterministic(t *testing.T) {
	ctx := context.Background()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	receipts, err := projections.NewErasures(store, projections.NewWaiters())
	if err != nil {
		t.Fatal(err)
	}
	keys := privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))
	learner := "mbox:mailto:ann@example.com"
	before, err := keys.For(ctx, "t1", learner, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub := &memPublisher{got: map[string][]event.Event{}}
	x := &Eraser{Receipts: receipts, Keys: keys, Pseudonyms: keys, Source: "test", Publisher: pub}
	id, err := x.Request(ctx, "t1", learner, "dpo", []string{"statements"})
	if err != nil {
		t.Fatal(err)
	}
	// The receipts apply the request, as their consumer would.
	if err := receipts.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy}, pub.got[privacy.TopicPrivacy][0]); err != nil {
		t.Fatal(err)
	}
	var racing privacy.DataKey
	x.AfterStep = func(_, step string) {
		if step == "keys-recorded" { // a write between destruction and LearnerErased
			if racing, err = keys.For(ctx, "t1", learner, time.Now()); err != nil {
				t.Error(err)
			}
		}
	}
	if err := x.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []privacy.DataKey{before, racing} {
		if _, ok, _ := keys.Lookup(ctx, "t1", k.ID); ok || k.ID == "" {
			t.Errorf("key %q survived the erasure", k.ID)
		}
	}
	learnerErased := func(got map[string][]event.Event, topic string) event.Event {
		t.Helper()
		i := slices.IndexFunc(got[topic], func(e event.Event) bool { return e.Type == privacy.TypeLearnerErased })
		if i < 0 {
			t.Fatalf("no LearnerErased on %s", topic)
		}
		return got[topic][i]
	}
	for _, topic := range LearnerTopics {
		e := learnerErased(pub.got, topic)
		var le privacy.LearnerErased
		if err := json.Unmarshal(e.Data, &le); err != nil || le.Erasure != id || e.Key != keys.Pseudonym("t1", learner) || e.Tenant != "t1" {
			t.Errorf("%s: %+v (%s)", topic, e, e.Data)
		}
	}
	// Resumed after a crash (the receipts never saw ErasureCompleted): a
	// new orchestrator writes the same records.
	pub2 := &memPublisher{got: map[string][]event.Event{}}
	y := &Eraser{Receipts: receipts, Keys: keys, Pseudonyms: keys, Source: "test", Publisher: pub2}
	if err := y.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, topic := range LearnerTopics {
		a, b := learnerErased(pub.got, topic), learnerErased(pub2.got, topic)
		if a.ID != b.ID || string(a.Data) != string(b.Data) || !a.Time.Equal(b.Time) {
			t.Errorf("%s: the resumed erasure wrote another LearnerErased:\n%+v\n%+v", topic, a, b)
		}
	}
	// Once the receipts saw it completed, nothing is left to do.
	for i, e := range pub2.got[privacy.TopicPrivacy] {
		if err := receipts.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy, Offset: int64(1 + i)}, e); err != nil {
			t.Fatal(err)
		}
	}
	if open, _ := receipts.Open(ctx); len(open) != 0 {
		t.Errorf("open erasures after completion: %+v", open)
	}
}
