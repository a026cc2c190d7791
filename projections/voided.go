package projections

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Voided statements never match a query (they are reachable only by
// voidedStatementId), so a query checked every statement it matched for a
// voiding mark (vd): a read of a key that is almost never there, 6% of a
// filtered GET's CPU with eight readers over 300,000 statements
// (docs/benchmarks.md, "Sixteenth pass"). A space's voidedSet lets the
// check be skipped for a statement no voiding ever named.
//
// Why a statement that is not in the set is not voided in any snapshot a
// query reads:
//   - the apply path adds a statement to the set before the transaction
//     that writes its mark commits (applyVoiding), so before any read
//     transaction that can see the mark opens;
//   - every mark this process writes is added (an add creates the set
//     when it does not exist yet), and the marks written before it
//     started are in every read transaction it opens: the first query
//     reads the marks of its own transaction into the set, so a mark in
//     any snapshot is either in that scan or added;
//   - nothing leaves the set: a mark deleted later (an erasure of the
//     voiding statement), or a transaction that failed, leaves an id the
//     query checks in the store as before.
//
// Until the scan has run, and once the set holds voidedSetMax ids, every
// statement is checked.
type voidedSet struct {
	// loaded is set once the store's marks are in (load); read without
	// mu by every query.
	loaded   atomic.Bool
	mu       sync.RWMutex
	ids      map[string]map[string]struct{} // tenant -> ids
	n        int
	loading  bool
	overflow bool
}

// voidedSetMax bounds a set's memory (about 100 bytes an id).
const voidedSetMax = 1 << 18

// voidedSet returns sp's set of voided statements.
func (s *Store) voidedSet(sp Space) *voidedSet {
	if v, ok := s.voided.Load(string(sp.prefix)); ok {
		return v.(*voidedSet)
	}
	v, _ := s.voided.LoadOrStore(string(sp.prefix), &voidedSet{ids: map[string]map[string]struct{}{}})
	return v.(*voidedSet)
}

// add records that a voiding names tenant's statement id; the caller
// writes the mark afterwards, in a transaction not yet committed.
func (v *voidedSet) add(tenant, id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.addLocked(tenant, id)
}

func (v *voidedSet) addLocked(tenant, id string) {
	if v.overflow {
		return
	}
	ids := v.ids[tenant]
	if ids == nil {
		ids = map[string]struct{}{}
		v.ids[tenant] = ids
	}
	if _, ok := ids[id]; ok {
		return
	}
	if v.n == voidedSetMax {
		v.overflow, v.ids = true, nil
		return
	}
	ids[id] = struct{}{}
	v.n++
}

// mayBeVoided reports whether tenant's statement id must be checked for a
// voiding mark: false only when no voiding named it.
func (v *voidedSet) mayBeVoided(tenant, id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if !v.loaded.Load() || v.overflow {
		return true
	}
	_, ok := v.ids[tenant][id]
	return ok
}

// load reads the marks txn sees into the set when nobody has (one query
// reads them; the others check the store meanwhile: mayBeVoided says yes
// to every statement until the set is loaded).
func (v *voidedSet) load(txn *badger.Txn, sp Space) {
	if v.loaded.Load() {
		return
	}
	v.mu.Lock()
	if v.loaded.Load() || v.loading {
		v.mu.Unlock()
		return
	}
	v.loading = true
	v.mu.Unlock()
	prefix := sp.Prefix("vd")
	var found [][2]string
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	for it.Rewind(); it.Valid() && len(found) <= voidedSetMax; it.Next() {
		rest := it.Item().Key()[len(prefix):]
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			found = append(found, [2]string{string(rest[:i]), string(rest[i+1:])})
		}
	}
	it.Close()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range found {
		v.addLocked(f[0], f[1])
	}
	v.loading = false
	v.loaded.Store(true)
}
