package projections

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

func privEvent(t *testing.T, id, typ, tenant string, data any) event.Event {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New(id, typ, "test", tenant, "k", time.Now(), b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestErasureReceipts(t *testing.T) {
	store := openStore(t)
	p, err := NewErasures(store, NewWaiters())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ps := privacy.Secret("s").Pseudonym("t1", "mbox:mailto:ann@example.com")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var off int64
	apply := func(e event.Event) {
		t.Helper()
		if err := p.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy, Offset: off}, e); err != nil {
			t.Fatalf("apply %s: %v", e.Type, err)
		}
		off++
	}
	receipt := func() Receipt {
		t.Helper()
		r, err := p.Receipt(ctx, "t1", "er1")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply(privEvent(t, "1", privacy.TypeErasureRequested, "t1", privacy.ErasureRequested{Erasure: "er1", Pseudonym: ps, By: "dpo",
		At: at, Reason: "request", Consumers: []string{"statements", "documents", "statements"}}))
	if r := receipt(); r.Status != StatusRequested || strings.Join(r.Pending, ",") != "documents,statements" {
		t.Fatalf("after request: %+v", r)
	}
	if open, _ := p.Open(ctx); len(open) != 1 || open[0].Pseudonym != ps || open[0].KeysDestroyed {
		t.Fatalf("open after request: %+v", open)
	}
	if _, err := p.Receipt(ctx, "t2", "er1"); err != ErrNotFound {
		t.Fatalf("receipt of another tenant: %v, want ErrNotFound", err)
	}
	apply(privEvent(t, "2", privacy.TypeErasureKeysDestroyed, "t1", privacy.ErasureKeysDestroyed{Erasure: "er1", Pseudonym: ps, Keys: 3, At: at.Add(time.Second)}))
	// A resumed erasure finds no keys left: the first record counts.
	apply(privEvent(t, "3", privacy.TypeErasureKeysDestroyed, "t1", privacy.ErasureKeysDestroyed{Erasure: "er1", Pseudonym: ps, Keys: 0, At: at.Add(time.Minute)}))
	if r := receipt(); r.Status != StatusKeysDestroyed || r.KeysDestroyed != 3 || !r.KeysDestroyedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("after keys: %+v", r)
	}
	apply(privEvent(t, "4", privacy.TypeErasureCompleted, "t1", privacy.ErasureCompleted{Erasure: "er1", Pseudonym: ps, Topics: []string{"a", "b"}, At: at.Add(2 * time.Second)}))
	if open, _ := p.Open(ctx); len(open) != 0 {
		t.Fatalf("open after completed: %+v", open)
	}
	apply(privEvent(t, "5", privacy.TypeErasureApplied, "t1", privacy.ErasureApplied{Erasure: "er1", Consumer: "statements", Pseudonym: ps,
		Removed: map[string]int64{"statements": 4}, At: at.Add(3 * time.Second)}))
	apply(privEvent(t, "6", privacy.TypeErasureApplied, "t1", privacy.ErasureApplied{Erasure: "er1", Consumer: "statements", Pseudonym: ps,
		Removed: map[string]int64{"statements": 0}, At: at.Add(4 * time.Second)}))
	if r := receipt(); r.Status != StatusPublished || strings.Join(r.Pending, ",") != "documents" || r.Consumers[0].Removed["statements"] != 4 {
		t.Fatalf("after one answer: %+v", r)
	}
	apply(privEvent(t, "7", privacy.TypeErasureApplied, "t1", privacy.ErasureApplied{Erasure: "er1", Consumer: "documents", Pseudonym: ps,
		Removed: map[string]int64{"documents": 2}, At: at.Add(5 * time.Second)}))
	apply(privEvent(t, "8", privacy.TypeStorePurged, "t9", privacy.StorePurged{Store: "host-a", Erasures: []string{"er1", "unknown"}, At: at.Add(6 * time.Second)}))
	r := receipt()
	if !r.Complete() || len(r.Pending) != 0 || !r.CompletedAt.Equal(at.Add(5*time.Second)) || len(r.Purges) != 1 {
		t.Fatalf("complete: %+v", r)
	}
	if fin, _ := p.Finishing(ctx); len(fin) != 1 || fin[0].ID != "er1" {
		t.Fatalf("finishing after completion: %+v", fin)
	}
	apply(privEvent(t, "9f", privacy.TypeErasureKeysDestroyed, "t1", privacy.ErasureKeysDestroyed{Erasure: "er1", Pseudonym: ps, Keys: 1, Final: true, At: at.Add(7 * time.Second)}))
	if fin, _ := p.Finishing(ctx); len(fin) != 0 {
		t.Fatalf("finishing after the final destruction: %+v", fin)
	}
	if r = receipt(); r.FinalKeysDestroyedAt == nil || r.KeysDestroyed != 3 {
		t.Fatalf("after the final destruction: %+v", r)
	}
	b, _ := json.Marshal(r)
	for _, personal := range []string{ps, "ann", "example.com"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("receipt %s names %q", b, personal)
		}
	}
	if ids, _ := p.OfLearner(ctx, "t1", ps); len(ids) != 1 || ids[0] != "er1" {
		t.Errorf("OfLearner = %v", ids)
	}
	// Bad input is rejected (to the DLQ), naming the field.
	for _, tc := range []struct {
		e    event.Event
		want string
	}{
		{privEvent(t, "9", privacy.TypeErasureRequested, "t1", privacy.ErasureRequested{Pseudonym: ps}), "data.erasure"},
		{privEvent(t, "10", privacy.TypeErasureRequested, "t1", privacy.ErasureRequested{Erasure: "x", Pseudonym: "ann"}), "data.pseudonym"},
		{privEvent(t, "11", privacy.TypeErasureApplied, "t1", privacy.ErasureApplied{Erasure: "er1"}), "data.consumer"},
	} {
		err := p.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy, Offset: off}, tc.e)
		if !event.IsRejected(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a rejection naming %s", tc.e.Type, err, tc.want)
		}
		off++
	}
}

func TestErasureAnswersOutbox(t *testing.T) {
	store := openStore(t)
	le := privacy.LearnerErased{Erasure: "er1", Pseudonym: privacy.Secret("s").Pseudonym("t1", "x")}
	// An answer recorded in a transaction that is discarded is not there.
	txn := store.DB().NewTransaction(true)
	if err := RecordErasureApplied(txn, "t1", "c1", le, map[string]int64{"rows": 1}); err != nil {
		t.Fatal(err)
	}
	txn.Discard()
	if got, _ := store.PendingErasureAnswers(); len(got) != 0 {
		t.Fatalf("discarded answer is pending: %+v", got)
	}
	if err := store.DB().Update(func(txn *badger.Txn) error {
		return RecordErasureApplied(txn, "t1", "c1", le, map[string]int64{"rows": 2})
	}); err != nil {
		t.Fatal(err)
	}
	got, err := store.PendingErasureAnswers()
	if err != nil || len(got) != 1 || got[0].Tenant != "t1" || got[0].Answer.Removed["rows"] != 2 || got[0].Answer.Pseudonym != le.Pseudonym {
		t.Fatalf("pending = %+v, %v", got, err)
	}
	if err := store.ForgetErasureAnswer("er1", "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.PendingErasureAnswers(); len(got) != 0 {
		t.Fatalf("forgotten answer is pending: %+v", got)
	}
}
