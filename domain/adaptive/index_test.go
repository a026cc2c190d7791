package adaptive

import (
	"errors"
	"math"
	"testing"
)

func ptr(f float64) *float64 { return &f }

func TestResolve(t *testing.T) {
	tests := []struct {
		name   string
		strict bool
		a      Attempt
		field  string // "" = no error
		rule   string
		action Action
		skills int // skills in the resolved event (when usable)
	}{
		{"ok", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s", "t"}, Score: ptr(1)}, "", "", 0, 2},
		{"missing learner", false, Attempt{Item: "i", Skills: []string{"s"}, Score: ptr(1)}, "learner", RuleRequired, ActionDLQ, 0},
		{"missing item", false, Attempt{Learner: "l", Skills: []string{"s"}, Score: ptr(1)}, "item", RuleRequired, ActionDLQ, 0},
		{"missing score", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s"}}, "score", RuleRequired, ActionDLQ, 0},
		{"score out of range", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s"}, Score: ptr(-0.5)}, "score", RuleScoreRange, ActionDLQ, 0},
		{"NaN score", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s"}, Score: ptr(math.NaN())}, "score", RuleScoreRange, ActionDLQ, 0},
		{"one option", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s"}, Score: ptr(1), Options: 1}, "options", RuleOptions, ActionDLQ, 0},
		{"empty skill name", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s", ""}, Score: ptr(1)}, "skills[1]", RuleRequired, ActionDLQ, 0},
		{"unknown skill in strict catalog", true, Attempt{Learner: "l", Item: "i", Skills: []string{"known", "new"}, Score: ptr(1)}, "skills[1]", RuleUnknownSkill, ActionDLQ, 0},
		{"known skill in strict catalog", true, Attempt{Learner: "l", Item: "i", Skills: []string{"known"}, Score: ptr(0)}, "", "", 0, 1},
		{"no skills: default", false, Attempt{Learner: "l", Item: "i", Score: ptr(1)}, "skills", RuleNoSkills, ActionDefault, 0},
		{"duplicate skill: default", false, Attempt{Learner: "l", Item: "i", Skills: []string{"s", "s"}, Score: ptr(1)}, "skills[1]", RuleDuplicateSkill, ActionDefault, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex()
			ix.Skills.Add("known")
			ix.StrictSkills = tt.strict
			var e Event
			err := ix.Resolve(&tt.a, &e)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field || ve.Rule != tt.rule || ve.Action != tt.action {
					t.Fatalf("got %#v, want %s / %s / %v", err, tt.field, tt.rule, tt.action)
				}
				if ve.Action == ActionDLQ {
					if ix.Learners.Len() != 0 {
						t.Fatal("a rejected attempt was interned")
					}
					return
				}
			}
			if len(e.Skills) != tt.skills {
				t.Fatalf("resolved %d skills, want %d", len(e.Skills), tt.skills)
			}
			if _, err := mustModel(t).Observe(&e); err != nil {
				t.Fatalf("resolved event not observable: %v", err)
			}
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	err := invalid("skills[1]", RuleUnknownSkill, "fractions", ActionDLQ)
	if got, want := err.Error(), `skills[1]: must be a skill of the catalog (got "fractions")`; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := invalid("score", RuleRequired, nil, ActionDLQ).Error(); got != "score: required" {
		t.Fatal(got)
	}
	if ActionDLQ.String() != "dlq" || ActionDefault.String() != "default" {
		t.Fatal("action names")
	}
}

func TestVocab(t *testing.T) {
	v := NewVocab()
	if v.Add("a") != 0 || v.Add("b") != 1 || v.Add("a") != 0 || v.Len() != 2 || v.Name(1) != "b" || v.Name(5) != "" {
		t.Fatal("vocab ids")
	}
	if id, ok := v.idBytes([]byte("b")); !ok || id != 1 {
		t.Fatal("idBytes")
	}
}
