package projections

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// positions returns n positions of one partition from offset from.
func positions(topic string, partition int, from int64, n int) []event.Position {
	pos := make([]event.Position, n)
	for i := range pos {
		pos[i] = event.Position{Topic: topic, Partition: partition, Offset: from + int64(i)}
	}
	return pos
}

// Two transactions applying the same partition at once (a consumer and its
// successor across a rebalance) apply each event once: with the offsets
// cached, the second waits for the first and resumes after it, as
// Badger's conflict on the offset key made it do before.
func TestConcurrentAppliersApplyEachEventOnce(t *testing.T) {
	store := openStore(t)
	sp := newSpace("twice", 0)
	var mu sync.Mutex
	applied := map[string]int{}
	apply := func(pos []event.Position) error {
		for {
			_, _, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
				k := fmt.Sprint(pos[i].Partition, "/", pos[i].Offset)
				mu.Lock()
				applied[k]++
				mu.Unlock()
				return txn.Set(sp.Key("v", k), []byte{1})
			}, nil)
			if errors.Is(err, badger.ErrConflict) {
				// Nothing committed: the caller's retry, as a consumer's.
				mu.Lock()
				for _, p := range pos {
					applied[fmt.Sprint(p.Partition, "/", p.Offset)] = 0
				}
				mu.Unlock()
				continue
			}
			if err != nil || fnErr != nil {
				return fmt.Errorf("applyBatch: %v, %v", err, fnErr)
			}
			return nil
		}
	}
	const batches, size = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for b := range batches {
				// Both deliver the same batches of partitions 0 and 1,
				// the second batch kind holding both partitions.
				pos := positions("s", 0, int64(b*size), size)
				if b%2 == 1 {
					pos = append(pos, positions("s", 1, int64(b*size), size)...)
				}
				if err := apply(pos); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := batches*size + batches/2*size
	if len(applied) != want {
		t.Errorf("%d events applied, want %d", len(applied), want)
	}
	for k, n := range applied {
		if n != 1 {
			t.Errorf("event %s applied %d times", k, n)
		}
	}
}

// A cached offset follows what happens to the stored one: a failed event
// does not advance it, and a space dropped and used again (an abandoned
// rebuild, a reset projection) starts from nothing, not from the offset
// the cache held before the drop.
func TestCachedOffsetsFollowTheStore(t *testing.T) {
	store := openStore(t)
	sp := newSpace("cached", 0)
	failing := errors.New("refused")
	run := func(pos []event.Position, failAt int64) (applied []int64) {
		t.Helper()
		done, _, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
			if pos[i].Offset == failAt {
				return failing
			}
			return txn.Set(sp.Key("v", fmt.Sprint(pos[i].Offset)), []byte{1})
		}, nil)
		if err != nil || (fnErr != nil && !errors.Is(fnErr, failing)) {
			t.Fatalf("applyBatch: %v, %v", err, fnErr)
		}
		for i, d := range done {
			if d {
				applied = append(applied, pos[i].Offset)
			}
		}
		return applied
	}
	check := func(what string, got []int64, from, to int64) {
		t.Helper()
		if len(got) != int(to-from) || (len(got) > 0 && (got[0] != from || got[len(got)-1] != to-1)) {
			t.Errorf("%s: applied %v, want %d to %d", what, got, from, to-1)
		}
	}
	check("first batch", run(positions("s", 0, 0, 10), -1), 0, 10)
	check("the same batch again", run(positions("s", 0, 0, 10), -1), 0, 0)
	check("a batch failing at 15", run(positions("s", 0, 10, 10), 15), 10, 15)
	check("after the failure", run(positions("s", 0, 10, 10), -1), 15, 20)
	if next, ok, err := store.spaceOffset(sp, "s", 0); err != nil || !ok || next != 20 {
		t.Fatalf("stored next offset %d %v %v, want 20", next, ok, err)
	}
	if _, err := store.apply(sp, "s", 0, 20, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.dropSpace(sp); err != nil {
		t.Fatal(err)
	}
	check("after the space was dropped", run(positions("s", 0, 0, 10), -1), 0, 10)
	if ok, err := store.apply(sp, "s", 0, 10, nil); err != nil || !ok {
		t.Errorf("one event after the drop: applied %v, %v", ok, err)
	}
	if next, ok, err := store.spaceOffset(sp, "s", 0); err != nil || !ok || next != 11 {
		t.Errorf("stored next offset %d %v %v, want 11", next, ok, err)
	}
}

// A reader of a space's offsets (the consistency header of every POST,
// the lag monitor) is answered from what the last applying transaction
// left, and still says what the store says: after a drop the offset is
// gone, a partition never applied is read from the store, and a reader
// running beside appliers never sees an offset go back or pass what was
// committed.
func TestSpaceOffsetFollowsCommits(t *testing.T) {
	store := openStore(t)
	sp := newSpace("readers", 0)
	offset := func(partition int) (int64, bool) {
		t.Helper()
		next, ok, err := store.spaceOffset(sp, "s", partition)
		if err != nil {
			t.Fatal(err)
		}
		return next, ok
	}
	apply := func(pos []event.Position) {
		t.Helper()
		if _, _, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
			return txn.Set(sp.Key("v", fmt.Sprint(pos[i].Partition, "/", pos[i].Offset)), []byte{1})
		}, nil); err != nil || fnErr != nil {
			t.Fatalf("applyBatch: %v, %v", err, fnErr)
		}
	}
	if next, ok := offset(0); ok {
		t.Fatalf("before any event: next offset %d, want none", next)
	}
	apply(positions("s", 0, 0, 10))
	if next, ok := offset(0); !ok || next != 10 {
		t.Fatalf("after 10 events: next offset %d %v, want 10", next, ok)
	}
	// Written outside the apply path only: read from the store.
	if err := store.updateTxn(func(txn *badger.Txn) error { return setNextOffset(txn, sp, "s", 1, 7) }); err != nil {
		t.Fatal(err)
	}
	if next, ok := offset(1); !ok || next != 7 {
		t.Errorf("a partition only written outside the apply path: next offset %d %v, want 7", next, ok)
	}
	if err := store.dropSpace(sp); err != nil {
		t.Fatal(err)
	}
	if next, ok := offset(0); ok {
		t.Errorf("after the space was dropped: next offset %d, want none", next)
	}
	apply(positions("s", 0, 0, 3))
	if next, ok := offset(0); !ok || next != 3 {
		t.Errorf("after 3 events into the dropped space: next offset %d %v, want 3", next, ok)
	}

	const batches, size = 200, 5
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for b := range batches {
			pos := positions("s", 0, int64(3+b*size), size)
			if _, _, fnErr, err := store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
				return txn.Set(sp.Key("v", fmt.Sprint(pos[i].Offset)), []byte{1})
			}, nil); err != nil || fnErr != nil {
				t.Errorf("applyBatch: %v, %v", err, fnErr)
				return
			}
		}
	})
	last := int64(3)
	for {
		select {
		case <-done:
			wg.Wait()
			if next, _ := offset(0); next != 3+batches*size {
				t.Errorf("after every batch: next offset %d, want %d", next, 3+batches*size)
			}
			return
		default:
		}
		next, ok := offset(0)
		if !ok || next < last || next > 3+batches*size || (next-3)%size != 0 {
			t.Fatalf("beside an applier: next offset %d %v after %d; want a committed batch's end", next, ok, last)
		}
		last = next
	}
}

// A state read in one generation never compares equal to the next one's,
// even when both have moved as often: a read model keyed on the version
// reads again after a rebuild's swap.
func TestSpaceVersionNamesTheGeneration(t *testing.T) {
	store := openStore(t)
	old, next := newSpace("versions", 1), newSpace("versions", 2)
	if store.offsets.version(old) == store.offsets.version(next) {
		t.Fatalf("generations 1 and 2, neither moved, have one version %+v", store.offsets.version(old))
	}
	store.offsets.advanced(old)
	store.offsets.advanced(next)
	if store.offsets.version(old) == store.offsets.version(next) {
		t.Fatal("generations 1 and 2, each moved once, have one version")
	}
	at := store.offsets.version(next)
	if store.offsets.version(next) != at {
		t.Fatal("the version moved without a commit")
	}
	store.offsets.advanced(next)
	if store.offsets.version(next) == at {
		t.Fatal("a commit did not move the version")
	}
}
