package projections

import (
	"hash/maphash"
	"maps"
	"sync"
)

// masteryCache keeps, for the learners MasteryOf read last, their skills'
// probabilities as the adaptive read model holds them. The recommender
// asks for every learner it ranks, once per fetched batch, and reading
// them meant seeking a Badger iterator to each learner and stepping
// through their records: 7.5% of the server's CPU at 2,000 statements/s.
// A learner's entry is filled by a read and then kept current by the
// model's own commits (write-through), so it is read from the store once.
//
// Why an entry stays right:
//   - Every write of a learner's skills goes through the adaptive model's
//     staged transactions, and each committed one passes its values here
//     (committed), in commit order: the space's memo lock is held from a
//     transaction's start to its end.
//   - A read fills an entry only if no commit touched the learner since
//     before the read's snapshot: a commit bumps its learner's stamp after
//     it committed, and the read samples the stamps before it opens its
//     transaction and fills only where they did not move. A read that
//     raced a commit just leaves the entry for the next one.
//   - What deletes keys other than by value (an erasure or retention
//     event, a dropped space, a transaction outside the consumers:
//     applyAlone) empties the cache and bumps every stamp, as it empties
//     the memos. An erased learner's probabilities are not served from
//     memory once the erasure's transaction has ended.
//   - Entries belong to one space of the model: when MasteryOf finds
//     another live space (a rebuild swapped), the cache starts empty.
type masteryCache struct {
	mu       sync.Mutex
	space    string
	learners map[string]map[string]float64 // by masteryLearnerKey
	stamps   [masteryStamps]uint64
}

const (
	// masteryCacheLearners bounds the learners kept; when full, half of
	// them go (in the map's random order), as the memos do. An entry is
	// a map of the learner's skills, about 90 bytes a skill: 18 MB for
	// 20,000 learners of 10 skills.
	masteryCacheLearners = 20_000
	masteryStamps        = 256
)

var masterySeed = maphash.MakeSeed()

// masteryLearnerKey names a learner in the cache: tenant and learner as
// the model's skill keys hold them (sp.Prefix("s", tenant, learner)
// without the space's prefix).
func masteryLearnerKey(tenant, learner string) string {
	return tenant + "\x00" + learner + "\x00"
}

func masteryStamp(key string) int { return int(maphash.String(masterySeed, key) % masteryStamps) }

// lookup returns the cached learners of keys (copies: the caller may
// change them) and, for the others, their stamps now, in keys' order. An
// entry of another space than sp is dropped first.
func (c *masteryCache) lookup(sp Space, keys []string) (hits map[string]map[string]float64, stamps []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.space != string(sp.prefix) {
		c.space, c.learners = string(sp.prefix), nil
	}
	hits = make(map[string]map[string]float64, len(keys))
	stamps = make([]uint64, len(keys))
	for i, k := range keys {
		if m, ok := c.learners[k]; ok {
			hits[k] = maps.Clone(m)
			continue
		}
		stamps[i] = c.stamps[masteryStamp(k)]
	}
	return hits, stamps
}

// fill keeps what a read of sp found for key (an empty map for a learner
// without skills; the cache takes it), unless a commit touched the learner since stamp was
// sampled, or the cache moved to another space.
func (c *masteryCache) fill(sp Space, key string, stamp uint64, skills map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.space != string(sp.prefix) || c.stamps[masteryStamp(key)] != stamp {
		return
	}
	if _, ok := c.learners[key]; ok {
		return
	}
	if c.learners == nil {
		c.learners = map[string]map[string]float64{}
	}
	if len(c.learners) >= masteryCacheLearners {
		n := len(c.learners) / 2
		for k := range c.learners {
			if n == 0 {
				break
			}
			delete(c.learners, k)
			n--
		}
	}
	c.learners[key] = skills
}

// committed applies a committed transaction's skill records of space sp:
// key is each record's key and s its value (nil when absent).
func (c *masteryCache) committed(sp Space, records func(yield func(key string, s *SkillMastery) bool)) {
	prefix := len(sp.Prefix("s"))
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.space == string(sp.prefix)
	for key, s := range records {
		if s == nil || len(key) < prefix+len(s.Skill) {
			continue
		}
		lk := key[prefix : len(key)-len(s.Skill)]
		c.stamps[masteryStamp(lk)]++
		if m, ok := c.learners[lk]; ok && live {
			m[s.Skill] = s.PMastery
		}
	}
}

// invalidate empties the cache and bumps every stamp, so that no read in
// flight fills an entry from before.
func (c *masteryCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.learners = nil
	for i := range c.stamps {
		c.stamps[i]++
	}
}
