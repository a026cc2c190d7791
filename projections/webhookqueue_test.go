package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
)

func hookEvent(t *testing.T, i int, learner string, at time.Time) event.Event {
	t.Helper()
	data := fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/c"}}`, i, learner)
	e, err := event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "test", "t1", "mbox:mailto:"+learner, at, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestWebhookQueue(t *testing.T) {
	store, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secret := privacy.Secret("0123456789abcdef")
	store.SetPseudonyms(secret)
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	subs := []webhook.Subscription{
		{ID: "a", Tenant: "t1", Kind: webhook.KindWebhook, Created: created},
		{ID: "b", Tenant: "t1", Kind: webhook.KindWebhook, Created: created, Filter: webhook.Filter{Learners: []string{"mbox:mailto:ada@example.com"}}},
		{ID: "other", Tenant: "t2", Kind: webhook.KindWebhook, Created: created},
		// As stored with privacy on: the learner's pseudonym.
		{ID: "c", Tenant: "t1", Kind: webhook.KindWebhook, Created: created, Filter: webhook.Filter{Learners: []string{secret.Pseudonym("t1", "mbox:mailto:bob@example.com")}}},
	}
	q, err := NewWebhookQueue(store, WebhookQueueConfig{MaxBody: 600, Subscriptions: func() ([]webhook.Subscription, error) { return subs, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var evs []event.Event
	var pos []event.Position
	learners := []string{"ada@example.com", "bob@example.com", "cy@example.com"}
	for i := range 30 {
		evs = append(evs, hookEvent(t, i, learners[i%3], created.Add(time.Duration(i)*time.Second)))
		pos = append(pos, event.Position{Topic: "learnstream.statements.v1", Offset: int64(i)})
	}
	old := hookEvent(t, 99, "ada@example.com", created.Add(-time.Hour)) // before the subscriptions were made
	evs = append(evs, old)
	pos = append(pos, event.Position{Topic: "learnstream.statements.v1", Offset: 30})
	if n, err := q.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
		t.Fatalf("HandleBatch: %d %v", n, err)
	}
	// A redelivered batch (at or before the stored offsets) queues nothing.
	if _, err := q.HandleBatch(ctx, pos[:5], evs[:5]); err != nil {
		t.Fatal(err)
	}
	count := func(sub string) (int, int) {
		a, b, err := q.Depth(sub)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	if a, _ := count("a"); a != 30 {
		t.Errorf("a queued %d, want 30 (the old event and the redelivery not)", a)
	}
	if b, _ := count("b"); b != 10 {
		t.Errorf("b queued %d, want ada's 10", b)
	}
	if c, _ := count("c"); c != 10 {
		t.Errorf("c queued %d, want bob's 10 (matched by pseudonym)", c)
	}
	if o, _ := count("other"); o != 0 {
		t.Errorf("another tenant's subscription queued %d", o)
	}
	// Each learner's deliveries wait in one lane, in order.
	seen := map[string]string{}
	for lane := range WebhookLanes {
		ds, err := q.Head("a", lane, 100)
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]time.Time{}
		for _, d := range ds {
			if l, ok := seen[d.Learner]; ok && l != fmt.Sprint(lane) {
				t.Errorf("%s in lanes %s and %d", d.Learner, l, lane)
			}
			seen[d.Learner] = fmt.Sprint(lane)
			if d.Time.Before(last[d.Learner]) {
				t.Errorf("lane %d: %s out of order", lane, d.Learner)
			}
			last[d.Learner] = d.Time
			if d.Message != webhook.MessageID("a", d.Event) {
				t.Errorf("message id %s is not derived from the subscription and the event", d.Message)
			}
		}
	}
	// Failing deliveries become dead letters; redelivered, they queue again.
	lane := 0
	for lane < WebhookLanes {
		if ds, _ := q.Head("a", lane, 1); len(ds) > 0 {
			break
		}
		lane++
	}
	head, _ := q.Head("a", lane, 2)
	if ok, err := q.Failed(head, 500, "the receiver answered 500"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := q.Kill(head); err != nil {
		t.Fatal(err)
	}
	dead, err := q.DeadLetters("a", 0, 10)
	if err != nil || len(dead) != 2 || dead[0].Attempts != 1 || dead[0].LastStatus != 500 {
		t.Fatalf("dead letters %+v %v", dead, err)
	}
	if n, err := q.Redeliver("a", []uint64{dead[0].Seq}); err != nil || n != 1 {
		t.Fatalf("redeliver: %d %v", n, err)
	}
	if n, err := q.DeleteDeadLetters("a", nil); err != nil || n != 1 {
		t.Fatalf("delete dead letters: %d %v", n, err)
	}
	if a, d := count("a"); a != 29 || d != 0 {
		t.Errorf("after redelivering one and deleting one: %d queued, %d dead", a, d)
	}

	// A large event is a dead letter at once, with the reason.
	big := hookEvent(t, 200, "cy@example.com", created.Add(time.Hour))
	big.Data = []byte(fmt.Sprintf(`{"actor":{"mbox":"mailto:cy@example.com"},"verb":{"id":"http://x"},"object":{"id":"https://e/c"},"result":{"response":%q}}`, strings.Repeat("x", 700)))
	if err := q.Handle(ctx, event.Position{Topic: "learnstream.statements.v1", Offset: 31}, big); err != nil {
		t.Fatal(err)
	}
	if dead, _ := q.DeadLetters("a", 0, 10); len(dead) != 1 || dead[0].LastError == "" {
		t.Errorf("large event: dead letters %+v", dead)
	}

	// An erasure removes the learner's deliveries and dead letters, and
	// answers with the counts of every topic's copy.
	le := privacy.LearnerErased{Erasure: "er1", Pseudonym: secret.Pseudonym("t1", "mbox:mailto:cy@example.com"), At: created}
	data, _ := json.Marshal(le)
	for i, topic := range []string{"learnstream.statements.v1", "learnstream.adaptive.v1"} {
		e, err := event.New(fmt.Sprintf("erase-%d", i), privacy.TypeLearnerErased, "test", "t1", le.Pseudonym, created, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Handle(ctx, event.Position{Topic: topic, Offset: 40}, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"a", "b"} {
		for lane := range WebhookLanes {
			ds, _ := q.Head(sub, lane, 100)
			for _, d := range ds {
				if d.Learner == "mbox:mailto:cy@example.com" {
					t.Fatalf("an erased learner's delivery is still queued for %s", sub)
				}
			}
		}
	}
	if dead, _ := q.DeadLetters("a", 0, 10); len(dead) != 0 {
		t.Errorf("an erased learner's dead letter is left: %+v", dead)
	}
	answers, err := store.PendingErasureAnswers()
	if err != nil || len(answers) != 1 || answers[0].Answer.Consumer != WebhooksConsumer ||
		answers[0].Answer.Removed["pending_deliveries"] != 10 || answers[0].Answer.Removed["dead_letters"] != 1 {
		t.Errorf("erasure answer %+v %v, want 10 pending deliveries and 1 dead letter removed by webhooks", answers, err)
	}
	if a, _ := count("a"); a != 19 {
		t.Errorf("after the erasure a has %d queued, want 19", a)
	}

	// Retention drops what happened before its date.
	ra, _ := json.Marshal(privacy.RetentionApplied{Tenant: "t1", Before: created.Add(10 * time.Second), At: created})
	e, _ := event.New("ret-1", privacy.TypeRetentionApplied, "test", "t1", "t1", created, ra)
	if err := q.Handle(ctx, event.Position{Topic: "learnstream.statements.v1", Offset: 41}, e); err != nil {
		t.Fatal(err)
	}
	if a, _ := count("a"); a >= 19 {
		t.Errorf("retention left %d queued", a)
	}
	if err := q.Drop("a"); err != nil {
		t.Fatal(err)
	}
	if a, d := count("a"); a != 0 || d != 0 {
		t.Errorf("a dropped subscription keeps %d queued, %d dead", a, d)
	}
}

// A subscription made while the consumer runs, which the consumer meets
// only after it applied some events of after its creation, gets those
// events back through a catch-up range ending where live matching began.
func TestWebhookQueueCatchUp(t *testing.T) {
	store, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	var subs []webhook.Subscription
	q, err := NewWebhookQueue(store, WebhookQueueConfig{Now: func() time.Time { return start },
		Subscriptions: func() ([]webhook.Subscription, error) { return subs, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := webhook.Subscription{ID: "old", Tenant: "t1", Kind: webhook.KindWebhook, Created: start.Add(-time.Hour)}
	subs = []webhook.Subscription{old}
	apply := func(from, n int) {
		t.Helper()
		var pos []event.Position
		var evs []event.Event
		for i := from; i < from+n; i++ {
			pos = append(pos, event.Position{Topic: "learnstream.statements.v1", Partition: i % 2, Offset: int64(i / 2)})
			evs = append(evs, hookEvent(t, i, "ada@example.com", start.Add(time.Duration(i)*time.Second)))
		}
		for p := range 2 {
			var pp []event.Position
			var pe []event.Event
			for i := range pos {
				if pos[i].Partition == p {
					pp, pe = append(pp, pos[i]), append(pe, evs[i])
				}
			}
			if _, err := q.HandleBatch(ctx, pp, pe); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(0, 6)
	if cs, _ := q.CatchUps(); len(cs) != 0 {
		t.Fatalf("catch-ups for a subscription older than the process: %+v", cs)
	}
	// Made after the process started, known to the consumer only now.
	subs = append(subs, webhook.Subscription{ID: "new", Tenant: "t1", Kind: webhook.KindWebhook, Created: start.Add(time.Second)})
	apply(6, 4)
	cs, err := q.CatchUps()
	if err != nil || len(cs) != 2 {
		t.Fatalf("catch-ups %+v %v, want one per partition", cs, err)
	}
	for _, c := range cs {
		if c.Subscription != "new" || c.End != 3 {
			t.Errorf("catch-up %+v, want subscription new up to offset 3 (where live matching began)", c)
		}
	}
	if n, _, _ := q.Depth("new"); n != 4 {
		t.Errorf("new queued %d live, want the 4 events after it was known", n)
	}
	if err := q.CatchUpDone(cs[0]); err != nil {
		t.Fatal(err)
	}
	if cs, _ := q.CatchUps(); len(cs) != 1 {
		t.Errorf("after one is done: %+v", cs)
	}
}

// BenchmarkWebhookQueueMatch measures what the delivery role's consumer
// spends per statement matching and queueing it: "all" is a subscription
// without filter, "learners" one whose learner filter holds pseudonyms
// (each event's learner's pseudonym computed, or taken from the cache),
// "other-learners" the same filter matching none of the events (matching
// alone, nothing queued), "other-keys" a filter of learner keys (privacy
// off) matching none: the difference is the pseudonyms' cost.
func BenchmarkWebhookQueueMatch(b *testing.B) {
	secret := privacy.Secret("0123456789abcdef")
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mine, others, keys []string
	for i := range 10 {
		mine = append(mine, secret.Pseudonym("t1", fmt.Sprintf("mbox:mailto:l%d@example.com", i)))
		others = append(others, secret.Pseudonym("t1", fmt.Sprintf("mbox:mailto:x%d@example.com", i)))
		keys = append(keys, fmt.Sprintf("mbox:mailto:x%d@example.com", i))
	}
	for _, c := range []struct {
		name   string
		filter webhook.Filter
	}{{"all", webhook.Filter{}}, {"learners", webhook.Filter{Learners: mine}}, {"other-learners", webhook.Filter{Learners: others}},
		{"other-keys", webhook.Filter{Learners: keys}}} {
		b.Run(c.name, func(b *testing.B) {
			store, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			store.SetPseudonyms(secret)
			subs := []webhook.Subscription{{ID: "s", Tenant: "t1", Kind: webhook.KindWebhook, Created: created, Filter: c.filter}}
			q, err := NewWebhookQueue(store, WebhookQueueConfig{Subscriptions: func() ([]webhook.Subscription, error) { return subs, nil }})
			if err != nil {
				b.Fatal(err)
			}
			evs := make([]event.Event, b.N)
			pos := make([]event.Position, b.N)
			for i := range b.N {
				data := fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/c"}}`, i, i%100)
				evs[i], err = event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "bench", "t1", fmt.Sprintf("mbox:mailto:l%d@example.com", i%100), created.Add(time.Second), []byte(data))
				if err != nil {
					b.Fatal(err)
				}
				pos[i] = event.Position{Topic: "learnstream.statements.v1", Offset: int64(i)}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += 500 {
				j := min(i+500, b.N)
				if _, err := q.HandleBatch(context.Background(), pos[i:j], evs[i:j]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A statement stored just after a subscription was made, in the same
// millisecond, is the subscription's: stored times are cut to the
// millisecond, so it carries a time before the creation's nanoseconds.
func TestWebhookQueueSameMillisecondAsCreation(t *testing.T) {
	store, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	created := time.Date(2026, 12, 1, 0, 0, 0, 750_000, time.UTC) // 0.75 ms into a millisecond
	subs := []webhook.Subscription{{ID: "a", Tenant: "t1", Kind: webhook.KindWebhook, Created: created}}
	q, err := NewWebhookQueue(store, WebhookQueueConfig{Subscriptions: func() ([]webhook.Subscription, error) { return subs, nil }})
	if err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{
		hookEvent(t, 0, "ada@example.com", created.Truncate(time.Millisecond)),                        // stored after, cut to the ms
		hookEvent(t, 1, "ada@example.com", created.Truncate(time.Millisecond).Add(-time.Millisecond)), // a millisecond before
	}
	pos := []event.Position{{Topic: "learnstream.statements.v1", Offset: 0}, {Topic: "learnstream.statements.v1", Offset: 1}}
	if n, err := q.HandleBatch(context.Background(), pos, evs); err != nil || n != 2 {
		t.Fatalf("HandleBatch: %d %v", n, err)
	}
	if queued, _, err := q.Depth("a"); err != nil || queued != 1 {
		t.Fatalf("queued %d (%v), want the statement of the creation's millisecond only", queued, err)
	}
}
