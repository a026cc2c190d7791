package mf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tracks is a stream of learners each following one of `tracks` fixed
// paths of `length` items (a course's order) from a random start, for
// `steps` items; learners interleave.
func tracks(seed uint64, learners, tracks, length, steps int) []Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	type state struct{ track, pos, left int }
	st := make([]state, learners)
	for u := range st {
		st[u] = state{track: rng.IntN(tracks), pos: rng.IntN(length - steps + 1), left: steps}
	}
	var evs []Event
	for active := learners; active > 0; {
		u := rng.IntN(learners)
		if st[u].left == 0 {
			continue
		}
		evs = append(evs, Event{User: fmt.Sprintf("u%d", u), Item: fmt.Sprintf("t%d-%02d", st[u].track, st[u].pos), Weight: 1})
		st[u].pos++
		st[u].left--
		if st[u].left == 0 {
			active--
		}
	}
	return evs
}

func newBlender(t testing.TB, cfg BlendConfig) *Blender {
	t.Helper()
	mc := DefaultConfig()
	mc.K = 8
	m, err := New(mc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSequence(cfg.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBlender(m, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func learnAll(b *Blender, evs []Event) {
	m := b.Model()
	for _, ev := range evs {
		u, ok := m.LookupUser(ev.User)
		if !ok {
			u = m.AddUser(ev.User)
		}
		b.Learn(u, m.AddItem(ev.Item), float32(ev.Weight))
	}
}

func TestBlendConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*BlendConfig)
		want string
	}{
		{"defaults", func(*BlendConfig) {}, ""},
		{"negative weight", func(c *BlendConfig) { c.Weight = -1 }, "Weight"},
		{"pool 0", func(c *BlendConfig) { c.Pool = 0 }, "Pool"},
		{"negative recency", func(c *BlendConfig) { c.Recency = -1 }, "Recency"},
		{"bad sequence", func(c *BlendConfig) { c.Sequence.Window = 0 }, "Window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultBlendConfig()
			tc.edit(&c)
			err := c.Validate()
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// A learner's list follows their last item: what learners did next after
// it comes first, with the reason naming it.
func TestBlenderFollowsLastItem(t *testing.T) {
	b := newBlender(t, DefaultBlendConfig())
	learnAll(b, tracks(1, 300, 3, 12, 5))
	m := b.Model()
	for _, tc := range []struct{ path []string }{
		{[]string{"t0-02", "t0-03"}},
		{[]string{"t1-07"}},
		{[]string{"t2-00", "t2-01", "t2-02", "t2-03", "t2-04", "t2-05"}},
		{[]string{"t0-03", "t1-04"}}, // switched track: follow the last item
	} {
		t.Run(strings.Join(tc.path, ","), func(t *testing.T) {
			id := "probe " + strings.Join(tc.path, ",")
			u := m.AddUser(id)
			for _, it := range tc.path {
				b.Learn(u, m.AddItem(it), 1)
			}
			last := tc.path[len(tc.path)-1]
			var track, pos int
			fmt.Sscanf(last, "t%d-%d", &track, &pos)
			want := fmt.Sprintf("t%d-%02d", track, pos+1)
			cands := b.Candidates(nil, id, "", 10, nil)
			if len(cands) == 0 || cands[0].Item != want {
				t.Fatalf("top %v, want %s first", cands, want)
			}
			if r := cands[0].Explain(); r[0] != ReasonNextAfter+":"+last {
				t.Fatalf("reasons %v, want %s:%s first", r, ReasonNextAfter, last)
			}
			for _, c := range cands {
				if slices.Contains(tc.path, c.Item) {
					t.Fatalf("recommends %s, which the learner did", c.Item)
				}
			}
		})
	}
}

// With weight 0 the blend ranks as the model does.
func TestBlenderWeightZeroIsMF(t *testing.T) {
	cfg := DefaultBlendConfig()
	cfg.Weight = 0
	b := newBlender(t, cfg)
	learnAll(b, tracks(2, 100, 3, 12, 5))
	m := b.Model()
	for u := range int32(20) {
		ex := m.Seen(u, nil)
		want := m.TopN(u, 10, ex, nil)
		got := b.TopN(u, 10, ex, nil)
		if len(got) != len(want) {
			t.Fatalf("learner %d: %d items, want %d", u, len(got), len(want))
		}
		for x := range got {
			if got[x].Item != want[x].Item || got[x].Seq != 0 {
				t.Fatalf("learner %d rank %d: %+v, want item %d", u, x, got[x], want[x].Item)
			}
		}
		for _, x := range got {
			if r := b.Reasons(m.UserID(u), x); !slices.Equal(r, []string{ReasonMF}) {
				t.Fatalf("reasons %v, want [mf]", r)
			}
		}
	}
}

// Prequentially, on learners who follow paths, the blend ranks far better
// than the model alone, and no worse on the cold-start events it does not
// change.
func TestPrequentialBlendBeatsMFOnPaths(t *testing.T) {
	evs := tracks(3, 400, 4, 15, 8)
	cfg := DefaultConfig()
	mfOnly, err := Prequential(context.Background(), evs, EvalOptions{Model: cfg})
	if err != nil {
		t.Fatal(err)
	}
	bc := DefaultBlendConfig()
	blend, err := Prequential(context.Background(), evs, EvalOptions{Model: cfg, Blend: &bc})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recall@10 MF %.4f, blend %.4f; NDCG %.4f, %.4f", mfOnly.Model.Recall, blend.Model.Recall, mfOnly.Model.NDCG, blend.Model.NDCG)
	if blend.Model.NDCG < mfOnly.Model.NDCG+0.1 || blend.Model.Recall < mfOnly.Model.Recall {
		t.Fatalf("blend %+v, MF alone %+v", blend.Model, mfOnly.Model)
	}
	if blend.ColdModel != mfOnly.ColdModel {
		t.Fatalf("cold start changed: %+v vs %+v", blend.ColdModel, mfOnly.ColdModel)
	}
	long := blend.ByHistory[HistoryBucket(6)]
	if long.Scored == 0 || long.Model.Recall < 0.9 {
		t.Fatalf("learners with 6-20 prior events: %+v", long)
	}
}

func TestBlenderForget(t *testing.T) {
	b := newBlender(t, DefaultBlendConfig())
	learnAll(b, tracks(4, 50, 2, 10, 4))
	if !b.Forget("u3") || b.Forget("u3") {
		t.Fatal("Forget reports the learner known once")
	}
	if _, ok := b.Model().LookupUser("u3"); ok || b.Sequence().Last("u3") != nil {
		t.Fatal("u3 still known")
	}
	if got := b.Candidates(nil, "u3", "", 5, nil); len(got) == 0 || got[0].Explain()[0] != ReasonTrending {
		t.Fatalf("a forgotten learner gets %v, want the cold-start list", got)
	}
}

func TestBlenderTopNDoesNotAllocate(t *testing.T) {
	b := newBlender(t, DefaultBlendConfig())
	learnAll(b, tracks(5, 100, 3, 12, 5))
	m := b.Model()
	dst := make([]Blended, 0, 10)
	ex := make([]int32, 0, 16)
	b.TopN(0, 10, m.Seen(0, ex[:0]), dst) // grow the scratch space
	u := int32(0)
	if a := testing.AllocsPerRun(100, func() {
		ex = m.Seen(u, ex[:0])
		dst = b.TopN(u, 10, ex, dst)
		u = (u + 1) % int32(m.Users())
	}); a != 0 {
		t.Fatalf("%v allocations per TopN, want 0", a)
	}
}

// Recency leans the MF part towards the learner's last items: a learner
// who did most of one course and then three items of another gets the second
// course's items first with it, the first course's without.
func TestBlenderRecencyLeansToRecentItems(t *testing.T) {
	track := func(x []Blended, m *Model) string { return m.ItemID(x[0].Item)[:2] }
	for _, tc := range []struct {
		recency float64
		want    string
	}{{0, "t0"}, {5, "t1"}} {
		cfg := DefaultBlendConfig()
		cfg.Weight, cfg.Recency = 0, tc.recency // MF part only
		b := newBlender(t, cfg)
		learnAll(b, tracks(6, 300, 2, 12, 5))
		m := b.Model()
		u := m.AddUser("probe")
		for _, it := range []string{"t0-00", "t0-01", "t0-02", "t0-03", "t0-04", "t0-05", "t0-06", "t1-00", "t1-01", "t1-02"} {
			b.Learn(u, m.AddItem(it), 1)
		}
		got := b.TopN(u, 3, m.Seen(u, nil), nil)
		if len(got) == 0 || track(got, m) != tc.want {
			t.Fatalf("recency %v: top %+v (%s), want a %s item first", tc.recency, got, m.ItemID(got[0].Item), tc.want)
		}
	}
}

// An item only the rules reach competes with the MF candidates even when
// the model scores it far below them: its MF part is clamped at 0.
func TestBlenderRuleOnlyItemIsNotBuriedByMF(t *testing.T) {
	b := newBlender(t, DefaultBlendConfig())
	learnAll(b, tracks(7, 600, 8, 12, 5)) // 96 items: more than the pool of 50
	m := b.Model()
	u := m.AddUser("probe")
	b.Learn(u, m.AddItem("t0-04"), 1)
	next, _ := m.LookupItem("t0-05")
	m.B[next] = -1000 // the model now ranks it last by far
	if s := m.Score(u, next); s > -100 {
		t.Fatalf("MF score %v, want far below the others", s)
	}
	got := b.TopN(u, 10, m.Seen(u, nil), nil)
	var found *Blended
	for x := range got {
		if got[x].Item == next {
			found = &got[x]
		}
	}
	if found == nil || found.MF != 0 || found.Seq <= 0 {
		t.Fatalf("t0-05 in %+v: want it listed with MF part 0 and a sequence part", got)
	}
	if r := b.Reasons("probe", *found); r[0] != ReasonNextAfter+":t0-04" {
		t.Fatalf("reasons %v, want next_after:t0-04 first", r)
	}
}

// countedWhy counts the candidates whose reasons were built.
type countedWhy struct {
	n  *int
	rs []string
}

func (w countedWhy) reasons() []string { *w.n++; return w.rs }

// The blend's candidates carry their reasons unbuilt; explained, they are
// Reasons of the blended items, and Rerank builds those of the candidates
// it keeps, and no others.
func TestCandidatesExplainedWhenKept(t *testing.T) {
	b := newBlender(t, DefaultBlendConfig())
	learnAll(b, tracks(6, 80, 3, 12, 5))
	m := b.Model()
	for _, id := range []string{"u1", "u7", "u42"} {
		u, _ := m.LookupUser(id)
		top := b.TopN(u, 20, m.Seen(u, nil), nil)
		cands := b.Candidates(nil, id, "", 20, nil)
		if len(cands) != 20 || len(top) != 20 {
			t.Fatalf("%s: %d candidates, %d blended", id, len(cands), len(top))
		}
		for i, c := range cands {
			if c.Reasons != nil {
				t.Fatalf("%s: candidate %d built its reasons before they were asked for", id, i)
			}
			if got, want := c.Explain(), b.Reasons(id, top[i]); !slices.Equal(got, want) {
				t.Fatalf("%s: candidate %d explained as %q, Reasons says %q", id, i, got, want)
			}
		}
		ranked, err := Rerank(cands, RerankOptions{MasteryThreshold: 0.8, N: 5})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range ranked {
			if c.Item != cands[i].Item || !slices.Equal(c.Reasons, cands[i].Explain()) {
				t.Fatalf("%s: ranked %d is %s %q, want %s %q", id, i, c.Item, c.Reasons, cands[i].Item, cands[i].Explain())
			}
		}
	}

	var built int
	cands := make([]Candidate, 30)
	for i := range cands {
		cands[i] = Candidate{Item: fmt.Sprint("item-", i), Score: float64(i), why: countedWhy{&built, []string{ReasonMF}}}
	}
	success := make([]float64, len(cands))
	for i := range success {
		success[i] = 0.7
	}
	ranked, err := Rerank(cands, RerankOptions{MasteryThreshold: 0.8, N: 4,
		Success: success, TargetSuccess: 0.7, FitBand: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if built != 4 {
		t.Fatalf("Rerank built the reasons of %d candidates, want the 4 kept", built)
	}
	if want := []string{ReasonMF, ReasonDifficultyFit}; len(ranked) != 4 || ranked[0].Item != "item-29" || !slices.Equal(ranked[0].Reasons, want) {
		t.Fatalf("ranked %+v, want item-29 first with %q", ranked, want)
	}
}
