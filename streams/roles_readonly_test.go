package streams_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// sharedCheck passes a role's handler through and, once the role has
// applied an event, checks that the statement the roles share is still
// the one its bytes hold: a role that changed it would hand the others a
// statement that is not the record's.
type sharedCheck struct {
	h    streams.Handler
	role string
	seen *sharedSeen
}

type sharedSeen struct {
	mu     sync.Mutex
	byID   map[string]map[*xapi.Statement][]string // event id -> statement -> roles
	failed []string
}

func (c *sharedCheck) check(evs []event.Event) {
	for _, e := range evs {
		st, err := projections.StoredStatement(e)
		if err != nil {
			continue
		}
		fresh, _ := xapi.DecodeStored(e.Data)
		c.seen.mu.Lock()
		if !reflect.DeepEqual(st, fresh) {
			c.seen.failed = append(c.seen.failed, c.role+" "+e.ID)
		}
		if c.seen.byID[e.ID] == nil {
			c.seen.byID[e.ID] = map[*xapi.Statement][]string{}
		}
		c.seen.byID[e.ID][st] = append(c.seen.byID[e.ID][st], c.role)
		c.seen.mu.Unlock()
	}
}

func (c *sharedCheck) Handle(ctx context.Context, pos streams.Position, e event.Event) error {
	err := c.h.Handle(ctx, pos, e)
	c.check([]event.Event{e})
	return err
}

func (c *sharedCheck) HandleBatch(ctx context.Context, pos []streams.Position, evs []event.Event) (int, error) {
	if ba, ok := c.h.(streams.BatchApplier); ok {
		n, err := ba.HandleBatch(ctx, pos, evs)
		c.check(evs[:n])
		return n, err
	}
	for i := range evs {
		if err := c.Handle(ctx, pos[i], evs[i]); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

func (c *sharedCheck) Skip(ctx context.Context, pos streams.Position) error {
	return c.h.Skip(ctx, pos)
}

// TestRolesShareStatementsReadOnly runs every statement role of serve at
// once on signed, sealed statements (run with -race: a role writing to
// a statement another reads is a race): the roles share the decoded
// statements, and none of them changes one.
func TestRolesShareStatementsReadOnly(t *testing.T) {
	const n = 3000
	seen := &sharedSeen{byID: map[string]map[*xapi.Statement][]string{}}
	counters, stop := rolesTogether(t, n, func(role string, h streams.Handler) streams.Handler {
		return &sharedCheck{h: h, role: role, seen: seen}
	}, nil)
	defer stop()
	drained(t, counters, n, 3*time.Minute)
	stop()
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.failed) > 0 {
		t.Fatalf("%d statements changed by the role that applied them, e.g. %v", len(seen.failed), seen.failed[:min(5, len(seen.failed))])
	}
	if len(seen.byID) != n {
		t.Fatalf("%d statements seen, want %d", len(seen.byID), n)
	}
	shared := 0
	for _, sts := range seen.byID {
		for _, roles := range sts {
			shared += len(roles) - 1
		}
	}
	// Every role reads every statement: with one decode per record
	// the roles after the first share it. How many depends on how far
	// apart the roles run; none would mean they do not share.
	if shared == 0 {
		t.Errorf("no statement shared among the %d roles", len(statementRoles))
	}
	t.Logf("%d of %d statement decodes shared", shared, n*(len(statementRoles)-1))
}
