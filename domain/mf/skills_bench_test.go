package mf

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
)

// BenchmarkSkillIndexMemory reports the heap an index holds per skill
// (each with one prerequisite) and per activity (each teaching one
// skill), the graph's own memory not counted, and how long making it
// takes: the recommender keeps one index per tenant and makes it again
// when the tenant's catalog changes.
func BenchmarkSkillIndexMemory(b *testing.B) {
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
		before := liveHeap()
		start := time.Now()
		x := NewSkillIndex(g, ids, acts)
		took := time.Since(start)
		after := liveHeap()
		runtime.KeepAlive(x)
		b.ReportMetric(math.Round(float64(after-before)/float64(skills+activities)), "B/entry")
		b.ReportMetric(float64(took.Microseconds())/1000, "ms/index")
	}
}
