package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// MasteryOf answers from memory for learners it read before: what it
// answers must be what the store holds (Mastery reads it) after every
// kind of change, cached learners or not.
func TestMasteryOfFollowsCommits(t *testing.T) {
	ctx := context.Background()
	a, b := erasableAdaptive(t)
	off := int64(0)
	m := func(learner, skill string, p float64) event.Event {
		off++
		return masteryEvent(t, off, learner, skill, p, 0.3, true)
	}
	learners := []string{"ada", "bob", "cy"}
	steps := []struct {
		name string
		evs  func() []event.Event
		want map[string]map[string]float64
	}{
		{"first skills", func() []event.Event { return []event.Event{m("ada", "sql", 0.6), m("bob", "sql", 0.2)} },
			map[string]map[string]float64{"ada": {"sql": 0.6}, "bob": {"sql": 0.2}}},
		{"a cached learner's skill moves", func() []event.Event { return []event.Event{m("ada", "sql", 0.7)} },
			map[string]map[string]float64{"ada": {"sql": 0.7}, "bob": {"sql": 0.2}}},
		{"a cached learner gains a skill, twice in a batch", func() []event.Event {
			return []event.Event{m("ada", "joins", 0.4), m("ada", "joins", 0.45), m("cy", "sql", 0.9)}
		}, map[string]map[string]float64{"ada": {"sql": 0.7, "joins": 0.45}, "bob": {"sql": 0.2}, "cy": {"sql": 0.9}}},
		{"erased", func() []event.Event {
			return []event.Event{erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", "ada"))}
		}, map[string]map[string]float64{"bob": {"sql": 0.2}, "cy": {"sql": 0.9}}},
		{"retention", func() []event.Event {
			// bob's last attempt was at t0+2m, cy's at t0+6m.
			return []event.Event{retentionEvent(t, nextID(), "t1", t0.Add(5*time.Minute))}
		}, map[string]map[string]float64{"cy": {"sql": 0.9}}},
		{"after a retention, a learner's skills again", func() []event.Event { return []event.Event{m("bob", "sql", 0.3)} },
			map[string]map[string]float64{"bob": {"sql": 0.3}, "cy": {"sql": 0.9}}},
	}
	for _, s := range steps {
		mustApply(t, b, s.evs()...)
		// Twice: the first may fill the cache, the second answers from it.
		for range 2 {
			ans, err := a.MasteryOf(ctx, "t1", learners)
			if err != nil {
				t.Fatal(err)
			}
			got := masteryMaps(a, ans)
			if !maps.EqualFunc(got, s.want, maps.Equal) {
				t.Fatalf("%s: MasteryOf = %v, want %v", s.name, got, s.want)
			}
			for _, l := range learners {
				one, err := a.Mastery(ctx, "t1", l)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got[l], one) {
					t.Fatalf("%s: %s: MasteryOf %v, the store %v", s.name, l, got[l], one)
				}
			}
		}
	}
	// An answer is shared with the cache and stays as it was read: a
	// later commit replaces the cached entry, never changes it in place
	// (the recommender ranks with an answer while the model commits).
	before, _ := a.MasteryOf(ctx, "t1", learners)
	want := masteryMaps(a, before)
	mustApply(t, b, m("cy", "sql", 0.1), m("cy", "joins", 0.2))
	if got := masteryMaps(a, before); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("an answer changed after a commit: %v, was %v", got, want)
	}
	if after, _ := a.MasteryOf(ctx, "t1", learners); !maps.Equal(masteryMaps(a, after)["cy"], map[string]float64{"sql": 0.1, "joins": 0.2}) {
		t.Fatalf("cy after the commit: %v", masteryMaps(a, after)["cy"])
	}
}

// masteryMaps is MasteryOf's answer by skill id, as Mastery gives it.
func masteryMaps(a *Adaptive, m map[string][]SkillLevel) map[string]map[string]float64 {
	out := make(map[string]map[string]float64, len(m))
	for l, levels := range m {
		out[l] = levelsMap(&a.store.learners.skills, levels)
	}
	return out
}

// levelsMap is levels by skill id.
func levelsMap(n *skillNumbers, levels []SkillLevel) map[string]float64 {
	out := make(map[string]float64, len(levels))
	for _, s := range levels {
		out[n.name(s.Skill)] = s.P
	}
	return out
}

// levelsOf is m by the skills' numbers in n.
func levelsOf(n *skillNumbers, m map[string]float64) skillLevels {
	var out skillLevels
	for s, p := range m {
		out = append(out, SkillLevel{Skill: n.number(s), P: p})
	}
	return out
}

// predictionMap is a batch predictor's answer for items by item, as
// PredictSuccess gives it.
func predictionMap(items []string, ps []float64) map[string]float64 {
	if ps == nil {
		return nil
	}
	out := map[string]float64{}
	for i, p := range ps {
		if !math.IsNaN(p) {
			out[items[i]] = p
		}
	}
	return out
}

// SuccessPredictorFor answers abilities from memory for learners it read
// before: its predictions must be PredictSuccess's, which reads the
// store, after every kind of change.
func TestSuccessPredictorForFollowsCommits(t *testing.T) {
	ctx := context.Background()
	a, b := erasableAdaptive(t)
	off := int64(0)
	// An attempt at minute off of learner on item, with the learner's
	// ability before it.
	attempt := func(learner, item string, ability float64) event.Event {
		off++
		d := DifficultyAdjusted{Item: item, Difficulty: 0.2, Learner: learner, Ability: ability, Expected: 0.5, Correct: true,
			Score: 1, Statement: uuid(int(off)), At: t0.Add(time.Duration(off) * time.Minute), ItemAttempts: int(off),
			InputPartition: 0, InputOffset: off}
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		e, err := event.New(fmt.Sprintf("d-%d", off), TypeDifficultyAdjusted, "test", "t1", learner, t0, data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	learners := []string{"ada", "bob", "cy"}
	items := []string{"q1", "q2"}
	steps := []struct {
		name string
		evs  func() []event.Event
		want map[string]bool // learners with predictions
	}{
		{"first attempts", func() []event.Event { return []event.Event{attempt("ada", "q1", 0.5), attempt("bob", "q2", -0.3)} },
			map[string]bool{"ada": true, "bob": true}},
		{"a cached learner's ability moves", func() []event.Event { return []event.Event{attempt("ada", "q2", 0.9)} },
			map[string]bool{"ada": true, "bob": true}},
		{"a learner cached without attempts attempts, twice in a batch", func() []event.Event {
			return []event.Event{attempt("cy", "q1", 0.1), attempt("cy", "q2", 0.35), attempt("bob", "q1", -0.1)}
		}, map[string]bool{"ada": true, "bob": true, "cy": true}},
		{"erased", func() []event.Event {
			return []event.Event{erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", "ada"))}
		}, map[string]bool{"bob": true, "cy": true}},
		{"retention", func() []event.Event {
			// cy's last attempt was at t0+5m, bob's at t0+6m.
			return []event.Event{retentionEvent(t, nextID(), "t1", t0.Add(6*time.Minute+time.Second))}
		}, map[string]bool{}},
		{"after a retention, an attempt again", func() []event.Event { return []event.Event{attempt("bob", "q1", 0.7)} },
			map[string]bool{"bob": true}},
	}
	for _, s := range steps {
		mustApply(t, b, s.evs()...)
		// Twice: the first may fill the cache, the second answers from it.
		for range 2 {
			predict, err := a.SuccessPredictorFor(ctx, "t1", learners)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range learners {
				ps, err := predict(ctx, l, items)
				if err != nil {
					t.Fatal(err)
				}
				got := predictionMap(items, ps)
				answer, err := a.PredictSuccess(ctx, "t1", l, items)
				if err != nil {
					t.Fatal(err)
				}
				want := predictionMap(items, answer)
				if !maps.Equal(got, want) || (len(got) > 0) != s.want[l] {
					t.Fatalf("%s: %s: predicted %v, PredictSuccess %v, predictions wanted: %v", s.name, l, got, want, s.want[l])
				}
			}
		}
	}
}

// erasableAdaptive is an adaptive read model over a store that applies
// erasures, and a batcher feeding it.
func erasableAdaptive(t *testing.T) (*Adaptive, *batcher) {
	t.Helper()
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	a, err := NewAdaptive(store, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	return a, &batcher{p: a.Projection}
}

// A read that raced a commit of one of its learners must not fill the
// cache with what it read: the next read goes to the store.
func TestLearnerCacheRefusesARacedFill(t *testing.T) {
	var c learnerCaches
	sp := newSpace(AdaptiveName, 0)
	skill := func(learner, skill string, p float64) map[string]*stagedValue {
		return map[string]*stagedValue{string(sp.Key("s", "t1", learner, skill)): {v: &SkillMastery{Skill: skill, PMastery: p}}}
	}
	// Learners share a stamp one time in learnerStamps (the hash is
	// seeded per process), and a shared stamp refuses both fills, which
	// is safe but not what this test is about: bob is the first learner
	// whose stamp is not ada's.
	bob := "bob"
	for i := 0; learnerStamp(learnerKey("t1", bob)) == learnerStamp(learnerKey("t1", "ada")); i++ {
		bob = fmt.Sprintf("bob%d", i)
	}
	keys := []string{learnerKey("t1", "ada"), learnerKey("t1", bob)}
	hits, stamps := c.mastery.lookup(sp, keys, nil)
	if len(hits) != 0 {
		t.Fatalf("an empty cache hit %v", hits)
	}
	// ada's skill committed after the read's stamps were taken.
	c.committed(sp, skill("ada", "sql", 0.7))
	c.mastery.fill(sp, keys[0], stamps[0], levelsOf(&c.skills, map[string]float64{"sql": 0.6}))
	c.mastery.fill(sp, keys[1], stamps[1], levelsOf(&c.skills, map[string]float64{"sql": 0.2}))
	hits, _ = c.mastery.lookup(sp, keys, nil)
	if _, ok := hits[keys[0]]; ok {
		t.Errorf("ada was filled from a read older than her commit: %v", hits[keys[0]])
	}
	if !maps.Equal(levelsMap(&c.skills, hits[keys[1]]), map[string]float64{"sql": 0.2}) {
		t.Errorf("bob, untouched, was not kept: %v", hits[keys[1]])
	}
	// Committed values reach cached learners.
	c.committed(sp, skill(bob, "joins", 0.5))
	if hits, _ = c.mastery.lookup(sp, keys[1:], nil); !maps.Equal(levelsMap(&c.skills, hits[keys[1]]), map[string]float64{"sql": 0.2, "joins": 0.5}) {
		t.Errorf("bob after a commit: %v", hits[keys[1]])
	}
	// Another live space (a rebuild swapped) starts empty.
	if hits, _ = c.mastery.lookup(newSpace(AdaptiveName, 1), keys, nil); len(hits) != 0 {
		t.Errorf("the next generation hit %v", hits)
	}
	// An invalidation in flight spoils every fill sampled before it.
	_, stamps = c.mastery.lookup(sp, keys, nil)
	c.invalidate()
	c.mastery.fill(sp, keys[1], stamps[1], levelsOf(&c.skills, map[string]float64{"sql": 0.2}))
	if hits, _ = c.mastery.lookup(sp, keys, nil); len(hits) != 0 {
		t.Errorf("filled across an invalidation: %v", hits)
	}

	// Abilities: a commit of the learner's global record races a fill,
	// and reaches a cached learner; a skill's commit leaves it alone.
	ability := func(learner string, a float64) map[string]*stagedValue {
		return map[string]*stagedValue{string(sp.Key("g", "t1", learner)): {v: &learnerGlobal{Ability: a}}}
	}
	_, stamps = c.abilities.lookup(sp, keys, nil)
	c.committed(sp, ability("ada", 1.5))
	c.abilities.fill(sp, keys[0], stamps[0], cachedAbility{ability: 1.2, found: true})
	c.abilities.fill(sp, keys[1], stamps[1], cachedAbility{})
	got, _ := c.abilities.lookup(sp, keys, nil)
	if _, ok := got[keys[0]]; ok {
		t.Errorf("ada's ability was filled from a read older than her commit: %v", got[keys[0]])
	}
	if got[keys[1]] != (cachedAbility{}) {
		t.Errorf("bob, without attempts, was not kept: %v", got)
	}
	c.committed(sp, skill(bob, "sql", 0.3))
	c.committed(sp, ability(bob, -0.4))
	if got, _ = c.abilities.lookup(sp, keys[1:], nil); got[keys[1]] != (cachedAbility{ability: -0.4, found: true}) {
		t.Errorf("bob after his first attempt: %v", got[keys[1]])
	}
}

// Readers and the projection at once: when the writes stop, what MasteryOf
// answers is what the store holds.
func TestMasteryOfUnderConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	a, err := NewAdaptive(openStore(t), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: a.Projection}
	var learners []string
	for i := range 12 {
		learners = append(learners, fmt.Sprintf("learner%d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.MasteryOf(ctx, "t1", learners); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for batch := range 60 {
		var evs []event.Event
		for j := range 10 {
			off := int64(batch*10 + j)
			evs = append(evs, masteryEvent(t, off, learners[(batch+j*5)%len(learners)], fmt.Sprintf("skill%d", j%4), float64(off%97)/100, 0.3, j%2 == 0))
		}
		mustApply(t, b, evs...)
	}
	close(stop)
	wg.Wait()
	ans, err := a.MasteryOf(ctx, "t1", learners)
	if err != nil {
		t.Fatal(err)
	}
	got := masteryMaps(a, ans)
	for _, l := range learners {
		one, err := a.Mastery(ctx, "t1", l)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got[l], one) {
			t.Errorf("%s: MasteryOf %v, the store %v", l, got[l], one)
		}
	}
}

// lookupEach finds what lookup finds, and samples the same stamp for a key
// given as bytes as for the key as a string: a fill checks the stamp
// learnerStamp names, so a different one would let a fill raced by a
// commit in.
func TestLookupEachAsLookup(t *testing.T) {
	var c learnerCache[int]
	sp := Space{prefix: []byte("sp")}
	var keys []string
	for i := range 300 {
		keys = append(keys, learnerKey("t1", fmt.Sprintf("https://example.com/items/%d", i)))
	}
	for i, k := range keys {
		c.stamps[learnerStamp(k)] += uint64(i + 1) // every stamp its own value
		if i%3 == 0 {
			_, stamps := c.lookup(sp, []string{k}, nil)
			c.fill(sp, k, stamps[0], i)
		}
	}
	hits, stamps := c.lookup(sp, keys, nil)
	c.lookupEach(sp, len(keys), func(i int) []byte { return []byte(keys[i]) },
		func(i int, v int) {
			if want, ok := hits[keys[i]]; !ok || want != v {
				t.Errorf("%s: lookupEach found %d, lookup %d (%v)", keys[i], v, want, ok)
			}
		},
		func(i int, stamp uint64) {
			if _, ok := hits[keys[i]]; ok {
				t.Errorf("%s: lookupEach missed what lookup found", keys[i])
			}
			if stamp != stamps[i] {
				t.Errorf("%s: stamp %d from its bytes, %d from its string", keys[i], stamp, stamps[i])
			}
		})
}
