// Package mf is learnstream's online recommender: implicit-feedback matrix
// factorisation updated one event at a time, a popularity model for cold
// start and as a baseline, a knowledge-graph-aware re-ranker, and a
// prequential (predict, then learn) evaluation harness.
//
// Two update rules share one Model type:
//
//   - ALS (the default) re-solves the learner's vector at every event, as in
//     implicit ALS (Hu, Koren & Volinsky 2008) with the missing-data weights
//     of eALS (He et al. 2016): minimise over the learner's vector p the
//     sum over the learner's items h of w_h (1 - b_h - p.q_h)^2, plus the
//     sum over all items j of a_j (b_j + p.q_j)^2, plus Reg |p|^2, where w_h is the learner's accumulated confidence for item h and the
//     missing-data weights a_j (summing to Alpha0) grow with item j's
//     popularity (exponent PopExponent). The all-items term is a cached
//     k x k Gram matrix refreshed every GramEvery events, so a solve costs
//     O(k^2 + |history| k): a few conjugate-gradient steps (one on long
//     histories, see CGBudget) warm-started
//     from the previous vector (or an exact Cholesky solve with gonum).
//     The item's vector and bias b then take a normalised SGD step towards
//     score 1, with weight decay ItemReg (so that items follow recent
//     events), and Negatives items sampled uniformly (or by recent
//     popularity) take a step towards 0.
//   - ISGD (Vinagre, Jorge & Gama 2014) is the baseline: err = 1 - u.v,
//     u += lr (err v - reg u), v += lr (err u - reg v), optionally with the
//     same sampled negatives (target 0).
//
// Learners and items are added on the fly. A learner without history is
// ranked by the item biases (TopNBias: a decayed popularity), or by
// Popularity, globally or within a group such as a role.
//
// A Model is deterministic for a given Config (Seed included) and event
// sequence, and can be checkpointed with MarshalBinary and restored with
// UnmarshalBinary. It is not safe for concurrent use: the recommender owns
// one model per partition. Update and TopN do not allocate once the
// learners and items they touch exist (and the learner's history has room).
package mf

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Algorithm selects the update rule.
type Algorithm string

// Update rules.
const (
	ALS  Algorithm = "als"
	ISGD Algorithm = "isgd"
)

// Config holds the model's hyper-parameters. Start from DefaultConfig.
type Config struct {
	// K is the number of latent factors.
	K int
	// Algorithm is ALS (default) or ISGD.
	Algorithm Algorithm
	// LearnRate is the SGD step size (item steps in ALS, both sides in ISGD).
	LearnRate float64
	// Reg is the L2 regularisation of learner vectors: the ridge of the
	// learner solve (ALS), the weight decay of both sides' SGD steps (ISGD).
	Reg float64
	// ItemReg is the weight decay of item SGD steps (ALS).
	ItemReg float64
	// Bias adds a learned per-item bias to the score (ALS only): p.q_i +
	// b_i. It carries item popularity, decayed by ItemReg so that it follows
	// recent events; it matters most for learners with a short history and
	// ranks learners without one (TopNBias).
	Bias bool
	// Negatives is the number of items sampled per event whose score is
	// pushed towards 0.
	Negatives int
	// UniformNegatives samples negatives uniformly among known items instead
	// of by recent popularity (uniformly from the items of the last
	// SampleWindow events).
	UniformNegatives bool
	// NegWeight is the confidence of a sampled negative.
	NegWeight float64
	// Alpha0 is the total weight of the unobserved items in the learner
	// solve (ALS), spread over the items by popularity.
	Alpha0 float64
	// PopExponent shapes the missing-data weights: item j gets a share
	// proportional to (count_j+1)^PopExponent (0: uniform).
	PopExponent float64
	// CGSteps is the number of conjugate-gradient steps per learner solve.
	CGSteps int
	// CGBudget caps the work of a learner solve on long histories: a solve
	// takes min(CGSteps, max(1, CGBudget/|history|)) steps, so that a step
	// costs about one pass over the history and a learner with hundreds of
	// remembered items is not re-solved from scratch at every event (the
	// solve is warm-started from the previous vector, which already holds
	// most of the history). 0 means no cap (CGSteps on every history).
	CGBudget int
	// Exact solves the learner's k x k system by Cholesky instead of CG.
	Exact bool
	// History is the number of distinct items remembered per learner (the
	// oldest is forgotten first).
	History int
	// GramEvery is the number of events between refreshes of the cached
	// item Gram matrix; 0 means max(256, number of items).
	GramEvery int
	// SampleWindow is the number of recent events negatives are sampled from.
	SampleWindow int
	// InitStd is the standard deviation of new item vectors (and of new
	// learner vectors in ISGD).
	InitStd float64
	// Seed makes the model deterministic.
	Seed uint64
}

// DefaultConfig returns the documented defaults (tuned on the MOOCCube
// course data with prequential evaluation; see docs/recommendations.md).
func DefaultConfig() Config {
	return Config{
		K:                32,
		Algorithm:        ALS,
		LearnRate:        0.05,
		Reg:              0.1,
		ItemReg:          0.5,
		Bias:             true,
		Negatives:        2,
		UniformNegatives: true,
		NegWeight:        0.25,
		Alpha0:           1,
		PopExponent:      0.5,
		CGSteps:          3,
		CGBudget:         192,
		History:          256,
		SampleWindow:     1 << 16,
		InitStd:          0.1,
		Seed:             1,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.K < 1 || c.K > 1024:
		return fmt.Errorf("mf config: K = %d, want 1..1024", c.K)
	case c.Algorithm != ALS && c.Algorithm != ISGD:
		return fmt.Errorf("mf config: unknown algorithm %q (want %q or %q)", c.Algorithm, ALS, ISGD)
	case !finite(c.LearnRate) || c.LearnRate <= 0:
		return fmt.Errorf("mf config: LearnRate = %v, want > 0", c.LearnRate)
	case !finite(c.Reg) || c.Reg < 0:
		return fmt.Errorf("mf config: Reg = %v, want >= 0", c.Reg)
	case !finite(c.ItemReg) || c.ItemReg < 0 || c.ItemReg*c.LearnRate >= 1:
		return fmt.Errorf("mf config: ItemReg = %v, want >= 0 and ItemReg*LearnRate < 1", c.ItemReg)
	case c.Negatives < 0 || c.Negatives > 1000:
		return fmt.Errorf("mf config: Negatives = %d, want 0..1000", c.Negatives)
	case !finite(c.NegWeight) || c.NegWeight < 0:
		return fmt.Errorf("mf config: NegWeight = %v, want >= 0", c.NegWeight)
	case !finite(c.Alpha0) || c.Alpha0 < 0:
		return fmt.Errorf("mf config: Alpha0 = %v, want >= 0", c.Alpha0)
	case !finite(c.PopExponent) || c.PopExponent < 0 || c.PopExponent > 4:
		return fmt.Errorf("mf config: PopExponent = %v, want 0..4", c.PopExponent)
	case c.Algorithm == ALS && !c.Exact && (c.CGSteps < 1 || c.CGSteps > 1024):
		return fmt.Errorf("mf config: CGSteps = %d, want 1..1024", c.CGSteps)
	case c.Algorithm == ALS && c.Reg == 0 && c.Alpha0 == 0:
		return errors.New("mf config: ALS needs Reg > 0 or Alpha0 > 0 for a solvable learner system")
	case c.CGBudget < 0 || c.CGBudget > 1<<20:
		return fmt.Errorf("mf config: CGBudget = %d, want 0..%d", c.CGBudget, 1<<20)
	case c.History < 1 || c.History > 1<<20:
		return fmt.Errorf("mf config: History = %d, want 1..%d", c.History, 1<<20)
	case c.GramEvery < 0:
		return fmt.Errorf("mf config: GramEvery = %d, want >= 0", c.GramEvery)
	case c.SampleWindow < 1 || c.SampleWindow > 1<<26:
		return fmt.Errorf("mf config: SampleWindow = %d, want 1..%d", c.SampleWindow, 1<<26)
	case !finite(c.InitStd) || c.InitStd < 0:
		return fmt.Errorf("mf config: InitStd = %v, want >= 0", c.InitStd)
	}
	return nil
}

// entry is one remembered interaction of a learner.
type entry struct {
	item int32
	w    float32 // accumulated confidence
}

// Scored is an item and its score.
type Scored struct {
	Item  int32
	Score float32
}

// Model is an online implicit matrix-factorisation model.
type Model struct {
	cfg Config
	k   int

	userIdx map[string]int32
	userIDs []string
	itemIdx map[string]int32
	itemIDs []string

	U     []float32 // learner vectors, row-major users x k
	V     []float32 // item vectors, row-major items x k
	B     []float32 // item biases (zero unless Config.Bias)
	hist  [][]entry
	count []uint32  // positive events per item
	negW  []float32 // alpha0 * s_j as of the last Gram refresh

	gram      []float32 // alpha0 sum_j s_j q_j q_j^T + reg I, k x k
	gramBias  []float32 // alpha0 sum_j s_j b_j q_j, k
	sinceGram int
	gramItems int // items covered by the cached Gram

	ring    []int32 // recent event items (popularity sampling)
	ringPos int

	pcg *rand.PCG
	rng *rand.Rand

	events uint64

	// workspaces
	x, r, d, ad, b []float32
	a, a64, b64    []float64
	mask           []uint64
	scores         []float32
}

// New returns an empty model.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, k: cfg.K, userIdx: map[string]int32{}, itemIdx: map[string]int32{}}
	m.pcg = rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)
	m.rng = rand.New(m.pcg)
	m.alloc()
	m.resetGram()
	return m, nil
}

func (m *Model) alloc() {
	k := m.k
	m.x, m.r, m.d, m.ad, m.b = make([]float32, k), make([]float32, k), make([]float32, k), make([]float32, k), make([]float32, k)
	m.a, m.a64, m.b64 = make([]float64, k*k), make([]float64, k*k), make([]float64, k)
	m.gram = make([]float32, k*k)
	m.gramBias = make([]float32, k)
}

func (m *Model) resetGram() {
	for i := range m.gram {
		m.gram[i] = 0
	}
	for i := range m.gramBias {
		m.gramBias[i] = 0
	}
	for f := 0; f < m.k; f++ {
		m.gram[f*m.k+f] = float32(m.cfg.Reg)
	}
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// K returns the number of factors.
func (m *Model) K() int { return m.k }

// Users returns the number of learners the model knows.
func (m *Model) Users() int { return len(m.userIDs) }

// Items returns the number of items the model knows.
func (m *Model) Items() int { return len(m.itemIDs) }

// Events returns the number of events learned (confidence > 0).
func (m *Model) Events() uint64 { return m.events }

// LookupUser returns the index of a learner.
func (m *Model) LookupUser(id string) (int32, bool) { u, ok := m.userIdx[id]; return u, ok }

// LookupItem returns the index of an item.
func (m *Model) LookupItem(id string) (int32, bool) { i, ok := m.itemIdx[id]; return i, ok }

// UserID returns the id of learner index u.
func (m *Model) UserID(u int32) string { return m.userIDs[u] }

// ItemID returns the id of item index i.
func (m *Model) ItemID(i int32) string { return m.itemIDs[i] }

// Intern returns the model's own copies of a learner's and an item's ids
// when it knows them (the ids themselves otherwise), so that what a caller
// keeps per learner and item shares them instead of holding one more
// string each.
func (m *Model) Intern(user, item string) (string, string) {
	if u, ok := m.LookupUser(user); ok {
		user = m.userIDs[u]
	}
	if i, ok := m.LookupItem(item); ok {
		item = m.itemIDs[i]
	}
	return user, item
}

// AddUser returns the index of a learner, adding it if needed.
func (m *Model) AddUser(id string) int32 {
	if u, ok := m.userIdx[id]; ok {
		return u
	}
	u := int32(len(m.userIDs))
	m.userIdx[id] = u
	m.userIDs = append(m.userIDs, id)
	m.hist = append(m.hist, nil)
	for f := 0; f < m.k; f++ {
		var v float32
		if m.cfg.Algorithm == ISGD {
			v = float32(m.rng.NormFloat64() * m.cfg.InitStd)
		}
		m.U = append(m.U, v)
	}
	return u
}

// AddItem returns the index of an item, adding it if needed.
func (m *Model) AddItem(id string) int32 {
	if i, ok := m.itemIdx[id]; ok {
		return i
	}
	i := int32(len(m.itemIDs))
	m.itemIdx[id] = i
	m.itemIDs = append(m.itemIDs, id)
	m.count = append(m.count, 0)
	m.B = append(m.B, 0)
	m.negW = append(m.negW, 0) // not in the cached Gram until the next refresh
	for f := 0; f < m.k; f++ {
		m.V = append(m.V, float32(m.rng.NormFloat64()*m.cfg.InitStd))
	}
	if need := (len(m.itemIDs) + 63) / 64; need > len(m.mask) {
		m.mask = append(m.mask, 0)
	}
	return i
}

// UserVector returns learner u's factors (shared with the model; do not modify).
func (m *Model) UserVector(u int32) []float32 { return m.U[int(u)*m.k : int(u+1)*m.k] }

// ItemVector returns item i's factors (shared with the model; do not modify).
func (m *Model) ItemVector(i int32) []float32 { return m.V[int(i)*m.k : int(i+1)*m.k] }

// HistoryLen returns the number of distinct items learner u has interacted with
// (up to Config.History).
func (m *Model) HistoryLen(u int32) int { return len(m.hist[u]) }

// Seen appends learner u's remembered items to dst.
func (m *Model) Seen(u int32, dst []int32) []int32 {
	for _, e := range m.hist[u] {
		dst = append(dst, e.item)
	}
	return dst
}

// Observe learns one interaction given by ids (adding the learner and the
// item if needed) with confidence c; c <= 0 is ignored.
func (m *Model) Observe(user, item string, c float64) {
	if !(c > 0) || math.IsInf(c, 0) {
		return
	}
	m.Update(m.AddUser(user), m.AddItem(item), float32(c))
}

// Update learns one interaction of learner u with item i with confidence c
// (both indices must exist); c <= 0 or NaN is ignored.
func (m *Model) Update(u, i int32, c float32) {
	if !(c > 0) || math.IsInf(float64(c), 0) {
		return
	}
	m.events++
	w := m.remember(u, i, c)
	switch m.cfg.Algorithm {
	case ISGD:
		m.isgd(u, i)
	default:
		m.solveUser(u)
		p := m.UserVector(u)
		pp := dot32(p, p)
		if m.HasBias() {
			pp++
		}
		m.itemStep(i, p, pp, w, 1)
		for n := 0; n < m.cfg.Negatives; n++ {
			if j, ok := m.sampleNegative(u, i); ok {
				m.itemStep(j, p, pp, float32(m.cfg.NegWeight), 0)
			}
		}
	}
	m.count[i]++
	if len(m.ring) < m.cfg.SampleWindow {
		m.ring = append(m.ring, i)
	} else {
		m.ring[m.ringPos] = i
		m.ringPos = (m.ringPos + 1) % len(m.ring)
	}
	m.sinceGram++
	every := m.cfg.GramEvery
	if every == 0 {
		every = max(256, len(m.itemIDs))
	}
	if m.cfg.Algorithm == ALS && m.sinceGram >= every {
		m.RefreshGram()
	}
}

// remember adds confidence c to learner u's entry for item i (a new entry
// when there is none, forgetting the oldest when full) and returns the
// entry's accumulated confidence.
func (m *Model) remember(u, i int32, c float32) float32 {
	h := m.hist[u]
	for n := range h {
		if h[n].item == i {
			h[n].w += c
			return h[n].w
		}
	}
	if len(h) >= m.cfg.History {
		copy(h, h[1:])
		h = h[:len(h)-1]
	}
	m.hist[u] = append(h, entry{item: i, w: c})
	return c
}

func (m *Model) isgd(u, i int32) {
	lr, reg := float32(m.cfg.LearnRate), float32(m.cfg.Reg)
	p := m.UserVector(u)
	step := func(q []float32, target float32) {
		e := target - dot32(p, q)
		for f := range p {
			pf, qf := p[f], q[f]
			p[f] = pf + lr*(e*qf-reg*pf)
			q[f] = qf + lr*(e*pf-reg*qf)
		}
	}
	step(m.ItemVector(i), 1)
	for n := 0; n < m.cfg.Negatives; n++ {
		if j, ok := m.sampleNegative(u, i); ok {
			step(m.ItemVector(j), 0)
		}
	}
}

// itemStep moves item i's vector (and bias) towards score = target with
// confidence w. The step is normalised, lr w / (1 + lr w pp) with pp =
// |p|^2 (+1 with biases), so that it never overshoots whatever the scale of p.
func (m *Model) itemStep(i int32, p []float32, pp, w, target float32) {
	q := m.ItemVector(i)
	lr := float32(m.cfg.LearnRate)
	eta := lr * w / (1 + lr*w*pp)
	e := target - dot32(p, q) - m.B[i]
	decay := 1 - lr*float32(m.cfg.ItemReg)
	for f := range q {
		q[f] = decay*q[f] + eta*e*p[f]
	}
	if m.HasBias() {
		m.B[i] = decay*m.B[i] + eta*e
	}
}

// sampleNegative draws an item that learner u has not interacted with and
// that is not i: from the recent-events window (so by recent popularity),
// or uniformly among known items.
func (m *Model) sampleNegative(u, i int32) (int32, bool) {
	if len(m.ring) == 0 {
		return 0, false
	}
	for try := 0; try < 4; try++ {
		var j int32
		if m.cfg.UniformNegatives {
			j = int32(m.rng.IntN(len(m.itemIDs)))
		} else {
			j = m.ring[m.rng.IntN(len(m.ring))]
		}
		if j == i {
			continue
		}
		seen := false
		for _, e := range m.hist[u] {
			if e.item == j {
				seen = true
				break
			}
		}
		if !seen {
			return j, true
		}
	}
	return 0, false
}

// RefreshGram recomputes the cached missing-data Gram matrix from the
// current item vectors and counts. Update calls it every GramEvery events.
func (m *Model) RefreshGram() {
	m.sinceGram = 0
	k := m.k
	n := len(m.itemIDs)
	m.resetGram()
	m.gramItems = n
	if n == 0 {
		return
	}
	// s_j = n (count_j+1)^w / sum (count+1)^w, so the shares average 1.
	omega := m.cfg.PopExponent
	var total float64
	for j := 0; j < n; j++ {
		s := 1.0
		if omega != 0 {
			s = math.Pow(float64(m.count[j])+1, omega)
		}
		m.negW[j] = float32(s)
		total += s
	}
	scale := m.cfg.Alpha0 / total // the weights sum to alpha0
	// Accumulate in float64 (a64) for accuracy, with rank-1 updates on the
	// full square (gonum's assembly kernels), then store as float32.
	g := m.a64
	for i := range g {
		g[i] = 0
	}
	for i := range m.b64 {
		m.b64[i] = 0
	}
	q64 := m.a[:k] // scratch
	for j := 0; j < n; j++ {
		w := float64(m.negW[j]) * scale
		m.negW[j] = float32(w)
		q := m.V[j*k : (j+1)*k]
		for f, v := range q {
			q64[f] = float64(v)
		}
		blas64.Ger(w, blas64.Vector{N: k, Inc: 1, Data: q64}, blas64.Vector{N: k, Inc: 1, Data: q64},
			blas64.General{Rows: k, Cols: k, Stride: k, Data: g})
		if bj := float64(m.B[j]); bj != 0 {
			blas64.Axpy(w*bj, blas64.Vector{N: k, Inc: 1, Data: q64}, blas64.Vector{N: k, Inc: 1, Data: m.b64})
		}
	}
	for i, v := range g {
		m.gram[i] += float32(v)
	}
	for i, v := range m.b64 {
		m.gramBias[i] = float32(v)
	}
}

// mulA computes out = A v for learner u's system
// A = gram + sum_h (w_h - negW_h) q_h q_h^T.
func (m *Model) mulA(h []entry, v, out []float32) {
	k := m.k
	gemv32(m.gram, k, v, out)
	for _, e := range h {
		q := m.V[int(e.item)*k : int(e.item+1)*k]
		c := e.w - m.negW[e.item]
		axpy32(c*dot32(q, v), q, out)
	}
}

// quadA returns v.A v for learner u's system: one dot per history item,
// where mulA needs a dot and an axpy.
func (m *Model) quadA(h []entry, v []float32) float32 {
	k := m.k
	gemv32(m.gram, k, v, m.ad)
	s := dot32(v, m.ad)
	for _, e := range h {
		q := m.V[int(e.item)*k : int(e.item+1)*k]
		t := dot32(q, v)
		s += (e.w - m.negW[e.item]) * t * t
	}
	return s
}

// solveUser re-solves learner u's vector against its history.
func (m *Model) solveUser(u int32) {
	if m.gramItems < len(m.itemIDs) && m.gramItems < 64 {
		// Bootstrap: while the catalog is tiny, keep the Gram complete.
		m.RefreshGram()
	}
	h := m.hist[u]
	p := m.UserVector(u)
	if m.cfg.Exact {
		m.choleskySolve(h, m.rhs(h), p)
		return
	}
	steps := m.cfg.CGSteps
	if b := m.cfg.CGBudget; b > 0 && len(h) > 0 {
		steps = min(steps, max(1, b/len(h)))
	}
	m.cg(h, p, steps) // warm start from the current vector
}

// rhs returns (in m.b) the right-hand side of learner u's system:
// sum_h (w_h (1 - b_h) + negW_h b_h) q_h - alpha0 sum_j s_j b_j q_j.
func (m *Model) rhs(h []entry) []float32 {
	k := m.k
	b := m.b
	for f := range b {
		b[f] = -m.gramBias[f]
	}
	for _, e := range h {
		q := m.V[int(e.item)*k : int(e.item+1)*k]
		bh := m.B[e.item]
		axpy32(e.w*(1-bh)+m.negW[e.item]*bh, q, b)
	}
	return b
}

// cg runs steps conjugate-gradient steps on A x = b from x. The first
// residual b - A x is formed in one pass over the history (the right-hand
// side and A x share the dot q_h.x), and the last step only needs d.A d,
// not A d, so a solve of s steps makes s+1 passes, each a dot and an axpy
// per history item, except the last, which is a dot only.
func (m *Model) cg(h []entry, x []float32, steps int) {
	k := m.k
	r, d, ad := m.r, m.d, m.ad
	gemv32(m.gram, k, x, r)
	for f := range r {
		r[f] = -m.gramBias[f] - r[f]
	}
	for _, e := range h {
		q := m.V[int(e.item)*k : int(e.item+1)*k]
		bh, nw := m.B[e.item], m.negW[e.item]
		axpy32(e.w*(1-bh)+nw*bh-(e.w-nw)*dot32(q, x), q, r)
	}
	copy(d, r)
	rs := dot32(r, r)
	for it := 0; it < steps; it++ {
		if rs < 1e-12 {
			return
		}
		last := it == steps-1
		var dad float32
		if last {
			dad = m.quadA(h, d)
		} else {
			m.mulA(h, d, ad)
			dad = dot32(d, ad)
		}
		if !(dad > 0) {
			return
		}
		alpha := rs / dad
		axpy32(alpha, d, x)
		if last {
			return
		}
		axpy32(-alpha, ad, r)
		rsNew := dot32(r, r)
		beta := rsNew / rs
		rs = rsNew
		for f := range d {
			d[f] = r[f] + beta*d[f]
		}
	}
}

// choleskySolve solves A x = b exactly (gonum LAPACK Cholesky, float64).
func (m *Model) choleskySolve(h []entry, b, x []float32) {
	k := m.k
	a := m.a
	for i, v := range m.gram {
		a[i] = float64(v)
	}
	for _, e := range h {
		q := m.V[int(e.item)*k : int(e.item+1)*k]
		c := float64(e.w) - float64(m.negW[e.item])
		for i := 0; i < k; i++ {
			ci := c * float64(q[i])
			row := a[i*k : (i+1)*k]
			for j := i; j < k; j++ {
				row[j] += ci * float64(q[j])
			}
		}
	}
	for f, v := range b {
		m.b64[f] = float64(v)
	}
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: k, Stride: k, Data: a})
	if !ok {
		// Not positive definite (possible only with Reg = 0): keep the old vector.
		return
	}
	lapack64.Potrs(t, blas64.General{Rows: k, Cols: 1, Stride: 1, Data: m.b64})
	for f, v := range m.b64 {
		x[f] = float32(v)
	}
}

// Score returns the model's score of item i for learner u.
func (m *Model) Score(u, i int32) float32 { return dot32(m.UserVector(u), m.ItemVector(i)) + m.B[i] }

// HasBias reports whether the model learns item biases (ALS with Config.Bias).
func (m *Model) HasBias() bool { return m.cfg.Bias && m.cfg.Algorithm == ALS }

// ItemBias returns item i's learned bias (0 without biases).
func (m *Model) ItemBias(i int32) float32 { return m.B[i] }

// TopN appends to dst[:0] the n best-scored items for learner u, best first
// (ties: lower index first), leaving out the items in exclude. It returns
// dst[:0] for a learner with no history (cold start: use Popularity).
func (m *Model) TopN(u int32, n int, exclude []int32, dst []Scored) []Scored {
	dst = dst[:0]
	if n <= 0 || len(m.hist[u]) == 0 {
		return dst
	}
	m.setMask(exclude)
	items := len(m.itemIDs)
	if cap(m.scores) < items {
		m.scores = make([]float32, items, 2*items)
	}
	scores := m.scores[:items]
	gemv32(m.V, items, m.UserVector(u), scores)
	for j, s := range scores {
		if m.mask[j>>6]&(1<<(uint(j)&63)) != 0 {
			continue
		}
		s += m.B[j]
		if len(dst) < n || s > dst[n-1].Score {
			dst = pushTop(dst, n, Scored{Item: int32(j), Score: s})
		}
	}
	m.clearMask(exclude)
	return dst
}

// pushTop inserts s into top (sorted by score descending, at most n long).
func pushTop(top []Scored, n int, s Scored) []Scored {
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

// TopNBias appends to dst[:0] the n items with the highest learned bias,
// leaving out the items in exclude: the model's view of what is popular
// now (the bias decays with ItemReg, so it follows recent events). It
// returns dst[:0] without biases (Config.Bias off, or ISGD).
func (m *Model) TopNBias(n int, exclude []int32, dst []Scored) []Scored {
	dst = dst[:0]
	if n <= 0 || !m.HasBias() {
		return dst
	}
	m.setMask(exclude)
	for j, b := range m.B {
		if m.mask[j>>6]&(1<<(uint(j)&63)) != 0 {
			continue
		}
		if len(dst) < n || b > dst[n-1].Score {
			dst = pushTop(dst, n, Scored{Item: int32(j), Score: b})
		}
	}
	m.clearMask(exclude)
	return dst
}

func (m *Model) setMask(exclude []int32) {
	for _, e := range exclude {
		if e >= 0 && int(e) < len(m.itemIDs) {
			m.mask[e>>6] |= 1 << (uint(e) & 63)
		}
	}
}

func (m *Model) clearMask(exclude []int32) {
	for _, e := range exclude {
		if e >= 0 && int(e) < len(m.itemIDs) {
			m.mask[e>>6] = 0
		}
	}
}

// Forget removes learner id and everything the model keeps of them: their
// factors and their history. It reports whether the model knew them. The
// item factors and counts they helped learn stay: they describe items, and
// say nothing about any one learner. The last learner takes the freed
// index, so indices of others may change (look them up again).
func (m *Model) Forget(id string) bool {
	u, ok := m.userIdx[id]
	if !ok {
		return false
	}
	k := m.k
	last := int32(len(m.userIDs) - 1)
	if u != last {
		moved := m.userIDs[last]
		m.userIDs[u] = moved
		m.userIdx[moved] = u
		copy(m.U[int(u)*k:int(u+1)*k], m.U[int(last)*k:int(last+1)*k])
		m.hist[u] = m.hist[last]
	}
	delete(m.userIdx, id)
	// Clear what stays beyond the slices' new lengths in their arrays.
	m.userIDs[last] = ""
	clear(m.U[int(last)*k : int(last+1)*k])
	m.hist[last] = nil
	m.userIDs, m.U, m.hist = m.userIDs[:last], m.U[:int(last)*k], m.hist[:last]
	return true
}
