package projections

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// The filter never rules out an id it was given, across the stages it
// grows, and rules out nearly every other.
func TestStatementIDsFilter(t *testing.T) {
	f := newStatementIDs(0)
	const n = 5 * idStageMin // the first stage and two more
	var wg sync.WaitGroup
	for w := range 4 { // adds from several goroutines, as the scan and the projection
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				f.add(fmt.Sprintf("t%d", i%3), uuid(i))
			}
		})
	}
	wg.Wait()
	if got := len(*f.stages.Load()); got != 3 {
		t.Errorf("%d stages for %d ids from a first of %d, want 3", got, n, idStageMin)
	}
	for i := range n {
		if !f.mayHold(fmt.Sprintf("t%d", i%3), uuid(i)) {
			t.Fatalf("id %d ruled out after it was added", i)
		}
	}
	wrong := 0
	for i := n; i < 2*n; i++ {
		if f.mayHold(fmt.Sprintf("t%d", i%3), uuid(i)) {
			wrong++
		}
	}
	// The same id of another tenant is another id.
	for i := range 1000 {
		if f.mayHold("t9", uuid(i)) {
			wrong++
		}
	}
	if rate := float64(wrong) / float64(n+1000); rate > 0.01 {
		t.Errorf("%.2f%% of ids never added may be held, want under 1%%", 100*rate)
	}
	// Not ready: nothing is ruled out.
	if f.absent("t9", uuid(1)) {
		t.Error("a filter whose scan has not finished ruled an id out")
	}
	f.ready.Store(true)
	if !f.absent("t9", uuid(1)) || f.absent("t1", uuid(1)) {
		t.Error("a ready filter answered wrong")
	}
}

// waitIDsReady waits until the statements projection's id filter has
// scanned the store.
func waitIDsReady(t *testing.T, p *Statements) *statementIDs {
	t.Helper()
	f := p.store.statementIDs(p.Space())
	deadline := time.Now().Add(10 * time.Second)
	for !f.ready.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the id filter's scan did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f
}

// After a restart the ids stored before it are known, whether a check
// comes before the filter's scan ended or after, and the ids stored
// while it ran: a statement stored again is no new statement, another
// with a stored id is a conflict, and POSTs find what is stored.
func TestStatementIDsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const before = 3000
	store, p := openStatementsIn(t, dir)
	b := &batcher{p: p.Projection}
	for i := 0; i < before; i += 500 {
		var evs []event.Event
		for j := i; j < i+500; j++ {
			evs = append(evs, stmtEvent(t, fmt.Sprintf("e%d", j), uuid(j), "https://x/a"))
		}
		mustApply(t, b, evs...)
	}
	off := b.off
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := NewWaiters()
	p, err = NewStatements(store, w)
	if err != nil {
		t.Fatal(err)
	}
	b = &batcher{p: p.Projection, off: off}
	// Statements stored while the scan may still run, the first of them
	// an id stored before the restart (checked in the store, or by a
	// filter that already holds it).
	apply := func(name string, e event.Event, want Outcome) {
		t.Helper()
		w.Register(e.ID)
		mustApply(t, b, e)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if got, err := w.Wait(wctx, e.ID); err != nil || got != want {
			t.Errorf("%s: outcome %v (%v), want %v", name, got, err, want)
		}
	}
	apply("a stored statement again, at once", stmtEvent(t, "again-0", uuid(0), "https://x/a"), Unchanged)
	for i := before; i < before+200; i++ {
		apply("new", stmtEvent(t, fmt.Sprintf("e%d", i), uuid(i), "https://x/a"), Stored)
	}
	f := waitIDsReady(t, p)
	for _, i := range []int{1, before / 2, before - 1, before + 100} {
		apply(fmt.Sprintf("statement %d again", i), stmtEvent(t, fmt.Sprintf("again-%d", i), uuid(i), "https://x/a"), Unchanged)
		apply(fmt.Sprintf("statement %d's id, other content", i), stmtEvent(t, fmt.Sprintf("other-%d", i), uuid(i), "https://x/b"), Conflict)
	}
	apply("a new one", stmtEvent(t, "last", uuid(before+500), "https://x/a"), Stored)
	if n, _ := p.Count(ctx, "t1"); n != before+201 {
		t.Errorf("count %d, want %d", n, before+201)
	}
	// What a POST checks: every stored id found, upper case too, the
	// others ruled out by the filter without a read.
	var ask []string
	for i := range before + 200 {
		ask = append(ask, uuid(i))
	}
	ask = append(ask, "00000000-0000-4000-8000-00000000000A", uuid(before+1000))
	found, err := p.StatementsByID(ctx, "t1", ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != before+200 {
		t.Errorf("StatementsByID found %d of the %d stored", len(found), before+200)
	}
	if !f.absent("t1", uuid(before+1000)) || f.absent("t1", uuid(before-1)) || f.absent("t1", uuid(before+100)) {
		t.Error("the filter rules out a stored id, or not an unknown one")
	}
	if found, _ := p.StatementsByID(ctx, "t2", []string{uuid(1)}); len(found) != 0 {
		t.Errorf("tenant t2 found t1's statement: %v", found)
	}
}

// A dropped space's filter answers nothing more: its ids are checked in
// the store.
func TestStatementIDsOfADroppedSpace(t *testing.T) {
	store := openStore(t)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := waitIDsReady(t, p)
	if !f.absent("t1", uuid(1)) {
		t.Fatal("an empty store's filter does not rule out an id")
	}
	if err := store.dropPrefix(p.Space().prefix); err != nil {
		t.Fatal(err)
	}
	if f.absent("t1", uuid(1)) {
		t.Error("a dropped space's filter still rules ids out")
	}
	f.add("t1", uuid(2)) // an add in flight at the drop
	if store.statementIDs(p.Space()) != f {
		t.Error("a dropped space got a new filter, which an add in flight could miss")
	}
}
