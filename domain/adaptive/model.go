package adaptive

import (
	"math"
	"strconv"
)

// MaxID bounds dense ids. State is kept in slices indexed by id, so an id is
// memory: a stray huge id must be rejected, not allocated.
const MaxID = 1<<26 - 1

// Event is one scored attempt in dense-id form (see Index for the mapping
// from the strings of a statement). The model reads it and keeps no
// reference to it, so a caller may reuse one Event and its Skills slice.
type Event struct {
	Learner int32
	Item    int32
	// Skills of the item; may be empty (see RuleNoSkills for what that means).
	Skills []int32
	// Score is the outcome in [0,1]: 1 correct, 0 incorrect. Partial credit
	// is accepted: Elo and the predictor learn from it as a soft label; BKT,
	// the success counts and the recency features treat Score >= 0.5 as
	// correct.
	Score float64
	// Options is the number of answer options of a choice item (guessing
	// floor 1/Options); 0 for open responses. It is remembered per item.
	Options int32
}

// Prediction is the probability of a correct answer from each model, all
// computed from the state before the attempt.
type Prediction struct {
	P   float64 // the combined online predictor
	Elo float64 // plain Elo with uncertainty
	BKT float64 // plain BKT (mean over the item's skills)
}

type learnerState struct {
	theta  float64 // global Elo ability
	n      float32 // attempts
	wins   float32 // correct attempts
	ewma   float32 // decayed correct count (recency)
	ewmaW  float32 // decayed attempt count
	events int32   // attempts so far, the learner's own clock
}

type itemState struct {
	d     float64 // Elo difficulty
	n     float32
	wins  float32 // correct answers from all learners
	guess float32 // guessing floor from Options
	w     float64 // predictor: item bias weight
	g2    float64 // its Adagrad accumulator
}

// skillWeights are the predictor's per-skill weights: a bias, a slope on
// log(1+attempts) and a slope on log(1+wins) for the learner on that skill
// (PFA / Best-LR style, learned online).
const skillWeights = 3

type skillState struct {
	bkt BKTParams
	w   [skillWeights]float64
	g2  [skillWeights]float64
}

type learnerSkill struct {
	theta    float64 // Elo ability on the skill, on top of the global one
	known    float64 // BKT P(known)
	n        float32
	wins     float32
	ewma     float32
	ewmaW    float32
	last     float32 // last outcome: +1 correct, -1 incorrect, 0 none
	lastSeen int32   // learner clock at the last attempt on this skill
}

type learnerItem struct {
	n, wins float32
}

// Model holds the online state of Elo, BKT and the combined predictor. It is
// not safe for concurrent use: a consumer owns one Model per partition, which
// already serialises one learner's events.
type Model struct {
	cfg      Config
	feats    Features
	learners []learnerState
	items    []itemState
	skills   []skillState
	lsIndex  pairTable[int32] // (learner, skill) -> index in ls
	ls       []learnerSkill
	li       pairTable[learnerItem]
	w        [numDense]float64 // predictor: dense weights
	g2       [numDense]float64
	frozen   bool // shared parameters frozen: only learner state learns

	// per-event scratch, reused so Observe does not allocate: indices of
	// the event's learner-skill states in ls, or -1-j for the j-th fresh
	// state in fresh (a pair Predict has not seen; never stored).
	scratch []int32
	fresh   []learnerSkill
}

// New returns an empty model. It validates the configuration.
func New(cfg Config) (*Model, error) {
	if cfg.Predictor.Features == 0 {
		cfg.Predictor.Features = DefaultFeatures
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Model{cfg: cfg, feats: cfg.Predictor.Features}, nil
}

// FreezeShared stops (or resumes) learning of everything shared between
// learners: predictor weights, item difficulties and counts. Learner state
// (abilities, mastery, counts, recency) still learns. Evaluation uses it to
// reproduce the protocol of batch-trained baselines, which are fitted on
// training learners and then applied, unchanged, to test learners.
func (m *Model) FreezeShared(frozen bool) { m.frozen = frozen }

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// SetSkillBKT installs (fitted) BKT parameters for a skill. Learner states
// already on the skill keep their current P(known).
func (m *Model) SetSkillBKT(skill int32, p BKTParams) error {
	if skill < 0 || skill > MaxID {
		return invalid("skill", RuleID, skill, ActionDLQ)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	m.growSkills(skill)
	m.skills[skill].bkt = p
	return nil
}

// SkillBKT returns the BKT parameters in use for a skill.
func (m *Model) SkillBKT(skill int32) BKTParams {
	if skill >= 0 && int(skill) < len(m.skills) {
		return m.skills[skill].bkt
	}
	return m.cfg.BKT
}

func (m *Model) growSkills(skill int32) {
	for int(skill) >= len(m.skills) {
		m.skills = append(m.skills, skillState{bkt: m.cfg.BKT})
	}
}

func (m *Model) growLearners(l int32) {
	if int(l) >= len(m.learners) {
		m.learners = append(m.learners, make([]learnerState, int(l)+1-len(m.learners))...)
	}
}

func (m *Model) growItems(i int32) {
	if int(i) >= len(m.items) {
		m.items = append(m.items, make([]itemState, int(i)+1-len(m.items))...)
	}
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Validate checks a dense event without touching the model.
func (e *Event) Validate() error {
	if e.Learner < 0 || e.Learner > MaxID {
		return invalid("learner", RuleID, e.Learner, ActionDLQ)
	}
	if e.Item < 0 || e.Item > MaxID {
		return invalid("item", RuleID, e.Item, ActionDLQ)
	}
	for i, s := range e.Skills {
		if s < 0 || s > MaxID {
			return invalid("skills["+strconv.Itoa(i)+"]", RuleID, s, ActionDLQ)
		}
		for _, t := range e.Skills[:i] {
			if t == s {
				return invalid("skills["+strconv.Itoa(i)+"]", RuleDuplicateSkill, s, ActionDLQ)
			}
		}
	}
	if !(e.Score >= 0 && e.Score <= 1) {
		return invalid("score", RuleScoreRange, e.Score, ActionDLQ)
	}
	if e.Options < 0 || e.Options == 1 {
		return invalid("options", RuleOptions, e.Options, ActionDLQ)
	}
	return nil
}

// Predict returns the predictions for an attempt without learning from it.
// Unknown learners, items and skills get the priors.
func (m *Model) Predict(e *Event) (Prediction, error) {
	if err := e.Validate(); err != nil {
		return Prediction{}, err
	}
	v := m.view(e, false)
	return v.pred, nil
}

// Observe predicts the attempt from the state before it, then learns from
// it, and returns the prediction: the prequential step. It allocates only
// when it meets a new learner, item, skill or learner-skill pair.
func (m *Model) Observe(e *Event) (Prediction, error) {
	if err := e.Validate(); err != nil {
		return Prediction{}, err
	}
	v := m.view(e, true)
	m.learn(e, &v)
	return v.pred, nil
}

// view is everything one attempt reads from the state before learning.
type view struct {
	pred  Prediction
	x     [numDense]float64 // dense features
	eloZ  float64           // Elo logit without the guessing floor
	guess float64
	zP    float64      // predictor logit
	li    *learnerItem // the learner's counts on the item (when learning)
}

// lsAt returns the learner-skill state for a scratch index.
func (m *Model) lsAt(idx int32) *learnerSkill {
	if idx >= 0 {
		return &m.ls[idx]
	}
	return &m.fresh[-1-idx]
}

// gather fills m.scratch with the event's learner-skill states. With create
// it makes missing pairs (and skills) permanent; without, it reads fresh
// priors that are thrown away.
func (m *Model) gather(e *Event, create bool) {
	m.scratch = m.scratch[:0]
	m.fresh = m.fresh[:0]
	for _, s := range e.Skills {
		k := pairKey(e.Learner, s)
		if idx := m.lsIndex.get(k); idx != nil {
			m.scratch = append(m.scratch, *idx)
			continue
		}
		st := learnerSkill{known: m.skillParams(s).Prior}
		if create {
			m.growSkills(s)
			idx, _ := m.lsIndex.insert(k)
			*idx = int32(len(m.ls))
			m.ls = append(m.ls, st)
			m.scratch = append(m.scratch, *idx)
			continue
		}
		m.fresh = append(m.fresh, st)
		m.scratch = append(m.scratch, int32(-len(m.fresh)))
	}
}

func (m *Model) view(e *Event, create bool) view {
	var v view
	var ls *learnerState
	var it *itemState
	var zeroL learnerState
	var zeroI itemState
	if create {
		m.growLearners(e.Learner)
		m.growItems(e.Item)
		ls, it = &m.learners[e.Learner], &m.items[e.Item]
		if e.Options >= 2 {
			it.guess = float32(1 / float64(e.Options))
		}
	} else {
		ls, it = &zeroL, &zeroI
		if int(e.Learner) < len(m.learners) {
			ls = &m.learners[e.Learner]
		}
		if int(e.Item) < len(m.items) {
			it = &m.items[e.Item]
		}
		if e.Options >= 2 {
			// Predict must not store the floor: read a copy of the item.
			zeroI = *it
			zeroI.guess = float32(1 / float64(e.Options))
			it = &zeroI
		}
	}
	m.gather(e, create)

	g := float64(it.guess)
	v.guess = g
	nsk := float64(len(e.Skills))

	// Elo and BKT over the item's skills.
	var thetaS, pBKT, last, skEW, gap float64
	for i, idx := range m.scratch {
		st := m.lsAt(idx)
		thetaS += st.theta
		pBKT += m.skillParams(e.Skills[i]).PCorrect(st.known)
		last += float64(st.last)
		skEW += smoothedLogit(st.ewma, st.ewmaW)
		if st.n > 0 {
			gap += log1p(float32(ls.events - st.lastSeen))
		} else {
			gap += gapNever
		}
	}
	if nsk > 0 {
		thetaS /= nsk
		pBKT /= nsk
		last /= nsk
		skEW /= nsk
		gap /= nsk
	} else {
		pBKT = 0.5 // no skill: BKT has nothing to say
	}
	v.eloZ = ls.theta + thetaS - it.d
	v.pred.Elo = g + (1-g)*sigmoid(v.eloZ)
	v.pred.BKT = pBKT

	// Dense features of the predictor; switched-off groups stay 0.
	f := m.feats
	x := &v.x
	x[fBias] = 1
	if f&FeatTotalCounts != 0 {
		x[fTotalAttempts] = log1p(ls.n)
		x[fTotalWins] = log1p(ls.wins)
	}
	if f&FeatItemCounts != 0 {
		var li *learnerItem
		if create {
			li, _ = m.li.insert(pairKey(e.Learner, e.Item))
			v.li = li
		} else {
			li = m.li.get(pairKey(e.Learner, e.Item))
		}
		if li != nil {
			x[fItemAttempts] = log1p(li.n)
			x[fItemWins] = log1p(li.wins)
		}
	}
	if f&FeatElo != 0 {
		x[fEloLogit] = v.eloZ
	}
	if f&FeatBKT != 0 && nsk > 0 {
		x[fBKTLogit] = logit(pBKT)
	}
	if f&FeatEloParts != 0 {
		x[fEloTheta] = ls.theta
		x[fEloSkill] = thetaS
		x[fEloDiff] = -it.d
	}
	if f&FeatItemRate != 0 {
		x[fItemRate] = smoothedLogit(it.wins, it.n)
	}
	if f&FeatRecency != 0 {
		x[fLastOutcome] = last
		x[fSkillRecent] = skEW
		x[fLearnerRecent] = smoothedLogit(ls.ewma, ls.ewmaW)
		if nsk > 0 {
			x[fSkillGap] = gap
		}
	}
	z := 0.0
	for j := range x {
		z += m.w[j] * x[j]
	}
	if f&FeatItem != 0 {
		z += it.w
	}
	for i, idx := range m.scratch {
		s := e.Skills[i]
		if int(s) >= len(m.skills) {
			continue // unseen skill: its weights are still 0
		}
		sw := &m.skills[s].w
		st := m.lsAt(idx)
		if f&FeatSkill != 0 {
			z += sw[0]
		}
		if f&FeatSkillCounts != 0 {
			z += sw[1]*log1p(st.n) + sw[2]*log1p(st.wins)
		}
	}
	v.zP = z
	v.pred.P = g + (1-g)*sigmoid(z)
	return v
}

// log1pTable caches log(1+n) for the small whole counts that make up
// nearly all count features (math.Log1p was a tenth of the profile).
var log1pTable = func() (t [4096]float64) {
	for i := range t {
		t[i] = math.Log1p(float64(i))
	}
	return
}()

// log1p is log(1+x) for a count x >= 0.
func log1p(x float32) float64 {
	if i := int(x); float32(i) == x && i < len(log1pTable) {
		return log1pTable[i]
	}
	return math.Log1p(float64(x))
}

// gapNever is the skill-gap feature for a skill never practised: a gap
// longer than most real ones (log1p of ~1000 attempts).
const gapNever = 7.0

// smoothedLogit is the logit of a decayed success rate with one pseudo
// success and one pseudo failure, so a learner with no history sits at 0.
func smoothedLogit(wins, n float32) float64 {
	return math.Log((float64(wins) + 1) / (float64(n) - float64(wins) + 1))
}

func (m *Model) skillParams(s int32) *BKTParams {
	if s >= 0 && int(s) < len(m.skills) {
		return &m.skills[s].bkt
	}
	return &m.cfg.BKT
}

// adagrad applies one Adagrad step to weight w with accumulator g2.
func adagrad(w, g2 *float64, grad, rate float64) {
	*g2 += grad * grad
	*w -= rate * grad / (math.Sqrt(*g2) + 1e-8)
}

// learn updates every model from the attempt, using the view computed from
// the state before it (so the update order does not matter).
func (m *Model) learn(e *Event, v *view) {
	ls := &m.learners[e.Learner]
	it := &m.items[e.Item]
	c := e.Score
	correct := c >= 0.5
	win := float32(0)
	if correct {
		win = 1
	}
	rate, l2 := m.cfg.Predictor.LearningRate, m.cfg.Predictor.L2
	f := m.feats

	// Predictor: gradient of the log loss with respect to its logit. With a
	// guessing floor P = g + (1-g)s the chain rule adds the factor below;
	// with g = 0 it reduces to the familiar s - c.
	s := sigmoid(v.zP)
	var gz float64
	if v.guess == 0 {
		gz = s - c
	} else {
		p := v.pred.P
		gz = -(1 - v.guess) * s * (1 - s) * (c/p - (1-c)/(1-p))
	}
	for j, xj := range v.x {
		if xj != 0 && !m.frozen {
			adagrad(&m.w[j], &m.g2[j], gz*xj+l2*m.w[j], rate)
		}
	}
	if f&FeatItem != 0 && !m.frozen {
		adagrad(&it.w, &it.g2, gz+l2*it.w, rate)
	}
	for i, idx := range m.scratch {
		if m.frozen {
			break
		}
		sk := &m.skills[e.Skills[i]]
		st := &m.ls[idx]
		if f&FeatSkill != 0 {
			adagrad(&sk.w[0], &sk.g2[0], gz+l2*sk.w[0], rate)
		}
		if f&FeatSkillCounts != 0 {
			if a := log1p(st.n); a != 0 {
				adagrad(&sk.w[1], &sk.g2[1], gz*a+l2*sk.w[1], rate)
			}
			if w := log1p(st.wins); w != 0 {
				adagrad(&sk.w[2], &sk.g2[2], gz*w+l2*sk.w[2], rate)
			}
		}
	}

	// Elo: every rating moves by its own uncertainty times the surprise.
	elo := &m.cfg.Elo
	surprise := c - v.pred.Elo
	ls.theta += elo.Ability.At(float64(ls.n)) * surprise
	if !m.frozen {
		it.d -= elo.Difficulty.At(float64(it.n)) * surprise
		it.n++
		it.wins += win
	}

	// Per skill: Elo skill ability, BKT, counts and recency.
	r := float32(m.cfg.Predictor.Recency)
	for i, idx := range m.scratch {
		st := &m.ls[idx]
		st.theta += elo.SkillAbility.At(float64(st.n)) * surprise
		st.known = m.skills[e.Skills[i]].bkt.Step(st.known, correct)
		st.n++
		st.wins += win
		st.ewma = st.ewma*r + win
		st.ewmaW = st.ewmaW*r + 1
		st.last = 2*win - 1
		st.lastSeen = ls.events
	}

	ls.n++
	ls.wins += win
	ls.ewma = ls.ewma*r + win
	ls.ewmaW = ls.ewmaW*r + 1
	ls.events++
	if v.li != nil {
		v.li.n++
		v.li.wins += win
	}
}

// LearnerSkillState is what the model knows about a learner on a skill.
type LearnerSkillState struct {
	Ability      float64 // Elo global ability
	SkillAbility float64 // Elo ability on the skill, on top of Ability
	Mastery      float64 // BKT P(known)
	Attempts     int     // attempts on the skill
	Recent       Recent  // decayed recent success on the skill
}

// LearnerSkill returns the state of a learner on a skill; an unseen pair
// reads the priors.
func (m *Model) LearnerSkill(learner, skill int32) LearnerSkillState {
	st := LearnerSkillState{Mastery: m.skillParams(skill).Prior}
	if learner >= 0 && int(learner) < len(m.learners) {
		st.Ability = m.learners[learner].theta
	}
	if idx := m.lsIndex.get(pairKey(learner, skill)); idx != nil {
		ls := &m.ls[*idx]
		st.SkillAbility = ls.theta
		st.Mastery = ls.known
		st.Attempts = int(ls.n)
		if ls.ewmaW > 0 {
			st.Recent = Recent{SuccessRate: float64(ls.ewma / ls.ewmaW), Attempts: float64(ls.ewmaW)}
		}
	}
	return st
}

// ItemDifficulty returns an item's Elo difficulty and how many attempts it
// rests on (0, 0 for an unseen item).
func (m *Model) ItemDifficulty(item int32) (float64, int) {
	if item >= 0 && int(item) < len(m.items) {
		return m.items[item].d, int(m.items[item].n)
	}
	return 0, 0
}

// ForgetLearner removes everything the model keeps of learner l: their
// ability, counts and recency, and their state on every skill and item. It
// reports whether l had any. What they taught the shared parameters (item
// difficulties and counts, the predictor's weights) stays: it describes
// items and skills, not a learner. The id stays allocated, with a zero
// state (Vocab.Forget frees its name); a learner who comes back under a new
// id starts from the priors.
func (m *Model) ForgetLearner(l int32) bool {
	if l < 0 || int(l) >= len(m.learners) {
		return false
	}
	had := m.learners[l] != learnerState{}
	m.learners[l] = learnerState{}
	// Learner-skill states: keep the others, in order, and index them anew.
	gone := map[int32]bool{}
	for _, s := range m.lsIndex.slots {
		if s.key != 0 && int32((s.key-1)>>32) == l {
			gone[s.val] = true
		}
	}
	if len(gone) > 0 {
		had = true
		remap := make([]int32, len(m.ls))
		kept := make([]learnerSkill, 0, len(m.ls)-len(gone))
		for i := range m.ls {
			if gone[int32(i)] {
				continue
			}
			remap[i] = int32(len(kept))
			kept = append(kept, m.ls[i])
		}
		var idx pairTable[int32]
		for _, s := range m.lsIndex.slots {
			if s.key != 0 && !gone[s.val] {
				p, _ := idx.insert(s.key - 1)
				*p = remap[s.val]
			}
		}
		m.ls, m.lsIndex = kept, idx
	}
	var li pairTable[learnerItem]
	dropped := false
	for _, s := range m.li.slots {
		switch {
		case s.key == 0:
		case int32((s.key-1)>>32) == l:
			dropped = true
		default:
			p, _ := li.insert(s.key - 1)
			*p = s.val
		}
	}
	if dropped {
		had = true
		m.li = li
	}
	return had
}
