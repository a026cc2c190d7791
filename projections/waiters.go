package projections

import (
	"context"
	"sync"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// Outcome is what applying a write did.
type Outcome int

const (
	// Stored: the write took effect.
	Stored Outcome = iota + 1
	// Unchanged: an equal record was already there (a retried write).
	Unchanged
	// Conflict: a different record already holds the id; the write had no
	// effect.
	Conflict
	// Parked: the projection could not apply the event and parked it in
	// the DLQ; the write had no effect.
	Parked
)

func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Unchanged:
		return "unchanged"
	case Conflict:
		return "conflict"
	case Parked:
		return "parked"
	}
	return "unknown"
}

// Waiters lets a writer wait until a projection in this process has applied
// its event: that is how an HTTP write answers only once a read would see it.
type Waiters struct {
	mu sync.Mutex
	m  map[string]chan Outcome
	// held maps the events of writes this process published, until a
	// projection applied or parked them, to their stored time: the
	// consistency a read may claim stops short of the oldest (see Hold).
	held map[string]time.Time
}

// NewWaiters returns an empty set.
func NewWaiters() *Waiters {
	return &Waiters{m: make(map[string]chan Outcome), held: make(map[string]time.Time)}
}

// Hold records, before its event is published, a write whose effect
// readers must not be told about before it is visible: until a projection
// applies or parks the event (or Release), OldestHeld reports its stored
// time. Unlike a registration it outlives the writer's wait, so a write
// answered after the consistency timeout still holds reads back.
func (w *Waiters) Hold(eventID string, stored time.Time) {
	w.mu.Lock()
	w.held[eventID] = stored
	w.mu.Unlock()
}

// Release drops a hold whose event was not published.
func (w *Waiters) Release(eventID string) {
	w.mu.Lock()
	delete(w.held, eventID)
	w.mu.Unlock()
}

// OldestHeld returns the earliest stored time of the writes held.
func (w *Waiters) OldestHeld() (time.Time, bool) {
	if w == nil {
		return time.Time{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var oldest time.Time
	for _, t := range w.held {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, !oldest.IsZero()
}

// Register must be called before the event is published, or the projection
// may apply it before anyone listens.
func (w *Waiters) Register(eventID string) {
	w.mu.Lock()
	w.m[eventID] = make(chan Outcome, 1)
	w.mu.Unlock()
}

// Wait blocks until the event is applied or ctx ends; it always forgets the
// registration.
func (w *Waiters) Wait(ctx context.Context, eventID string) (Outcome, error) {
	w.mu.Lock()
	ch := w.m[eventID]
	w.mu.Unlock()
	defer w.Forget(eventID)
	if ch == nil {
		return 0, context.Canceled
	}
	select {
	case o := <-ch:
		return o, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Forget drops a registration (e.g. when the publish failed).
func (w *Waiters) Forget(eventID string) {
	w.mu.Lock()
	delete(w.m, eventID)
	w.mu.Unlock()
}

// doneBatch is done for the applied events of a batch, under one lock.
func (w *Waiters) doneBatch(evs []event.Event, done []bool, outcomes []Outcome) {
	if w == nil {
		return
	}
	var wake []chan Outcome
	var wakeAt []int
	w.mu.Lock()
	for i, ok := range done {
		if !ok {
			continue
		}
		id := evs[i].ID
		if ch := w.m[id]; ch != nil {
			wake = append(wake, ch)
			wakeAt = append(wakeAt, i)
		}
		if len(w.held) > 0 {
			delete(w.held, id)
		}
	}
	w.mu.Unlock()
	for j, ch := range wake {
		select {
		case ch <- outcomes[wakeAt[j]]:
		default:
		}
	}
}

func (w *Waiters) done(eventID string, o Outcome) {
	if w == nil {
		return
	}
	w.mu.Lock()
	ch := w.m[eventID]
	if len(w.held) > 0 {
		delete(w.held, eventID)
	}
	w.mu.Unlock()
	if ch != nil {
		select {
		case ch <- o:
		default:
		}
	}
}
