package mf_test

import (
	"reflect"
	"testing"

	"github.com/learnstream/learnstream/domain/mf"
)

func TestSkillIndex(t *testing.T) {
	g := catalog(t) // basics -> fractions -> decimals
	x := mf.NewSkillIndex(g, g.Skills(), g.Activities())
	if x.Len() != 3 {
		t.Fatalf("Len %d, want 3", x.Len())
	}
	num := func(s string) int32 {
		t.Helper()
		i, ok := x.Number(s)
		if !ok || x.Skill(i) != s {
			t.Fatalf("Number(%q) = %d, %v; Skill of it %q", s, i, ok, x.Skill(i))
		}
		return i
	}
	basics, fractions, decimals := num("basics"), num("fractions"), num("decimals")
	if _, ok := x.Number("cooking"); ok {
		t.Error("a skill the graph does not hold has a number")
	}
	for _, tc := range []struct {
		activity string
		want     []int32
	}{
		{"urn:both", []int32{fractions, decimals}},
		{"urn:basics", []int32{basics}},
		{"urn:misc", nil},    // teaches nothing
		{"urn:unknown", nil}, // not in the graph
	} {
		if got := x.Taught(tc.activity); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Taught(%s) = %v, want %v", tc.activity, got, tc.want)
		}
	}
	if got := x.Prerequisites(decimals); !reflect.DeepEqual(got, []int32{fractions}) {
		t.Errorf("Prerequisites(decimals) = %v, want [%d]", got, fractions)
	}
	if got := x.Prerequisites(basics); len(got) != 0 {
		t.Errorf("Prerequisites(basics) = %v, want none", got)
	}

	mastery := map[string]float64{"fractions": 0.9, "basics": 0.4, "cooking": 1}
	into := []float64{7, 7, 7, 7, 7} // reused, and cleared
	levels := x.Levels(into, mastery)
	want := make([]float64, 3)
	want[fractions], want[basics] = 0.9, 0.4
	if !reflect.DeepEqual(levels, want) {
		t.Fatalf("Levels = %v, want %v", levels, want)
	}
	if &levels[0] != &into[0] {
		t.Error("Levels did not reuse a slice long enough")
	}
	// Fewer levels than skills: the others are 0.
	if got := x.Levels(nil, map[string]float64{"decimals": 0.5}); got[decimals] != 0.5 || got[basics] != 0 || got[fractions] != 0 {
		t.Errorf("Levels of one skill = %v", got)
	}
	// Back by id: the skills the graph holds, without the zero levels.
	if got := x.Mastery(levels); !reflect.DeepEqual(got, map[string]float64{"fractions": 0.9, "basics": 0.4}) {
		t.Errorf("Mastery = %v", got)
	}
}
