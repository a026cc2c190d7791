package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// StatementsName is the statements projection's name (offsets, replay, CLI).
const StatementsName = "statements"

var applied = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_projection_events_total",
	Help: "Events consumed by a projection, by outcome.",
}, []string{"projection", "outcome"})

// Statements is the read model of stored xAPI statements.
type Statements struct {
	store   *Store
	waiters *Waiters
}

// NewStatements returns the statements projection over store; waiters (may
// be nil) are told when each event is applied.
func NewStatements(store *Store, waiters *Waiters) *Statements {
	return &Statements{store: store, waiters: waiters}
}

// Offsets returns where the projection resumes.
func (p *Statements) Offsets() Offsets { return Offsets{p.store, StatementsName} }

func statementKey(tenant, id string) []byte {
	k := make([]byte, 0, 2+len(tenant)+1+len(id))
	k = append(k, prefixStatement, 0)
	k = append(k, tenant...)
	k = append(k, 0)
	return append(k, strings.ToLower(id)...)
}

// Handle applies one statements-topic event.
func (p *Statements) Handle(_ context.Context, pos event.Position, e event.Event) error {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(event.TypeStatementStored)
	if name != want {
		// Not ours: step over it so the offset still advances.
		_, err := p.store.apply(StatementsName, pos.Topic, pos.Partition, pos.Offset, nil)
		return err
	}
	if major != wantMajor {
		return event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	st, err := xapi.ParseStatement(e.Data)
	if err != nil {
		return event.Reject(fmt.Errorf("data: %w", err))
	}
	if st.ID == "" {
		return event.Reject(errors.New("data: statement has no id"))
	}
	var outcome Outcome
	ok, err := p.store.apply(StatementsName, pos.Topic, pos.Partition, pos.Offset, func(txn *badger.Txn) error {
		key := statementKey(e.Tenant, st.ID)
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			outcome = Stored
			return txn.Set(key, e.Data)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			old, err := xapi.ParseStatement(v)
			if err != nil {
				return fmt.Errorf("stored statement %s is unreadable: %w", st.ID, err)
			}
			outcome = Conflict
			if xapi.Equivalent(old, st) {
				outcome = Unchanged
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("projection %s: apply %s: %w", StatementsName, e.ID, err)
	}
	if ok {
		applied.WithLabelValues(StatementsName, outcome.String()).Inc()
		p.waiters.done(e.ID, outcome)
	}
	return nil
}

// Skip advances the offset past an event that went to the DLQ.
func (p *Statements) Skip(_ context.Context, pos event.Position) error {
	applied.WithLabelValues(StatementsName, "rejected").Inc()
	_, err := p.store.apply(StatementsName, pos.Topic, pos.Partition, pos.Offset, nil)
	return err
}

// ErrNotFound reports a missing record.
var ErrNotFound = errors.New("not found")

// Statement returns the stored statement JSON of tenant with id.
func (p *Statements) Statement(_ context.Context, tenant, id string) ([]byte, error) {
	var out []byte
	err := p.store.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(statementKey(tenant, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}
