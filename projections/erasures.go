package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// ErasuresName is the erasures projection's name: the receipts of
// erasures, built from the privacy topic.
const ErasuresName = "erasures"

// Receipt is what GET /v1/erasures/{id} answers: what an erasure removed
// where, and what it still waits for. It carries no personal data: no
// learner key, no name, not even the pseudonym.
type Receipt struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// Status is requested, keys_destroyed, published (LearnerErased is on
	// every learner topic, answers are coming in) or complete (every
	// expected consumer answered).
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	// KeysDestroyedAt is when the learner's data keys were destroyed: from
	// then on nothing of the learner in the log can be read.
	KeysDestroyedAt *time.Time `json:"keys_destroyed_at,omitempty"`
	KeysDestroyed   int        `json:"keys_destroyed"`
	// FinalKeysDestroyedAt is when the keys were destroyed again once
	// every consumer had answered (keys a late output of a model made).
	FinalKeysDestroyedAt *time.Time `json:"final_keys_destroyed_at,omitempty"`
	PublishedAt          *time.Time `json:"published_at,omitempty"`
	Topics               []string   `json:"topics,omitempty"`
	// Expected are the consumers that must answer; Pending those that
	// have not yet.
	Expected    []string         `json:"expected"`
	Pending     []string         `json:"pending"`
	Consumers   []ConsumerAnswer `json:"consumers"`
	CompletedAt *time.Time       `json:"completed_at,omitempty"`
	// Purges are the physical purges of projection stores since the
	// erasure (Badger keeps deleted values on disk until then).
	Purges []Purge `json:"purges,omitempty"`
}

// ConsumerAnswer is one consumer's ErasureApplied.
type ConsumerAnswer struct {
	Consumer string           `json:"consumer"`
	At       time.Time        `json:"at"`
	Removed  map[string]int64 `json:"removed"`
}

// Purge is one physical purge of a store.
type Purge struct {
	Store string    `json:"store"`
	At    time.Time `json:"at"`
}

// Complete reports whether every expected consumer answered.
func (r Receipt) Complete() bool { return r.Status == StatusComplete }

// Receipt statuses.
const (
	StatusRequested     = "requested"
	StatusKeysDestroyed = "keys_destroyed"
	StatusPublished     = "published"
	StatusComplete      = "complete"
)

// erasureRecord is a receipt with what only the orchestrator may see.
type erasureRecord struct {
	Receipt
	Pseudonym string `json:"pseudonym"`
}

func (r *erasureRecord) settle() {
	r.Pending = r.Pending[:0]
	for _, c := range r.Expected {
		if !slices.ContainsFunc(r.Consumers, func(a ConsumerAnswer) bool { return a.Consumer == c }) {
			r.Pending = append(r.Pending, c)
		}
	}
	switch {
	case r.PublishedAt != nil && len(r.Pending) == 0:
		if r.Status != StatusComplete {
			at := *r.PublishedAt
			for _, a := range r.Consumers {
				if a.At.After(at) {
					at = a.At
				}
			}
			r.CompletedAt = &at
		}
		r.Status = StatusComplete
	case r.PublishedAt != nil:
		r.Status = StatusPublished
	case r.KeysDestroyedAt != nil:
		r.Status = StatusKeysDestroyed
	default:
		r.Status = StatusRequested
	}
}

// Erasures is the read model of erasure receipts. Key layout:
//
//	r tenant erasure           -> erasureRecord JSON
//	i erasure                  -> tenant
//	l tenant pseudonym erasure -> "" (a learner's erasures)
//	o erasure                  -> tenant (requested, LearnerErased not yet published everywhere)
//	f erasure                  -> tenant (complete, keys not yet destroyed the final time)
type Erasures struct {
	*Projection
}

// NewErasures returns the erasures projection over store.
func NewErasures(store *Store, waiters *Waiters) (*Erasures, error) {
	p, err := NewProjection(store, erasuresModel{}, waiters)
	if err != nil {
		return nil, err
	}
	return &Erasures{p}, nil
}

type erasuresModel struct{}

func (erasuresModel) Name() string { return ErasuresName }

func (erasuresModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	switch {
	case isType(e, privacy.TypeErasureRequested):
		var r privacy.ErasureRequested
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		switch {
		case r.Erasure == "":
			return 0, event.Reject(errors.New("data.erasure: is required"))
		case !privacy.IsPseudonym(r.Pseudonym):
			return 0, event.Reject(fmt.Errorf("data.pseudonym: %q is not a pseudonym", r.Pseudonym))
		case e.Tenant == "":
			return 0, event.Reject(errors.New("tenant: is required"))
		}
		if _, ok, err := readErasure(txn, sp, e.Tenant, r.Erasure); err != nil || ok {
			return Unchanged, err
		}
		rec := erasureRecord{Pseudonym: r.Pseudonym, Receipt: Receipt{ID: r.Erasure, Tenant: e.Tenant, Reason: r.Reason,
			RequestedBy: r.By, RequestedAt: r.At.UTC(), Expected: slices.Sorted(slices.Values(r.Consumers)), Consumers: []ConsumerAnswer{}}}
		rec.Expected = slices.Compact(rec.Expected)
		if err := txn.Set(sp.Key("i", r.Erasure), []byte(e.Tenant)); err != nil {
			return 0, err
		}
		if err := txn.Set(sp.Key("l", e.Tenant, r.Pseudonym, r.Erasure), nil); err != nil {
			return 0, err
		}
		if err := txn.Set(sp.Key("o", r.Erasure), []byte(e.Tenant)); err != nil {
			return 0, err
		}
		return Stored, writeErasure(txn, sp, &rec)
	case isType(e, privacy.TypeErasureKeysDestroyed):
		var k privacy.ErasureKeysDestroyed
		if err := json.Unmarshal(e.Data, &k); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		return updateErasure(txn, sp, e.Tenant, k.Erasure, func(r *erasureRecord) bool {
			if k.Final {
				if r.FinalKeysDestroyedAt != nil {
					return false
				}
				at := k.At.UTC()
				r.FinalKeysDestroyedAt = &at
				return true
			}
			if r.KeysDestroyedAt != nil {
				return false
			}
			at := k.At.UTC()
			r.KeysDestroyedAt, r.KeysDestroyed = &at, k.Keys
			return true
		})
	case isType(e, privacy.TypeErasureCompleted):
		var c privacy.ErasureCompleted
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		if err := txn.Delete(sp.Key("o", c.Erasure)); err != nil {
			return 0, err
		}
		return updateErasure(txn, sp, e.Tenant, c.Erasure, func(r *erasureRecord) bool {
			if r.PublishedAt != nil {
				return false
			}
			at := c.At.UTC()
			r.PublishedAt, r.Topics = &at, c.Topics
			return true
		})
	case isType(e, privacy.TypeErasureApplied):
		var a privacy.ErasureApplied
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		if a.Consumer == "" {
			return 0, event.Reject(errors.New("data.consumer: is required"))
		}
		return updateErasure(txn, sp, e.Tenant, a.Erasure, func(r *erasureRecord) bool {
			// The first answer counts: a replay of the consumer finds
			// nothing left to remove and answers again with zeros.
			if slices.ContainsFunc(r.Consumers, func(c ConsumerAnswer) bool { return c.Consumer == a.Consumer }) {
				return false
			}
			r.Consumers = append(r.Consumers, ConsumerAnswer{Consumer: a.Consumer, At: a.At.UTC(), Removed: a.Removed})
			slices.SortFunc(r.Consumers, func(x, y ConsumerAnswer) int {
				if x.Consumer < y.Consumer {
					return -1
				}
				if x.Consumer > y.Consumer {
					return 1
				}
				return 0
			})
			return true
		})
	case isType(e, privacy.TypeStorePurged):
		var p privacy.StorePurged
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		out := Unchanged
		for _, id := range p.Erasures {
			tenant, ok, err := erasureTenant(txn, sp, id)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue
			}
			o, err := updateErasure(txn, sp, tenant, id, func(r *erasureRecord) bool {
				// The latest purge of each store counts: a consumer that
				// applied the erasure after an earlier purge is covered by
				// the next.
				at := p.At.UTC()
				if i := slices.IndexFunc(r.Purges, func(x Purge) bool { return x.Store == p.Store }); i >= 0 {
					if !at.After(r.Purges[i].At) {
						return false
					}
					r.Purges[i].At = at
					return true
				}
				r.Purges = append(r.Purges, Purge{Store: p.Store, At: at})
				return true
			})
			if err != nil {
				return 0, err
			}
			if o == Stored {
				out = Stored
			}
		}
		return out, nil
	}
	return Unchanged, nil
}

func erasureTenant(txn *badger.Txn, sp Space, id string) (string, bool, error) {
	item, err := txn.Get(sp.Key("i", id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	v, err := item.ValueCopy(nil)
	return string(v), err == nil, err
}

func readErasure(txn *badger.Txn, sp Space, tenant, id string) (erasureRecord, bool, error) {
	var r erasureRecord
	item, err := txn.Get(sp.Key("r", tenant, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &r) })
	return r, err == nil, err
}

func writeErasure(txn *badger.Txn, sp Space, r *erasureRecord) error {
	r.settle()
	if r.Status == StatusComplete && r.FinalKeysDestroyedAt == nil {
		if err := txn.Set(sp.Key("f", r.ID), []byte(r.Tenant)); err != nil {
			return err
		}
	} else if err := txn.Delete(sp.Key("f", r.ID)); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return txn.Set(sp.Key("r", r.Tenant, r.ID), b)
}

// updateErasure applies change to a stored receipt; an event about an
// erasure this projection never saw requested changes nothing.
func updateErasure(txn *badger.Txn, sp Space, tenant, id string, change func(*erasureRecord) bool) (Outcome, error) {
	r, ok, err := readErasure(txn, sp, tenant, id)
	if err != nil || !ok {
		return Unchanged, err
	}
	if !change(&r) {
		return Unchanged, nil
	}
	return Stored, writeErasure(txn, sp, &r)
}

// Receipt returns the receipt of erasure id of tenant (ErrNotFound for an
// unknown id or one of another tenant).
func (p *Erasures) Receipt(_ context.Context, tenant, id string) (Receipt, error) {
	var r erasureRecord
	err := p.View(func(txn *badger.Txn, sp Space) error {
		var ok bool
		var err error
		if r, ok, err = readErasure(txn, sp, tenant, id); err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return r.Receipt, err
}

// OfLearner lists the ids of the erasures of the learner with pseudonym.
func (p *Erasures) OfLearner(_ context.Context, tenant, pseudonym string) ([]string, error) {
	var ids []string
	err := p.View(func(txn *badger.Txn, sp Space) error {
		prefix := sp.Prefix("l", tenant, pseudonym)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	return ids, err
}

// OpenErasure is an erasure whose LearnerErased is not yet published
// everywhere: what the orchestrator must (re)do.
type OpenErasure struct {
	ID, Tenant, Pseudonym string
	RequestedAt           time.Time
	KeysDestroyed         bool
}

// Open lists the erasures not yet published everywhere.
func (p *Erasures) Open(_ context.Context) ([]OpenErasure, error) { return p.listed("o") }

// Finishing lists the complete erasures whose keys are not yet destroyed
// the final time.
func (p *Erasures) Finishing(_ context.Context) ([]OpenErasure, error) { return p.listed("f") }

func (p *Erasures) listed(kind string) ([]OpenErasure, error) {
	var out []OpenErasure
	err := p.View(func(txn *badger.Txn, sp Space) error {
		prefix := sp.Prefix(kind)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			tenant, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			r, ok, err := readErasure(txn, sp, string(tenant), id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, OpenErasure{ID: id, Tenant: r.Tenant, Pseudonym: r.Pseudonym, RequestedAt: r.RequestedAt,
					KeysDestroyed: r.KeysDestroyedAt != nil})
			}
		}
		return nil
	})
	return out, err
}
