package projections

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// RecommendationsName is the recommendations projection's name.
const RecommendationsName = "recommendations"

// TypeRecommendationsUpdated is the event the recommender publishes on
// learnstream.recommendations.v1, keyed by learner.
const TypeRecommendationsUpdated = "learnstream.recommendations.updated.v1"

// ReasonNotPersonalised marks every item of the list of a learner who
// withdrew consent to personalisation: popular in the tenant's catalog,
// the same for everyone, computed from nothing of theirs.
const ReasonNotPersonalised = "not_personalised"

// Recommendation is one ranked item.
type Recommendation struct {
	Item    string   `json:"item"`
	Score   float64  `json:"score"`
	Rank    int      `json:"rank"`
	Reasons []string `json:"reasons"`
}

// RecommendationsUpdated is the data of a RecommendationsUpdated event.
type RecommendationsUpdated struct {
	Learner      string           `json:"learner"`
	Items        []Recommendation `json:"items"`
	ModelVersion string           `json:"model_version"`
	BasedOn      string           `json:"based_on"`
	Role         string           `json:"role,omitempty"`
	ColdStart    bool             `json:"cold_start"`
}

// LearnerRecommendations is what the read model keeps per learner: the
// latest event's data and identity.
type LearnerRecommendations struct {
	RecommendationsUpdated
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// Recommendations keeps the latest recommendations of every learner. Every
// API process keeps all of it (the topic is compacted and small).
type Recommendations struct {
	*Projection
}

// NewRecommendations returns the recommendations projection.
func NewRecommendations(store *Store, waiters *Waiters) (*Recommendations, error) {
	p, err := NewProjection(store, recommendationsModel{store}, waiters)
	if err != nil {
		return nil, err
	}
	return &Recommendations{p}, nil
}

type recommendationsModel struct{ store *Store }

func (recommendationsModel) Name() string { return RecommendationsName }

// forget applies a LearnerErased (the learner's recommendations) or a
// RetentionApplied (recommendations published before Before).
func (m recommendationsModel) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	if pe.erased != nil {
		removed, err := learnerKinds{"l"}.erase(txn, m.store, sp, e.ID, e.Tenant, pe.erased.Pseudonym)
		if err != nil {
			return 0, err
		}
		if err := m.store.noteErasure(txn, RecommendationsName, e, *pe.erased, map[string]int64{"recommendations": removed["l"]}); err != nil {
			return 0, err
		}
		return Stored, nil
	}
	_, err := deleteWhere(txn, m.store, carryKey(e.ID, sp.Prefix("l", e.Tenant)), sp.Prefix("l", e.Tenant),
		olderThan(pe.retention.Before, func(lr *LearnerRecommendations) time.Time { return lr.Time }))
	return Stored, err
}

func (m recommendationsModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	return applyAlone(m.store, txn, sp, m, e)
}

// learnerRecState is a learner's staged entry: the id of the event it
// holds, and the entry to write when a transaction replaced it (the memo
// keeps only the id).
type learnerRecState struct {
	eventID string
	pending *LearnerRecommendations
}

// applyStaged keeps the latest recommendations of a learner. A learner's
// entry is read (its event id only) once per transaction at most, not at
// all when the memo knows it, and written once however many of the
// transaction's events replace it.
func (m recommendationsModel) applyStaged(ts *txnState, e event.Event) (Outcome, error) {
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		if err := ts.forgetting(); err != nil {
			return 0, err
		}
		return m.forget(ts.txn, ts.sp, e, pe)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(TypeRecommendationsUpdated)
	if name != want {
		return Unchanged, nil
	}
	if major != wantMajor {
		return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	var lr LearnerRecommendations
	if err := decodeRecommendationsUpdated(e.Data, &lr.RecommendationsUpdated); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if lr.Learner == "" {
		return 0, event.Reject(errors.New("data.learner: required"))
	}
	lr.EventID, lr.Time = e.ID, e.Time
	key := ts.sp.Key("l", e.Tenant, lr.Learner)
	sv, err := ts.lookup(key, func(item *badger.Item) (any, error) {
		var id string
		err := item.Value(func(v []byte) (err error) { id, err = recEventID(v); return err })
		if err != nil {
			return nil, fmt.Errorf("recommendations of %q: %w", lr.Learner, err)
		}
		return &learnerRecState{eventID: id}, nil
	})
	if err != nil {
		return 0, err
	}
	if old, _ := sv.v.(*learnerRecState); old != nil && old.eventID == e.ID {
		// A re-published event (same id after a recommender restart).
		return Unchanged, nil
	}
	ts.set(key, sv, &learnerRecState{eventID: e.ID, pending: &lr})
	return Stored, nil
}

// Learner returns the latest recommendations of a learner (ErrNotFound when
// none were published).
func (p *Recommendations) Learner(_ context.Context, tenant, learner string) (LearnerRecommendations, error) {
	var lr LearnerRecommendations
	err := p.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(sp.Key("l", tenant, learner))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return lr.decodeValue(v) })
	})
	return lr, err
}

// Personal reports whether any item of the list was personalised (lacks
// ReasonNotPersonalised).
func (lr LearnerRecommendations) Personal() bool {
	for _, it := range lr.Items {
		if !slices.Contains(it.Reasons, ReasonNotPersonalised) {
			return true
		}
	}
	return false
}

// Count returns the number of learners with recommendations.
func (p *Recommendations) Count(_ context.Context, tenant string) (int, error) {
	return p.CountKeys("l", tenant)
}

// RecommenderName names the recommender's checkpoint space.
const RecommenderName = "recommender"

// RecommenderCheckpoints stores the recommender's per-partition model
// snapshots together with the input offset they were taken at, in one
// Badger transaction per checkpoint. Keys: model snapshots under
// ("m", tenant, topic, partition); offsets as every projection's.
type RecommenderCheckpoints struct {
	store *Store
	sp    Space
}

// NewRecommenderCheckpoints opens the recommender's checkpoint space.
func NewRecommenderCheckpoints(store *Store) (*RecommenderCheckpoints, error) {
	sp, err := store.currentSpace(RecommenderName)
	if err != nil {
		return nil, err
	}
	return &RecommenderCheckpoints{store: store, sp: sp}, nil
}

// PartitionCheckpoint is one partition's state: the next offset to read and
// one opaque snapshot per tenant.
type PartitionCheckpoint struct {
	Next    int64
	Tenants map[string][]byte
}

// Load returns a partition's checkpoint (ok false when it has none).
func (c *RecommenderCheckpoints) Load(topic string, partition int) (PartitionCheckpoint, bool, error) {
	cp := PartitionCheckpoint{Tenants: map[string][]byte{}}
	var ok bool
	err := c.store.db.View(func(txn *badger.Txn) error {
		var err error
		cp.Next, ok, err = nextOffset(txn, c.sp, topic, partition)
		if err != nil || !ok {
			return err
		}
		// Checkpoints written before they were sealed have no key.
		var aead cipher.AEAD
		switch item, err := txn.Get(c.keyKey(topic, partition)); {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if err := item.Value(func(k []byte) (err error) { aead, err = checkpointAEAD(k); return err }); err != nil {
				return fmt.Errorf("checkpoint key: %w", err)
			}
		}
		return c.eachSnapshot(txn, topic, partition, true, func(tenant string, item *badger.Item) error {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if aead != nil {
				if v, err = openCheckpoint(aead, v, item.Key()); err != nil {
					return fmt.Errorf("tenant %q: %w", tenant, err)
				}
			}
			cp.Tenants[tenant] = v
			return nil
		})
	})
	if err != nil {
		return PartitionCheckpoint{}, false, fmt.Errorf("recommender checkpoint %s/%d: %w", topic, partition, err)
	}
	return cp, ok, nil
}

// Save writes the checkpoints of several partitions, snapshots and offsets,
// in one transaction: all of them or none. answers are the consumer's
// answers to erasures the snapshots apply, recorded in the same
// transaction (RecordErasureApplied), so that they are exactly as durable
// as the forgetting; streams.ErasureAnswers publishes them.
//
// Each partition's snapshots are sealed (AES-256-GCM, bound to their key)
// under a data key drawn for this save and stored beside them, replacing
// the last one. Snapshots name learners, and large ones live in the value
// log, where the file being written cannot be collected: the snapshot
// taken before an erasure can outlive the purge there, but not its key,
// which the purge's compaction drops with every overwritten version.
func (c *RecommenderCheckpoints) Save(topic string, cps map[int]PartitionCheckpoint, answers ...PendingAnswer) error {
	keys := make(map[int][]byte, len(cps))
	for part := range cps {
		keys[part] = make([]byte, checkpointKeySize)
		if _, err := rand.Read(keys[part]); err != nil {
			return fmt.Errorf("recommender checkpoint key: %w", err)
		}
	}
	return c.store.update(func(txn *badger.Txn) error {
		for _, a := range answers {
			if err := recordAnswer(txn, a); err != nil {
				return err
			}
		}
		for part, cp := range cps {
			aead, err := checkpointAEAD(keys[part])
			if err != nil {
				return err
			}
			// A tenant left out of this save would stay under the old key.
			if err := c.dropTenantsBut(txn, topic, part, cp.Tenants); err != nil {
				return err
			}
			for tenant, snap := range cp.Tenants {
				key := c.sp.Key("m", tenant, topic, strconv.Itoa(part))
				if err := txn.Set(key, sealValue(aead, snap, key)); err != nil {
					return fmt.Errorf("recommender checkpoint %s/%d (%d bytes): %w", topic, part, len(snap), err)
				}
			}
			if err := txn.Set(c.keyKey(topic, part), keys[part]); err != nil {
				return err
			}
			if err := setNextOffset(txn, c.sp, topic, part, cp.Next); err != nil {
				return err
			}
		}
		return nil
	})
}

// keyKey is the key of a partition's checkpoint data key.
func (c *RecommenderCheckpoints) keyKey(topic string, partition int) []byte {
	return c.sp.Key("mk", topic, strconv.Itoa(partition))
}

// dropTenantsBut deletes the partition's snapshots of tenants not in keep.
func (c *RecommenderCheckpoints) dropTenantsBut(txn *badger.Txn, topic string, partition int, keep map[string][]byte) error {
	var stale [][]byte
	err := c.eachSnapshot(txn, topic, partition, false, func(tenant string, item *badger.Item) error {
		if _, kept := keep[tenant]; !kept {
			stale = append(stale, item.KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// eachSnapshot calls fn with each tenant's snapshot of the partition
// (values prefetched when values is set).
func (c *RecommenderCheckpoints) eachSnapshot(txn *badger.Txn, topic string, partition int, values bool, fn func(tenant string, item *badger.Item) error) error {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = values
	opts.Prefix = c.sp.Prefix("m")
	it := txn.NewIterator(opts)
	defer it.Close()
	suffix := "\x00" + topic + "\x00" + strconv.Itoa(partition)
	for it.Rewind(); it.Valid(); it.Next() {
		tenant, ok := strings.CutSuffix(string(it.Item().Key()[len(opts.Prefix):]), suffix)
		if !ok || strings.Contains(tenant, "\x00") {
			continue
		}
		if err := fn(tenant, it.Item()); err != nil {
			return err
		}
	}
	return nil
}

const checkpointKeySize = 32

func checkpointAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != checkpointKeySize {
		return nil, fmt.Errorf("checkpoint key of %d bytes, want %d", len(key), checkpointKeySize)
	}
	return newAEAD(key)
}

// openCheckpoint opens a snapshot sealed (sealValue) under its store key.
func openCheckpoint(aead cipher.AEAD, sealed, key []byte) ([]byte, error) {
	snap, err := openValue(aead, sealed, key)
	switch {
	case errors.Is(err, errSealedShort):
		return nil, errors.New("sealed checkpoint truncated")
	case err != nil:
		return nil, fmt.Errorf("sealed checkpoint does not open under its key (damaged): %w", err)
	}
	return snap, nil
}
