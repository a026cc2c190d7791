package projections

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

func voiding(i, target int) string {
	return `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"` + uuid(target) + `"}`
}

// TestVoidedSetNamesWhatVoidingsNamed checks which statements a query
// still checks for a voiding mark: those a voiding named, in the store
// before the process started or applied since, a target stored after its
// voiding statement included; no other.
func TestVoidedSetNamesWhatVoidingsNamed(t *testing.T) {
	dir := t.TempDir()
	store, p := openStatementsIn(t, dir)
	ctx := context.Background()
	off := int64(0)
	apply := func(p *Statements, bodies ...string) {
		t.Helper()
		for _, b := range bodies {
			i := int(off) + 1
			if n, err := p.HandleBatch(ctx, []event.Position{{Topic: "s", Offset: off}}, []event.Event{lrsStatement(t, "t1", i, b)}); n != 1 || err != nil {
				t.Fatalf("HandleBatch = %d, %v", n, err)
			}
			off++
		}
	}
	// 1, 2: statements; 3 voids 1; 4 voids 6, which comes after it; 5, a statement; 6.
	apply(p, actVerb("ada@x.org", "did", "a"), actVerb("ada@x.org", "did", "a"), voiding(3, 1), voiding(4, 6))
	// A query reads the marks into the set now: 6's comes later.
	if page, err := p.Query(ctx, "t1", StatementQuery{Agent: "mbox:mailto:ada@x.org"}); err != nil {
		t.Fatal(err)
	} else if got, want := ids(t, page), []string{uuid(3), uuid(2)}; !slices.Equal(got, want) { // 4 refers to 6, not stored yet
		t.Errorf("ada's statements before 6: %v, want %v", got, want)
	}
	apply(p, actVerb("ada@x.org", "did", "a"), actVerb("ada@x.org", "did", "a"))
	check := func(p *Statements, phase string) {
		t.Helper()
		sp := p.Space()
		v := p.store.voidedSet(sp)
		if err := p.View(func(txn *badger.Txn, sp Space) error {
			v.load(txn, sp)
			if !v.loaded.Load() {
				t.Fatalf("%s: set not loaded", phase)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for i, want := range map[int]bool{1: true, 2: false, 3: false, 4: false, 5: false, 6: true} {
			if got := v.mayBeVoided("t1", uuid(i)); got != want {
				t.Errorf("%s: statement %d checked for a voiding: %v, want %v", phase, i, got, want)
			}
		}
		page, err := p.Query(ctx, "t1", StatementQuery{Agent: "mbox:mailto:ada@x.org"})
		if err != nil {
			t.Fatal(err)
		}
		// The voiding statements refer to ada's: they match too.
		if got, want := ids(t, page), []string{uuid(5), uuid(4), uuid(3), uuid(2)}; !slices.Equal(got, want) {
			t.Errorf("%s: ada's statements %v, want %v", phase, got, want)
		}
	}
	check(p, "applied")
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened: the marks come from the store.
	store, p = openStatementsIn(t, dir)
	defer store.Close()
	check(p, "reopened")
}

// TestVoidedStatementsLeaveQueriesAtOnce voids statements one after
// another while readers query without pause, and checks that the query
// after each voiding is applied (when its writer is told) no longer
// returns the voided statement: the set is read without the store's
// ordering, so it must name a statement before its mark is readable.
func TestVoidedStatementsLeaveQueriesAtOnce(t *testing.T) {
	store := openStore(t)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // before the store closes
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p.Query(ctx, "t1", StatementQuery{Agent: "mbox:mailto:ada@x.org", Limit: 3})
			}
		}()
	}
	for i := 0; i < 200; i += 2 {
		for j, b := range []string{actVerb("ada@x.org", "did", "a"), voiding(i+1, i)} {
			e := lrsStatement(t, "t1", i+j, b)
			if n, err := p.HandleBatch(ctx, []event.Position{{Topic: "s", Offset: int64(i + j)}}, []event.Event{e}); n != 1 || err != nil {
				t.Fatalf("HandleBatch = %d, %v", n, err)
			}
		}
		page, err := p.Query(ctx, "t1", StatementQuery{Agent: "mbox:mailto:ada@x.org", Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(t, page); slices.Contains(got, uuid(i)) {
			t.Fatalf("statement %d returned after its voiding was applied: %v", i, got)
		}
	}
}

// TestVoidedSetOverflows: past voidedSetMax ids the set stops answering
// and every statement is checked.
func TestVoidedSetOverflows(t *testing.T) {
	v := &voidedSet{ids: map[string]map[string]struct{}{}}
	v.loaded.Store(true)
	v.add("t1", "a")
	if v.mayBeVoided("t1", "b") || !v.mayBeVoided("t1", "a") {
		t.Fatal("set does not answer")
	}
	v.n = voidedSetMax
	v.add("t1", "c")
	if !v.mayBeVoided("t1", "b") {
		t.Error("a full set answered for a statement it may not hold")
	}
}
