package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// StatementsName is the statements projection's name (offsets, replay, CLI).
const StatementsName = "statements"

// Statements is the read model of stored xAPI statements.
type Statements struct {
	*Projection
}

// NewStatements returns the statements projection over store; waiters (may
// be nil) are told when each event is applied.
func NewStatements(store *Store, waiters *Waiters) (*Statements, error) {
	p, err := NewProjection(store, statementsModel{}, waiters)
	if err != nil {
		return nil, err
	}
	return &Statements{p}, nil
}

type statementsModel struct{}

func (statementsModel) Name() string { return StatementsName }

// statementKey is where a statement lives: tenant first, so no query of one
// tenant can reach another's statements.
func statementKey(sp Space, tenant, id string) []byte {
	return sp.Key("s", tenant, strings.ToLower(id))
}

func (statementsModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(event.TypeStatementStored)
	if name != want {
		// Not ours: stepping over it still advances the offset.
		return Unchanged, nil
	}
	if major != wantMajor {
		return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	st, err := xapi.ParseStatement(e.Data)
	if err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if st.ID == "" {
		return 0, event.Reject(errors.New("data: statement has no id"))
	}
	key := statementKey(sp, e.Tenant, st.ID)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Stored, txn.Set(key, e.Data)
	}
	if err != nil {
		return 0, err
	}
	outcome := Conflict
	err = item.Value(func(v []byte) error {
		old, err := xapi.ParseStatement(v)
		if err != nil {
			return fmt.Errorf("stored statement %s is unreadable: %w", st.ID, err)
		}
		if xapi.Equivalent(old, st) {
			outcome = Unchanged
		}
		return nil
	})
	return outcome, err
}

// ErrNotFound reports a missing record.
var ErrNotFound = errors.New("not found")

// Statement returns the stored statement JSON of tenant with id.
func (p *Statements) Statement(_ context.Context, tenant, id string) ([]byte, error) {
	var out []byte
	err := p.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(statementKey(sp, tenant, id))
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

// Count returns how many statements tenant has stored.
func (p *Statements) Count(_ context.Context, tenant string) (int, error) {
	n := 0
	err := p.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = sp.Prefix("s", tenant)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}
