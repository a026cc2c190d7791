package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// The batch reads answer what the reads per learner answer, for every
// learner at once.
func TestBatchReadsAnswerAsReadsPerLearner(t *testing.T) {
	ctx := context.Background()
	a, err := NewAdaptive(openStore(t), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	apply := func(e event.Event) {
		t.Helper()
		if err := a.Handle(ctx, event.Position{Topic: "learnstream.adaptive.v1", Offset: off}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	apply(masteryEvent(t, 0, "ada", "sql", 0.6, 0.3, true))
	apply(masteryEvent(t, 1, "ada", "joins", 0.4, 0.3, false))
	apply(masteryEvent(t, 2, "bob", "sql", 0.2, 0.3, false))
	apply(difficultyEvent(t, 0, 10, "ada", "q1", 1.0, 3, true))
	apply(difficultyEvent(t, 1, 11, "bob", "q2", -0.5, 1, false))

	learners := []string{"ada", "bob", "nobody", "ada"}
	cases := []struct {
		name, tenant string
		items        []string
	}{
		{"t1, attempted and unattempted items", "t1", []string{"q1", "q2", "q9"}},
		{"t1, no items", "t1", nil},
		{"a tenant without data", "t2", []string{"q1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := a.MasteryOf(ctx, tc.tenant, learners)
			if err != nil {
				t.Fatal(err)
			}
			all := masteryMaps(a, ans)
			predict, err := a.SuccessPredictorFor(ctx, tc.tenant, learners)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range learners {
				one, err := a.Mastery(ctx, tc.tenant, l)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(all[l], one) {
					t.Errorf("%s: MasteryOf gives %v, Mastery %v", l, all[l], one)
				}
				answer, err := a.PredictSuccess(ctx, tc.tenant, l, tc.items)
				if err != nil {
					t.Fatal(err)
				}
				want := predictionMap(tc.items, answer)
				ps, err := predict(ctx, l, tc.items)
				if err != nil {
					t.Fatal(err)
				}
				if got := predictionMap(tc.items, ps); !maps.Equal(got, want) {
					t.Errorf("%s: batch predictor gives %v, PredictSuccess %v", l, got, want)
				}
			}
		})
	}
	if m, _ := a.MasteryOf(ctx, "t1", []string{"ada"}); len(m["ada"]) != 2 || masteryMaps(a, m)["ada"]["sql"] != 0.6 {
		t.Errorf("ada's mastery %v, want sql 0.6 and joins", masteryMaps(a, m)["ada"])
	}

	// A predictor sees a difficulty committed after it was made, though
	// it had read the item without one: q9 attempted now (difficulty 0.3
	// against ada's ability 0.3: 0.5).
	predict, err := a.SuccessPredictorFor(ctx, "t1", []string{"ada"})
	if err != nil {
		t.Fatal(err)
	}
	items := []string{"q1", "q9"}
	if ps, _ := predict(ctx, "ada", items); len(predictionMap(items, ps)) != 1 {
		t.Errorf("before q9's attempt: %v, want q1 only", ps)
	}
	apply(difficultyEvent(t, 0, 12, "ada", "q9", 0.3, 1, true))
	if ps, _ := predict(ctx, "ada", items); len(predictionMap(items, ps)) != 2 || ps[1] != 0.5 {
		t.Errorf("after q9's attempt: %v, want q9 at 0.5 too", ps)
	}
}

// A roles lookup is the catalog's roles when it was taken: one freshness
// check for a batch, unchanged by later events, as Graph is.
func TestLearnerRolesLookup(t *testing.T) {
	c, err := NewCatalog(openStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	put := func(learner, role string) {
		t.Helper()
		e, err := event.New("id", TypeLearnerRolePut, "test", "t1", learner, time.Now(),
			[]byte(`{"learner":"`+learner+`","role":"`+role+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		off++
		if err := c.Handle(context.Background(), event.Position{Topic: "catalog", Offset: off}, e); err != nil {
			t.Fatal(err)
		}
	}
	put("mbox:mailto:a@example.com", "analyst")
	before, err := c.LearnerRoles("t1")
	if err != nil {
		t.Fatal(err)
	}
	put("mbox:mailto:a@example.com", "engineer")
	put("mbox:mailto:b@example.com", "analyst")
	after, err := c.LearnerRoles("t1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lookup  func(string) string
		learner string
		want    string
	}{
		{before, "mbox:mailto:a@example.com", "analyst"},
		{before, "mbox:mailto:b@example.com", ""},
		{after, "mbox:mailto:a@example.com", "engineer"},
		{after, "mbox:mailto:b@example.com", "analyst"},
		{after, "mbox:mailto:nobody@example.com", ""},
	} {
		if got := tc.lookup(tc.learner); got != tc.want {
			t.Errorf("%s: role %q, want %q", tc.learner, got, tc.want)
		}
	}
	for _, l := range []string{"mbox:mailto:a@example.com", "mbox:mailto:b@example.com"} {
		one, _ := c.LearnerRole("t1", l)
		if one != after(l) {
			t.Errorf("%s: LearnerRole %q, lookup %q", l, one, after(l))
		}
	}
	if roles, err := c.LearnerRoles("t2"); err != nil || roles("mbox:mailto:a@example.com") != "" {
		t.Errorf("tenant t2 sees t1's roles (%v)", err)
	}
}

// BenchmarkMasteryOf: the mastery of a fetched batch's learners (500 of
// 1,000, each with 5 skills), read per learner with Mastery or at once
// with MasteryOf; per learner read. With 12 attempts a skill the gain
// scores are full; with TrajectoryLen the trajectories are too, as for
// every learner with a long history.
func BenchmarkMasteryOf(b *testing.B) {
	for _, attempts := range []int{12, TrajectoryLen} {
		b.Run(fmt.Sprintf("attempts=%d", attempts), func(b *testing.B) { benchMasteryOf(b, attempts) })
	}
}

func benchMasteryOf(b *testing.B, attempts int) {
	ctx := context.Background()
	store := openStore(b)
	a, err := NewAdaptive(store, 0.9)
	if err != nil {
		b.Fatal(err)
	}
	off := int64(0)
	for attempt := range attempts {
		var pos []event.Position
		var evs []event.Event
		for l := range 1000 {
			for s := range 5 {
				e := masteryEvent(b, int64(attempt), fmt.Sprintf("learner%d", l), fmt.Sprintf("skill%d", s), 0.5, 0.4, attempt%2 == 0)
				e.ID = fmt.Sprintf("m-%d-%d-%d", attempt, l, s)
				pos = append(pos, event.Position{Topic: "learnstream.adaptive.v1", Offset: off})
				evs = append(evs, e)
				off++
			}
		}
		if n, err := a.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
			b.Fatalf("applied %d of %d: %v", n, len(evs), err)
		}
	}
	learners := make([]string, 500)
	for i := range learners {
		learners[i] = fmt.Sprintf("learner%d", i*2)
	}
	b.Run("Mastery per learner", func(b *testing.B) {
		for range b.N {
			for _, l := range learners {
				if m, err := a.Mastery(ctx, "t1", l); err != nil || len(m) != 5 {
					b.Fatalf("%v %v", m, err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(learners)), "ns/learner")
	})
	// The abilities SuccessPredictorFor reads: an attempt of each learner.
	var pos []event.Position
	var evs []event.Event
	for l := range 1000 {
		pos = append(pos, event.Position{Topic: "learnstream.adaptive.v1", Offset: off})
		evs = append(evs, difficultyEvent(b, 0, off, fmt.Sprintf("learner%d", l), "q1", 0.1, l+1, l%2 == 0))
		off++
	}
	if n, err := a.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
		b.Fatalf("applied %d of %d: %v", n, len(evs), err)
	}
	// From the store: the read's cache emptied before each read (every
	// learner a miss); cached: every learner a hit, as for a learner
	// ranked again while the model's commits keep their entry.
	reads := []struct {
		name  string
		cache interface{ invalidate() }
		read  func() error
	}{
		{"MasteryOf", &store.learners.mastery, func() error {
			if m, err := a.MasteryOf(ctx, "t1", learners); err != nil || len(m) != len(learners) {
				return fmt.Errorf("%d learners, %v", len(m), err)
			}
			return nil
		}},
		{"SuccessPredictorFor", &store.learners.abilities, func() error {
			predict, err := a.SuccessPredictorFor(ctx, "t1", learners)
			if err != nil {
				return err
			}
			if ps, err := predict(ctx, learners[0], []string{"q1"}); err != nil || len(ps) != 1 || math.IsNaN(ps[0]) {
				return fmt.Errorf("%v %v", ps, err)
			}
			return nil
		}},
	}
	for _, r := range reads {
		for _, cached := range []bool{false, true} {
			name := r.name + " from the store"
			if cached {
				name = r.name + " cached"
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					if !cached {
						r.cache.invalidate()
					}
					if err := r.read(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(learners)), "ns/learner")
			})
		}
	}
}

// BenchmarkSuccessPredictions is the recommender's use of the difficulty
// cache for one fetched batch: the predictor of 20 learners, then 50
// candidate items of each predicted, with every item's difficulty cached
// (the steady state while the model's commits keep the entries), over
// catalogs of increasing size: what a batch costs should follow the items
// asked for, not the catalog.
func BenchmarkSuccessPredictions(b *testing.B) {
	for _, items := range []int{200, 2000, 20000} {
		b.Run(fmt.Sprintf("items=%d", items), func(b *testing.B) {
			ctx := context.Background()
			a, err := NewAdaptive(openStore(b), 0.9)
			if err != nil {
				b.Fatal(err)
			}
			var pos []event.Position
			var evs []event.Event
			for i := range max(items, 1000) {
				pos = append(pos, event.Position{Topic: "learnstream.adaptive.v1", Offset: int64(i)})
				evs = append(evs, difficultyEvent(b, 0, int64(i), fmt.Sprintf("learner%d", i%1000), fmt.Sprintf("q%d", i%items), 0.1, 1, i%2 == 0))
			}
			if n, err := a.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
				b.Fatalf("applied %d of %d: %v", n, len(evs), err)
			}
			all := make([]string, items)
			for i := range all {
				all[i] = fmt.Sprintf("q%d", i)
			}
			if ps, err := a.PredictSuccess(ctx, "t1", "learner0", all); err != nil || len(ps) != items {
				b.Fatalf("%d predictions, %v", len(ps), err)
			}
			learners := make([]string, 20)
			cands := make([][]string, len(learners))
			for i := range learners {
				learners[i] = fmt.Sprintf("learner%d", i*37)
				for j := range 50 {
					cands[i] = append(cands[i], all[(i*7919+j*104729)%items])
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				predict, err := a.SuccessPredictorFor(ctx, "t1", learners)
				if err != nil {
					b.Fatal(err)
				}
				for i, l := range learners {
					if ps, err := predict(ctx, l, cands[i]); err != nil || len(ps) == 0 {
						b.Fatalf("%s: %v, %v", l, ps, err)
					}
				}
			}
		})
	}
}

// skillProbability reads what a full decode reads, from every record
// json.Marshal writes and from records of other shapes.
func TestSkillProbabilityAsFullDecode(t *testing.T) {
	var raws []string
	for _, sm := range []SkillMastery{
		{Skill: "sql", PMastery: 0.93, Trajectory: []MasteryPoint{{PMastery: 0.5}}},
		{Skill: `quote " and \ backslash`, PMastery: 0},
		{Skill: "ünïcode <&>", PMastery: 1},
		{Skill: "tiny", PMastery: 1e-7},
		{Skill: "", PMastery: 0.5},
	} {
		b, err := json.Marshal(sm)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, string(b))
	}
	raws = append(raws,
		`{"p_mastery":0.25,"skill":"reordered"}`,
		`{ "skill" : "spaced", "p_mastery" : 0.5 }`,
		`{"skill":"esc\u0041ped","p_mastery":0.75,"ability":1}`,
		`{"skill":"last","p_mastery":0.125}`,
	)
	for _, raw := range raws {
		var want struct {
			Skill    string  `json:"skill"`
			PMastery float64 `json:"p_mastery"`
		}
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		skill, p, err := skillProbability([]byte(raw))
		if err != nil || skill != want.Skill || p != want.PMastery {
			t.Errorf("%s: %q %v %v, want %q %v", raw, skill, p, err, want.Skill, want.PMastery)
		}
	}
	for _, bad := range []string{`{"skill":"x","p_mastery":`, `{"skill":"unterminated`, `not json`, ``} {
		if _, _, err := skillProbability([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
