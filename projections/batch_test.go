package projections

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// A batch is one transaction: events after each other see each other's
// writes, redelivered offsets are skipped, and a rejected event leaves the
// ones before it applied and the ones after it untried.
func TestHandleBatch(t *testing.T) {
	ctx := context.Background()
	pos := func(part int, o int64) event.Position { return event.Position{Topic: "s", Partition: part, Offset: o} }
	bad, _ := event.New("bad", event.TypeStatementStored, "test", "t1", "k", time.Now(), []byte(`{"id":"not json`))
	for _, tc := range []struct {
		name      string
		pos       []event.Position
		evs       []event.Event
		wantN     int
		rejected  bool
		wantCount int
		wantNext  map[int]int64 // partition -> stored next offset
	}{
		{name: "all applied, two partitions",
			pos:   []event.Position{pos(0, 0), pos(1, 0), pos(0, 1)},
			evs:   []event.Event{stmtEvent(t, "e1", uuid(1), "https://x/a"), stmtEvent(t, "e2", uuid(2), "https://x/a"), stmtEvent(t, "e3", uuid(3), "https://x/a")},
			wantN: 3, wantCount: 3, wantNext: map[int]int64{0: 2, 1: 1}},
		{name: "same id twice in one batch: the second sees the first",
			pos:   []event.Position{pos(0, 0), pos(0, 1)},
			evs:   []event.Event{stmtEvent(t, "e1", uuid(1), "https://x/a"), stmtEvent(t, "e2", uuid(1), "https://x/b")},
			wantN: 2, wantCount: 1, wantNext: map[int]int64{0: 2}},
		{name: "rejected in the middle",
			pos:   []event.Position{pos(0, 0), pos(0, 1), pos(0, 2)},
			evs:   []event.Event{stmtEvent(t, "e1", uuid(1), "https://x/a"), bad, stmtEvent(t, "e3", uuid(3), "https://x/a")},
			wantN: 1, rejected: true, wantCount: 1, wantNext: map[int]int64{0: 1}},
		{name: "rejected first",
			pos:   []event.Position{pos(0, 0), pos(0, 1)},
			evs:   []event.Event{bad, stmtEvent(t, "e2", uuid(2), "https://x/a")},
			wantN: 0, rejected: true, wantCount: 0, wantNext: map[int]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWaiters()
			p, err := NewStatements(openStore(t), w)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.evs {
				w.Register(e.ID)
			}
			n, err := p.HandleBatch(ctx, tc.pos, tc.evs)
			if n != tc.wantN || (err != nil) != tc.rejected || (err != nil && !event.IsRejected(err)) {
				t.Fatalf("HandleBatch = %d, %v; want %d, rejected %v", n, err, tc.wantN, tc.rejected)
			}
			if c, _ := p.Count(ctx, "t1"); c != tc.wantCount {
				t.Errorf("count %d, want %d", c, tc.wantCount)
			}
			for part := range 2 {
				next, ok, err := p.NextOffset(ctx, "s", part)
				want, wantOK := tc.wantNext[part]
				if err != nil || ok != wantOK || next != want {
					t.Errorf("partition %d: next offset %d %v %v, want %d %v", part, next, ok, err, want, wantOK)
				}
			}
			// Writers of applied events hear of them.
			for _, e := range tc.evs[:n] {
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				if _, err := w.Wait(wctx, e.ID); err != nil {
					t.Errorf("waiter of %s: %v", e.ID, err)
				}
				cancel()
			}
			// The same batch again (a redelivery) changes nothing.
			if n > 0 {
				if m, err := p.HandleBatch(ctx, tc.pos[:n], tc.evs[:n]); m != n || err != nil {
					t.Errorf("redelivery: %d, %v", m, err)
				}
				if c, _ := p.Count(ctx, "t1"); c != tc.wantCount {
					t.Errorf("count after redelivery %d, want %d", c, tc.wantCount)
				}
			}
		})
	}
}

// A batch larger than one Badger transaction is split, and every event of
// it is applied once, with the offsets where they belong.
func TestApplyBatchSplitsWhatDoesNotFitOneTransaction(t *testing.T) {
	store := openStore(t)
	sp := newSpace("big", 0)
	var pos []event.Position
	for i := range 96 {
		pos = append(pos, event.Position{Topic: "s", Partition: i % 2, Offset: int64(i / 2)})
	}
	value := make([]byte, valueThreshold-1<<10) // kept in the LSM tree (under the value threshold); 6 MiB in all, more than a transaction takes
	calls := map[int]int{}
	done, n, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
		calls[i]++
		return txn.Set(sp.Key("v", fmt.Sprint(i)), value)
	}, nil)
	if err != nil || fnErr != nil || n != len(pos) {
		t.Fatalf("applyBatch = %d, %v, %v; want all %d applied", n, fnErr, err, len(pos))
	}
	for i := range pos {
		if !done[i] {
			t.Errorf("event %d not reported applied", i)
		}
	}
	err = store.db.View(func(txn *badger.Txn) error {
		for i := range pos {
			if _, err := txn.Get(sp.Key("v", fmt.Sprint(i))); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for part, want := range map[int]int64{0: 48, 1: 48} {
		if got, ok, err := store.spaceOffset(sp, "s", part); err != nil || !ok || got != want {
			t.Errorf("partition %d: next offset %d %v %v, want %d", part, got, ok, err, want)
		}
	}
	if len(calls) != len(pos) {
		t.Errorf("fn called for %d events, want %d", len(calls), len(pos))
	}
	retried := 0
	for _, c := range calls {
		if c > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no event was tried twice: the batch fitted one transaction and the split went untested")
	}
}

// A long batch lets the goroutines waiting to run go while it applies,
// so that a read of the API does not wait for the whole batch: with one
// processor, a goroutine that is ready when the batch starts runs
// several times before it ends. Without the yields it runs at most when
// the runtime preempts the batch (after 10 ms), twice in 20 ms.
func TestApplyBatchLetsWaitingGoroutinesRun(t *testing.T) {
	store := openStore(t)
	sp := newSpace("yield", 0)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var turns atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			turns.Add(1)
			runtime.Gosched()
		}
	}()
	const events = 40 // of 0.5 ms each: 20 ms of work
	var pos []event.Position
	for i := range events {
		pos = append(pos, event.Position{Topic: "s", Partition: 0, Offset: int64(i)})
	}
	var first, last int64
	_, n, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
		switch i {
		case 0:
			first = turns.Load()
		case events - 1:
			last = turns.Load()
		}
		for start := time.Now(); time.Since(start) < 500*time.Microsecond; {
		}
		return txn.Set(sp.Key("v", fmt.Sprint(i)), []byte("x"))
	}, nil)
	close(stop)
	<-stopped
	if err != nil || fnErr != nil || n != events {
		t.Fatalf("applyBatch = %d, %v, %v; want all %d applied", n, fnErr, err, events)
	}
	if got := last - first; got < 8 {
		t.Errorf("a ready goroutine ran %d times during a batch of 20 ms, want at least 8 (one yield a millisecond)", got)
	}
}
