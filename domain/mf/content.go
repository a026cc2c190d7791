package mf

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Content-based and hybrid recommendation.
//
// A Content holds the catalog's item features (a vocabulary of feature
// names such as "skill:fractions", "type:assessment", "parent:<course>",
// "term:algebra") and ranks items for a learner by the cosine between the
// learner's feature profile and each item's features, both weighted by the
// features' inverse document frequency. The profile is built from the
// learner's history in the Model (most recent items weigh most), so the
// content scorer keeps nothing per learner: forgetting a learner in the
// Model (Model.Forget) forgets them here too.
//
// The hybrid ranks items of a collaborative ranker (Content.TopN: every
// item of the Model by its own score; Content.Merge: the candidates of
// another ranker such as the Blender, by their scores) and every featured
// item the catalog announced, with
//
//	score = λ mf + (1 - λ) γ cos,   λ = n / (n + β)
//
// where mf is the collaborative score, n the item's interaction count, cos the
// content similarity, γ ContentConfig.Weight and β ContentConfig.Shrink:
// collaborative signal where there is one, features where there is none
// (an item announced but never used has n = 0 and ranks by its features
// alone), a blend in between. Items without features rank by mf.

// Reason codes of content-based recommendations.
const (
	// ReasonContent: the item's rank comes mostly from its features.
	ReasonContent = "content"
	// ReasonSimilarSkillsPrefix + skill: the feature the item shares most
	// with the learner's history is a skill.
	ReasonSimilarSkillsPrefix = "similar_skills:"
	// ReasonSimilarPrefix + feature: the same for any other feature, e.g.
	// "similar:parent:<course>" or "similar:term:algebra".
	ReasonSimilarPrefix = "similar:"
)

// Feature name prefixes used by ItemFeatures.
const (
	FeatureSkill    = "skill:"
	FeatureType     = "type:"
	FeatureDuration = "duration:"
	FeatureParent   = "parent:"
	FeatureCourse   = "course:"
	FeatureTerm     = "term:"
)

// ContentConfig tunes the content scorer and the hybrid. Start from
// DefaultContentConfig.
type ContentConfig struct {
	// Weight (γ) scales the content similarity (in [0, 1]) against the
	// model's scores.
	Weight float64
	// Shrink (β) is the interaction count at which an item's model score
	// and content score weigh the same.
	Shrink float64
	// Recency (ρ, in (0, 1]) weighs the learner's items in the profile:
	// the most recent 1, the one before ρ, then ρ², ...
	Recency float64
	// Profile is the number of most recent items the profile is built from.
	Profile int
	// MinSimilarity is the content similarity below which an item the
	// model does not know is not ranked: sharing only a generic feature
	// is no reason to recommend an item.
	MinSimilarity float64
}

// DefaultContentConfig returns the documented defaults (chosen by
// prequential measurement; see docs/recommendations.md).
func DefaultContentConfig() ContentConfig {
	return ContentConfig{Weight: 0.5, Shrink: 3, Recency: 0.8, Profile: 32, MinSimilarity: 0.1}
}

// Validate checks the configuration.
func (c ContentConfig) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.Weight) || c.Weight < 0:
		return fmt.Errorf("content config: Weight = %v, want >= 0", c.Weight)
	case !finite(c.Shrink) || c.Shrink < 0:
		return fmt.Errorf("content config: Shrink = %v, want >= 0", c.Shrink)
	case !finite(c.Recency) || c.Recency <= 0 || c.Recency > 1:
		return fmt.Errorf("content config: Recency = %v, want (0, 1]", c.Recency)
	case c.Profile < 1 || c.Profile > 1<<16:
		return fmt.Errorf("content config: Profile = %d, want 1..%d", c.Profile, 1<<16)
	case !finite(c.MinSimilarity) || c.MinSimilarity < 0 || c.MinSimilarity > 1:
		return fmt.Errorf("content config: MinSimilarity = %v, want [0, 1]", c.MinSimilarity)
	}
	return nil
}

// HybridScored is an item ranked by the hybrid: Score = MF + Content, the
// parts from the model and from the features.
type HybridScored struct {
	// Item is the item's index in the Content (ItemID gives its id).
	Item               int32
	Score, MF, Content float32
}

// byMF tells whether the model's part of h explains it (Explain: mf).
func (h HybridScored) byMF() bool { return !(h.Content > h.MF) || h.Content <= 0 }

// Content is the item-feature vocabulary and the content/hybrid scorer. It
// is deterministic and not safe for concurrent use (like Model). TopN does
// not allocate once the items and features it touches exist.
type Content struct {
	cfg ContentConfig

	featIdx map[string]int32
	featIDs []string
	df      []uint32  // items having the feature
	post    [][]int32 // feature -> items having it

	itemIdx  map[string]int32
	itemIDs  []string
	feats    [][]int32 // item -> features, ascending
	withFeat int       // items with at least one feature

	// Derived from the above, recomputed when dirty.
	dirty bool
	idf   []float32 // ln((items with features + 1) / df), 0 for features of one item
	norm  []float32 // 1 / |idf-weighted feature vector| of each item (0: none)

	// Index mapping with the model last ranked with.
	model    *Model
	synced   int
	m2c, c2m []int32

	// Workspaces. prof and profFeat keep the profile of the last TopN,
	// which Explain uses.
	prof     []float32
	profFeat []int32
	acc      []float32
	accItems []int32
	scores   []float32
	seen     []int32
}

// NewContent returns an empty scorer.
func NewContent(cfg ContentConfig) (*Content, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Content{cfg: cfg, featIdx: map[string]int32{}, itemIdx: map[string]int32{}}, nil
}

// Config returns the configuration.
func (c *Content) Config() ContentConfig { return c.cfg }

// Items returns the number of items known (with or without features).
func (c *Content) Items() int { return len(c.itemIDs) }

// Features returns the size of the feature vocabulary.
func (c *Content) Features() int { return len(c.featIDs) }

// ItemID returns the id of item index i.
func (c *Content) ItemID(i int32) string { return c.itemIDs[i] }

// LookupItem returns the index of an item.
func (c *Content) LookupItem(id string) (int32, bool) { i, ok := c.itemIdx[id]; return i, ok }

// ItemFeatures returns an item's features (sorted by name; nil when none).
func (c *Content) ItemFeatures(id string) []string {
	i, ok := c.itemIdx[id]
	if !ok || len(c.feats[i]) == 0 {
		return nil
	}
	out := make([]string, len(c.feats[i]))
	for n, f := range c.feats[i] {
		out[n] = c.featIDs[f]
	}
	slices.Sort(out)
	return out
}

// HasFeatures reports whether an item was announced with features.
func (c *Content) HasFeatures(id string) bool {
	i, ok := c.itemIdx[id]
	return ok && len(c.feats[i]) > 0
}

func (c *Content) addItem(id string) int32 {
	if i, ok := c.itemIdx[id]; ok {
		return i
	}
	i := int32(len(c.itemIDs))
	c.itemIdx[id] = i
	c.itemIDs = append(c.itemIDs, id)
	c.feats = append(c.feats, nil)
	c.c2m = append(c.c2m, -1)
	c.norm = append(c.norm, 0)
	c.acc = append(c.acc, 0)
	return i
}

func (c *Content) addFeature(name string) int32 {
	if f, ok := c.featIdx[name]; ok {
		return f
	}
	f := int32(len(c.featIDs))
	c.featIdx[name] = f
	c.featIDs = append(c.featIDs, name)
	c.df = append(c.df, 0)
	c.post = append(c.post, nil)
	c.idf = append(c.idf, 0)
	c.prof = append(c.prof, 0)
	return f
}

// SetItem announces an item with its features, replacing any it had (an
// empty list removes them). Feature names are trimmed; empty names and
// repeats are dropped. It reports whether anything changed.
func (c *Content) SetItem(id string, features []string) bool {
	if id == "" {
		return false
	}
	idx := make([]int32, 0, len(features))
	for _, name := range features {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if f, ok := c.featIdx[name]; ok && slices.Contains(idx, f) {
			continue
		}
		idx = append(idx, c.addFeature(name))
	}
	slices.Sort(idx)
	i := c.addItem(id)
	old := c.feats[i]
	if slices.Equal(old, idx) {
		return false
	}
	for _, f := range old {
		c.df[f]--
		if p := slices.Index(c.post[f], i); p >= 0 {
			c.post[f] = slices.Delete(c.post[f], p, p+1)
		}
	}
	for _, f := range idx {
		c.df[f]++
		c.post[f] = append(c.post[f], i)
	}
	switch {
	case len(old) == 0 && len(idx) > 0:
		c.withFeat++
	case len(old) > 0 && len(idx) == 0:
		c.withFeat--
		idx = nil
	}
	c.feats[i] = idx
	c.dirty = true
	return true
}

// refresh recomputes the idf weights and item norms after changes.
func (c *Content) refresh() {
	if !c.dirty {
		return
	}
	c.dirty = false
	n := float64(c.withFeat)
	for f, d := range c.df {
		c.idf[f] = 0
		// A feature of one item relates it to nothing: it would only
		// dilute that item's similarity to everything else.
		if d > 1 {
			// A feature every item has (all courses) weighs almost
			// nothing: it says nothing about what a learner prefers.
			c.idf[f] = float32(math.Log((n + 1) / float64(d)))
		}
	}
	for i, fs := range c.feats {
		var s float32
		for _, f := range fs {
			s += c.idf[f] * c.idf[f]
		}
		c.norm[i] = 0
		if s > 0 {
			c.norm[i] = 1 / float32(math.Sqrt(float64(s)))
		}
	}
}

// sync maps the model's items to content items (registering the model's
// items the catalog never announced, without features).
func (c *Content) sync(m *Model) {
	if c.model != m {
		c.model, c.synced, c.m2c = m, 0, c.m2c[:0]
		for i := range c.c2m {
			c.c2m[i] = -1
		}
	}
	for j := c.synced; j < m.Items(); j++ {
		ci := c.addItem(m.ItemID(int32(j)))
		c.m2c = append(c.m2c, ci)
		c.c2m[ci] = int32(j)
	}
	c.synced = m.Items()
}

// profile builds learner u's idf-weighted feature profile from the most
// recent items of their history and returns 1/|profile| (0: empty).
func (c *Content) profile(m *Model, u int32) float32 {
	for _, f := range c.profFeat {
		c.prof[f] = 0
	}
	c.profFeat = c.profFeat[:0]
	c.seen = m.Seen(u, c.seen[:0])
	start := max(0, len(c.seen)-c.cfg.Profile)
	w, rho := float32(1), float32(c.cfg.Recency)
	for h := len(c.seen) - 1; h >= start; h-- {
		ci := c.m2c[c.seen[h]]
		nw := w * c.norm[ci]
		for _, f := range c.feats[ci] {
			if c.idf[f] == 0 {
				continue // a feature of one item relates it to nothing
			}
			if c.prof[f] == 0 {
				c.profFeat = append(c.profFeat, f)
			}
			c.prof[f] += nw * c.idf[f]
		}
		w *= rho
	}
	var s float32
	for _, f := range c.profFeat {
		s += c.prof[f] * c.prof[f]
	}
	if s == 0 {
		return 0
	}
	return 1 / float32(math.Sqrt(float64(s)))
}

// similarities computes learner u's content similarity to every item
// sharing a feature with their profile, into acc (content indices) and
// accItems. finish must follow.
func (c *Content) similarities(m *Model, u int32) {
	c.sync(m)
	c.refresh()
	inv := c.profile(m, u)
	for _, f := range c.profFeat {
		pf := c.prof[f] * c.idf[f] * inv
		for _, ci := range c.post[f] {
			if c.acc[ci] == 0 {
				c.accItems = append(c.accItems, ci)
			}
			c.acc[ci] += pf
		}
	}
}

// mix is the hybrid score of model item j whose collaborative score is s.
func (c *Content) mix(m *Model, j int32, s float32) HybridScored {
	h := HybridScored{Item: c.m2c[j], MF: s}
	if ci := h.Item; len(c.feats[ci]) > 0 {
		cnt, beta := float32(m.count[j]), float32(c.cfg.Shrink)
		lam := float32(1)
		if cnt+beta > 0 {
			lam = cnt / (cnt + beta)
		}
		h.MF = lam * s
		h.Content = (1 - lam) * float32(c.cfg.Weight) * c.acc[ci] * c.norm[ci]
	}
	h.Score = h.MF + h.Content
	return h
}

// finish adds the items only the features rank, when similar enough:
// announced items the model does not know and, with models, the model
// items not masked (those the collaborative ranker left out). It clears
// the accumulator.
func (c *Content) finish(m *Model, n int, dst []HybridScored, models bool) []HybridScored {
	minSim := float32(c.cfg.MinSimilarity)
	for _, ci := range c.accItems {
		if sim := c.acc[ci] * c.norm[ci]; sim >= minSim {
			var h HybridScored
			switch j := c.c2m[ci]; {
			case j < 0:
				cs := float32(c.cfg.Weight) * sim
				h = HybridScored{Item: ci, Score: cs, Content: cs}
			case models && m.mask[j>>6]&(1<<(uint(j)&63)) == 0:
				h = c.mix(m, j, 0)
			default:
				continue
			}
			if len(dst) < n || h.Score > dst[n-1].Score {
				dst = pushHybrid(dst, n, h)
			}
		}
	}
	for _, ci := range c.accItems {
		c.acc[ci] = 0
	}
	c.accItems = c.accItems[:0]
	return dst
}

// TopN appends to dst[:0] the n best items for learner u by the hybrid
// of the model's scores (every item) and the features, best first,
// leaving out the model items in exclude (model indices). Items the model
// knows come first on equal scores (by model index), then announced items
// it does not know. It returns dst[:0] for a learner without history.
func (c *Content) TopN(m *Model, u int32, n int, exclude []int32, dst []HybridScored) []HybridScored {
	dst = dst[:0]
	if n <= 0 || u < 0 || int(u) >= m.Users() || m.HistoryLen(u) == 0 {
		return dst
	}
	c.similarities(m, u)
	items := m.Items()
	if cap(c.scores) < items {
		c.scores = make([]float32, items, 2*items)
	}
	scores := c.scores[:items]
	gemv32(m.V, items, m.UserVector(u), scores)
	m.setMask(exclude)
	for j, s := range scores {
		if m.mask[j>>6]&(1<<(uint(j)&63)) != 0 {
			continue
		}
		h := c.mix(m, int32(j), s+m.B[j])
		if len(dst) < n || h.Score > dst[n-1].Score {
			dst = pushHybrid(dst, n, h)
		}
	}
	m.clearMask(exclude)
	return c.finish(m, n, dst, false)
}

// Merge is TopN over the candidates of another collaborative ranker
// (such as Blender.TopN, with its scores): collab holds model items and
// their collaborative scores; an item it does not hold scores 0 on the
// collaborative side and enters by its features alone. Items in exclude
// (model indices) are left out.
func (c *Content) Merge(m *Model, u int32, collab []Scored, n int, exclude []int32, dst []HybridScored) []HybridScored {
	dst = dst[:0]
	if n <= 0 || u < 0 || int(u) >= m.Users() || m.HistoryLen(u) == 0 {
		return dst
	}
	c.similarities(m, u)
	m.setMask(exclude)
	for _, x := range collab {
		if j := x.Item; j < 0 || int(j) >= m.Items() || m.mask[j>>6]&(1<<(uint(j)&63)) != 0 {
			continue
		}
		h := c.mix(m, x.Item, x.Score)
		if len(dst) < n || h.Score > dst[n-1].Score {
			dst = pushHybrid(dst, n, h)
		}
		m.mask[x.Item>>6] |= 1 << (uint(x.Item) & 63) // taken
	}
	dst = c.finish(m, n, dst, true)
	m.clearMask(exclude)
	for _, x := range collab {
		if x.Item >= 0 && int(x.Item) < m.Items() {
			m.mask[x.Item>>6] = 0
		}
	}
	return dst
}

func pushHybrid(top []HybridScored, n int, s HybridScored) []HybridScored {
	if len(top) == n {
		if !(s.Score > top[n-1].Score) {
			return top
		}
		top = top[:n-1]
	}
	i := len(top)
	top = append(top, s)
	for i > 0 && top[i-1].Score < s.Score {
		top[i] = top[i-1]
		i--
	}
	top[i] = s
	return top
}

// Explain returns the reasons of an item ranked by the last TopN: "mf"
// when the model's part is the larger, else "content" and the feature the
// item shares most with the learner's profile, type and duration counting
// half (similar_skills:<skill> for a skill, similar:<feature> otherwise).
func (c *Content) Explain(h HybridScored) []string {
	if h.byMF() {
		return []string{ReasonMF}
	}
	best, bestW := int32(-1), float32(0)
	for _, f := range c.feats[h.Item] {
		w := c.prof[f] * c.idf[f]
		if name := c.featIDs[f]; strings.HasPrefix(name, FeatureType) || strings.HasPrefix(name, FeatureDuration) {
			w /= 2 // a shared type or length explains less than a shared skill or topic
		}
		if w > bestW {
			best, bestW = f, w
		}
	}
	if best < 0 {
		return []string{ReasonContent}
	}
	name := c.featIDs[best]
	if s, ok := strings.CutPrefix(name, FeatureSkill); ok {
		return []string{ReasonContent, ReasonSimilarSkillsPrefix + s}
	}
	return []string{ReasonContent, ReasonSimilarPrefix + name}
}

// Candidates is mf.Candidates with the hybrid for a learner with history:
// the hybrid's best items (reasons from Explain: mf, or content and the
// shared feature), then the cold-start sources of Candidates. Items the
// catalog announced but nobody used yet are among them when their features
// fit the learner's history.
func (c *Content) Candidates(m *Model, pop *Popularity, user, group string, n int, exclude []string) []Candidate {
	u, ok := m.LookupUser(user)
	if n <= 0 || !ok || m.HistoryLen(u) == 0 {
		return Candidates(m, pop, user, group, n, exclude)
	}
	ex, unknown := excluded(m, u, exclude, nil, nil)
	out := make([]Candidate, 0, n)
	taken := slices.Clone(exclude)
	for _, h := range c.TopN(m, u, n+len(unknown), ex, make([]HybridScored, 0, n+len(unknown))) {
		id := c.itemIDs[h.Item]
		if slices.Contains(unknown, id) {
			continue // an excluded item the model does not know
		}
		out = append(out, Candidate{Item: id, Score: float64(h.Score), Reasons: c.Explain(h)})
		taken = append(taken, id)
		if len(out) == n {
			return out
		}
	}
	return append(out, Candidates(m, pop, user, group, n-len(out), taken)...)
}

// MergeCandidates is Candidates over the candidates of another
// collaborative ranker (Blender.Candidates): their scores are the
// collaborative side of the hybrid, the features add announced and
// little-used items, and an item keeps its ranker's reasons unless its
// features weigh more (then content and the shared feature). Candidates
// that are not model items (added by other sources) follow, in their
// order. A learner without history gets collab unchanged. The reasons
// are built when a candidate is explained (Candidate.Explain), from
// collab's: leave collab as it is until then.
func (c *Content) MergeCandidates(m *Model, user string, collab []Candidate, n int, exclude []string) []Candidate {
	return c.MergeCandidatesIn(nil, m, user, collab, n, exclude)
}

// MergeCandidatesIn is MergeCandidates built in s (nil: in new memory),
// valid until s is used again. collab may be a list built in s
// (Blender.CandidatesIn): each list has its own place there.
func (c *Content) MergeCandidatesIn(s *Scratch, m *Model, user string, collab []Candidate, n int, exclude []string) []Candidate {
	u, ok := m.LookupUser(user)
	if n <= 0 || !ok || m.HistoryLen(u) == 0 {
		return collab[:min(n, len(collab))]
	}
	if s == nil {
		s = new(Scratch)
	}
	sc := slices.Grow(s.sc[:0], len(collab))
	at := slices.Grow(s.at[:0], len(collab)) // sc[k] is collab[at[k]]
	var rest []Candidate
	for i, cd := range collab {
		if j, ok := cd.modelItem(m); ok {
			sc = append(sc, Scored{Item: j, Score: float32(cd.Score)})
			at = append(at, i)
		} else {
			rest = append(rest, cd)
		}
	}
	s.sc, s.at = sc, at
	ex, unknown := s.excluded(m, u, exclude)
	s.exValid = false // ex and unknown stay s's until the next ranking
	merged := c.Merge(m, u, sc, n+len(unknown), ex, slices.Grow(s.merged[:0], n+len(unknown)))
	s.merged = merged
	out := slices.Grow(s.mergeOut[:0], n)
	whys := slices.Grow(s.mergeWhys[:0], min(n, len(merged)))
	for _, h := range merged {
		if len(out) == n {
			break
		}
		id := c.itemIDs[h.Item]
		if slices.Contains(unknown, id) {
			continue
		}
		w := mergeWhy{c: c, h: h}
		if j := c.c2m[h.Item]; j >= 0 {
			// The collaborative candidate of the same item, if any.
			if k := slices.IndexFunc(sc, func(s Scored) bool { return s.Item == j }); k >= 0 {
				w.collab = &collab[at[k]]
			}
		}
		whys = append(whys, w)
		out = append(out, Candidate{Item: id, Score: float64(h.Score), why: &whys[len(whys)-1]})
	}
	for _, cd := range rest {
		if len(out) == n {
			break
		}
		if !slices.Contains(unknown, cd.Item) {
			out = append(out, cd)
		}
	}
	s.mergeOut, s.mergeWhys = out, whys
	return out
}

// excluded is exclude as the model's indices, with learner u's history
// (which TopN and Merge leave out by index), and the excluded items the
// model does not know, which only a check by id leaves out: a long
// exclude (a learner's completed items) costs a lookup per item, not a
// search per candidate.
//
// A ranking asks twice (the blend's candidates, then their merge with
// the item features), and with a learner's completed items as exclude
// the second asking looked every one of them up again. So the answer is
// kept in s for the next asking of the same ranking: Blender.CandidatesIn
// drops what an earlier ranking kept before it asks, and
// MergeCandidatesIn drops the answer once it used it. The key (the
// model and its size and events learned, the learner, the exclude
// slice's first element and length) is checked all the same.
func (s *Scratch) excluded(m *Model, u int32, exclude []string) (ex []int32, unknown []string) {
	k := excludedFor{m: m, u: u, n: len(exclude), items: m.Items(), events: m.Events()}
	if len(exclude) > 0 {
		k.first = &exclude[0]
	}
	if s.exValid && s.exFor == k {
		return s.ex, s.exUnknown
	}
	ex, unknown = excluded(m, u, exclude, s.ex, s.exUnknown)
	s.ex, s.exUnknown, s.exFor, s.exValid = ex, unknown, k, true
	return ex, unknown
}

// excluded is Scratch.excluded built in dst and unknownDst, kept nowhere.
func excluded(m *Model, u int32, exclude []string, dst []int32, unknownDst []string) (ex []int32, unknown []string) {
	ex = slices.Grow(dst[:0], len(exclude)+m.HistoryLen(u))
	unknown = unknownDst[:0]
	for _, id := range exclude {
		if i, ok := m.LookupItem(id); ok {
			ex = append(ex, i)
		} else {
			unknown = append(unknown, id)
		}
	}
	return m.Seen(u, ex), unknown
}

// excludedFor says which question Scratch.excluded answered last.
type excludedFor struct {
	m      *Model
	u      int32
	first  *string
	n      int
	items  int
	events uint64
}

// mergeWhy is a merged candidate's reasons, built when explained: its
// collaborative candidate's (in the slice MergeCandidates was given)
// unless the item's features weigh more.
type mergeWhy struct {
	c      *Content
	h      HybridScored
	collab *Candidate
}

func (w *mergeWhy) reasons() []string {
	if w.h.byMF() && w.collab != nil {
		if cr := w.collab.Explain(); cr != nil {
			return cr
		}
	}
	return w.c.Explain(w.h)
}

// ItemInfo is what the catalog says of an item, for ItemFeatures.
type ItemInfo struct {
	// Type is the activity type (course, module, assessment, item, or an
	// activity type IRI).
	Type  string
	Title string
	// Duration is the expected duration (0: unknown).
	Duration time.Duration
	// Skills the item teaches or assesses.
	Skills []string
	// Parent is the enclosing activity, Course the top of the parent chain.
	Parent, Course string
	// Extra features, used as given (e.g. package metadata).
	Extra []string
}

// stopWords are title words that say nothing of the content.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "from": true, "into": true, "your": true,
	"you": true, "are": true, "how": true, "what": true, "why": true, "when": true, "this": true,
	"that": true, "its": true, "our": true, "all": true, "part": true, "unit": true, "lesson": true,
	"module": true, "course": true, "chapter": true, "introduction": true, "intro": true,
}

// maxTerms bounds the title terms of one item.
const maxTerms = 16

// ItemFeatures turns catalog data into feature names: skill:<id> for each
// skill taught or assessed, type:<type> (the last path segment of an IRI),
// duration:<bucket> (<5m, 5-15m, 15-60m, 1-3h, >3h), parent:<id>,
// course:<id> (when not the parent), term:<word> for up to 16 title words
// of three or more letters that are not stop words (lower case), and the
// extra features as given.
func ItemFeatures(in ItemInfo) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range in.Skills {
		if s != "" {
			add(FeatureSkill + s)
		}
	}
	if t := in.Type; t != "" {
		if i := strings.LastIndexAny(t, "/#"); i >= 0 && i < len(t)-1 {
			t = t[i+1:]
		}
		add(FeatureType + strings.ToLower(t))
	}
	if d := in.Duration; d > 0 {
		var b string
		switch {
		case d < 5*time.Minute:
			b = "<5m"
		case d < 15*time.Minute:
			b = "5-15m"
		case d < time.Hour:
			b = "15-60m"
		case d < 3*time.Hour:
			b = "1-3h"
		default:
			b = ">3h"
		}
		add(FeatureDuration + b)
	}
	if in.Parent != "" {
		add(FeatureParent + in.Parent)
	}
	if in.Course != "" && in.Course != in.Parent {
		add(FeatureCourse + in.Course)
	}
	terms := 0
	for _, w := range strings.FieldsFunc(strings.ToLower(in.Title), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if terms == maxTerms {
			break
		}
		if len([]rune(w)) < 3 || stopWords[w] || slices.Contains(out, FeatureTerm+w) {
			continue
		}
		add(FeatureTerm + w)
		terms++
	}
	for _, x := range in.Extra {
		if x = strings.TrimSpace(x); x != "" {
			add(x)
		}
	}
	return out
}
