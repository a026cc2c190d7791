package projections

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A DropPrefix (a replay's generation swap, a purge's flush) while
// transactions commit never hangs the store. Badger alone can: a commit
// that checked writes were not blocked just before a DropPrefix blocked
// them lands in the write queue after the drop drained it, and each then
// waits for the other (Store.commits).
func TestDropPrefixBesideCommits(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not closed on a hang: Close would hang as well.
	var commits atomic.Int64
	stop := writers(6, func(w, i int) error {
		// Many entries: Badger sizes each before it queues the write,
		// which is when a drop could slip in.
		err := s.updateTxn(func(txn *badger.Txn) error {
			for j := range 400 {
				if err := txn.Set(fmt.Appendf(nil, "c\x00%d\x00%d\x00%d", w, i%50, j), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, badger.ErrBlockedWrites) {
			return nil // a drop under way: again at once
		}
		if err == nil {
			commits.Add(1)
		}
		return err
	})
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := 0; time.Since(start) < 5*time.Second; i++ {
			if err := s.dropPrefix(fmt.Appendf(nil, "c\x00%d\x00%d\x00", i%6, i%50)); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("drop: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the store hung: drops and commits wait for each other (%d commits done)", commits.Load())
	}
	for _, err := range stop() {
		t.Errorf("commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits", commits.Load())
	if commits.Load() == 0 {
		t.Fatal("no commit happened beside the drops: the test shows nothing")
	}
}
