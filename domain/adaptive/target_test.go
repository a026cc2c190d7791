package adaptive

import (
	"errors"
	"math"
	"testing"
)

func TestAdjustedTarget(t *testing.T) {
	c := DefaultTarget()
	tests := []struct {
		name string
		r    Recent
		want float64
	}{
		{"no history", Recent{}, 0.7},
		{"on target", Recent{SuccessRate: 0.7, Attempts: 3}, 0.7},
		// 0.7 + 0.5 * (3/6) * (0.7 - 0.1) = 0.85
		{"failing: easier", Recent{SuccessRate: 0.1, Attempts: 3}, 0.85},
		// 0.7 + 0.5 * 0.5 * (0.7 - 1) = 0.625
		{"succeeding: harder", Recent{SuccessRate: 1, Attempts: 3}, 0.625},
		{"clamped", Recent{SuccessRate: 0, Attempts: 1000}, 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.AdjustedTarget(tt.r); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("AdjustedTarget = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPickTarget(t *testing.T) {
	cands := []Candidate{{Item: 10, P: 0.95}, {Item: 11, P: 0.72}, {Item: 12, P: 0.4}, {Item: 13, P: 0.86}}
	tests := []struct {
		name  string
		r     Recent
		cands []Candidate
		want  int
		field string
	}{
		{"nearest 0.7", Recent{}, cands, 1, ""},
		{"failing learner gets the easier item", Recent{SuccessRate: 0.1, Attempts: 3}, cands, 3, ""},
		{"tie goes to the first", Recent{}, []Candidate{{1, 0.6}, {2, 0.8}}, 0, ""},
		{"no candidates", Recent{}, nil, -1, "candidates"},
		{"bad probability", Recent{}, []Candidate{{1, 0.5}, {2, math.NaN()}}, -1, "candidates[1].p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := PickTarget(DefaultTarget(), tt.r, tt.cands)
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Fatalf("got %v, want an error on %s", err, tt.field)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PickTarget = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestTargetConfigValidate(t *testing.T) {
	tests := []struct {
		edit  func(c *TargetConfig)
		field string
	}{
		{func(c *TargetConfig) { c.Target = 0.95 }, "target.target"},
		{func(c *TargetConfig) { c.Min = 0 }, "target.min"},
		{func(c *TargetConfig) { c.Max = 0.4 }, "target.max"},
		{func(c *TargetConfig) { c.Gain = -1 }, "target.gain"},
		{func(c *TargetConfig) { c.Evidence = math.Inf(1) }, "target.evidence"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultTarget()
			tt.edit(&c)
			_, _, err := PickTarget(c, Recent{}, []Candidate{{1, 0.5}})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("got %v, want an error on %s", err, tt.field)
			}
		})
	}
}

// End to end: the model's own state drives the choice.
func TestPickTargetFromModel(t *testing.T) {
	m := mustModel(t)
	// Item 0 is answered right by everyone, item 1 wrong by everyone.
	for l := int32(1); l < 40; l++ {
		m.Observe(&Event{Learner: l, Item: 0, Skills: []int32{0}, Score: 1})
		m.Observe(&Event{Learner: l, Item: 1, Skills: []int32{0}, Score: 0})
	}
	var cands []Candidate
	for _, it := range []int32{0, 1} {
		p, err := m.Predict(&Event{Learner: 0, Item: it, Skills: []int32{0}, Score: 1})
		if err != nil {
			t.Fatal(err)
		}
		cands = append(cands, Candidate{Item: it, P: p.P})
	}
	if !(cands[0].P > cands[1].P) {
		t.Fatalf("easy item not predicted easier: %+v", cands)
	}
	st := m.LearnerSkill(0, 0)
	if _, _, err := PickTarget(DefaultTarget(), st.Recent, cands); err != nil {
		t.Fatal(err)
	}
}
