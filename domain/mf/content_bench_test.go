package mf

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkContentTopN measures ranking one learner (k=32, top 10 of 2,000
// items, history about 10) by the model alone (the baseline, Model.TopN),
// by the content hybrid over every item (Content.TopN), and by the hybrid
// merged over the sequence blend's candidates as deployed (Blender.TopN,
// then Content.Merge; the blend alone as its baseline). Items have a skill
// of 50, a type of 4 and two title terms of 400; 200 more items are
// announced with features and never used.
func BenchmarkContentTopN(b *testing.B) {
	const users, items, fresh = 2000, 2000, 200
	evs := pool(users, items, 10)
	m := warmModel(b, DefaultConfig(), users, items, evs)
	s, _ := NewSequence(DefaultSequenceConfig())
	for _, e := range evs {
		s.Add(m.UserID(e[0]), e[1])
	}
	bl, _ := NewBlender(m, s, DefaultBlendConfig())
	c, _ := NewContent(DefaultContentConfig())
	feats := func(i int) []string {
		return []string{FeatureSkill + strconv.Itoa(i%50), FeatureType + strconv.Itoa(i%4),
			FeatureTerm + strconv.Itoa(i%400), FeatureTerm + strconv.Itoa((i*7)%400)}
	}
	for i := range items + fresh {
		c.SetItem("https://example.org/activities/"+strconv.Itoa(i), feats(i))
	}
	var ex []int32
	top := make([]Scored, 0, 10)
	hyb := make([]HybridScored, 0, 10)
	blended := make([]Blended, 0, 50)
	collab := make([]Scored, 0, 50)
	for _, tc := range []struct {
		name string
		rank func(u int32)
	}{
		{"model alone", func(u int32) { top = m.TopN(u, 10, ex, top) }},
		{"content hybrid", func(u int32) { hyb = c.TopN(m, u, 10, ex, hyb) }},
		{"blend alone", func(u int32) { blended = bl.TopN(u, 50, ex, blended) }},
		{"blend merged with content", func(u int32) {
			blended = bl.TopN(u, 50, ex, blended)
			collab = collab[:0]
			for _, x := range blended {
				collab = append(collab, Scored{Item: x.Item, Score: x.Score})
			}
			hyb = c.Merge(m, u, collab, 10, ex, hyb)
		}},
	} {
		b.Run(fmt.Sprintf("%s/items=%d", tc.name, items), func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for n := 0; n < b.N; n++ {
				u := int32(n % users)
				ex = m.Seen(u, ex[:0])
				tc.rank(u)
			}
			reportRates(b, cpuTime()-cpu, "")
		})
	}
}
