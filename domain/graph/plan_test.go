package graph

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func planGraph(t *testing.T) *Graph {
	t.Helper()
	g := New()
	mustSkills(t, g, "count", "add", "mult", "div", "frac", "dec", "stats")
	for _, e := range [][2]string{{"count", "add"}, {"add", "mult"}, {"mult", "div"}, {"div", "frac"}, {"frac", "dec"}, {"dec", "stats"}, {"mult", "stats"}} {
		if err := g.AddPrerequisite(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []Activity{
		{ID: "urn:add", Type: TypeItem, Duration: 10 * time.Minute, Teaches: []string{"add"}},
		{ID: "urn:arith", Type: TypeModule, Duration: time.Hour, Teaches: []string{"add", "mult", "div"}},
		{ID: "urn:mult", Type: TypeItem, Duration: 15 * time.Minute, Teaches: []string{"mult"}},
		{ID: "urn:frac", Type: TypeItem, Duration: 20 * time.Minute, Teaches: []string{"frac"}},
		{ID: "urn:frac2", Type: TypeItem, Duration: 10 * time.Minute, Teaches: []string{"frac"}},
		{ID: "urn:dec-course", Type: TypeCourse, Duration: 90 * time.Minute, Teaches: []string{"frac", "dec"}},
		{ID: "urn:stats", Type: TypeCourse, Duration: 2 * time.Hour, Teaches: []string{"stats"}},
		{ID: "urn:stats-quiz", Type: TypeAssessment, Assesses: []string{"stats"}},
	} {
		if err := g.PutActivity(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.PutRole(Role{ID: "analyst", Requires: []Requirement{{"stats", 0.7}, {"dec", 0.9}}}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPlanPath(t *testing.T) {
	g := planGraph(t)
	all := map[string]float64{"count": 1, "add": 1, "mult": 1, "div": 1}
	tests := []struct {
		name      string
		mastery   map[string]float64
		target    Target
		opts      PlanOptions
		missing   []string
		steps     []string   // activity ids in order
		skills    [][]string // per step
		uncovered []string
		reasons   []string // must appear in some step
	}{
		{name: "one course covers two skills", mastery: all, target: Target{Skill: "dec"},
			missing: []string{"frac", "dec"}, steps: []string{"urn:dec-course"}, skills: [][]string{{"frac", "dec"}},
			reasons: []string{"teaches:frac", "prerequisite_of:dec", "target:dec", "mastery_below:dec=0/0.8"}},
		{name: "uncovered skill is reported", mastery: nil, target: Target{Skill: "mult"},
			missing: []string{"count", "add", "mult"}, steps: []string{"urn:arith"}, skills: [][]string{{"add", "mult"}},
			uncovered: []string{"count"}},
		{name: "already mastered", mastery: map[string]float64{"add": 0.9}, target: Target{Skill: "add"}},
		{name: "custom threshold", mastery: map[string]float64{"add": 0.9, "count": 1}, target: Target{Skill: "add"}, opts: PlanOptions{Threshold: 0.95},
			missing: []string{"add"}, steps: []string{"urn:add"}, skills: [][]string{{"add"}}},
		{name: "stops at a mastered prerequisite", mastery: map[string]float64{"frac": 0.9}, target: Target{Skill: "dec"},
			missing: []string{"dec"}, steps: []string{"urn:dec-course"}, skills: [][]string{{"dec"}}},
		{name: "shorter activity wins a tie", mastery: all, target: Target{Skill: "frac"},
			missing: []string{"frac"}, steps: []string{"urn:frac2"}, skills: [][]string{{"frac"}}},
		{name: "role uses its own levels", mastery: map[string]float64{"stats": 0.75, "dec": 0.85, "frac": 0.9}, target: Target{Role: "analyst"},
			missing: []string{"dec"}, steps: []string{"urn:dec-course"}, skills: [][]string{{"dec"}},
			reasons: []string{"required_by_role:analyst", "mastery_below:dec=0.85/0.9"}},
		{name: "role: prerequisites before dependants", mastery: map[string]float64{"count": 1, "add": 1}, target: Target{Role: "analyst"},
			missing: []string{"mult", "div", "frac", "dec", "stats"},
			steps:   []string{"urn:arith", "urn:dec-course", "urn:stats"}, skills: [][]string{{"mult", "div"}, {"frac", "dec"}, {"stats"}},
			reasons: []string{"prerequisite_of:stats", "required_by_role:analyst"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := g.PlanPath(tc.mastery, tc.target, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Missing, tc.missing) {
				t.Errorf("missing %v, want %v", p.Missing, tc.missing)
			}
			var ids []string
			var skills [][]string
			var reasons []string
			for _, s := range p.Steps {
				ids = append(ids, s.Activity)
				skills = append(skills, s.Skills)
				reasons = append(reasons, s.Reasons...)
			}
			if !reflect.DeepEqual(ids, tc.steps) || !reflect.DeepEqual(skills, tc.skills) {
				t.Errorf("steps %v %v, want %v %v", ids, skills, tc.steps, tc.skills)
			}
			if !reflect.DeepEqual(p.Uncovered, tc.uncovered) {
				t.Errorf("uncovered %v, want %v", p.Uncovered, tc.uncovered)
			}
			for _, r := range tc.reasons {
				if !slices.Contains(reasons, r) {
					t.Errorf("reason %q missing from %v", r, reasons)
				}
			}
		})
	}
}

func TestPlanPathErrors(t *testing.T) {
	g := planGraph(t)
	tests := []struct {
		name    string
		mastery map[string]float64
		target  Target
		opts    PlanOptions
		is      error
		want    string
	}{
		{"unknown role", nil, Target{Role: "ceo"}, PlanOptions{}, ErrUnknown, `unknown role "ceo"`},
		{"unknown skill", nil, Target{Skill: "x"}, PlanOptions{}, ErrUnknown, `unknown skill "x"`},
		{"no target", nil, Target{}, PlanOptions{}, ErrInvalid, "exactly one"},
		{"two targets", nil, Target{Role: "analyst", Skill: "dec"}, PlanOptions{}, ErrInvalid, "exactly one"},
		{"bad mastery", map[string]float64{"dec": 2}, Target{Skill: "dec"}, PlanOptions{}, ErrInvalid, `mastery 2 of skill "dec"`},
		{"bad threshold", nil, Target{Skill: "dec"}, PlanOptions{Threshold: 3}, ErrInvalid, "threshold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.PlanPath(tc.mastery, tc.target, tc.opts)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

// On the real Junyi graph every planned step comes after the steps that
// teach its missing prerequisites.
func TestPlanPathJunyiOrder(t *testing.T) {
	g := New()
	if _, err := g.Apply(ParseJunyi(openJunyi(t), JunyiOptions{}), ImportOptions{Partial: true}); err != nil {
		t.Fatal(err)
	}
	order := g.TopoOrder()
	pos := map[string]int{}
	for i, s := range order {
		pos[s] = i
	}
	for _, e := range g.Edges() {
		if pos[e.From] >= pos[e.To] {
			t.Fatalf("topological order puts %s after %s", e.From, e.To)
		}
	}
	for _, target := range order[len(order)-20:] {
		p, err := g.PlanPath(map[string]float64{}, Target{Skill: target}, PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Uncovered) != 0 || len(p.Steps) != len(p.Missing) || p.Missing[len(p.Missing)-1] != target {
			t.Fatalf("%s: %d steps for %d missing, uncovered %v", target, len(p.Steps), len(p.Missing), p.Uncovered)
		}
		done := map[string]bool{}
		for _, s := range p.Steps {
			for _, sk := range s.Skills {
				for _, pre := range g.Prerequisites(sk) {
					if slices.Contains(p.Missing, pre) && !done[pre] {
						t.Fatalf("%s: step %s teaches %s before its prerequisite %s", target, s.Activity, sk, pre)
					}
				}
			}
			for _, sk := range s.Skills {
				done[sk] = true
			}
		}
	}
}
