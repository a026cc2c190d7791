package streams

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

type auditLog struct {
	mu      sync.Mutex
	fail    bool
	batches [][]event.Event
}

func (l *auditLog) PublishEvents(_ context.Context, _ string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("broker down")
	}
	l.batches = append(l.batches, evs)
	return nil
}

func (l *auditLog) count() (records, batches int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		records += len(b)
	}
	return records, len(l.batches)
}

func TestAccessAuditor(t *testing.T) {
	p := privacy.Secret("0123456789abcdef0123456789abcdef").Pseudonym("t1", "mbox:mailto:a@example.com")
	rec := func(i int, learners ...string) privacy.AccessRecorded {
		return privacy.AccessRecorded{Credential: "k", Route: "GET /xapi/statements", Status: 200, Learners: learners,
			At: time.Date(2026, 12, 4, 0, 0, i, 0, time.UTC)}
	}
	tests := []struct {
		name        string
		queue       int
		records     int
		down        bool // the log refuses writes throughout
		wantRefused int  // reservations refused
		wantBatches int  // at most
	}{
		{"batched", 100, 50, false, 0, 5},
		{"full queue refuses reads, never drops", 10, 15, true, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &auditLog{fail: tt.down}
			a := NewAccessAuditor(AccessAuditConfig{Publisher: log, QueueSize: tt.queue, Batch: 20, Linger: 20 * time.Millisecond,
				ReserveWait: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.Run(ctx); close(done) }()
			refused := 0
			for i := range tt.records {
				if !a.Reserve(context.Background()) {
					refused++
					continue
				}
				a.Record("t1", rec(i, p))
			}
			if refused != tt.wantRefused {
				t.Errorf("refused %d reads, want %d", refused, tt.wantRefused)
			}
			if !tt.down {
				deadline := time.Now().Add(5 * time.Second)
				for n, _ := log.count(); n < tt.records && time.Now().Before(deadline); n, _ = log.count() {
					time.Sleep(5 * time.Millisecond)
				}
			}
			cancel()
			<-done
			n, b := log.count()
			want := tt.records - refused
			if tt.down {
				want = 0
			}
			if n != want || b > tt.wantBatches {
				t.Errorf("published %d records in %d batches, want %d in at most %d", n, b, want, tt.wantBatches)
			}
			if tt.down {
				return
			}
			e := log.batches[0][0]
			if e.Type != privacy.TypeAccessRecorded || e.Key != p || e.Tenant != "t1" || e.ID == "" {
				t.Errorf("event %+v", e)
			}
			// Room again after publishing: every slot was released.
			for range tt.queue {
				if !a.Reserve(context.Background()) {
					t.Fatal("slots not released after publishing")
				}
			}
		})
	}
}

// A record queued while the log is down is published at shutdown once
// the log is back.
func TestAccessAuditorFlushesAtShutdown(t *testing.T) {
	log := &auditLog{fail: true}
	a := NewAccessAuditor(AccessAuditConfig{Publisher: log, Linger: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	for i := range 3 {
		a.Reserve(context.Background())
		a.Record("t1", privacy.AccessRecorded{ID: string(rune('a' + i)), Credential: "k", Route: "GET /x", Status: 200, At: time.Now()})
	}
	time.Sleep(50 * time.Millisecond)
	log.mu.Lock()
	log.fail = false
	log.mu.Unlock()
	cancel()
	<-done
	if n, _ := log.count(); n != 3 {
		t.Errorf("published %d at shutdown, want 3", n)
	}
}
