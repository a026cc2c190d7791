package mf

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Reason codes of the role logic (see Rerank and RoleCandidates).
const (
	// ReasonForRole: the item was not among the collaborative candidates;
	// it was added because it closes the gap to the learner's role now.
	ReasonForRole = "for_role"
	// ReasonRoleGap prefixes "role_gap:<role>:<skill>=<mastery>/<level>":
	// the item works towards a skill the role requires at level, which
	// the learner masters at mastery.
	ReasonRoleGap = "role_gap"
	// ReasonRolePath prefixes "role_path:<taught>><skill>>...><role
	// skill>": the item teaches a missing prerequisite, and the chain of
	// missing skills from it to the role's skill.
	ReasonRolePath = "role_path"
)

// RoleLevel is one skill a role requires, at a mastery level in [0, 1].
type RoleLevel struct {
	Skill string
	Level float64
}

// GapSkill is one skill of a role gap.
type GapSkill struct {
	Skill string
	// Mastery is the learner's; Level the level needed: the role's for
	// its own skills, the mastery threshold for prerequisites.
	Mastery, Level float64
	// Of is the gap skill this one is a missing prerequisite of (the
	// first found, so that following Of reaches a role skill by the
	// shortest chain); "" for the role's own skills.
	Of string
	// Missing are the direct prerequisites of Skill that are in the gap.
	Missing []string
}

// RoleGap is what separates a learner from a target role: the role's
// skills below the role's level, and, transitively, their prerequisites
// below the mastery threshold (the walk stops at a mastered
// prerequisite, as graph.PlanPath's does). Build it with NewRoleGap; it
// is not safe for concurrent use (it caches reasons).
type RoleGap struct {
	Role string
	// Skills are in walk order: the role's skills first (in the role's
	// order), then prerequisites breadth first.
	Skills []GapSkill
	idx    map[string]int
	// why caches each gap skill's reasons (closes asks for the same ones
	// for many items); a RoleGap is one learner's, for one ranking.
	why map[string][]string
}

// NewRoleGap computes the gap between a learner's mastery (absent: 0) and
// a role's required levels along k's prerequisites; threshold is the
// mastery at or above which a prerequisite is mastered.
func NewRoleGap(k Knowledge, role string, requires []RoleLevel, mastery map[string]float64, threshold float64) (*RoleGap, error) {
	if k == nil {
		return nil, fmt.Errorf("role gap %q: knowledge graph required", role)
	}
	if role == "" {
		return nil, fmt.Errorf("role gap: role: empty id")
	}
	if !(threshold > 0 && threshold <= 1) {
		return nil, fmt.Errorf("role gap %q: threshold %v, want (0, 1]", role, threshold)
	}
	for i, r := range requires {
		if r.Skill == "" || !(r.Level >= 0 && r.Level <= 1) {
			return nil, fmt.Errorf("role gap %q: requires[%d]: skill %q at level %v, want a skill and a level in [0, 1]", role, i, r.Skill, r.Level)
		}
	}
	g := &RoleGap{Role: role, idx: map[string]int{}}
	add := func(skill, of string, level float64) {
		if _, ok := g.idx[skill]; ok || mastery[skill] >= level {
			return
		}
		g.idx[skill] = len(g.Skills)
		g.Skills = append(g.Skills, GapSkill{Skill: skill, Mastery: mastery[skill], Level: level, Of: of})
	}
	for _, r := range requires {
		add(r.Skill, "", r.Level)
	}
	for i := 0; i < len(g.Skills); i++ {
		s := g.Skills[i].Skill
		for _, p := range k.Prerequisites(s) {
			add(p, s, threshold)
			if _, missing := g.idx[p]; missing {
				g.Skills[i].Missing = append(g.Skills[i].Missing, p)
			}
		}
	}
	return g, nil
}

// Contains reports whether skill is in the gap.
func (g *RoleGap) Contains(skill string) bool { _, ok := g.idx[skill]; return ok }

// Skill returns a gap skill.
func (g *RoleGap) Skill(skill string) (GapSkill, bool) {
	i, ok := g.idx[skill]
	if !ok {
		return GapSkill{}, false
	}
	return g.Skills[i], true
}

// Chain returns the gap skills from skill to the role skill it leads to,
// following Of (skill first).
func (g *RoleGap) Chain(skill string) []string {
	var out []string
	for s := skill; s != "" && len(out) <= len(g.Skills); {
		gs, ok := g.Skill(s)
		if !ok {
			break
		}
		out = append(out, s)
		s = gs.Of
	}
	return out
}

// Ready lists the gap skills with no missing prerequisite, in gap order:
// what can be learned next.
func (g *RoleGap) Ready() []string {
	var out []string
	for _, s := range g.Skills {
		if len(s.Missing) == 0 {
			out = append(out, s.Skill)
		}
	}
	return out
}

// closes scores an item teaching taught against the gap: the best, over
// the gap skills it teaches, of 1/(1+d), where d is the longest chain of
// missing prerequisites still to be learned before the skill (a
// prerequisite the item teaches itself is not a step, but its own missing
// prerequisites are): 1 for a skill that can be learned now, 1/2 one step
// behind, and so on, so that along a chain the prerequisite ranks before
// the skill that needs it. It also returns the reasons naming the role,
// the gap and the chain; ok is false when the item teaches no gap skill.
func (g *RoleGap) closes(taught []string) (value float64, reasons []string, ok bool) {
	if !slices.ContainsFunc(taught, g.Contains) {
		return 0, nil, false
	}
	memo := map[string]int{}
	var steps func(s string, depth int) int
	steps = func(s string, depth int) int {
		if d, ok := memo[s]; ok {
			return d
		}
		gs, _ := g.Skill(s)
		d := 0
		if depth <= len(g.Skills) { // the graph is a DAG; this only bounds a corrupt one
			for _, p := range gs.Missing {
				step := 1
				if slices.Contains(taught, p) {
					step = 0
				}
				d = max(d, step+steps(p, depth+1))
			}
		}
		memo[s] = d
		return d
	}
	for _, t := range taught {
		if !g.Contains(t) {
			continue
		}
		if v := 1 / float64(1+steps(t, 0)); !ok || v > value {
			value = v
		}
		ok = true
		why := g.reasons(t)
		if !slices.Contains(reasons, why[0]) {
			reasons = append(reasons, why[0])
		}
		reasons = append(reasons, why[1:]...)
	}
	return value, reasons, ok
}

// reasons returns a gap skill's role_gap reason and, for a prerequisite,
// its role_path reason.
func (g *RoleGap) reasons(skill string) []string {
	if why, ok := g.why[skill]; ok {
		return why
	}
	chain := g.Chain(skill)
	top, _ := g.Skill(chain[len(chain)-1])
	why := []string{fmt.Sprintf("%s:%s:%s=%s/%s", ReasonRoleGap, g.Role, top.Skill, fnum(top.Mastery), fnum(top.Level))}
	if len(chain) > 1 {
		why = append(why, ReasonRolePath+":"+strings.Join(chain, ">"))
	}
	if g.why == nil {
		g.why = map[string][]string{}
	}
	g.why[skill] = why
	return why
}

// fnum formats a mastery or level compactly (at most two decimals).
func fnum(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// Teachers lists the activities teaching a skill; *graph.Graph implements it.
type Teachers interface {
	TeachersOf(skill string) []string
}

// RoleCandidates appends to cands up to n items that close the role gap
// now: activities teaching a ready gap skill (RoleGap.Ready), leaving out
// the items already in cands and those skip says to leave out (completed
// or already taken), with the reason for_role. The collaborative
// candidates alone may hold no gap-closer at all: this is what lets
// Rerank's RoleWeight reach them.
//
// They are not among the candidates, so the collaborative side ranks them
// below every candidate: each gets the lowest score in cands (0 when
// cands is empty), whatever scale the candidates' scores are on (MF, a
// blend, popularity counts). score (the collaborative model's score for
// the learner; ok false when it cannot score an item) only chooses and
// orders the n kept: best first, unscored items last.
func RoleCandidates(cands []Candidate, gap *RoleGap, t Teachers, score func(item string) (float64, bool), skip func(item string) bool, n int) []Candidate {
	if gap == nil || t == nil || n <= 0 {
		return cands
	}
	lo, have := 0.0, false
	in := make(map[string]bool, len(cands))
	for _, c := range cands {
		in[c.Item] = true
		if !have || c.Score < lo {
			lo, have = c.Score, true
		}
	}
	type extra struct {
		item string
		by   float64
	}
	var add []extra
	for _, s := range gap.Ready() {
		for _, a := range t.TeachersOf(s) {
			if in[a] || skip != nil && skip(a) {
				continue
			}
			in[a] = true
			by := math.Inf(-1)
			if score != nil {
				if v, ok := score(a); ok && !math.IsNaN(v) {
					by = v
				}
			}
			add = append(add, extra{a, by})
		}
	}
	slices.SortStableFunc(add, func(a, b extra) int { return cmp.Compare(b.by, a.by) })
	for _, x := range add[:min(n, len(add))] {
		cands = append(cands, Candidate{Item: x.item, Score: lo, Reasons: []string{ReasonForRole}})
	}
	return cands
}

// LearnerScores returns the model's score of items for a learner with
// history (ok false for an unknown item or a learner without history) and
// whether the learner already has an item in their history: the score and
// skip functions of RoleCandidates.
func LearnerScores(m *Model, user string) (score func(item string) (float64, bool), seen func(item string) bool) {
	u, known := m.LookupUser(user)
	var hist map[int32]bool
	if known {
		hist = map[int32]bool{}
		for _, i := range m.Seen(u, nil) {
			hist[i] = true
		}
	}
	score = func(item string) (float64, bool) {
		i, ok := m.LookupItem(item)
		if !known || !ok || m.HistoryLen(u) == 0 {
			return 0, false
		}
		return float64(m.Score(u, i)), true
	}
	seen = func(item string) bool {
		i, ok := m.LookupItem(item)
		return ok && hist[i]
	}
	return score, seen
}
