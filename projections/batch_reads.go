package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/adaptive"
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
// learner -> skill -> probability; learners without skills are absent.
func (a *Adaptive) MasteryOf(_ context.Context, tenant string, learners []string) (map[string]map[string]float64, error) {
	out := make(map[string]map[string]float64, len(learners))
	err := a.View(func(txn *badger.Txn, sp Space) error {
		for _, l := range learners {
			if _, done := out[l]; done {
				continue
			}
			err := scanJSON(txn, sp.Prefix("s", tenant, l), func(_ string, s *SkillMastery) {
				m := out[l]
				if m == nil {
					m = map[string]float64{}
					out[l] = m
				}
				m[s.Skill] = s.PMastery
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: skills of %d learners: %w", len(learners), err)
	}
	return out, nil
}

// SuccessPredictorFor reads the global abilities of learners in one
// transaction, and the item difficulties whose cache entries expired in
// one more, and returns PredictSuccess for them: the same predictions,
// from those abilities and difficulties. A learner not in learners, or
// without attempts, gets none. Items new to the cache are read when first
// asked for, as PredictSuccess reads them.
func (a *Adaptive) SuccessPredictorFor(ctx context.Context, tenant string, learners []string) (func(ctx context.Context, learner string, items []string) (map[string]float64, error), error) {
	abilities := make(map[string]float64, len(learners))
	err := a.View(func(txn *badger.Txn, sp Space) error {
		for _, l := range learners {
			var g learnerGlobal
			found, err := getJSON(txn, sp.Key("g", tenant, l), &g)
			if err != nil {
				return err
			}
			if found {
				abilities[l] = g.Ability
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: abilities of %d learners: %w", len(learners), err)
	}
	// The difficulties as cached now, the expired ones read again
	// together: per learner, each expiry was a read of its own.
	now := time.Now()
	prefix := tenant + "\x00"
	known := map[string]cachedDifficulty{}
	var stale []string
	a.dmu.Lock()
	for k, c := range a.difficulties {
		if it, ok := strings.CutPrefix(k, prefix); ok {
			if now.Before(c.until) {
				known[it] = c
			} else {
				stale = append(stale, it)
			}
		}
	}
	a.dmu.Unlock()
	if len(stale) > 0 {
		got, err := a.cachedItems(ctx, tenant, stale)
		if err != nil {
			return nil, err
		}
		for _, it := range stale {
			d, found := got[it]
			known[it] = cachedDifficulty{d: d, found: found}
		}
	}
	return func(ctx context.Context, learner string, items []string) (map[string]float64, error) {
		ability, ok := abilities[learner]
		if !ok {
			return nil, nil
		}
		out := make(map[string]float64, len(items))
		var fresh []string
		for _, it := range items {
			c, ok := known[it]
			switch {
			case !ok:
				fresh = append(fresh, it)
			case c.found:
				out[it] = adaptive.EloPredict(ability, c.d.Difficulty, 0)
			}
		}
		if len(fresh) > 0 {
			diffs, err := a.cachedItems(ctx, tenant, fresh)
			if err != nil {
				return nil, err
			}
			for _, it := range fresh {
				d, found := diffs[it]
				known[it] = cachedDifficulty{d: d, found: found}
				if found {
					out[it] = adaptive.EloPredict(ability, d.Difficulty, 0)
				}
			}
		}
		return out, nil
	}, nil
}
