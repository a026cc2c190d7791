package streams

import (
	"context"
	"testing"
	"time"
)

// A park or commit in flight outlives the consumer's cancellation, but
// not a shutdown's deadline.
func TestUncancelled(t *testing.T) {
	soon := time.Now().Add(time.Second)
	for _, tc := range []struct {
		name   string
		parent func() (context.Context, context.CancelFunc)
		within time.Duration // the child's deadline, from now, at most
		least  time.Duration // and at least
	}{
		{"cancelled parent", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, 10 * time.Second, 9 * time.Second},
		{"parent deadline first", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), soon)
		}, time.Second, 0},
		{"parent deadline later", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Minute)
		}, 10 * time.Second, 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancelParent := tc.parent()
			defer cancelParent()
			ctx, cancel := uncancelled(parent, 10*time.Second)
			defer cancel()
			if ctx.Err() != nil {
				t.Fatalf("the step's context ended with its parent: %v", ctx.Err())
			}
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left > tc.within || left < tc.least {
				t.Errorf("deadline in %s (set %v), want between %s and %s", left, ok, tc.least, tc.within)
			}
		})
	}
}
