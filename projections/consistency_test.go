package projections

import (
	"context"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

func TestConsistentThrough(t *testing.T) {
	ctx := context.Background()
	w := NewWaiters()
	p, err := NewStatements(openStore(t), w)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	stored := now.Add(-2 * time.Second)
	e := stmtEvent(t, "e1", uuid(1), "https://x/a")
	e.Time = stored
	pos := event.Position{Topic: "s", Partition: 1, Offset: 4}

	if got := p.ConsistentThrough(ctx, now, "s", nil, true); !got.Equal(now) {
		t.Errorf("nothing in flight: %v, want now", got)
	}
	if got := p.ConsistentThrough(ctx, now, "s", nil, false); !got.IsZero() {
		t.Errorf("end offsets not measured yet: %v, want nothing claimed", got)
	}

	// A write in flight holds every partition back, also after its writer
	// stopped waiting.
	w.Register(e.ID)
	w.Hold(e.ID, stored)
	wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	w.Wait(wctx, e.ID)
	cancel()
	if got := p.ConsistentThrough(ctx, now, "s", nil, true); !got.Before(stored) {
		t.Errorf("write in flight stored %v: header %v claims it", stored, got)
	}
	// The log's end is past what the projection applied on partition 1.
	ends := map[int]int64{0: 0, 1: 5}
	if got := p.ConsistentThrough(ctx, now, "s", ends, true); !got.Before(stored) {
		t.Errorf("lagging partition, nothing applied: %v", got)
	}
	if err := p.Handle(ctx, pos, e); err != nil {
		t.Fatal(err)
	}
	if got := p.ConsistentThrough(ctx, now, "s", ends, true); !got.Equal(now) {
		t.Errorf("applied through the end offsets: %v, want now", got)
	}
	// Another process wrote to partition 1: it holds back to just before
	// the last event applied there.
	ends[1] = 7
	if got := p.ConsistentThrough(ctx, now, "s", ends, true); !got.Equal(stored.Add(-time.Nanosecond)) {
		t.Errorf("partition behind its end: %v, want just before %v", got, stored)
	}

	// A parked write stops holding and tells its writer.
	e2 := stmtEvent(t, "e2", uuid(2), "https://x/b")
	w.Register(e2.ID)
	w.Hold(e2.ID, now.Add(-time.Second))
	p.Parked(e2)
	if o, err := w.Wait(ctx, e2.ID); err != nil || o != Parked {
		t.Errorf("writer of a parked event told %v, %v", o, err)
	}
	if got := p.ConsistentThrough(ctx, now, "s", nil, true); !got.Equal(now) {
		t.Errorf("after the park: %v, want now", got)
	}
	// A write whose publish failed is released.
	w.Hold("e3", now.Add(-time.Second))
	w.Release("e3")
	if _, held := w.OldestHeld(); held {
		t.Error("released write still held")
	}
}
