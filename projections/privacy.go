package projections

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// How a projection forgets (docs/privacy.md, "What each consumer
// removes"): privacy.TypeLearnerErased names a learner only by pseudonym,
// and read models are keyed by learner key, so a model finds the learner
// by computing the pseudonym of each learner it holds in the tenant. Its
// keys put the learner right after the tenant, so the scan visits each
// learner once (a seek skips the rest of their keys): on 100k learners it
// costs well under a second (BenchmarkEraseLearnerScan), which an erasure,
// rare by nature, can afford; an index from pseudonym to learner would
// cost a write on every event instead.

// SetPseudonyms gives the store's projections the install's pseudonyms
// (the key store), with which they find an erased learner. Call it before
// any consumer runs. Without it a LearnerErased is rejected: a projection
// that cannot find the learner must say so, not report nothing removed.
func (s *Store) SetPseudonyms(p privacy.Pseudonyms) { s.pseudonyms = p }

// errNoPseudonyms rejects a LearnerErased met without pseudonyms: the
// event is to park, not to retry; it waits in the DLQ for a replay once
// the process runs with privacy on.
var errNoPseudonyms = event.Reject(errors.New("learner erased, but this process has no pseudonyms (privacy is off): the learner cannot be found"))

// privacyEvent is a decoded privacy event a read model reacts to: exactly
// one of erased and retention is set.
type privacyEvent struct {
	erased    *privacy.LearnerErased
	retention *privacy.RetentionApplied
}

// decodePrivacy reports whether e is a LearnerErased or RetentionApplied,
// and decodes and checks it. A malformed one is rejected (DLQ), naming the
// field.
func decodePrivacy(e event.Event) (privacyEvent, bool, error) {
	if !strings.HasPrefix(e.Type, "learnstream.privacy.") {
		return privacyEvent{}, false, nil // every other event, cheaply
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return privacyEvent{}, false, nil
	}
	eName, eMajor, _ := event.SplitType(privacy.TypeLearnerErased)
	rName, rMajor, _ := event.SplitType(privacy.TypeRetentionApplied)
	switch name {
	case eName:
		if major != eMajor {
			return privacyEvent{}, true, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, eMajor))
		}
		d, err := privacy.DecodeLearnerErased(e)
		if err != nil {
			return privacyEvent{}, true, err
		}
		return privacyEvent{erased: &d}, true, nil
	case rName:
		if major != rMajor {
			return privacyEvent{}, true, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, rMajor))
		}
		d, err := privacy.DecodeRetentionApplied(e)
		if err != nil {
			return privacyEvent{}, true, err
		}
		return privacyEvent{retention: &d}, true, nil
	}
	return privacyEvent{}, false, nil
}

// learnerKinds is how a read model keeps learners: the key kinds whose
// next part after the tenant is the learner key.
type learnerKinds []string

// erase deletes every key of the learner with pseudonym in the tenant
// under each kind, and counts them by kind. It finds the learner key by
// scanning the first kind that holds it.
func (ks learnerKinds) erase(txn *badger.Txn, store *Store, sp Space, eventID, tenant, pseudonym string) (map[string]int64, error) {
	if store.pseudonyms == nil {
		return nil, errNoPseudonyms
	}
	removed := map[string]int64{}
	learner, found := "", false
	for _, k := range ks {
		var err error
		if learner, found, err = findLearner(txn, sp.Prefix(k, tenant), tenant, pseudonym, store.pseudonyms); err != nil {
			return nil, err
		}
		if found {
			break
		}
	}
	for _, k := range ks {
		// What an earlier attempt at the event deleted is counted under
		// the kind: the learner may no longer be found.
		carry := carryKey(eventID, sp.Prefix(k, tenant))
		if !found {
			removed[k] = int64(store.takeCarried(carry))
			continue
		}
		// The learner's own key (sp.Key(k, tenant, learner)) and every key
		// under it.
		n, err := deleteKey(txn, sp.Key(k, tenant, learner))
		if err != nil {
			return nil, err
		}
		m, err := deleteWhere(txn, store, carry, sp.Prefix(k, tenant, learner), nil)
		if err != nil {
			return nil, err
		}
		removed[k] = int64(n + m)
	}
	return removed, nil
}

// deleteKey deletes key if it exists and returns 1, else 0.
func deleteKey(txn *badger.Txn, key []byte) (int, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return 1, txn.Delete(key)
}

// findLearner scans the learners under prefix (each key: prefix, learner,
// 0, rest; or prefix, learner) for the one whose pseudonym is pseudonym.
func findLearner(txn *badger.Txn, prefix []byte, tenant, pseudonym string, ps privacy.Pseudonyms) (string, bool, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var seek []byte
	for it.Rewind(); it.Valid(); {
		rest := it.Item().Key()[len(prefix):]
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			rest = rest[:i]
		}
		learner := string(rest)
		if ps.Pseudonym(tenant, learner) == pseudonym {
			return learner, true, nil
		}
		// Past every key of this learner: learner, then a byte above the
		// separator.
		seek = append(append(append(seek[:0], prefix...), learner...), 1)
		it.Seek(seek)
	}
	return "", false, nil
}

// maxDeletesInEvent bounds the deletes one event makes in its own
// transaction (with its offset), which Badger limits in size. When there
// are more, deleteWhere commits them in transactions of their own and
// answers errMoreDeletes: the projection then applies the event again,
// in a fresh transaction that no longer reads them, and finds the rest.
// Deletes are idempotent, so a crash in between only leaves the re-applied
// event less to delete.
const maxDeletesInEvent = 4096

// errMoreDeletes asks the projection to apply the event again (see
// maxDeletesInEvent).
var errMoreDeletes = errors.New("more deletes than one transaction takes: committed a part, applying again")

// deleteWhere deletes the keys under prefix whose value old reports true
// for (every key when old is nil), and returns how many, counting those an
// earlier attempt at the same event committed (errMoreDeletes), which it
// keeps under carry (unique to the event and what it deletes).
func deleteWhere(txn *badger.Txn, store *Store, carry string, prefix []byte, old func(v []byte) (bool, error)) (int, error) {
	var keys [][]byte
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = old != nil
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if old != nil {
			var del bool
			err := item.Value(func(v []byte) (err error) {
				del, err = old(v)
				return err
			})
			if err != nil {
				it.Close()
				return 0, fmt.Errorf("%q: %w", item.Key(), err)
			}
			if !del {
				continue
			}
		}
		keys = append(keys, item.KeyCopy(nil))
	}
	it.Close()
	return deleteKeys(txn, store, carry, keys)
}

// deleteKeys deletes keys in txn, or in transactions of their own when
// there are more than maxDeletesInEvent (see deleteWhere).
func deleteKeys(txn *badger.Txn, store *Store, carry string, keys [][]byte) (int, error) {
	if len(keys) > maxDeletesInEvent {
		for chunk := range slices.Chunk(keys, maxDeletesInEvent) {
			if err := store.update(func(t *badger.Txn) error {
				for _, k := range chunk {
					if err := t.Delete(k); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return 0, err
			}
		}
		carried, _ := store.carried.LoadOrStore(carry, new(int))
		*carried.(*int) += len(keys)
		return 0, errMoreDeletes
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys) + store.takeCarried(carry), nil
}

// takeCarried returns and forgets what earlier attempts deleted under carry.
func (s *Store) takeCarried(carry string) int {
	if c, ok := s.carried.LoadAndDelete(carry); ok {
		return *c.(*int)
	}
	return 0
}

// carryKey names what one event deletes under prefix, for deleteWhere.
func carryKey(eventID string, prefix []byte) string { return eventID + "\x00" + string(prefix) }

// olderThan returns a deleteWhere test: the value's time field, read by
// at, is before before. The value is read by decodeStored. A value
// without a time counts as old: nothing says it is recent.
func olderThan[T any](before time.Time, at func(*T) time.Time) func(v []byte) (bool, error) {
	return func(v []byte) (bool, error) {
		var x T
		if err := decodeStored(v, &x); err != nil {
			return false, err
		}
		return at(&x).Before(before), nil
	}
}

// noteErasure records the projection's answer to a LearnerErased in txn
// (RecordErasureApplied), so it is exactly as durable as the removal:
// streams.ErasureAnswers publishes it even if the process dies right after
// the commit. An erasure can reach a projection twice (the model
// consumers publish it again after their own events): while the first
// answer is not published, the second adds what it removed to it rather
// than replace it with the nothing left to remove.
func (s *Store) noteErasure(txn *badger.Txn, projection string, ev event.Event, e privacy.LearnerErased, removed map[string]int64) error {
	var prev PendingAnswer
	found, err := getStored(txn, answerKey(e.Erasure, projection), &prev)
	if err != nil {
		return err
	}
	if found {
		sum := maps.Clone(removed)
		for k, n := range prev.Answer.Removed {
			sum[k] += n
		}
		removed = sum
	}
	return RecordErasureApplied(txn, ev.Tenant, projection, e, removed)
}
