package projections

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// DeadLettersName names the consumer that answers erasures for the
// dead-letter topics.
const DeadLettersName = "dead-letters"

// DeadLetterCounter counts the dead letters of a learner (by pseudonym) in
// every DLQ (streams.CountDeadLetters).
type DeadLetterCounter func(ctx context.Context, tenant, pseudonym string) (int64, error)

// NewDeadLetters returns the consumer that answers a LearnerErased (on the
// privacy topic) for the dead-letter topics: their records of the learner
// are sealed under the destroyed keys, so they are purged by the erasure
// itself (unreadable, and skipped by the dlq tools); the answer counts
// them. It keeps no state but its offsets and the answers.
func NewDeadLetters(store *Store, count DeadLetterCounter) (*Projection, error) {
	return NewProjection(store, deadLettersModel{store: store, count: count}, nil)
}

type deadLettersModel struct {
	store *Store
	count DeadLetterCounter
}

func (deadLettersModel) Name() string { return DeadLettersName }

func (m deadLettersModel) Apply(txn *badger.Txn, _ Space, e event.Event) (Outcome, error) {
	pe, ok, err := decodePrivacy(e)
	if err != nil || !ok || pe.erased == nil {
		return Unchanged, err
	}
	n, err := m.count(context.Background(), e.Tenant, pe.erased.Pseudonym)
	if err != nil {
		// The broker's failure, not the event's: retried.
		return 0, event.Transient(fmt.Errorf("count dead letters: %w", err))
	}
	return Stored, m.store.noteErasure(txn, DeadLettersName, e, *pe.erased, map[string]int64{"dead_letters": n})
}
