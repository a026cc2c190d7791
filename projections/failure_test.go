package projections

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// failModel fails every Apply with err.
type failModel struct{ err error }

func (failModel) Name() string { return "fail" }
func (m failModel) Apply(*badger.Txn, Space, event.Event) (Outcome, error) {
	return 0, m.err
}

// A projection passes on which of its failures are worth retrying: only
// the store's. What the model reports about the event, marked or not,
// parks the event.
func TestProjectionClassifiesFailures(t *testing.T) {
	store := openStore(t)
	for i, tc := range []struct {
		name      string
		err       error
		retryable bool
	}{
		{"rejected", event.Reject(errors.New("data: bad")), false},
		{"unmarked (a validation error nobody marked)", errors.New(`activity.definition.scale: is not a component list`), false},
		{"transaction too big (this event's writes)", fmt.Errorf("write index: %w", badger.ErrTxnTooBig), false},
		{"conflict", fmt.Errorf("read: %w", badger.ErrConflict), true},
		{"closed store", badger.ErrDBClosed, true},
		{"blocked writes", fmt.Errorf("set: %w", badger.ErrBlockedWrites), true},
		{"marked transient by the model", event.Transient(errors.New("catalog unavailable")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProjection(store, failModel{tc.err}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Handle(context.Background(), event.Position{Topic: "s", Offset: int64(i)}, stmtEvent(t, "e", uuid(1), "https://x/a"))
			if err == nil {
				t.Fatal("no error")
			}
			if got := event.Retryable(err); got != tc.retryable {
				t.Fatalf("Retryable(%v) = %v, want %v", err, got, tc.retryable)
			}
		})
	}
}
