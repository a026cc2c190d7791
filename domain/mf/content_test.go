package mf

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestItemFeatures(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   ItemInfo
		want []string
	}{
		{"empty", ItemInfo{}, nil},
		{"catalog activity", ItemInfo{Type: "module", Title: "Adding Fractions: the basics", Duration: 20 * time.Minute,
			Skills: []string{"fractions", "addition", "fractions"}, Parent: "urn:c1", Course: "urn:c1"},
			[]string{"skill:fractions", "skill:addition", "type:module", "duration:15-60m", "parent:urn:c1", "term:adding", "term:fractions", "term:basics"}},
		{"type IRI, grandparent course", ItemInfo{Type: "http://adlnet.gov/expapi/activities/assessment", Parent: "urn:m", Course: "urn:c"},
			[]string{"type:assessment", "parent:urn:m", "course:urn:c"}},
		{"duration buckets", ItemInfo{Duration: 4 * time.Minute}, []string{"duration:<5m"}},
		{"long", ItemInfo{Duration: 5 * time.Hour}, []string{"duration:>3h"}},
		{"stop words, short words and repeats dropped", ItemInfo{Title: "An Introduction to the Course: SQL, sql and joins"},
			[]string{"term:sql", "term:joins"}},
		{"extra metadata kept", ItemInfo{Extra: []string{" publisher:acme ", "", "lang:fr"}}, []string{"publisher:acme", "lang:fr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ItemFeatures(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("ItemFeatures = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContentConfigValidate(t *testing.T) {
	ok := DefaultContentConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*ContentConfig)
		want string
	}{
		{"negative weight", func(c *ContentConfig) { c.Weight = -1 }, "Weight"},
		{"NaN shrink", func(c *ContentConfig) { c.Shrink = nan() }, "Shrink"},
		{"zero recency", func(c *ContentConfig) { c.Recency = 0 }, "Recency"},
		{"recency above 1", func(c *ContentConfig) { c.Recency = 1.5 }, "Recency"},
		{"no profile", func(c *ContentConfig) { c.Profile = 0 }, "Profile"},
		{"similarity above 1", func(c *ContentConfig) { c.MinSimilarity = 2 }, "MinSimilarity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.want)
			}
			if _, err := NewContent(c); err == nil {
				t.Fatal("NewContent accepted it")
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestContentSetItem(t *testing.T) {
	c, _ := NewContent(DefaultContentConfig())
	if !c.SetItem("a", []string{"skill:x", " skill:y", "skill:x", ""}) {
		t.Fatal("first SetItem reported no change")
	}
	if got := c.ItemFeatures("a"); !slices.Equal(got, []string{"skill:x", "skill:y"}) {
		t.Fatalf("features = %q", got)
	}
	if c.SetItem("a", []string{"skill:y", "skill:x"}) {
		t.Fatal("same features in another order reported a change")
	}
	c.SetItem("b", []string{"skill:y"})
	c.SetItem("a", []string{"skill:z"})
	if got := c.ItemFeatures("a"); !slices.Equal(got, []string{"skill:z"}) {
		t.Fatalf("replaced features = %q", got)
	}
	// Postings follow replacements: skill:x has no item now, skill:y only b.
	if x := c.featIdx["skill:x"]; c.df[x] != 0 || len(c.post[x]) != 0 {
		t.Fatalf("skill:x still has df %d, postings %v", c.df[x], c.post[x])
	}
	if y := c.featIdx["skill:y"]; c.df[y] != 1 || !slices.Equal(c.post[y], []int32{1}) {
		t.Fatalf("skill:y df %d, postings %v", c.df[y], c.post[y])
	}
	c.SetItem("a", nil)
	if c.HasFeatures("a") || c.withFeat != 1 {
		t.Fatalf("features not removed: has %v, items with features %d", c.HasFeatures("a"), c.withFeat)
	}
	if c.SetItem("", []string{"skill:x"}) {
		t.Fatal("an empty item id was accepted")
	}
}

// skillWorld is two groups of learners, each using the items of one skill.
func skillWorld(t *testing.T) (*Model, *Content) {
	t.Helper()
	m, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewContent(DefaultContentConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"algebra", "poetry"} {
		for i := range 16 {
			c.SetItem(fmt.Sprintf("%s-%d", s, i), ItemFeatures(ItemInfo{Type: "module", Skills: []string{s}}))
		}
	}
	// 40 learners per skill use 12 of its 16 items each: 30 uses per item.
	for round := range 12 {
		for u := range 40 {
			for _, s := range []string{"algebra", "poetry"} {
				m.Observe(fmt.Sprintf("%s-fan-%d", s, u), fmt.Sprintf("%s-%d", s, (u+round)%16), 1)
			}
		}
	}
	return m, c
}

func TestNewItemRecommendedFromFeatures(t *testing.T) {
	m, c := skillWorld(t)
	// Announced by the catalog; nobody has used it.
	c.SetItem("algebra-new", ItemFeatures(ItemInfo{Type: "module", Title: "Linear equations", Skills: []string{"algebra"}}))
	if _, ok := m.LookupItem("algebra-new"); ok {
		t.Fatal("the model knows the new item")
	}
	find := func(list []Candidate, item string) (int, Candidate) {
		for n, cd := range list {
			if cd.Item == item {
				return n, cd
			}
		}
		return -1, Candidate{}
	}
	// An algebra learner who has seen most algebra items.
	fan := "algebra-fan-new"
	for i := range 12 {
		m.Observe(fan, fmt.Sprintf("algebra-%d", i), 3)
	}
	list := c.Candidates(m, nil, fan, "", 10, nil)
	n, cd := find(list, "algebra-new")
	if n < 0 {
		t.Fatalf("the new algebra item is not in the algebra learner's list: %+v", list)
	}
	if !slices.Equal(cd.Reasons, []string{ReasonContent, ReasonSimilarSkillsPrefix + "algebra"}) {
		t.Fatalf("reasons = %q, want content and similar_skills:algebra", cd.Reasons)
	}
	// Without content the model cannot rank it at all.
	if n, _ := find(Candidates(m, nil, fan, "", 10, nil), "algebra-new"); n >= 0 {
		t.Fatal("the model alone ranked an item it never saw")
	}
	// A poetry learner's top 5 does not hold the new algebra item.
	poet := c.Candidates(m, nil, "poetry-fan-3", "", 5, nil)
	if n, _ := find(poet, "algebra-new"); n >= 0 {
		t.Fatalf("the new algebra item is in a poetry learner's top 5: %+v", poet)
	}
	// Items with plenty of interactions rank by the model: the four
	// poetry items the learner has not used come first.
	for _, cd := range poet[:4] {
		if !strings.HasPrefix(cd.Item, "poetry-") || !slices.Equal(cd.Reasons, []string{ReasonMF}) {
			t.Fatalf("poetry learner's candidate %+v, want a poetry item ranked by mf", cd)
		}
	}
	// Once the new item is well used, it ranks by the model too.
	for u := range 40 {
		m.Observe(fmt.Sprintf("algebra-fan-%d", u%20), "algebra-new", 1)
	}
	list = c.Candidates(m, nil, fan, "", 10, nil)
	if n, cd := find(list, "algebra-new"); n < 0 || !slices.Equal(cd.Reasons, []string{ReasonMF}) {
		t.Fatalf("after 40 interactions: rank %d, reasons %q; want in the list, by mf", n, cd.Reasons)
	}
}

func TestContentCandidatesExclude(t *testing.T) {
	m, c := skillWorld(t)
	c.SetItem("algebra-new", []string{"skill:algebra"})
	m.Observe("x", "algebra-0", 1)
	list := c.Candidates(m, NewPopularity(), "x", "", 40, []string{"algebra-new", "algebra-3"})
	seen := map[string]bool{}
	for _, cd := range list {
		if cd.Item == "algebra-new" || cd.Item == "algebra-3" || cd.Item == "algebra-0" {
			t.Fatalf("excluded or own item %q in %+v", cd.Item, list)
		}
		if seen[cd.Item] {
			t.Fatalf("%q twice", cd.Item)
		}
		seen[cd.Item] = true
	}
	// Every other item of the catalog is there (33 items, minus 3).
	if len(list) != 30 {
		t.Fatalf("%d candidates, want 30: %+v", len(list), list)
	}
}

func TestContentTopNDoesNotAllocate(t *testing.T) {
	m, c := skillWorld(t)
	c.SetItem("algebra-new", []string{"skill:algebra"})
	u, _ := m.LookupUser("algebra-fan-1")
	ex := m.Seen(u, nil)
	dst := make([]HybridScored, 0, 10)
	dst = c.TopN(m, u, 10, ex, dst) // warm the workspaces
	if a := testing.AllocsPerRun(100, func() { dst = c.TopN(m, u, 10, ex, dst) }); a != 0 {
		t.Fatalf("TopN allocates %v times per call", a)
	}
	if len(dst) != 10 {
		t.Fatalf("%d items", len(dst))
	}
}

func TestContentSnapshot(t *testing.T) {
	m, c := skillWorld(t)
	c.SetItem("algebra-new", ItemFeatures(ItemInfo{Type: "assessment", Title: "Quadratic forms", Skills: []string{"algebra"}}))
	snap, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ranked := func(c *Content) []string {
		u, _ := m.LookupUser("algebra-fan-2")
		var out []string
		for _, h := range c.TopN(m, u, 12, m.Seen(u, nil), nil) {
			out = append(out, fmt.Sprintf("%s=%.6f", c.ItemID(h.Item), h.Score))
		}
		return out
	}
	r, _ := NewContent(ContentConfig{Weight: 9, Shrink: 9, Recency: 0.1, Profile: 1, MinSimilarity: 0.5})
	if err := r.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if r.Config() != c.Config() {
		t.Fatalf("config %+v, want %+v", r.Config(), c.Config())
	}
	if got, want := ranked(r), ranked(c); !slices.Equal(got, want) || len(want) != 12 {
		t.Fatalf("restored ranks %v, original %v", got, want)
	}
	for _, id := range []string{"algebra-new", "poetry-3"} {
		if !slices.Equal(r.ItemFeatures(id), c.ItemFeatures(id)) {
			t.Fatalf("%s: features %q, want %q", id, r.ItemFeatures(id), c.ItemFeatures(id))
		}
	}
	if again, _ := r.MarshalBinary(); string(again) != string(snap) {
		t.Fatal("the restored scorer's snapshot differs")
	}

	before, _ := r.MarshalBinary()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"model snapshot", func() []byte { b, _ := m.MarshalBinary(); return b }()},
		{"truncated", snap[:len(snap)/2]},
		{"flipped byte", func() []byte { b := slices.Clone(snap); b[len(b)/2] ^= 0x40; return b }()},
		{"checksum only", func() []byte { b := slices.Clone(snap); b[len(b)-1] ^= 1; return b }()},
		{"unknown version", func() []byte { return resum(slices.Clone(snap), func(b []byte) { b[4] = 9 }) }()},
		{"feature out of range", func() []byte {
			// The last item's last feature index, just before the CRC.
			return resum(slices.Clone(snap), func(b []byte) { b[len(b)-5] = 0x7f })
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("UnmarshalBinary = %v, want ErrSnapshot", err)
			}
			if after, _ := r.MarshalBinary(); string(after) != string(before) {
				t.Fatal("a rejected snapshot changed the scorer")
			}
		})
	}
}

// resum edits a snapshot's body and recomputes its CRC, so that the check
// after the CRC is what rejects it.
func resum(b []byte, edit func([]byte)) []byte {
	edit(b)
	body := b[:len(b)-4]
	e := &encoder{b: slices.Clone(body)}
	e.u32(crc32.ChecksumIEEE(body))
	return e.b
}

// contentStream is a stream in which every learner follows one skill and
// a new item of each skill arrives every round (Time = round): every item
// is new when its round starts.
func contentStream() ([]Event, map[string][]string, map[string]float64) {
	feats, times := map[string][]string{}, map[string]float64{}
	var evs []Event
	skills := []string{"sql", "stats", "design", "writing"}
	for round := range 30 {
		for s, skill := range skills {
			item := fmt.Sprintf("%s-%d", skill, round)
			feats[item] = []string{FeatureSkill + skill, FeatureType + "module"}
			times[item] = float64(round)
			for u := range 6 {
				evs = append(evs, Event{User: fmt.Sprintf("l%d-%d", s, u), Item: item, Weight: 1, Time: float64(round)})
			}
		}
	}
	return evs, feats, times
}

func TestPrequentialWithContent(t *testing.T) {
	evs, feats, times := contentStream()
	run := func(ce *ContentEval) EvalResult {
		t.Helper()
		res, err := Prequential(context.Background(), evs, EvalOptions{N: 3, Model: DefaultConfig(), Content: ce})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	cfg := DefaultContentConfig()
	without := run(nil)
	// Announced by the first event of each item (as a statement does): the
	// other learners of the skill get it from its features.
	stream := run(&ContentEval{Config: cfg, Features: feats})
	// Announced when its round starts (a catalog on a schedule): the first
	// learner gets it too.
	catalog := run(&ContentEval{Config: cfg, Features: feats, AtStart: true, Times: times})
	if !(stream.Model.Recall > without.Model.Recall && catalog.Model.Recall > stream.Model.Recall) {
		t.Fatalf("recall without content %.3f, announced by the stream %.3f, by the catalog %.3f: want increasing",
			without.Model.Recall, stream.Model.Recall, catalog.Model.Recall)
	}
	if stream.NewItem != without.NewItem || catalog.NewItem >= without.NewItem {
		t.Fatalf("unrankable events: without %d, stream %d, catalog %d", without.NewItem, stream.NewItem, catalog.NewItem)
	}
	if again := run(&ContentEval{Config: cfg, Features: feats, AtStart: true, Times: times}); again.Model != catalog.Model {
		t.Fatalf("not deterministic: %+v vs %+v", again.Model, catalog.Model)
	}
}

// The content scorer keeps nothing per learner: once the model forgets a
// learner, the hybrid has no profile of them and ranks them as a new
// learner (cold-start sources, no content reasons).
func TestContentForgottenWithTheModel(t *testing.T) {
	m, c := skillWorld(t)
	c.SetItem("algebra-new", []string{FeatureSkill + "algebra"})
	const who = "algebra-fan-4"
	u, _ := m.LookupUser(who)
	if top := c.TopN(m, u, 20, m.Seen(u, nil), nil); len(top) == 0 {
		t.Fatal("no hybrid list before forgetting")
	}
	if !m.Forget(who) {
		t.Fatal("the model did not know the learner")
	}
	snap, _ := c.MarshalBinary()
	if strings.Contains(string(snap), who) {
		t.Fatal("the content snapshot names the learner")
	}
	for _, cd := range c.Candidates(m, NewPopularity(), who, "", 10, nil) {
		if slices.Contains(cd.Reasons, ReasonContent) || slices.Contains(cd.Reasons, ReasonMF) {
			t.Fatalf("a forgotten learner is still ranked from their history: %+v", cd)
		}
	}
}

// The hybrid composes with the sequence blend: Merge over the Blender's
// scores keeps its reasons and adds the new item from its features.
// skillBlender is skillWorld with a blender over its model and a new
// sequence.
func skillBlender(t *testing.T) (*Model, *Content, *Blender) {
	t.Helper()
	m, c := skillWorld(t)
	s, err := NewSequence(DefaultSequenceConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBlender(m, s, DefaultBlendConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m, c, b
}

func TestContentMergesWithTheBlender(t *testing.T) {
	m, c, b := skillBlender(t)
	fan := "algebra-fan-merge"
	for i := range 12 {
		u, it := m.AddUser(fan), m.AddItem(fmt.Sprintf("algebra-%d", i))
		b.Learn(u, it, 3)
	}
	c.SetItem("algebra-new", []string{FeatureSkill + "algebra", FeatureType + "module"})
	collab := b.Candidates(nil, fan, "", 20, nil)
	list := c.MergeCandidates(m, fan, collab, 10, []string{"algebra-15"})
	var got []string
	for _, cd := range list {
		if cd.Item == "algebra-15" {
			t.Fatalf("excluded item in %+v", list)
		}
		got = append(got, cd.Item+" "+strings.Join(cd.Explain(), ","))
	}
	if !slices.Contains(got, "algebra-new content,similar_skills:algebra") {
		t.Fatalf("merged list %q lacks the new item with content reasons", got)
	}
	for _, cd := range list {
		if r := cd.Explain(); r[0] != ReasonContent && !slices.ContainsFunc(collab, func(x Candidate) bool {
			return x.Item == cd.Item && slices.Equal(x.Explain(), r)
		}) {
			t.Fatalf("%s: reasons %q are not the blender's", cd.Item, r)
		}
	}
	u, _ := m.LookupUser(fan)
	collabIdx := []Scored{}
	for _, x := range b.TopN(u, 20, m.Seen(u, nil), nil) {
		collabIdx = append(collabIdx, Scored{Item: x.Item, Score: x.Score})
	}
	dst := make([]HybridScored, 0, 10)
	ex := m.Seen(u, nil)
	dst = c.Merge(m, u, collabIdx, 10, ex, dst)
	if a := testing.AllocsPerRun(50, func() { dst = c.Merge(m, u, collabIdx, 10, ex, dst) }); a != 0 {
		t.Fatalf("Merge allocates %v times per call", a)
	}
}
