package mf_test

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
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

// BenchmarkSkillIndexMemory reports the heap an index holds per skill
// (each with one prerequisite) and per activity (each teaching one
// skill), the graph's own memory not counted, and how long making it
// takes: the recommender keeps one index per tenant and makes it again
// when the tenant's catalog changes.
func BenchmarkSkillIndexMemory(b *testing.B) {
	heap := func() uint64 {
		runtime.GC()
		var s runtime.MemStats
		runtime.ReadMemStats(&s)
		return s.HeapAlloc
	}
	const skills, activities = 10000, 50000
	g := graph.New()
	for s := range skills {
		if err := g.PutSkill(graph.Skill{ID: fmt.Sprintf("https://example.org/skills/%d", s)}); err != nil {
			b.Fatal(err)
		}
		if s > 0 {
			if err := g.AddPrerequisite(fmt.Sprintf("https://example.org/skills/%d", s-1), fmt.Sprintf("https://example.org/skills/%d", s)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for a := range activities {
		if err := g.PutActivity(graph.Activity{ID: fmt.Sprintf("https://example.org/activities/%d", a), Type: graph.TypeItem,
			Teaches: []string{fmt.Sprintf("https://example.org/skills/%d", a%skills)}}); err != nil {
			b.Fatal(err)
		}
	}
	ids, acts := g.Skills(), g.Activities()
	for range b.N {
		before := heap()
		start := time.Now()
		x := mf.NewSkillIndex(g, ids, acts)
		took := time.Since(start)
		after := heap()
		runtime.KeepAlive(x)
		b.ReportMetric(math.Round(float64(after-before)/float64(skills+activities)), "B/entry")
		b.ReportMetric(float64(took.Microseconds())/1000, "ms/index")
	}
}
