package projections

import (
	"context"
	"fmt"
	"maps"
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
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	a, err := NewAdaptive(store, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: a.Projection}
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
			got, err := a.MasteryOf(ctx, "t1", learners)
			if err != nil {
				t.Fatal(err)
			}
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
		// An answer is the caller's: changing it changes nothing cached.
		got, _ := a.MasteryOf(ctx, "t1", learners)
		for _, sk := range got {
			clear(sk)
		}
		if again, _ := a.MasteryOf(ctx, "t1", learners); !maps.EqualFunc(again, s.want, maps.Equal) {
			t.Fatalf("%s: after the caller changed its answer: %v", s.name, again)
		}
	}
}

// A read that raced a commit of one of its learners must not fill the
// cache with what it read: the next read goes to the store.
func TestMasteryCacheRefusesARacedFill(t *testing.T) {
	var c masteryCache
	sp := newSpace(AdaptiveName, 0)
	keys := []string{masteryLearnerKey("t1", "ada"), masteryLearnerKey("t1", "bob")}
	hits, stamps := c.lookup(sp, keys)
	if len(hits) != 0 {
		t.Fatalf("an empty cache hit %v", hits)
	}
	// ada's skill committed after the read's stamps were taken.
	c.committed(sp, func(yield func(string, *SkillMastery) bool) {
		yield(string(sp.Key("s", "t1", "ada", "sql")), &SkillMastery{Skill: "sql", PMastery: 0.7})
	})
	c.fill(sp, keys[0], stamps[0], map[string]float64{"sql": 0.6})
	c.fill(sp, keys[1], stamps[1], map[string]float64{"sql": 0.2})
	hits, _ = c.lookup(sp, keys)
	if _, ok := hits[keys[0]]; ok {
		t.Errorf("ada was filled from a read older than her commit: %v", hits[keys[0]])
	}
	if !maps.Equal(hits[keys[1]], map[string]float64{"sql": 0.2}) {
		t.Errorf("bob, untouched, was not kept: %v", hits[keys[1]])
	}
	// Committed values reach cached learners.
	c.committed(sp, func(yield func(string, *SkillMastery) bool) {
		yield(string(sp.Key("s", "t1", "bob", "joins")), &SkillMastery{Skill: "joins", PMastery: 0.5})
	})
	if hits, _ = c.lookup(sp, keys[1:]); !maps.Equal(hits[keys[1]], map[string]float64{"sql": 0.2, "joins": 0.5}) {
		t.Errorf("bob after a commit: %v", hits[keys[1]])
	}
	// Another live space (a rebuild swapped) starts empty.
	if hits, _ = c.lookup(newSpace(AdaptiveName, 1), keys); len(hits) != 0 {
		t.Errorf("the next generation hit %v", hits)
	}
	// An invalidation in flight spoils every fill sampled before it.
	_, stamps = c.lookup(sp, keys)
	c.invalidate()
	c.fill(sp, keys[1], stamps[1], map[string]float64{"sql": 0.2})
	if hits, _ = c.lookup(sp, keys); len(hits) != 0 {
		t.Errorf("filled across an invalidation: %v", hits)
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
	got, err := a.MasteryOf(ctx, "t1", learners)
	if err != nil {
		t.Fatal(err)
	}
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
