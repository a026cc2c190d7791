package graph

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// DefaultMasteryThreshold is the mastery probability at or above which a
// skill counts as mastered when no other level applies.
const DefaultMasteryThreshold = 0.8

// Target is what a learning path aims at: a role or a single skill (set
// exactly one).
type Target struct {
	Role  string
	Skill string
}

func (t Target) String() string {
	if t.Role != "" {
		return "role " + t.Role
	}
	return "skill " + t.Skill
}

// PlanOptions tune PlanPath.
type PlanOptions struct {
	// Threshold is the mastery at or above which a skill is mastered
	// (default DefaultMasteryThreshold). A role's required level replaces it
	// for the role's own skills; prerequisites always use Threshold.
	Threshold float64
}

// Step is one activity of a learning path.
type Step struct {
	Activity string
	Type     ActivityType
	Title    string
	Duration time.Duration
	// Skills are the missing skills this step covers, in prerequisite order.
	Skills []string
	// Reasons explain the step, as "code:detail" strings:
	//   teaches:<skill>            the activity teaches a missing skill
	//   mastery_below:<skill>=<p>/<level>  the learner's mastery and the level needed
	//   target:<skill>             the skill is the target
	//   required_by_role:<role>    the role requires the skill
	//   prerequisite_of:<skill>    the skill is a missing prerequisite of another
	Reasons []string
}

// Plan is an ordered learning path.
type Plan struct {
	Target Target
	// Missing lists the skills to learn, in prerequisite order.
	Missing []string
	// Steps teach the missing skills; a step comes after every step that
	// teaches a missing prerequisite of its skills.
	Steps []Step
	// Uncovered lists missing skills that no activity teaches.
	Uncovered []string
	// Duration is the sum of the steps' durations.
	Duration time.Duration
}

// PlanPath plans a learning path towards a target for a learner whose
// mastery per skill (probability in [0, 1]; absent means 0) is given.
//
// The goal skills are the target skill, or the role's required skills whose
// mastery is below the role's level for them. Missing prerequisites are
// collected transitively; the walk stops at a mastered prerequisite (a
// learner who masters a skill is not sent back to its own prerequisites).
// Missing skills are ordered topologically (ties by id). Each missing skill,
// in that order, is covered by an activity that teaches it: the one that
// covers the most still-uncovered missing skills whose missing prerequisites
// are already covered (ties: shorter duration, then id); such an activity
// covers all of those skills at once.
func (g *Graph) PlanPath(mastery map[string]float64, t Target, opts PlanOptions) (Plan, error) {
	th := opts.Threshold
	if th == 0 {
		th = DefaultMasteryThreshold
	}
	if math.IsNaN(th) || th < 0 || th > 1 {
		return Plan{}, invalid("plan", "", "threshold", "%v is outside [0, 1]", th)
	}
	for s, p := range mastery {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return Plan{}, invalid("plan", "", "mastery", "mastery %v of skill %q is outside [0, 1]", p, s)
		}
	}
	if (t.Role == "") == (t.Skill == "") {
		return Plan{}, invalid("plan", "", "target", "set exactly one of role and skill")
	}
	plan := Plan{Target: t}
	why := map[string][]string{}  // missing skill -> reasons
	level := map[string]float64{} // missing skill -> level needed
	var queue []string

	need := func(skill string, lv float64, reason string) {
		if mastery[skill] >= lv {
			return
		}
		if _, seen := why[skill]; !seen {
			queue = append(queue, skill)
			level[skill] = lv
		}
		why[skill] = append(why[skill], reason)
	}
	if t.Role != "" {
		r, ok := g.roles[t.Role]
		if !ok {
			return Plan{}, unknown("plan", "", "target", "unknown role %q", t.Role)
		}
		for _, q := range r.Requires {
			need(q.Skill, q.Level, "required_by_role:"+r.ID)
		}
	} else {
		if _, ok := g.skills[t.Skill]; !ok {
			return Plan{}, unknown("plan", "", "target", "unknown skill %q", t.Skill)
		}
		need(t.Skill, th, "target:"+t.Skill)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, p := range g.requires[s].sorted() {
			need(p, th, "prerequisite_of:"+s)
		}
	}
	if len(why) == 0 {
		return plan, nil
	}
	// Topological order of the missing skills.
	for _, s := range g.TopoOrder() {
		if _, ok := why[s]; ok {
			plan.Missing = append(plan.Missing, s)
		}
	}
	covered := map[string]bool{}
	ready := func(skill string, alsoCovered []string) bool {
		for p := range g.requires[skill] {
			if _, missing := why[p]; missing && !covered[p] && !slices.Contains(alsoCovered, p) {
				return false
			}
		}
		return true
	}
	// cover returns the missing skills an activity would cover now, starting
	// with skill, in prerequisite order.
	pos := map[string]int{}
	for i, s := range plan.Missing {
		pos[s] = i
	}
	cover := func(a Activity, skill string) []string {
		var taught []string
		for _, s := range a.Teaches {
			if _, missing := why[s]; missing && !covered[s] && pos[s] >= pos[skill] {
				taught = append(taught, s)
			}
		}
		slices.SortFunc(taught, func(x, y string) int { return pos[x] - pos[y] })
		out := []string{skill}
		for _, s := range taught {
			if s != skill && ready(s, out) {
				out = append(out, s)
			}
		}
		return out
	}
	used := map[string]bool{}
	for _, s := range plan.Missing {
		if covered[s] {
			continue
		}
		var best Activity
		var bestCover []string
		for _, id := range g.teachers[s].sorted() {
			if used[id] {
				continue
			}
			a := g.activities[id]
			c := cover(a, s)
			better := bestCover == nil || len(c) > len(bestCover) ||
				len(c) == len(bestCover) && (a.Duration < best.Duration || a.Duration == best.Duration && a.ID < best.ID)
			if better {
				best, bestCover = a, c
			}
		}
		if bestCover == nil {
			plan.Uncovered = append(plan.Uncovered, s)
			covered[s] = true // later skills are still planned
			continue
		}
		used[best.ID] = true
		step := Step{Activity: best.ID, Type: best.Type, Title: best.Title, Duration: best.Duration, Skills: bestCover}
		for _, c := range bestCover {
			covered[c] = true
			step.Reasons = append(step.Reasons, "teaches:"+c,
				fmt.Sprintf("mastery_below:%s=%s/%s", c, num(mastery[c]), num(level[c])))
			step.Reasons = append(step.Reasons, why[c]...)
		}
		plan.Steps = append(plan.Steps, step)
		plan.Duration += best.Duration
	}
	return plan, nil
}

func num(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
