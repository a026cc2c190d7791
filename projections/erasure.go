package projections

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// Erasure answers. A consumer that keeps its state in the store answers a
// LearnerErased by calling RecordErasureApplied inside the transaction that
// applies the event and commits its offset: the answer is then exactly as
// durable as the deletion. streams.ErasureAnswers publishes what is
// recorded (as privacy.ErasureApplied on the privacy topic) and forgets it
// once the broker has it, so a crash between the commit and the publish
// delays the answer and never loses it.
//
//	a\x00<erasure>\x00<consumer> -> pendingAnswer JSON
const prefixAnswer = 'a'

func answerKey(erasure, consumer string) []byte {
	k := append([]byte{prefixAnswer, 0}, erasure...)
	k = append(k, 0)
	return append(k, consumer...)
}

// PendingAnswer is an ErasureApplied recorded and not published yet.
type PendingAnswer struct {
	Tenant string                 `json:"tenant"`
	Answer privacy.ErasureApplied `json:"answer"`
}

// RecordErasureApplied records in txn the answer of consumer to the
// LearnerErased le of tenant: removed counts what it deleted, by kind
// ("statements", "documents", ...). A kind with nothing removed may be
// left out. Recording the same answer again (a replay) replaces it; the
// receipt keeps the first answer it receives.
func RecordErasureApplied(txn *badger.Txn, tenant, consumer string, le privacy.LearnerErased, removed map[string]int64) error {
	if removed == nil {
		removed = map[string]int64{}
	}
	return recordAnswer(txn, PendingAnswer{Tenant: tenant, Answer: privacy.ErasureApplied{
		Erasure: le.Erasure, Consumer: consumer, Pseudonym: le.Pseudonym, Removed: removed, At: time.Now().UTC()}})
}

// recordAnswer records an answer in txn.
func recordAnswer(txn *badger.Txn, a PendingAnswer) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return txn.Set(answerKey(a.Answer.Erasure, a.Answer.Consumer), b)
}

// PendingErasureAnswers lists the answers recorded and not yet forgotten.
func (s *Store) PendingErasureAnswers() ([]PendingAnswer, error) {
	var out []PendingAnswer
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixAnswer, 0}, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var a PendingAnswer
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &a) }); err != nil {
				return fmt.Errorf("erasure answer %q: %w", it.Item().Key()[2:], err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// ForgetErasureAnswer drops a published answer.
func (s *Store) ForgetErasureAnswer(erasure, consumer string) error {
	return s.update(func(txn *badger.Txn) error { return txn.Delete(answerKey(erasure, consumer)) })
}

// isType reports whether e is of type t (same name and major version).
func isType(e event.Event, t string) bool { return strings.EqualFold(e.Type, t) }
