package projections

import (
	"bytes"
	"context"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// forget applies a LearnerErased (the learner's state documents, in every
// activity and registration, and agent profiles; activity profiles name
// no learner and stay) or a RetentionApplied (every document last updated
// before Before).
func (m documentsModel) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	tenant := e.Tenant
	if pe.retention != nil {
		_, err := deleteWhere(txn, m.store, carryKey(e.ID, sp.Prefix("d", tenant)), sp.Prefix("d", tenant),
			olderThan(pe.retention.Before, func(d *Document) time.Time { return d.Updated }))
		return Stored, err
	}
	if m.store.pseudonyms == nil {
		return 0, errNoPseudonyms
	}
	ps := m.store.pseudonyms
	// State documents: d tenant state activity agent registration id. The
	// agent is not first, so every state key is visited; an erasure is
	// rare, and the pseudonym is computed once per agent.
	statePrefix := sp.Prefix("d", tenant, DocState)
	is := map[string]bool{}
	state, err := deleteWhereKey(txn, m.store, carryKey(e.ID, statePrefix), statePrefix, func(rest []byte) bool {
		parts := bytes.SplitN(rest, []byte{0}, 3)
		if len(parts) < 2 {
			return false
		}
		agent := string(parts[1])
		match, ok := is[agent]
		if !ok {
			match = ps.Pseudonym(tenant, agent) == pe.erased.Pseudonym
			is[agent] = match
		}
		return match
	})
	if err != nil {
		return 0, err
	}
	profilePrefix := sp.Prefix("d", tenant, DocAgentProfile)
	profiles := 0
	if learner, found, err := findLearner(txn, profilePrefix, tenant, pe.erased.Pseudonym, ps); err != nil {
		return 0, err
	} else if found {
		if profiles, err = deleteWhere(txn, m.store, carryKey(e.ID, profilePrefix), sp.Prefix("d", tenant, DocAgentProfile, learner), nil); err != nil {
			return 0, err
		}
	} else {
		profiles = m.store.takeCarried(carryKey(e.ID, profilePrefix))
	}
	return Stored, m.store.noteErasure(txn, DocumentsName, e, *pe.erased, map[string]int64{
		"state_documents": int64(state), "agent_profiles": int64(profiles)})
}

// deleteWhereKey is deleteWhere choosing by the key after prefix.
func deleteWhereKey(txn *badger.Txn, store *Store, carry string, prefix []byte, match func(rest []byte) bool) (int, error) {
	var keys [][]byte
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	for it.Rewind(); it.Valid(); it.Next() {
		if k := it.Item().Key(); match(k[len(prefix):]) {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
	}
	it.Close()
	return deleteKeys(txn, store, carry, keys)
}

// Knows reports whether the tenant holds a state document or agent
// profile of the agent with key.
func (p *Documents) Knows(_ context.Context, tenant, key string) (bool, error) {
	found := false
	err := p.View(func(txn *badger.Txn, sp Space) error {
		if found = hasPrefix(txn, sp.Prefix("d", tenant, DocAgentProfile, key)); found {
			return nil
		}
		prefix := sp.Prefix("d", tenant, DocState)
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues, opts.Prefix = false, prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			parts := bytes.SplitN(it.Item().Key()[len(prefix):], []byte{0}, 3)
			if len(parts) >= 2 && string(parts[1]) == key {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}
