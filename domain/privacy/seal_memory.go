package privacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// MemoryKeys is Keys held in memory, for tests and tools: data keys per
// (tenant, learner, UTC month) as the key store keeps them, with the
// key store's ways of destroying them. It is safe for concurrent use.
type MemoryKeys struct {
	secret Secret

	mu      sync.Mutex
	current map[memSlot]DataKey // the key to seal with, per learner and month
	byKID   map[memKID]memEntry
}

type memSlot struct {
	tenant, pseudonym string
	month             time.Time
}

type memKID struct{ tenant, kid string }

type memEntry struct {
	slot memSlot
	key  DataKey
}

// NewMemoryKeys returns an empty MemoryKeys whose pseudonyms are made
// with secret.
func NewMemoryKeys(secret []byte) *MemoryKeys {
	return &MemoryKeys{secret: Secret(secret), current: map[memSlot]DataKey{}, byKID: map[memKID]memEntry{}}
}

// Pseudonym implements Pseudonyms.
func (m *MemoryKeys) Pseudonym(tenant, learner string) string {
	return m.secret.Pseudonym(tenant, learner)
}

// month returns the first instant of t's UTC month.
func month(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// For implements Keys.
func (m *MemoryKeys) For(_ context.Context, tenant, learner string, t time.Time) (DataKey, error) {
	slot := memSlot{tenant, m.Pseudonym(tenant, learner), month(t)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.current[slot]; ok {
		return k, nil
	}
	var b [32 + 10]byte
	_, _ = rand.Read(b[:])
	k := DataKey{ID: hex.EncodeToString(b[32:]), Key: b[:32:32]}
	m.current[slot] = k
	m.byKID[memKID{tenant, k.ID}] = memEntry{slot, k}
	return k, nil
}

// Lookup implements Keys.
func (m *MemoryKeys) Lookup(_ context.Context, tenant, kid string) (DataKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byKID[memKID{tenant, kid}]
	return e.key, ok, nil
}

// DestroyLearner destroys every data key of the learner with pseudonym
// in tenant and returns their ids, sorted.
func (m *MemoryKeys) DestroyLearner(_ context.Context, tenant, pseudonym string) ([]string, error) {
	return m.destroy(func(s memSlot) bool { return s.tenant == tenant && s.pseudonym == pseudonym }), nil
}

// DestroyBefore destroys every data key of tenant for a month before
// the month of before and returns their ids, sorted.
func (m *MemoryKeys) DestroyBefore(_ context.Context, tenant string, before time.Time) ([]string, error) {
	limit := month(before)
	return m.destroy(func(s memSlot) bool { return s.tenant == tenant && s.month.Before(limit) }), nil
}

func (m *MemoryKeys) destroy(match func(memSlot) bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kids []string
	for id, e := range m.byKID {
		if match(e.slot) {
			kids = append(kids, id.kid)
			delete(m.byKID, id)
			delete(m.current, e.slot)
		}
	}
	slices.Sort(kids)
	return kids
}
