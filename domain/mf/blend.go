package mf

import (
	"fmt"
	"math"
	"slices"
)

// Reason codes of blended recommendations (followed by ":" and the item
// of the learner's recent history the rule starts from).
const (
	// ReasonNextAfter: learners who did that item did this one next
	// (a transition learned by Sequence).
	ReasonNextAfter = "next_after"
	// ReasonOftenWith: learners did this item shortly before that one
	// (co-occurrence learned by Sequence, with SequenceConfig.With).
	ReasonOftenWith = "often_with"
)

// BlendConfig tunes Blender. Start from DefaultBlendConfig.
type BlendConfig struct {
	// Sequence configures the item-to-item rules.
	Sequence SequenceConfig
	// Weight is the weight of the sequence score against the MF score,
	// both scaled to [0, 1] over the learner's candidates; 0 ranks by MF
	// alone.
	Weight float64
	// Pool is the number of MF candidates blended with the items the
	// sequence rules point to.
	Pool int
	// Recency adds to the learner's vector, for ranking, Recency times the
	// mean vector of their last Sequence.Recent items (weighted by Decay):
	// the MF part then leans towards what the learner does now (0: the
	// learner's vector as solved over their whole history).
	Recency float64
}

// DefaultBlendConfig returns the documented defaults (chosen by
// prequential runs on all bench/recommend streams; see
// docs/recommendations.md, "Long histories").
func DefaultBlendConfig() BlendConfig {
	return BlendConfig{Sequence: DefaultSequenceConfig(), Weight: 1, Pool: 50}
}

// Validate checks the configuration.
func (c BlendConfig) Validate() error {
	if err := c.Sequence.Validate(); err != nil {
		return err
	}
	switch {
	case math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) || c.Weight < 0 || c.Weight > 1000:
		return fmt.Errorf("blend config: Weight = %v, want 0..1000", c.Weight)
	case math.IsNaN(c.Recency) || math.IsInf(c.Recency, 0) || c.Recency < 0 || c.Recency > 1000:
		return fmt.Errorf("blend config: Recency = %v, want 0..1000", c.Recency)
	case c.Pool < 1 || c.Pool > 1<<16:
		return fmt.Errorf("blend config: Pool = %d, want 1..%d", c.Pool, 1<<16)
	}
	return nil
}

// Blended is a ranked item with where its score comes from.
type Blended struct {
	Item  int32
	Score float32
	// MF and Seq are the two parts of Score: the scaled MF score and the
	// weighted, scaled sequence score.
	MF, Seq float32
}

// Blender ranks a learner's items by a mixture of the MF model's score and
// the Sequence rules from the learner's last items:
//
//	score(j) = (s_j - s_min) / (s_max - s_min) + Weight * seq(j) / max seq
//
// where s are the MF scores, s_max and s_min the best and the Pool-th
// best of the learner's MF candidates, and seq the Sequence score. The
// candidates are the MF model's top Pool items and every item the
// learner's recent items link to; the MF part of an item outside the pool
// is clamped at 0 (it would otherwise fall far below 0 when the model
// knows little of the item, and the rules could never lift it). It keeps scratch space, so it is not
// safe for concurrent use; TopN does not allocate once its buffers have
// grown to the catalogue.
type Blender struct {
	cfg BlendConfig
	m   *Model
	s   *Sequence

	pool    []Scored
	pv      []float32 // the learner's vector leaning to their recent items
	scores  []float32
	acc     []float32
	touched []int32
	mask    []uint64
}

// NewBlender blends m and s (which must index items like m).
func NewBlender(m *Model, s *Sequence, cfg BlendConfig) (*Blender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Blender{cfg: cfg, m: m, s: s}, nil
}

// Config returns the configuration.
func (b *Blender) Config() BlendConfig { return b.cfg }

// Model returns the MF model.
func (b *Blender) Model() *Model { return b.m }

// Sequence returns the sequence rules.
func (b *Blender) Sequence() *Sequence { return b.s }

// Learn learns one event (u and i are the model's indices) in both parts.
func (b *Blender) Learn(u, i int32, c float32) {
	b.m.Update(u, i, c)
	b.s.Add(b.m.UserID(u), i)
}

// Forget forgets learner id in both parts and reports whether either knew
// them.
func (b *Blender) Forget(id string) bool {
	fm := b.m.Forget(id)
	fs := b.s.Forget(id)
	return fm || fs
}

func (b *Blender) masked(j int32) bool { return b.mask[j>>6]&(1<<(uint(j)&63)) != 0 }

// TopN appends to dst[:0] the n best items for learner u (the model's
// index), best first, leaving out the items in exclude. Like Model.TopN,
// it returns nothing for a learner without history.
func (b *Blender) TopN(u int32, n int, exclude []int32, dst []Blended) []Blended {
	dst = dst[:0]
	m := b.m
	if n <= 0 || m.HistoryLen(u) == 0 {
		return dst
	}
	items := m.Items()
	for len(b.acc) < items {
		b.acc = append(b.acc, 0)
	}
	for len(b.mask) < (items+63)/64 {
		b.mask = append(b.mask, 0)
	}
	for _, e := range exclude {
		if e >= 0 && int(e) < items {
			b.mask[e>>6] |= 1 << (uint(e) & 63)
		}
	}
	pv := b.lean(u)
	if pv == nil {
		b.pool = m.TopN(u, max(b.cfg.Pool, n), exclude, b.pool)
	} else {
		b.pool = b.scan(pv, max(b.cfg.Pool, n), b.pool)
	}
	var smax, smin float32
	if len(b.pool) > 0 {
		smax, smin = b.pool[0].Score, b.pool[len(b.pool)-1].Score
	}
	scale := smax - smin
	if !(scale > 0) {
		scale = 1
	}
	var qmax float32
	if b.cfg.Weight > 0 {
		b.touched = b.s.Score(m.UserID(u), b.acc, b.touched[:0])
		for _, j := range b.touched {
			if int(j) < items && !b.masked(j) && b.acc[j] > qmax {
				qmax = b.acc[j]
			}
		}
	}
	qw := float32(0)
	if qmax > 0 {
		qw = float32(b.cfg.Weight) / qmax
	}
	push := func(j int32, mf float32) {
		x := Blended{Item: j, MF: mf, Seq: qw * b.acc[j]}
		x.Score = x.MF + x.Seq
		dst = pushBlended(dst, n, x)
	}
	for _, s := range b.pool {
		push(s.Item, (s.Score-smin)/scale)
		b.acc[s.Item] = -1 // taken
	}
	if qw > 0 {
		for _, j := range b.touched {
			if int(j) < items && !b.masked(j) && b.acc[j] > 0 {
				s := m.Score(u, j)
				if pv != nil {
					s = dot32(pv, m.ItemVector(j)) + m.ItemBias(j)
				}
				push(j, max(0, (s-smin)/scale))
			}
		}
	}
	for _, s := range b.pool {
		b.acc[s.Item] = 0
	}
	for _, j := range b.touched {
		b.acc[j] = 0
	}
	for _, e := range exclude {
		if e >= 0 && int(e) < items {
			b.mask[e>>6] = 0
		}
	}
	return dst
}

// lean returns learner u's vector plus Recency times the decay-weighted
// mean vector of their recent items, or nil without Recency or recent
// items.
func (b *Blender) lean(u int32) []float32 {
	if b.cfg.Recency <= 0 {
		return nil
	}
	r := b.s.Last(b.m.UserID(u))
	if len(r) == 0 {
		return nil
	}
	k := b.m.K()
	if cap(b.pv) < k {
		b.pv = make([]float32, k)
	}
	pv := b.pv[:k]
	clear(pv)
	wd, sum := 1.0, 0.0
	for d := 0; d < b.s.cfg.Recent && d < len(r); d++ {
		axpy32(float32(wd), b.m.ItemVector(r[len(r)-1-d]), pv)
		sum += wd
		wd *= b.s.cfg.Decay
	}
	scale := float32(b.cfg.Recency / sum)
	for f, x := range b.m.UserVector(u) {
		pv[f] = x + scale*pv[f]
	}
	return pv
}

// scan returns the n best items by pv.q_j + b_j, leaving out the masked
// items (Model.TopN with another vector).
func (b *Blender) scan(pv []float32, n int, dst []Scored) []Scored {
	dst = dst[:0]
	items := b.m.Items()
	if cap(b.scores) < items {
		b.scores = make([]float32, items, 2*items)
	}
	scores := b.scores[:items]
	gemv32(b.m.V, items, pv, scores)
	for j, s := range scores {
		if b.masked(int32(j)) {
			continue
		}
		s += b.m.B[j]
		if len(dst) < n || s > dst[n-1].Score {
			dst = pushTop(dst, n, Scored{Item: int32(j), Score: s})
		}
	}
	return dst
}

// pushBlended inserts x into top (by score descending, ties: first pushed
// first, at most n long).
func pushBlended(top []Blended, n int, x Blended) []Blended {
	if len(top) == n {
		if !(x.Score > top[n-1].Score) {
			return top
		}
		top = top[:n-1]
	}
	i := len(top)
	top = append(top, x)
	for i > 0 && top[i-1].Score < x.Score {
		top[i] = top[i-1]
		i--
	}
	top[i] = x
	return top
}

// blendWhy is a blended candidate's reasons, built when explained.
type blendWhy struct {
	b       *Blender
	learner string
	x       Blended
}

func (w *blendWhy) reasons() []string { return w.b.Reasons(w.learner, w.x) }

// modelItem is c's index in m. A candidate that a blend of m ranked
// carries it (its reasons' state), which spares a lookup by id for each
// candidate the merge with the item features takes from the blend.
func (c Candidate) modelItem(m *Model) (int32, bool) {
	if w, ok := c.why.(*blendWhy); ok && w.b.m == m && m.ItemID(w.x.Item) == c.Item {
		return w.x.Item, true
	}
	return m.LookupItem(c.Item)
}

// Reasons returns the reasons of a blended item for learner, source
// first: mf when the MF part is the larger, next_after:<item> or
// often_with:<item> when the sequence part is at least as large (naming the learner's
// recent item the rule starts from), and the other source second when it
// contributes too. The list of mf alone, most items', is one slice
// shared by all (Candidate.Explain's callers copy what they change).
func (b *Blender) Reasons(learner string, x Blended) []string {
	seq := ""
	if x.Seq > 0 {
		if from, next, ok := b.s.Explain(learner, x.Item); ok {
			code := ReasonOftenWith
			if next {
				code = ReasonNextAfter
			}
			seq = code + ":" + b.m.ItemID(from)
		}
	}
	switch {
	case seq == "":
		return reasonsMF[:1:1]
	case x.Seq >= x.MF:
		if x.MF > 0 {
			return []string{seq, ReasonMF}
		}
		return []string{seq}
	}
	return []string{ReasonMF, seq}
}

var reasonsMF = []string{ReasonMF}

// Candidates is Candidates with the learner's own items ranked by the
// blend instead of by MF alone; the rest of the list is filled as
// Candidates fills it. The blend's reasons (Reasons) are built when a
// candidate is explained (Candidate.Explain).
func (b *Blender) Candidates(pop *Popularity, user, group string, n int, exclude []string) []Candidate {
	return b.CandidatesIn(nil, pop, user, group, n, exclude)
}

// CandidatesIn is Candidates built in s (nil: in new memory), valid until
// s is used again.
func (b *Blender) CandidatesIn(s *Scratch, pop *Popularity, user, group string, n int, exclude []string) []Candidate {
	if n <= 0 {
		return nil
	}
	if s == nil {
		s = new(Scratch)
	}
	m := b.m
	s.exValid = false // a new ranking
	var out []Candidate
	u, ok := m.LookupUser(user)
	if ok && m.HistoryLen(u) > 0 {
		ex, _ := s.excluded(m, u, exclude)
		top := b.TopN(u, n, ex, slices.Grow(s.blended[:0], n))
		s.blended = top
		out = slices.Grow(s.blendOut[:0], n)[:len(top)]
		whys := slices.Grow(s.blendWhys[:0], len(top))[:len(top)]
		for i, x := range top {
			whys[i] = blendWhy{b: b, learner: user, x: x}
			out[i] = Candidate{Item: m.ItemID(x.Item), Score: float64(x.Score), why: &whys[i]}
		}
		s.blendOut, s.blendWhys = out, whys
	}
	if len(out) >= n {
		return out
	}
	ex := make([]string, 0, len(exclude)+len(out))
	ex = append(ex, exclude...)
	for _, c := range out {
		ex = append(ex, c.Item)
	}
	return append(out, Candidates(m, pop, user, group, n-len(out), ex)...)
}
