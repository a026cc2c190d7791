package projections

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// actorStatement is a statement of tenant by the learner with mailbox
// who@example.com, stored at stored.
func actorStatement(t testing.TB, tenant, evID, stID, who string, stored time.Time) event.Event {
	t.Helper()
	at := stored.UTC().Format("2006-01-02T15:04:05.000Z")
	data := fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:%s@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},`+
		`"object":{"id":"https://x/a"},"stored":%q,"timestamp":%q,"version":"1.0.0"}`, stID, who, at, at)
	e, err := event.New(evID, event.TypeStatementStored, "test", tenant, "mbox:mailto:"+who+"@example.com", stored, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkCounted compares each tenant's statements counter with a walk of
// its keys.
func checkCounted(t *testing.T, step string, p *Statements, want map[string]int) {
	t.Helper()
	for tenant, n := range want {
		got, err := p.Count(context.Background(), tenant)
		if err != nil {
			t.Fatalf("%s: count %s: %v", step, tenant, err)
		}
		walked, err := p.CountKeys("s", tenant)
		if err != nil {
			t.Fatal(err)
		}
		if got != n || walked != n {
			t.Errorf("%s: tenant %s counter %d, keys %d, want %d", step, tenant, got, walked, n)
		}
	}
}

func TestStatementCountersFollowTheStatements(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, p := openStatementsIn(t, dir)
	secret := privacy.Secret("s")
	store.SetPseudonyms(secret)
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	off := int64(0)
	batch := func(evs ...event.Event) {
		t.Helper()
		pos := make([]event.Position, len(evs))
		for i := range evs {
			pos[i] = event.Position{Topic: "s", Offset: off}
			off++
		}
		for done := 0; done < len(evs); {
			n, err := p.HandleBatch(ctx, pos[done:], evs[done:])
			if err != nil {
				t.Fatal(err)
			}
			done += n
		}
	}

	// More of ann's statements than one attempt at an erasure deletes, in
	// batches; a duplicate (same id and content) and a conflicting one
	// (same id, other content) add nothing.
	var evs []event.Event
	n := maxStatementsInEvent + 44
	for i := range n {
		evs = append(evs, actorStatement(t, "t1", fmt.Sprintf("a%d", i), uuid(i+1), "ann", t0.Add(time.Duration(i)*time.Second)))
	}
	for i := 0; i < len(evs); i += 100 {
		batch(evs[i:min(i+100, len(evs))]...)
	}
	batch(evs[3], actorStatement(t, "t1", "dup", uuid(5), "bob", t0),
		actorStatement(t, "t2", "other", uuid(1), "ann", t0))
	checkCounted(t, "stored", p, map[string]int{"t1": n, "t2": 1, "t3": 0})

	// One batch: bob's statements, then an erasure of ann that commits
	// in parts, then more of bob's. The statements before the erasure
	// are committed again without it, after its first part.
	ps := secret.Pseudonym("t1", "mbox:mailto:ann@example.com")
	le, _ := json.Marshal(privacy.LearnerErased{Erasure: "er1", Pseudonym: ps})
	erase, _ := event.New("le", privacy.TypeLearnerErased, "test", "t1", ps, time.Now(), le)
	batch(actorStatement(t, "t1", "b1", uuid(9001), "bob", t0.Add(time.Hour)),
		actorStatement(t, "t1", "b2", uuid(9002), "bob", t0.Add(2*time.Hour)),
		erase,
		actorStatement(t, "t1", "b3", uuid(9003), "bob", t0.Add(3*time.Hour)))
	checkCounted(t, "erased", p, map[string]int{"t1": 3, "t2": 1})

	// Retention in parts: all but bob's last statement go.
	for i := range n {
		batch(actorStatement(t, "t1", fmt.Sprintf("c%d", i), uuid(20000+i), "cy", t0.Add(time.Duration(i)*time.Millisecond)))
	}
	ra, _ := json.Marshal(privacy.RetentionApplied{Tenant: "t1", Before: t0.Add(3 * time.Hour)})
	retain, _ := event.New("ra", privacy.TypeRetentionApplied, "test", "t1", "t1", time.Now(), ra)
	batch(retain)
	checkCounted(t, "retained", p, map[string]int{"t1": 1, "t2": 1})

	// A store from before counters: the first start counts once, and
	// the counters go on from there.
	if err := store.update(func(txn *badger.Txn) error {
		sp := p.Space()
		for _, k := range [][]byte{countKey(sp, "t1", countedStatements), countKey(sp, "t2", countedStatements), countedKey(sp)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkCounted(t, "without counters (walked)", p, map[string]int{"t1": 1, "t2": 1})
	store.Close()
	store, p = openStatementsIn(t, dir)
	t.Cleanup(func() { store.Close() }) // the store open last
	err := p.View(func(txn *badger.Txn, sp Space) error {
		_, err := txn.Get(countedKey(sp))
		return err
	})
	if err != nil {
		t.Fatalf("no counted mark after the start: %v", err)
	}
	batch(actorStatement(t, "t2", "d1", uuid(30001), "dan", t0))
	checkCounted(t, "reopened", p, map[string]int{"t1": 1, "t2": 2})

	// An older release run on the store after this one applies events
	// without the counters (here: stores one statement of t2, drops t1's
	// last) and moves the offset alone. The next start counts again.
	err = store.update(func(txn *badger.Txn) error {
		sp := p.Space()
		e := actorStatement(t, "t2", "old", uuid(30002), "dan", t0)
		if err := txn.Set(statementKey(sp, "t2", uuid(30002)), e.Data); err != nil {
			return err
		}
		if err := txn.Delete(statementKey(sp, "t1", uuid(9003))); err != nil {
			return err
		}
		return txn.Set(sp.offsetKey("s", 0), binary.BigEndian.AppendUint64(nil, uint64(off+1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	off++
	if n, _ := p.Count(ctx, "t2"); n != 2 {
		t.Fatalf("t2 counted %d before the restart, want the stale 2", n)
	}
	store.Close()
	store, p = openStatementsIn(t, dir)
	checkCounted(t, "after an older release", p, map[string]int{"t1": 0, "t2": 3})
	// Counted again once: the witnesses now match, and a further start
	// keeps the counters as they are.
	batch(actorStatement(t, "t2", "d3", uuid(30003), "dan", t0))
	store.Close()
	store, p = openStatementsIn(t, dir)
	checkCounted(t, "restarted", p, map[string]int{"t1": 0, "t2": 4})

	// A rebuild's generation counts its own statements.
	old := p.Space()
	r, err := p.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	replay := []event.Event{
		actorStatement(t, "t1", "x1", uuid(40001), "eve", t0),
		actorStatement(t, "t1", "x2", uuid(40002), "eve", t0),
		actorStatement(t, "t1", "x1", uuid(40001), "eve", t0),
	}
	for i, e := range replay {
		if err := r.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
	}
	// The live generation is not caught up by the rebuild: it is at off.
	for i := int64(len(replay)); i < off; i++ {
		if err := r.Skip(ctx, event.Position{Topic: "s", Offset: i}); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.Finish(fctx, "s", []int{0}); err != nil {
		t.Fatal(err)
	}
	if p.Space().Generation() == old.Generation() {
		t.Fatal("no swap")
	}
	checkCounted(t, "rebuilt", p, map[string]int{"t1": 2, "t2": 0})
}
