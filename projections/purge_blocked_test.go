package projections

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Writers outside a consumer (an API request, a role starting) keep
// working while a purge blocks Badger's writes: they wait it out instead
// of failing.
func TestWritesWaitOutAPurge(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	stop := writers(4, func(w, i int) error {
		return s.update(func(txn *badger.Txn) error {
			return txn.Set([]byte{'w', byte(w), byte(i), byte(i >> 8)}, []byte("v"))
		})
	})
	for range 3 {
		if _, err := s.Purge(ctx); err != nil {
			t.Fatalf("purge: %v", err)
		}
	}
	for _, err := range stop() {
		t.Errorf("a write during a purge failed: %v", err)
	}
}

// writers runs n goroutines, each calling write(w, i) for i = 0, 1, ...
// until its first error or until stop is called; stop waits for them and
// returns their errors.
func writers(n int, write func(w, i int) error) (stop func() []error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	done := make(chan struct{})
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := write(w, i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	return func() []error {
		close(done)
		wg.Wait()
		return errs
	}
}

// A purge waiting for a drop in progress gives up when its caller does
// (an operator's request that timed out), instead of holding the request.
func TestPurgeWaitEndsWithItsContext(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.dropMu.Lock() // a drop in progress
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = s.Purge(ctx)
	s.dropMu.Unlock()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("purge behind a drop: %v, want the context's deadline", err)
	}
	if _, err := s.Purge(context.Background()); err != nil {
		t.Fatalf("purge once the drop ended: %v", err)
	}
}
