package adaptive

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// FitOptions tune the EM (Baum-Welch) fit of BKT parameters.
type FitOptions struct {
	// Restarts is the number of EM runs per skill; the first starts from
	// DefaultBKT, the others from random parameters, and the run with the
	// highest likelihood wins (EM only finds a local optimum). Default 5, as
	// pyBKT's num_fits.
	Restarts int
	// MaxIter bounds the EM iterations of one run. Default 100.
	MaxIter int
	// Tol stops a run when the log-likelihood improves by less. Default
	// 1e-3 (absolute, per skill), as pyBKT.
	Tol float64
	// FitForget also fits the forget probability; by default it is fixed at
	// 0 (classic BKT, and pyBKT's default).
	FitForget bool
	// Seed makes the random restarts reproducible; each skill draws from its
	// own stream, so results do not depend on Workers.
	Seed uint64
	// Workers is the number of goroutines; default GOMAXPROCS.
	Workers int

	capGuessSlip bool // internal: bounded refit of a degenerate skill
}

// WithDefaults returns the options with zero fields set to their defaults,
// or an error naming the first field out of range.
func (o FitOptions) WithDefaults() (FitOptions, error) {
	if o.Restarts == 0 {
		o.Restarts = 5
	}
	if o.MaxIter == 0 {
		o.MaxIter = 100
	}
	if o.Tol == 0 {
		o.Tol = 1e-3
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.Restarts < 1 || o.Restarts > 1000:
		return o, configError("fit.restarts", o.Restarts, "want 1..1000")
	case o.MaxIter < 1 || o.MaxIter > 100000:
		return o, configError("fit.max_iter", o.MaxIter, "want 1..100000")
	case !(o.Tol > 0) || !finite(o.Tol):
		return o, configError("fit.tol", o.Tol, "want > 0")
	case o.Workers < 1 || o.Workers > 1024:
		return o, configError("fit.workers", o.Workers, "want 1..1024")
	}
	return o, nil
}

// SkillFit is the fitted BKT model of one skill.
type SkillFit struct {
	Skill        int32
	Params       BKTParams
	LogLik       float64 // log-likelihood of the skill's sequences under Params
	Iterations   int     // EM iterations of the winning run
	Observations int
	Sequences    int // learners with at least one attempt on the skill
	// Degenerate is set when every run ended with Guess + Slip >= 1 (the
	// "known" state predicting worse than "unknown"). Such a fit cannot be
	// read as mastery, so Params then comes from one more EM run with guess
	// and slip capped at 0.45.
	Degenerate bool
}

// Sequences holds each skill's per-learner answer sequences in time order,
// the input of FitBKT.
type Sequences struct {
	skills []skillSeqs
}

type skillSeqs struct {
	skill  int32
	obs    []uint8 // 1 correct, 0 incorrect, all sequences concatenated
	starts []int32 // sequence k is obs[starts[k]:starts[k+1]]
	maxLen int
}

// Skills is the number of skills with at least one attempt.
func (s *Sequences) Skills() int { return len(s.skills) }

// BuildSequences groups a dataset's attempts by skill and learner, keeping
// time order within each learner. An attempt on several skills counts as an
// observation of each.
func BuildSequences(d *Dataset) *Sequences {
	type rec struct {
		key uint64 // skill, learner
		pos int32
	}
	recs := make([]rec, 0, len(d.skillPool))
	for i := 0; i < d.Len(); i++ {
		for _, s := range d.skillPool[d.skillOff[i]:d.skillOff[i+1]] {
			recs = append(recs, rec{pairKey(s, d.Learner[i]), int32(i)})
		}
	}
	sort.Slice(recs, func(a, b int) bool {
		if recs[a].key != recs[b].key {
			return recs[a].key < recs[b].key
		}
		return recs[a].pos < recs[b].pos
	})
	out := &Sequences{}
	for i := 0; i < len(recs); {
		skill := int32(recs[i].key >> 32)
		ss := skillSeqs{skill: skill}
		for i < len(recs) && int32(recs[i].key>>32) == skill {
			key := recs[i].key
			ss.starts = append(ss.starts, int32(len(ss.obs)))
			start := len(ss.obs)
			for ; i < len(recs) && recs[i].key == key; i++ {
				var o uint8
				if d.Score[recs[i].pos] >= 0.5 {
					o = 1
				}
				ss.obs = append(ss.obs, o)
			}
			ss.maxLen = max(ss.maxLen, len(ss.obs)-start)
		}
		ss.starts = append(ss.starts, int32(len(ss.obs)))
		out.skills = append(out.skills, ss)
	}
	return out
}

// FitBKT fits each skill's BKT parameters by EM (Baum-Welch) over its
// per-learner sequences. Skills are fitted in parallel; the result is
// sorted by skill id and does not depend on the number of workers.
func FitBKT(seqs *Sequences, opt FitOptions) ([]SkillFit, error) {
	opt, err := opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	type task struct{ skill, restart int }
	type result struct {
		p     BKTParams
		ll    float64
		iters int
	}
	results := make([][]result, len(seqs.skills))
	tasks := make([]task, 0, len(seqs.skills)*opt.Restarts)
	for i := range seqs.skills {
		results[i] = make([]result, opt.Restarts)
		for r := 0; r < opt.Restarts; r++ {
			tasks = append(tasks, task{i, r})
		}
	}
	// Largest skills first, so no worker is left with a big one at the end.
	sort.SliceStable(tasks, func(a, b int) bool {
		return len(seqs.skills[tasks[a].skill].obs) > len(seqs.skills[tasks[b].skill].obs)
	})
	ch := make(chan task)
	var wg sync.WaitGroup
	for w := 0; w < opt.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []float64
			for t := range ch {
				ss := &seqs.skills[t.skill]
				if need := 2 * ss.maxLen; cap(buf) < need {
					buf = make([]float64, need)
				}
				init := initialParams(opt, ss.skill, t.restart)
				p, ll, it := emRun(ss, init, opt, buf[:2*ss.maxLen])
				results[t.skill][t.restart] = result{p, ll, it}
			}
		}()
	}
	for _, t := range tasks {
		ch <- t
	}
	close(ch)
	wg.Wait()

	fits := make([]SkillFit, len(seqs.skills))
	for i := range seqs.skills {
		ss := &seqs.skills[i]
		f := SkillFit{Skill: ss.skill, Observations: len(ss.obs), Sequences: len(ss.starts) - 1, LogLik: math.Inf(-1)}
		found := false
		for _, r := range results[i] {
			if r.p.Guess+r.p.Slip >= 1 {
				continue
			}
			if !found || r.ll > f.LogLik {
				f.Params, f.LogLik, f.Iterations, found = r.p, r.ll, r.iters, true
			}
		}
		if !found {
			// Every run crossed into "known predicts worse than unknown".
			// Refit from the defaults with guess and slip capped below 0.5,
			// which keeps the states' meaning at some cost in likelihood.
			bopt := opt
			bopt.capGuessSlip = true
			buf := make([]float64, 2*ss.maxLen)
			f.Params, f.LogLik, f.Iterations = emRun(ss, initialParams(opt, ss.skill, 0), bopt, buf)
			f.Degenerate = true
		}
		fits[i] = f
	}
	return fits, nil
}

// initialParams: restart 0 starts from the defaults, the others from random
// points in the plausible region (guess and slip below 0.4, so the run
// starts on the side where "known" means knowing).
func initialParams(opt FitOptions, skill int32, restart int) BKTParams {
	if restart == 0 {
		p := DefaultBKT
		if opt.FitForget {
			p.Forget = 0.05
		}
		return p
	}
	rng := rand.New(rand.NewPCG(opt.Seed, uint64(skill)<<16|uint64(restart)))
	p := BKTParams{
		Prior: 0.05 + 0.9*rng.Float64(),
		Learn: 0.01 + 0.49*rng.Float64(),
		Guess: 0.01 + 0.39*rng.Float64(),
		Slip:  0.01 + 0.39*rng.Float64(),
	}
	if opt.FitForget {
		p.Forget = 0.2 * rng.Float64()
	}
	return p
}

// emCounts are the expected sufficient statistics of one E-step.
type emCounts struct {
	init1    float64 // expected "known" at the first attempt, summed
	seqs     float64
	n00, n01 float64 // expected transitions from unknown
	n10, n11 float64 // expected transitions from known
	g0, g1   float64 // expected time in unknown / known
	g0c, g1c float64 // ... with a correct answer
}

// emRun is one EM run: E-step, convergence check, M-step, until the
// likelihood stops improving by Tol or MaxIter is reached. As in pyBKT, the
// returned parameters are those under which the last likelihood was
// computed.
func emRun(ss *skillSeqs, p BKTParams, opt FitOptions, buf []float64) (BKTParams, float64, int) {
	prev := math.Inf(-1)
	var ll float64
	it := 0
	for it = 1; it <= opt.MaxIter; it++ {
		var c emCounts
		ll = eStep(ss, &p, &c, buf)
		if it > 1 && math.Abs(ll-prev) < opt.Tol {
			break
		}
		prev = ll
		p = mStep(&c, p, opt.FitForget)
		if opt.capGuessSlip {
			p.Guess = min(p.Guess, maxGuessSlip)
			p.Slip = min(p.Slip, maxGuessSlip)
		}
		if it == opt.MaxIter {
			ll = eStep(ss, &p, nil, buf)
		}
	}
	return p, ll, min(it, opt.MaxIter)
}

const probFloor = 1e-6

// maxGuessSlip caps guess and slip in the bounded refit of a degenerate
// skill: comfortably below 0.5 each, so Guess + Slip < 1 holds.
const maxGuessSlip = 0.45

func clampProb(x float64) float64 {
	if !(x >= probFloor) { // also catches NaN
		return probFloor
	}
	if x > 1-probFloor {
		return 1 - probFloor
	}
	return x
}

func mStep(c *emCounts, old BKTParams, fitForget bool) BKTParams {
	p := old
	if c.seqs > 0 {
		p.Prior = clampProb(c.init1 / c.seqs)
	}
	if t := c.n00 + c.n01; t > 0 {
		p.Learn = clampProb(c.n01 / t)
	}
	if fitForget {
		if t := c.n10 + c.n11; t > 0 {
			p.Forget = clampProb(c.n10 / t)
		}
	} else {
		p.Forget = 0
	}
	if c.g0 > 0 {
		p.Guess = clampProb(c.g0c / c.g0)
	}
	if c.g1 > 0 {
		p.Slip = clampProb((c.g1 - c.g1c) / c.g1)
	}
	return p
}

// eStep runs the scaled forward-backward pass over every sequence of a
// skill and returns the log-likelihood. With c == nil it only computes the
// likelihood (forward pass). buf holds, per step of the current sequence,
// the filtered P(known) and 1/scale; it must have room for 2*maxLen.
func eStep(ss *skillSeqs, p *BKTParams, c *emCounts, buf []float64) float64 {
	T, F, G, S := p.Learn, p.Forget, p.Guess, p.Slip
	// Emission probabilities: e[o][state].
	var e [2][2]float64
	e[0][0], e[0][1] = 1-G, S
	e[1][0], e[1][1] = G, 1-S
	ll := 0.0
	prod := 1.0 // product of scales, folded into ll before it can underflow
	for k := 0; k+1 < len(ss.starts); k++ {
		obs := ss.obs[ss.starts[k]:ss.starts[k+1]]
		// Forward: a1 = P(known | answers so far), filtered.
		p1 := p.Prior
		for t, o := range obs {
			a0 := (1 - p1) * e[o][0]
			a1 := p1 * e[o][1]
			sc := a0 + a1
			prod *= sc
			if prod < 1e-250 {
				ll += math.Log(prod)
				prod = 1
			}
			inv := 1 / sc
			a1 *= inv
			if c != nil {
				buf[2*t] = a1
				buf[2*t+1] = inv
			}
			p1 = (1-a1)*T + a1*(1-F)
		}
		if c == nil {
			continue
		}
		// Backward with the same scaling; b0, b1 are beta_t(unknown, known).
		b0, b1 := 1.0, 1.0
		last := len(obs) - 1
		for t := last; t >= 0; t-- {
			a1 := buf[2*t]
			a0 := 1 - a1
			g0, g1 := a0*b0, a1*b1 // posterior of the state at t; sums to 1
			c.g0 += g0
			c.g1 += g1
			if obs[t] == 1 {
				c.g0c += g0
				c.g1c += g1
			}
			if t == 0 {
				c.init1 += g1
				break
			}
			// Transition t-1 -> t: xi(i,j) = alpha_{t-1}(i) A(i,j) e_j(o_t) beta_t(j) / scale_t.
			o := obs[t]
			inv := buf[2*t+1]
			q0 := e[o][0] * b0 * inv // e_j(o_t) beta_t(j) / scale_t
			q1 := e[o][1] * b1 * inv
			p1prev := buf[2*(t-1)]
			p0prev := 1 - p1prev
			c.n00 += p0prev * (1 - T) * q0
			c.n01 += p0prev * T * q1
			c.n10 += p1prev * F * q0
			c.n11 += p1prev * (1 - F) * q1
			b0 = (1-T)*q0 + T*q1
			b1 = F*q0 + (1-F)*q1
		}
		c.seqs++
	}
	ll += math.Log(prod)
	return ll
}
