package projections

import (
	"hash/maphash"
	"iter"
	"strings"
	"sync"
)

// learnerCache keeps, for the learners a batch read asked for last, what
// the adaptive read model holds of them: their skills' probabilities
// (MasteryOf) or their global ability (SuccessPredictorFor); and, the
// same way, the difficulties of the items predictions were asked for. The
// recommender asks for every learner it ranks, once per fetched batch,
// and reading them meant a Badger lookup per learner across every table
// of the store: MasteryOf was 7.5% of the server's CPU at 2,000
// statements/s, the abilities 2.4%. An entry is filled by a read and then
// kept current by the model's own commits (write-through), so a learner
// is read from the store once.
//
// Why an entry stays right:
//   - Every write of a learner's skills and ability goes through the
//     adaptive model's staged transactions, and each committed one passes
//     its values here (adaptiveModel.committed), in commit order: the
//     space's memo lock is held from a transaction's start to its end.
//   - A read fills an entry only if no commit touched the learner since
//     before the read's snapshot: a commit bumps its learner's stamp after
//     it committed, and the read samples the stamps before it opens its
//     transaction and fills only where they did not move. A read that
//     raced a commit just leaves the entry for the next one.
//   - What deletes keys other than by value (an erasure or retention
//     event, a dropped space, a transaction outside the consumers:
//     applyAlone) empties the caches and bumps every stamp, as it empties
//     the memos. An erased learner's state is not served from memory once
//     the erasure's transaction has ended.
//   - Entries belong to one space of the model: when a read finds another
//     live space (a rebuild swapped), the cache starts empty.
type learnerCache[V any] struct {
	mu      sync.Mutex
	space   string
	entries map[string]V // by learnerKey
	stamps  [learnerStamps]uint64
}

const (
	// learnerCacheEntries bounds the learners a cache keeps; when full,
	// half of them go (in the map's random order), as the memos do. A
	// mastery entry is its key and a slice of the learner's skills, 16
	// bytes a skill: about 6 MB for 20,000 learners of 10 skills; an
	// ability entry is its key and 16 bytes.
	learnerCacheEntries = 20_000
	learnerStamps       = 256
)

var learnerSeed = maphash.MakeSeed()

// learnerKey names a learner in the caches: tenant and learner as the
// model's keys hold them (sp.Prefix("s", tenant, learner) without the
// space's prefix and kind).
func learnerKey(tenant, learner string) string {
	var b [128]byte
	return string(appendLearnerKey(b[:0], tenant, learner))
}

// appendLearnerKey appends learnerKey(tenant, learner) to b.
func appendLearnerKey(b []byte, tenant, learner string) []byte {
	return append(append(append(append(b, tenant...), 0), learner...), 0)
}

// learnerStamp is key's stamp; maphash.Bytes of the key's bytes is the
// same (lookupEach).
func learnerStamp(key string) int { return int(maphash.String(learnerSeed, key) % learnerStamps) }

// lookup returns the cached learners of keys (through clone, when given:
// the caller may change them) and, for the others, their stamps now, in
// keys' order. The entries of another space than sp are dropped first.
func (c *learnerCache[V]) lookup(sp Space, keys []string, clone func(V) V) (hits map[string]V, stamps []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.follow(sp)
	hits = make(map[string]V, len(keys))
	stamps = make([]uint64, len(keys))
	for i, k := range keys {
		if v, ok := c.entries[k]; ok {
			if clone != nil {
				v = clone(v)
			}
			hits[k] = v
			continue
		}
		stamps[i] = c.stamps[learnerStamp(k)]
	}
	return hits, stamps
}

// follow drops the entries of another space than sp, which a lookup
// found live. The caller holds mu.
func (c *learnerCache[V]) follow(sp Space) {
	if c.space != string(sp.prefix) {
		c.space, c.entries = string(sp.prefix), nil
	}
}

// lookupEach is lookup for n keys given as bytes (key(i), which may reuse
// its buffer between calls), without making a string of the keys it
// finds: it calls hit with each cached entry, and miss with the stamp now
// of each other key, in order.
func (c *learnerCache[V]) lookupEach(sp Space, n int, key func(int) []byte, hit func(int, V), miss func(int, uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.follow(sp)
	for i := range n {
		k := key(i)
		if v, ok := c.entries[string(k)]; ok {
			hit(i, v)
			continue
		}
		miss(i, c.stamps[maphash.Bytes(learnerSeed, k)%learnerStamps])
	}
}

// fill keeps what a read of sp found for key (the cache takes it), unless
// a commit touched the learner since stamp was sampled, or the cache moved
// to another space.
func (c *learnerCache[V]) fill(sp Space, key string, stamp uint64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.space != string(sp.prefix) || c.stamps[learnerStamp(key)] != stamp {
		return
	}
	if _, ok := c.entries[key]; ok {
		return
	}
	if c.entries == nil {
		c.entries = map[string]V{}
	}
	if len(c.entries) >= learnerCacheEntries {
		n := len(c.entries) / 2
		for k := range c.entries {
			if n == 0 {
				break
			}
			delete(c.entries, k)
			n--
		}
	}
	c.entries[key] = v
}

// committed applies a committed transaction of space sp: each change
// names a learner (by learnerKey) and how their cached entry changes.
// Every learner named has their stamp bumped, cached or not.
func (c *learnerCache[V]) committed(sp Space, changes iter.Seq2[string, func(V) V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.space == string(sp.prefix)
	for key, change := range changes {
		c.stamps[learnerStamp(key)]++
		if v, ok := c.entries[key]; ok && live {
			c.entries[key] = change(v)
		}
	}
}

// invalidate empties the cache and bumps every stamp, so that no read in
// flight fills an entry from before.
func (c *learnerCache[V]) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	for i := range c.stamps {
		c.stamps[i]++
	}
}

// masteryCache holds learners' skills by number (skillNumbers), empty for
// a learner without skills. An entry is replaced, never changed in place:
// lookups share it.
type masteryCache = learnerCache[skillLevels]

// abilityCache holds learners' global abilities.
type abilityCache = learnerCache[cachedAbility]

// cachedAbility is a learner's global ability as the read model holds it;
// found is false for a learner without attempts.
type cachedAbility struct {
	ability float64
	found   bool
}

// difficultyCache holds items' difficulties by input partition, keyed
// as learners are (learnerKey of tenant and item): the recommender asks
// for the difficulty of each of its ~50 candidates whenever it ranks.
// An entry is replaced, never changed in place: lookups share it.
type difficultyCache = learnerCache[itemParts]

// learnerCaches are the store's caches of the adaptive model's learners,
// and of its items' difficulties.
type learnerCaches struct {
	skills       skillNumbers
	mastery      masteryCache
	abilities    abilityCache
	difficulties difficultyCache
}

// invalidate empties the caches.
func (c *learnerCaches) invalidate() {
	c.mastery.invalidate()
	c.abilities.invalidate()
	c.difficulties.invalidate()
}

// committed passes the adaptive model's values of a committed transaction
// (key -> value, nil when deleted) to the caches: skills to the mastery
// cache, global abilities to the ability cache, items' parts to the
// difficulty cache.
func (c *learnerCaches) committed(sp Space, vals map[string]*stagedValue) {
	sk, gk, ik := len(sp.Prefix("s")), len(sp.Prefix("g")), len(sp.Prefix("i"))
	c.mastery.committed(sp, func(yield func(string, func(skillLevels) skillLevels) bool) {
		for k, sv := range vals {
			s, ok := sv.v.(*SkillMastery)
			if !ok || s == nil || len(k) < sk+len(s.Skill) {
				continue
			}
			set := func(l skillLevels) skillLevels { return l.with(c.skills.number(s.Skill), s.PMastery) }
			if !yield(k[sk:len(k)-len(s.Skill)], set) {
				return
			}
		}
	})
	c.abilities.committed(sp, func(yield func(string, func(cachedAbility) cachedAbility) bool) {
		for k, sv := range vals {
			g, ok := sv.v.(*learnerGlobal)
			if !ok || g == nil || len(k) < gk {
				continue
			}
			set := func(cachedAbility) cachedAbility { return cachedAbility{ability: g.Ability, found: true} }
			if !yield(k[gk:]+"\x00", set) {
				return
			}
		}
	})
	c.difficulties.committed(sp, func(yield func(string, func(itemParts) itemParts) bool) {
		for k, sv := range vals {
			p, ok := sv.v.(*itemPart)
			if !ok || p == nil || len(k) < ik {
				continue
			}
			// tenant \x00 item \x00 partition
			rest := k[ik:]
			i := strings.LastIndexByte(rest, 0)
			if i < 0 {
				continue
			}
			part := partDifficulty{part: rest[i+1:], difficulty: p.Difficulty, attempts: p.Attempts}
			if !yield(rest[:i+1], func(ps itemParts) itemParts { return ps.with(part) }) {
				return
			}
		}
	})
}
