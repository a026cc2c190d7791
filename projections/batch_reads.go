package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// Reads for a consumer that ranks or scores a whole fetched batch of
// learners: each opens one read transaction, or checks freshness once, for
// any number of learners. A Badger read transaction waits for the commits
// in flight to be written, so while the projections commit under load a
// read per learner cost the recommender milliseconds per statement.

// LearnerRoles returns a lookup of the roles assigned to the tenant's
// learners ("" when none), as LearnerRole gives them now. It checks the
// catalog's freshness once; the lookup stays valid and unchanged after
// later events.
func (c *Catalog) LearnerRoles(tenant string) (func(learner string) string, error) {
	t, err := c.tenant(tenant)
	if err != nil {
		return nil, err
	}
	return func(learner string) string { return t.roles[learner] }, nil
}

// MasteryOf is Mastery for several learners read in one transaction:
// learner -> their skills, each by the store's number for its id
// (SkillName); learners without skills are absent. The slices are shared
// with the store's mastery cache: read only. Learners the cache holds are
// answered from it (kept current by the model's commits:
// learner_cache.go), without a transaction when it holds them all; the
// others are read with one iterator that seeks to each in turn (an
// iterator per learner cost more than the reads), without prefetching
// values in the background, and only the skill and its probability are
// decoded of each record (the trajectory and gain scores are most of its
// bytes).
func (a *Adaptive) MasteryOf(_ context.Context, tenant string, learners []string) (map[string][]SkillLevel, error) {
	out := make(map[string][]SkillLevel, len(learners))
	names, keys := learnerKeys(tenant, learners)
	cache := &a.store.learners.mastery
	numbers := &a.store.learners.skills
	hits, stamps := cache.lookup(a.Space(), keys, nil)
	if len(hits) < len(keys) {
		err := a.View(func(txn *badger.Txn, read Space) error {
			var it *badger.Iterator
			for i, k := range keys {
				if _, ok := hits[k]; ok {
					continue
				}
				if it == nil {
					opts := badger.DefaultIteratorOptions
					opts.PrefetchValues = false
					opts.Prefix = read.Prefix("s", tenant)
					it = txn.NewIterator(opts)
					defer it.Close()
				}
				var l skillLevels
				prefix := read.Prefix("s", tenant, names[i])
				for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
					var skill string
					var p float64
					err := it.Item().Value(func(b []byte) (err error) {
						skill, p, err = skillProbability(b)
						return err
					})
					if err != nil {
						return fmt.Errorf("%q: %w", it.Item().Key(), err)
					}
					l = append(l, SkillLevel{Skill: numbers.number(skill), P: p})
				}
				cache.fill(read, k, stamps[i], l)
				hits[k] = l
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("adaptive read model: skills of %d learners: %w", len(learners), err)
		}
	}
	for i, k := range keys {
		if l := hits[k]; len(l) > 0 {
			out[names[i]] = l
		}
	}
	return out, nil
}

// SkillName is the skill id of number n in MasteryOf's answers ("" for a
// number it never gave). A number names the same skill for the life of
// the store.
func (a *Adaptive) SkillName(n int32) string { return a.store.learners.skills.name(n) }

// learnerKeys lists learners, each once, with their keys in the store's
// caches of learners.
func learnerKeys(tenant string, learners []string) (names, keys []string) {
	names = make([]string, 0, len(learners))
	keys = make([]string, 0, len(learners))
	seen := make(map[string]bool, len(learners))
	for _, l := range learners {
		if !seen[l] {
			seen[l] = true
			names, keys = append(names, l), append(keys, learnerKey(tenant, l))
		}
	}
	return names, keys
}

// skillProbability reads the skill and p_mastery of a stored SkillMastery
// without decoding the rest (its trajectory and scores are most of its
// bytes, and most of the time went to decoding them): a packed record
// holds them first, and so does one stored as JSON by json.Marshal; a
// record of another shape is decoded in full.
func skillProbability(b []byte) (string, float64, error) {
	if skill, p, ok, err := skillOf(b); ok {
		return skill, p, err
	}
	const head, mid = `{"skill":`, `,"p_mastery":`
	if rest, ok := bytes.CutPrefix(b, []byte(head)); ok && len(rest) > 0 && rest[0] == '"' {
		// The skill's string ends at the first unescaped quote.
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end < len(rest) {
			var skill string
			if err := json.Unmarshal(rest[:end+1], &skill); err == nil {
				if num, ok := bytes.CutPrefix(rest[end+1:], []byte(mid)); ok {
					n := bytes.IndexAny(num, ",}")
					if n > 0 {
						if p, err := strconv.ParseFloat(string(num[:n]), 64); err == nil {
							return skill, p, nil
						}
					}
				}
			}
		}
	}
	var s struct {
		Skill    string  `json:"skill"`
		PMastery float64 `json:"p_mastery"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return "", 0, err
	}
	return s.Skill, s.PMastery, nil
}

// SuccessPredictorFor reads the global abilities of learners in one
// transaction (those the store's ability cache holds from memory:
// learner_cache.go) and returns PredictSuccess for them: the same
// predictions, from those abilities and the difficulty cache, by position
// in items and NaN for an item without one. A learner not in learners, or
// without attempts, gets none (nil).
//
// The difficulties are looked up per call, for the items asked, in the
// store's difficulty cache (predict). A copy of the tenant's difficulties
// per batch, which this once took, grew with the catalog: with 2,000
// activities it was 3.6% of the server's allocated bytes.
func (a *Adaptive) SuccessPredictorFor(ctx context.Context, tenant string, learners []string) (func(ctx context.Context, learner string, items []string) ([]float64, error), error) {
	names, keys := learnerKeys(tenant, learners)
	cache := &a.store.learners.abilities
	hits, stamps := cache.lookup(a.Space(), keys, nil)
	if len(hits) < len(keys) {
		err := a.View(func(txn *badger.Txn, read Space) error {
			for i, k := range keys {
				if _, ok := hits[k]; ok {
					continue
				}
				var g learnerGlobal
				found, err := getStored(txn, read.Key("g", tenant, names[i]), &g)
				if err != nil {
					return err
				}
				hits[k] = cachedAbility{ability: g.Ability, found: found}
				cache.fill(read, k, stamps[i], hits[k])
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("adaptive read model: abilities of %d learners: %w", len(learners), err)
		}
	}
	abilities := make(map[string]float64, len(keys))
	for i, k := range keys {
		if c := hits[k]; c.found {
			abilities[names[i]] = c.ability
		}
	}
	return func(ctx context.Context, learner string, items []string) ([]float64, error) {
		ability, ok := abilities[learner]
		if !ok {
			return nil, nil
		}
		return a.predict(ctx, tenant, ability, items)
	}, nil
}
