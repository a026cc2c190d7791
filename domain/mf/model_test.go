package mf

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"isgd", func(c *Config) { c.Algorithm = ISGD }, ""},
		{"k zero", func(c *Config) { c.K = 0 }, "K = 0"},
		{"k huge", func(c *Config) { c.K = 5000 }, "K = 5000"},
		{"algorithm", func(c *Config) { c.Algorithm = "svd" }, `unknown algorithm "svd"`},
		{"lr", func(c *Config) { c.LearnRate = 0 }, "LearnRate"},
		{"lr nan", func(c *Config) { c.LearnRate = math.NaN() }, "LearnRate"},
		{"reg", func(c *Config) { c.Reg = -1 }, "Reg = -1"},
		{"item reg too big", func(c *Config) { c.ItemReg = 1 / c.LearnRate }, "ItemReg"},
		{"negatives", func(c *Config) { c.Negatives = -1 }, "Negatives"},
		{"alpha0", func(c *Config) { c.Alpha0 = math.Inf(1) }, "Alpha0"},
		{"pop exponent", func(c *Config) { c.PopExponent = -1 }, "PopExponent"},
		{"cg", func(c *Config) { c.CGSteps = 0 }, "CGSteps"},
		{"cg budget", func(c *Config) { c.CGBudget = -1 }, "CGBudget = -1"},
		{"cg unused when exact", func(c *Config) { c.CGSteps = 0; c.Exact = true }, ""},
		{"unsolvable", func(c *Config) { c.Reg = 0; c.Alpha0 = 0 }, "solvable"},
		{"history", func(c *Config) { c.History = 0 }, "History"},
		{"window", func(c *Config) { c.SampleWindow = 0 }, "SampleWindow"},
		{"init", func(c *Config) { c.InitStd = -0.1 }, "InitStd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			_, err := New(c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// clusters returns a shuffled stream where learners of cluster c interact
// with items of cluster c only.
func clusters(seed uint64, clusters, usersPer, itemsPer, eventsPer int) []Event {
	r := rand.New(rand.NewPCG(seed, 7))
	var evs []Event
	for c := 0; c < clusters; c++ {
		for u := 0; u < usersPer; u++ {
			perm := r.Perm(itemsPer)
			for e := 0; e < eventsPer; e++ {
				evs = append(evs, Event{User: fmt.Sprintf("u%d-%d", c, u), Item: fmt.Sprintf("i%d-%d", c, perm[e]), Weight: 1})
			}
		}
	}
	r.Shuffle(len(evs), func(a, b int) { evs[a], evs[b] = evs[b], evs[a] })
	return evs
}

func trained(t testing.TB, cfg Config, evs []Event) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		m.Observe(e.User, e.Item, e.Weight)
	}
	return m
}

func TestLearnsClusters(t *testing.T) {
	evs := clusters(1, 4, 50, 10, 6)
	for _, tc := range []struct {
		name   string
		passes int
		cfg    func(*Config)
	}{
		{"als", 2, func(*Config) {}},
		{"als exact", 2, func(c *Config) { c.Exact = true }},
		{"als popularity negatives", 2, func(c *Config) { c.UniformNegatives = false; c.PopExponent = 0.5 }},
		{"isgd with negatives", 20, func(c *Config) { c.Algorithm = ISGD; c.Negatives = 4; c.LearnRate = 0.1; c.Reg = 0.01 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.K = 8
			tc.cfg(&cfg)
			var stream []Event
			for p := 0; p < tc.passes; p++ {
				stream = append(stream, evs...)
			}
			m := trained(t, cfg, stream)
			hits, total := 0, 0
			for c := 0; c < 4; c++ {
				for x := 0; x < 50; x += 7 {
					u, _ := m.LookupUser(fmt.Sprintf("u%d-%d", c, x))
					top := m.TopN(u, 4, m.Seen(u, nil), nil)
					for _, s := range top {
						total++
						if strings.HasPrefix(m.ItemID(s.Item), fmt.Sprintf("i%d-", c)) {
							hits++
						}
					}
				}
			}
			if frac := float64(hits) / float64(total); frac < 0.9 {
				t.Fatalf("only %.2f of the recommended items are in the learner's cluster", frac)
			}
		})
	}
}

func TestExactAndCGAgree(t *testing.T) {
	evs := clusters(2, 3, 20, 8, 5)
	cg := DefaultConfig()
	cg.K, cg.CGSteps, cg.Negatives = 8, 50, 0
	ex := cg
	ex.Exact = true
	a, b := trained(t, cg, evs), trained(t, ex, evs)
	for u := int32(0); u < int32(a.Users()); u++ {
		for f, v := range a.UserVector(u) {
			if w := b.UserVector(u)[f]; math.Abs(float64(v-w)) > 1e-3*(1+math.Abs(float64(w))) {
				t.Fatalf("learner %d factor %d: CG %v, Cholesky %v", u, f, v, w)
			}
		}
	}
}

func TestDeterministicAndSnapshot(t *testing.T) {
	evs := clusters(3, 3, 30, 12, 5)
	for _, algo := range []Algorithm{ALS, ISGD} {
		t.Run(string(algo), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.K = 8
			cfg.Algorithm = algo
			cfg.GramEvery = 50
			cfg.SampleWindow = 100
			a := trained(t, cfg, evs)
			b := trained(t, cfg, evs)
			sa, _ := a.MarshalBinary()
			sb, _ := b.MarshalBinary()
			if !bytes.Equal(sa, sb) {
				t.Fatal("same seed and events, different models")
			}
			cfg.Seed++
			c := trained(t, cfg, evs)
			if sc, _ := c.MarshalBinary(); bytes.Equal(sa, sc) {
				t.Fatal("the seed changes nothing")
			}
			cfg.Seed--

			// Stop half way, snapshot, restore, continue: same as never stopping.
			half := trained(t, cfg, evs[:len(evs)/2])
			snap, err := half.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var restored Model
			if err := restored.UnmarshalBinary(snap); err != nil {
				t.Fatal(err)
			}
			for _, e := range evs[len(evs)/2:] {
				restored.Observe(e.User, e.Item, e.Weight)
			}
			if sr, _ := restored.MarshalBinary(); !bytes.Equal(sr, sa) {
				t.Fatal("restored model diverged from the original")
			}
		})
	}
}

func TestSnapshotRejectsBadInput(t *testing.T) {
	m := trained(t, DefaultConfig(), clusters(4, 2, 5, 5, 3))
	snap, _ := m.MarshalBinary()
	good, _ := m.MarshalBinary()
	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 0x40
	badVersion := bytes.Clone(snap)
	badVersion[4] = 99
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a model snapshot"},
		{"other bytes", []byte("hello, world"), "not a model snapshot"},
		{"flipped bit", flipped, "checksum"},
		{"truncated", snap[:len(snap)-10], "checksum"},
		{"version", badVersion, "checksum"}, // the CRC covers the version byte
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := trained(t, DefaultConfig(), clusters(5, 2, 3, 3, 2))
			before, _ := target.MarshalBinary()
			err := target.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrSnapshot with %q", err, tc.want)
			}
			if after, _ := target.MarshalBinary(); !bytes.Equal(before, after) {
				t.Fatal("a failed restore changed the model")
			}
		})
	}
	if !bytes.Equal(snap, good) {
		t.Fatal("MarshalBinary is not stable")
	}
}

func TestTopNAndColdStart(t *testing.T) {
	m, _ := New(DefaultConfig())
	for i := 0; i < 5; i++ {
		m.AddItem(fmt.Sprintf("i%d", i))
	}
	u := m.AddUser("new")
	if got := m.TopN(u, 3, nil, nil); len(got) != 0 {
		t.Fatalf("cold learner got %v", got)
	}
	m.Observe("new", "i0", 1)
	m.Observe("new", "i1", 0)          // ignored
	m.Observe("new", "i1", math.NaN()) // ignored
	if m.HistoryLen(u) != 1 || m.Events() != 1 {
		t.Fatalf("history %d, events %d", m.HistoryLen(u), m.Events())
	}
	got := m.TopN(u, 10, []int32{0, 3, 99, -1}, make([]Scored, 0, 10))
	if len(got) != 3 {
		t.Fatalf("want the 3 items not excluded, got %v", got)
	}
	for x, s := range got {
		if s.Item == 0 || s.Item == 3 {
			t.Fatalf("excluded item %d returned", s.Item)
		}
		if x > 0 && got[x-1].Score < s.Score {
			t.Fatalf("not sorted: %v", got)
		}
		if want := m.Score(u, s.Item); want != s.Score {
			t.Fatalf("score %v, Score() %v", s.Score, want)
		}
	}
	// The exclusion mask is cleared after use.
	if again := m.TopN(u, 10, nil, nil); len(again) != 5 {
		t.Fatalf("got %d items without exclusions", len(again))
	}
}

func TestHistoryCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.History = 3
	m, _ := New(cfg)
	for i := 0; i < 5; i++ {
		m.Observe("a", fmt.Sprintf("i%d", i), 1)
	}
	m.Observe("a", "i4", 2) // repeat: accumulates
	u, _ := m.LookupUser("a")
	seen := m.Seen(u, nil)
	if len(seen) != 3 || m.ItemID(seen[0]) != "i2" || m.ItemID(seen[2]) != "i4" {
		t.Fatalf("seen %v", seen)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	for _, algo := range []Algorithm{ALS, ISGD} {
		cfg := DefaultConfig()
		cfg.Algorithm = algo
		cfg.SampleWindow = 64
		m := trained(t, cfg, clusters(6, 4, 20, 20, 8))
		u, _ := m.LookupUser("u0-0")
		i := m.Seen(u, nil)[0]
		dst := make([]Scored, 0, 10)
		ex := m.Seen(u, nil)
		if n := testing.AllocsPerRun(200, func() { m.Update(u, i, 1) }); n != 0 {
			t.Errorf("%s: Update allocates %v times", algo, n)
		}
		if n := testing.AllocsPerRun(200, func() { dst = m.TopN(u, 10, ex, dst) }); n != 0 {
			t.Errorf("%s: TopN allocates %v times", algo, n)
		}
	}
}

func TestTopNBiasFollowsRecentEvents(t *testing.T) {
	m, _ := New(DefaultConfig())
	for n := 0; n < 200; n++ {
		m.Observe(fmt.Sprintf("early%d", n), "old", 1)
	}
	for n := 0; n < 60; n++ {
		m.Observe(fmt.Sprintf("late%d", n), "new", 1)
	}
	got := m.TopNBias(2, nil, nil)
	if len(got) != 2 || m.ItemID(got[0].Item) != "new" {
		t.Fatalf("got %v: the recent item should lead", got)
	}
	newIdx, _ := m.LookupItem("new")
	if got := m.TopNBias(2, []int32{newIdx}, nil); len(got) != 1 || m.ItemID(got[0].Item) != "old" {
		t.Fatalf("exclusion: %v", got)
	}
	cfg := DefaultConfig()
	cfg.Bias = false
	nb, _ := New(cfg)
	nb.Observe("a", "x", 1)
	if got := nb.TopNBias(2, nil, nil); len(got) != 0 {
		t.Fatalf("without Bias: %v", got)
	}
}

// Intern hands back the model's own copies of known ids, and unknown ids
// as they are.
func TestInternSharesTheModelsIDs(t *testing.T) {
	m, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.Observe("ada", "course-1", 1)
	for _, tc := range []struct {
		name             string
		user, item       string
		userOwn, itemOwn bool // the model's copy comes back
	}{
		{"both known", strings.Clone("ada"), strings.Clone("course-1"), true, true},
		{"unknown learner", "bob", strings.Clone("course-1"), false, true},
		{"unknown item", strings.Clone("ada"), "course-2", true, false},
		{"empty", "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, i := m.Intern(tc.user, tc.item)
			if u != tc.user || i != tc.item {
				t.Fatalf("Intern(%q, %q) = %q, %q", tc.user, tc.item, u, i)
			}
			if own := unsafe.StringData(u) == unsafe.StringData(m.UserID(0)); own != tc.userOwn {
				t.Errorf("learner is the model's copy: %v, want %v", own, tc.userOwn)
			}
			if own := unsafe.StringData(i) == unsafe.StringData(m.ItemID(0)); own != tc.itemOwn {
				t.Errorf("item is the model's copy: %v, want %v", own, tc.itemOwn)
			}
		})
	}
}
