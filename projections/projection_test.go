package projections

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

func stmtEvent(t testing.TB, evID, stID, object string) event.Event {
	t.Helper()
	data := fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},`+
		`"object":{"id":%q},"stored":"2026-11-29T10:00:00.000Z","timestamp":"2026-11-29T10:00:00.000Z","version":"1.0.0",`+
		`"authority":{"account":{"homePage":"http://lrs/","name":"k"}}}`, stID, object)
	e, err := event.New(evID, event.TypeStatementStored, "test", "t1", "mbox:mailto:a@example.com", time.Now(), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func uuid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// openStatementsIn opens the store in dir and its statements projection;
// the caller closes the store (a test reopens it).
func openStatementsIn(t testing.TB, dir string) (*Store, *Statements) {
	t.Helper()
	store, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return store, p
}

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStatementsOutcomes(t *testing.T) {
	store := openStore(t)
	w := NewWaiters()
	p, err := NewStatements(store, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pos := func(o int64) event.Position { return event.Position{Topic: "s", Partition: 0, Offset: o} }
	for i, tc := range []struct {
		name string
		e    event.Event
		want Outcome
	}{
		{"new", stmtEvent(t, "e1", uuid(1), "https://x/a"), Stored},
		{"same statement again", stmtEvent(t, "e2", uuid(1), "https://x/a"), Unchanged},
		{"same id, other content", stmtEvent(t, "e3", uuid(1), "https://x/b"), Conflict},
	} {
		w.Register(tc.e.ID)
		if err := p.Handle(ctx, pos(int64(i)), tc.e); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		got, err := w.Wait(wctx, tc.e.ID)
		cancel()
		if err != nil || got != tc.want {
			t.Errorf("%s: outcome %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
	// A redelivery of an applied offset changes nothing and tells no one.
	e := stmtEvent(t, "e4", uuid(2), "https://x/c")
	if err := p.Handle(ctx, pos(1), e); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Statement(ctx, "t1", uuid(2)); err != ErrNotFound {
		t.Errorf("redelivered offset 1 applied a new statement: %v", err)
	}
	if n, _ := p.Count(ctx, "t1"); n != 1 {
		t.Errorf("count %d, want 1", n)
	}
	if _, err := p.Statement(ctx, "t2", uuid(1)); err != ErrNotFound {
		t.Errorf("tenant t2 sees t1's statement: %v", err)
	}
	// Lower-case or upper-case ids find the same statement.
	if _, err := p.Statement(ctx, "t1", "00000000-0000-4000-8000-000000000001"); err != nil {
		t.Errorf("lookup: %v", err)
	}
}

func TestStatementsRejectBadEvents(t *testing.T) {
	store := openStore(t)
	p, _ := NewStatements(store, nil)
	ctx := context.Background()
	good := stmtEvent(t, "e", uuid(1), "https://x/a")
	for _, tc := range []struct {
		name string
		mod  func(e *event.Event)
	}{
		{"not JSON", func(e *event.Event) { e.Data = []byte("{nope") }},
		{"invalid statement", func(e *event.Event) {
			e.Data = []byte(`{"id":"` + uuid(3) + `","actor":{},"verb":{"id":"x"},"object":{"id":"y"}}`)
		}},
		{"unknown major version", func(e *event.Event) { e.Type = "learnstream.xapi.statement.stored.v9" }},
		{"no id", func(e *event.Event) {
			e.Data = []byte(`{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://x.y/v"},"object":{"id":"http://x.y/o"}}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.mod(&e)
			err := p.Handle(ctx, event.Position{Topic: "s", Offset: 0}, e)
			if !event.IsRejected(err) {
				t.Fatalf("got %v, want a rejection", err)
			}
		})
	}
	// A rejected event is skipped; the next offset is applied.
	if err := p.Skip(ctx, event.Position{Topic: "s", Offset: 0}); err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: 1}, good); err != nil {
		t.Fatal(err)
	}
	if off, ok, _ := p.NextOffset(ctx, "s", 0); !ok || off != 2 {
		t.Errorf("next offset %d %v, want 2", off, ok)
	}
}

// A rebuild runs from offset 0 while live events keep arriving; after the
// swap the model holds every statement once, reads never failed, and the
// old generation's keys are gone.
func TestRebuildSwapsWhileLiveWritesContinue(t *testing.T) {
	store := openStore(t)
	w := NewWaiters()
	p, _ := NewStatements(store, w)
	ctx := context.Background()
	var log []event.Event
	for i := 0; i < 300; i++ {
		log = append(log, stmtEvent(t, fmt.Sprintf("e%d", i), uuid(i%250), "https://x/a"))
	}
	pos := func(i int) event.Position { return event.Position{Topic: "s", Partition: 0, Offset: int64(i)} }
	for i := 0; i < 200; i++ {
		if err := p.Handle(ctx, pos(i), log[i]); err != nil {
			t.Fatal(err)
		}
	}
	old := p.Space()
	r, err := p.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.StartRebuild(); err != ErrRebuildRunning {
		t.Fatalf("second rebuild: %v, want ErrRebuildRunning", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // live consumer
		defer wg.Done()
		for i := 200; i < 300; i++ {
			if err := p.Handle(ctx, pos(i), log[i]); err != nil {
				t.Error(err)
			}
			if _, err := p.Statement(ctx, "t1", uuid(0)); err != nil {
				t.Errorf("read during rebuild: %v", err)
			}
		}
	}()
	go func() { // rebuild consumer, from 0
		defer wg.Done()
		for i := 0; i < 300; i++ {
			if err := r.Handle(ctx, pos(i), log[i]); err != nil {
				t.Error(err)
			}
		}
	}()
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.Finish(fctx, "s", []int{0}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if p.Space().Generation() != old.Generation()+1 {
		t.Fatalf("generation %d after swap, want %d", p.Space().Generation(), old.Generation()+1)
	}
	if n, _ := p.Count(ctx, "t1"); n != 250 {
		t.Errorf("after rebuild: %d statements, want 250", n)
	}
	if off, _, _ := p.NextOffset(ctx, "s", 0); off != 300 {
		t.Errorf("after rebuild: next offset %d, want 300", off)
	}
	left := 0
	store.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = old.prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Errorf("%d keys of the old generation remain", left)
	}
	// The new generation survives a reopen.
	p2, _ := NewStatements(store, nil)
	if p2.Space().Generation() != p.Space().Generation() {
		t.Errorf("reopened at generation %d, want %d", p2.Space().Generation(), p.Space().Generation())
	}
}

func TestSpaceKeysDoNotRunTogether(t *testing.T) {
	sp := newSpace("statements", 3)
	a, b := string(sp.Prefix("s", "t1")), string(sp.Key("s", "t10", "x"))
	if len(b) >= len(a) && b[:len(a)] == a {
		t.Errorf("prefix of tenant t1 matches a key of tenant t10")
	}
}
