package mf

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Reason codes carried by recommendations.
const (
	// ReasonMF: the item comes from the learner's matrix-factorisation scores.
	ReasonMF = "mf"
	// ReasonPopular: globally popular (cold start, or to fill the list).
	ReasonPopular = "popular"
	// ReasonPopularInRole: popular among learners of the same group/role.
	ReasonPopularInRole = "popular_in_role"
	// ReasonTrending: high learned item bias, a popularity that follows
	// recent events (cold start).
	ReasonTrending = "trending"
	// ReasonPrerequisitesUnmet: some prerequisites of the skills the item
	// teaches are not mastered (demoted).
	ReasonPrerequisitesUnmet = "prerequisites_unmet"
	// ReasonSkillsMastered: every skill the item teaches is already mastered (demoted).
	ReasonSkillsMastered = "skills_mastered"
	// ReasonSomeSkillsMastered: part of what the item teaches is mastered (demoted in proportion).
	ReasonSomeSkillsMastered = "some_skills_mastered"
	// ReasonReadyToLearn: the item teaches unmastered skills whose prerequisites are mastered.
	ReasonReadyToLearn = "ready_to_learn"
	// ReasonDifficultyFit: predicted success is near the target (bonus).
	ReasonDifficultyFit = "difficulty_fit"
	// ReasonTooHard / ReasonTooEasy: predicted success is well below / above the target.
	ReasonTooHard = "too_hard"
	ReasonTooEasy = "too_easy"
)

// Candidate is a recommendable item with a score and the reasons behind it.
type Candidate struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
	// Reasons say why the item is a candidate. Rankers whose reasons take
	// work to build (Blender.Candidates, Content.MergeCandidates) leave
	// them nil and build them when Explain asks: Rerank keeps a few of
	// the candidates it is given and builds the reasons of those alone.
	Reasons []string `json:"reasons"`
	why     reasoner
}

// scored is a candidate as Rerank scores it: the new score and what the
// re-ranker adds to the reasons, kept as a set, since the reasons are
// built for the candidates kept only.
type scored struct {
	i     int // in cands, and the order of ties
	score float64
	gap   []string // role_gap and role_path, before the others
	adds  uint8
}

// reasoner builds a candidate's reasons from its ranker's state.
type reasoner interface{ reasons() []string }

// Explain returns c's reasons, building them when its ranker left them
// for later. They are built from the ranker's state as it is then:
// explain a candidate before its ranker ranks or learns again (Rerank
// does, for the candidates it keeps). The slice may be shared with
// other candidates': copy it to change it.
func (c Candidate) Explain() []string {
	if c.Reasons == nil && c.why != nil {
		return c.why.reasons()
	}
	return c.Reasons
}

// Reasons the re-ranker adds, in the order it adds them.
const (
	addPrereqUnmet uint8 = 1 << iota
	addSkillsMastered
	addSomeSkillsMastered
	addReadyToLearn
	addDifficultyFit
	addTooHard
	addTooEasy
)

var rerankReasons = [...]string{ReasonPrerequisitesUnmet, ReasonSkillsMastered, ReasonSomeSkillsMastered,
	ReasonReadyToLearn, ReasonDifficultyFit, ReasonTooHard, ReasonTooEasy}

// Knowledge is what the re-ranker needs from the knowledge graph;
// *graph.Graph satisfies it.
type Knowledge interface {
	// SkillsTaught returns the skills an activity teaches.
	SkillsTaught(activity string) []string
	// Prerequisites returns the direct prerequisites of a skill.
	Prerequisites(skill string) []string
}

// RerankOptions tune Rerank. Start from DefaultRerankOptions; every field is
// used as given.
type RerankOptions struct {
	// Knowledge enables the graph rules (nil: no graph rules).
	Knowledge Knowledge
	// Mastery is the learner's mastery probability per skill (absent: 0).
	Mastery map[string]float64
	// Skills and Levels, set together, give the learner's mastery by
	// skill number instead of Mastery: Levels[i] is the mastery of
	// Skills.Skill(i), Skills made from Knowledge's graph. The ranking
	// then reads slices where Mastery costs a lookup by id per skill.
	Skills *SkillIndex
	Levels []float64
	// MasteryThreshold is the mastery at or above which a skill is mastered, in (0, 1].
	MasteryThreshold float64
	// Completed tells which items the learner completed; they are removed.
	// It is asked about the best-scored candidates only, down to the N
	// kept: most candidates are never kept.
	Completed func(item string) bool
	// Success, when set, is the learner's predicted success probability
	// on each candidate, by position in the candidates (NaN when
	// unknown): the predictor answers for the whole list at once.
	Success []float64
	// TargetSuccess is the success probability that fits best, in (0, 1).
	TargetSuccess float64
	// PrereqPenalty is subtracted in full when no prerequisite is met, in
	// proportion otherwise.
	PrereqPenalty float64
	// MasteredPenalty is subtracted in full when every taught skill is
	// mastered, in proportion otherwise.
	MasteredPenalty float64
	// FitBonus is added in full when predicted success equals the target,
	// decreasing linearly to 0 at the farthest probability.
	FitBonus float64
	// FitBand is the distance to the target within which an item is a
	// "difficulty_fit" (beyond it: "too_hard" or "too_easy").
	FitBand float64
	// Gap, with Knowledge, is the learner's gap to their target role
	// (NewRoleGap; nil: no role). An item teaching a gap skill gains
	// RoleWeight / (1 + d), d the longest chain of missing prerequisites
	// to learn before that skill (0 when it can be learned now; the best
	// over the gap skills it teaches), reasons role_gap and, for a
	// prerequisite, role_path; a gap skill does not count as mastered.
	Gap *RoleGap
	// RoleWeight is the role bonus in full, on the [0, 1] scale of the
	// normalised collaborative score: the blend's weight.
	RoleWeight float64
	// N truncates the result (0: keep all).
	N int
	// Scratch, when set, holds the re-ranking's working space and its
	// result, valid until the Scratch is used again (nil: new memory).
	Scratch *Scratch
}

// DefaultRoleWeight is the default RoleWeight: a gap-closer passes an item
// that does nothing for the role unless that item's normalised
// collaborative score is more than 0.7 higher (docs/recommendations.md,
// "Career goals").
const DefaultRoleWeight = 0.7

// DefaultRerankOptions returns the documented defaults: threshold 0.8,
// target success 0.7, penalties 0.5 (prerequisites) and 0.3 (mastered),
// fit bonus 0.2, fit band 0.1, role weight 0.7, N 10.
func DefaultRerankOptions() RerankOptions {
	return RerankOptions{MasteryThreshold: 0.8, TargetSuccess: 0.7, PrereqPenalty: 0.5,
		MasteredPenalty: 0.3, FitBonus: 0.2, FitBand: 0.1, RoleWeight: DefaultRoleWeight, N: 10}
}

// Rerank re-orders candidates (typically the model's top-N, a few times
// longer than the list to show) for one learner. It is a pure function.
//
// Base scores are min-max normalised to [0, 1] over the candidates (all
// equal: 1), so that the adjustments below mean the same whatever the
// model's scale:
//
//   - completed items and repeated items are removed;
//   - with Knowledge: the item loses PrereqPenalty x (unmet / all
//     prerequisites of the skills it teaches, not counting skills it teaches
//     itself), reason prerequisites_unmet; it loses MasteredPenalty x
//     (mastered / taught skills), reason skills_mastered when all are,
//     some_skills_mastered otherwise; an item teaching unmastered skills
//     with every prerequisite met gets the reason ready_to_learn;
//   - with Knowledge and Gap: the item gains RoleWeight x how far it
//     closes the role gap now (see Gap), reasons role_gap:<role>:<skill>=
//     <mastery>/<level> and role_path:<taught>>...><role skill> before
//     the graph's;
//   - with Success: the item gains FitBonus x (1 - |p - target| /
//     max(target, 1 - target)), reason difficulty_fit within FitBand of the
//     target, too_hard or too_easy beyond.
//
// The result is sorted by adjusted score (ties keep the input order) and
// carries the candidates' own reasons followed by the new ones.
func Rerank(cands []Candidate, o RerankOptions) ([]Candidate, error) {
	if !(o.MasteryThreshold > 0 && o.MasteryThreshold <= 1) {
		return nil, fmt.Errorf("rerank: MasteryThreshold %v, want (0, 1]", o.MasteryThreshold)
	}
	if o.Success != nil && !(o.TargetSuccess > 0 && o.TargetSuccess < 1) {
		return nil, fmt.Errorf("rerank: TargetSuccess %v, want (0, 1)", o.TargetSuccess)
	}
	if o.Success != nil && len(o.Success) != len(cands) {
		return nil, fmt.Errorf("rerank: %d Success predictions for %d candidates", len(o.Success), len(cands))
	}
	if o.Gap != nil && o.Knowledge == nil {
		return nil, fmt.Errorf("rerank: a role Gap needs Knowledge")
	}
	if o.Skills != nil && len(o.Levels) != o.Skills.Len() {
		return nil, fmt.Errorf("rerank: %d Levels for %d Skills", len(o.Levels), o.Skills.Len())
	}
	for _, v := range []float64{o.PrereqPenalty, o.MasteredPenalty, o.FitBonus, o.FitBand, o.RoleWeight} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("rerank: penalties, bonus and band must be finite and >= 0, got %v", v)
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range cands {
		if math.IsNaN(c.Score) {
			return nil, fmt.Errorf("rerank: candidate %q has a NaN score", c.Item)
		}
		lo, hi = min(lo, c.Score), max(hi, c.Score)
	}
	sp := o.Scratch
	if sp == nil {
		sp = new(Scratch)
	}
	out := slices.Grow(sp.scored[:0], len(cands))
	if sp.seen == nil {
		sp.seen = make(map[string]struct{}, len(cands))
	}
	seen := sp.seen
	clear(seen)
	// A skill the role needs above the threshold is not "mastered" for
	// this learner's goal.
	mastered := func(s string) bool {
		return o.Mastery[s] >= o.MasteryThreshold && !(o.Gap != nil && o.Gap.Contains(s))
	}
	unmet := func(s string) bool { return o.Mastery[s] < o.MasteryThreshold }
	masteredAt := func(i int32) bool {
		return o.Levels[i] >= o.MasteryThreshold && !(o.Gap != nil && o.Gap.Contains(o.Skills.Skill(i)))
	}
	unmetAt := func(i int32) bool { return o.Levels[i] < o.MasteryThreshold }
	var counted []string // the prerequisites counted for a candidate
	var countedAt []int32
	for n, c := range cands {
		if _, dup := seen[c.Item]; dup {
			continue
		}
		seen[c.Item] = struct{}{}
		x := scored{i: n, score: 1}
		if hi > lo {
			x.score = (c.Score - lo) / (hi - lo)
		}
		if o.Knowledge != nil {
			var taught []string
			if o.Skills == nil || o.Gap != nil {
				taught = o.Knowledge.SkillsTaught(c.Item)
			}
			if o.Gap != nil {
				if v, why, ok := o.Gap.closes(taught); ok {
					x.score += o.RoleWeight * v
					x.gap = why
				}
			}
			var nTaught, nMastered, nPre, nUnmet int
			if o.Skills != nil {
				at := o.Skills.Taught(c.Item)
				nTaught = len(at)
				nMastered, nPre, nUnmet, countedAt = skillRules(at, o.Skills.Prerequisites, masteredAt, unmetAt, countedAt)
			} else {
				nTaught = len(taught)
				nMastered, nPre, nUnmet, counted = skillRules(taught, o.Knowledge.Prerequisites, mastered, unmet, counted)
			}
			if nUnmet > 0 {
				x.score -= o.PrereqPenalty * float64(nUnmet) / float64(nPre)
				x.adds |= addPrereqUnmet
			}
			switch {
			case nTaught > 0 && nMastered == nTaught:
				x.score -= o.MasteredPenalty
				x.adds |= addSkillsMastered
			case nMastered > 0:
				x.score -= o.MasteredPenalty * float64(nMastered) / float64(nTaught)
				x.adds |= addSomeSkillsMastered
			}
			if nUnmet == 0 && nMastered < nTaught {
				x.adds |= addReadyToLearn
			}
		}
		if o.Success != nil {
			if p := o.Success[n]; !math.IsNaN(p) {
				d := math.Abs(p - o.TargetSuccess)
				x.score += o.FitBonus * (1 - d/max(o.TargetSuccess, 1-o.TargetSuccess))
				switch {
				case d <= o.FitBand:
					x.adds |= addDifficultyFit
				case p < o.TargetSuccess:
					x.adds |= addTooHard
				default:
					x.adds |= addTooEasy
				}
			}
		}
		out = append(out, x)
	}
	slices.SortStableFunc(out, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return a.i - b.i
	})
	if o.Completed != nil {
		// Completed items go from the top down until N are kept; the
		// scores were normalised over every candidate, as before.
		kept := out[:0]
		for _, x := range out {
			if o.N > 0 && len(kept) == o.N {
				break
			}
			if !o.Completed(cands[x.i].Item) {
				kept = append(kept, x)
			}
		}
		out = kept
	}
	if o.N > 0 && len(out) > o.N {
		out = out[:o.N]
	}
	sp.scored = out
	res := slices.Grow(sp.res[:0], len(out))[:len(out)]
	sp.res = res
	for i, x := range out {
		c := cands[x.i]
		own := c.Explain()
		var reasons []string
		if n := len(own) + len(x.gap) + bits.OnesCount8(x.adds); n > 0 {
			reasons = append(append(make([]string, 0, n), own...), x.gap...)
			for b, r := range rerankReasons {
				if x.adds&(1<<b) != 0 {
					reasons = append(reasons, r)
				}
			}
		}
		res[i] = Candidate{Item: c.Item, Score: x.score, Reasons: reasons}
	}
	return res, nil
}

// skillRules counts, of the skills an item teaches (by id or by number),
// those mastered, and of their direct prerequisites that it does not
// teach itself, each once: how many, and how many are unmet. counted is
// working space, returned for the next item.
func skillRules[S comparable](taught []S, prereqs func(S) []S, mastered, unmet func(S) bool, counted []S) (nMastered, nPre, nUnmet int, _ []S) {
	counted = counted[:0]
	for _, t := range taught {
		if mastered(t) {
			nMastered++
		}
		for _, p := range prereqs(t) {
			if slices.Contains(taught, p) || slices.Contains(counted, p) {
				continue
			}
			counted = append(counted, p)
			nPre++
			if unmet(p) {
				nUnmet++
			}
		}
	}
	return nMastered, nPre, nUnmet, counted
}

// Candidates returns up to n candidates for a learner, leaving out the
// items in exclude and the learner's own items: the model's best items when
// the learner has history (reason mf), then the most popular items of the
// learner's group (reason popular_in_role; group "" skips this), then the
// items with the highest learned bias (reason trending; with Config.Bias),
// then globally popular items (reason popular). Scores are the model's, or
// the counts for popular items, so re-rank (Rerank normalises them) rather
// than compare them across sources. pop must count items by the model's
// indices; it may be nil.
func Candidates(m *Model, pop *Popularity, user, group string, n int, exclude []string) []Candidate {
	if n <= 0 {
		return nil
	}
	ex := make([]int32, 0, len(exclude)+n)
	for _, id := range exclude {
		if i, ok := m.LookupItem(id); ok {
			ex = append(ex, i)
		}
	}
	var out []Candidate
	buf := make([]Scored, 0, n)
	add := func(list []Scored, reason string) {
		for _, s := range list {
			out = append(out, Candidate{Item: m.ItemID(s.Item), Score: float64(s.Score), Reasons: []string{reason}})
			ex = append(ex, s.Item)
		}
	}
	if u, ok := m.LookupUser(user); ok {
		ex = m.Seen(u, ex)
		add(m.TopN(u, n, ex, buf), ReasonMF)
	}
	if pop != nil && group != "" && len(out) < n {
		add(pop.TopN(group, n-len(out), ex, buf), ReasonPopularInRole)
	}
	if len(out) < n {
		add(m.TopNBias(n-len(out), ex, buf), ReasonTrending)
	}
	if pop != nil && len(out) < n {
		add(pop.TopN("", n-len(out), ex, buf), ReasonPopular)
	}
	return out
}
