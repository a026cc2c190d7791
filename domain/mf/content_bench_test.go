package mf

import (
	"fmt"
	"slices"
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
	// As the recommender ranks a learner: 50 candidates from the blend
	// merged with content, re-ranked to 10 with a skills graph (item i
	// teaches skill i%50, which needs skill i%50-1), half the skills
	// mastered, success predictions and the learner's completed items.
	know := benchKnowledge{taught: map[string][]string{}, pre: map[string][]string{}}
	for i := range items + fresh {
		know.taught["https://example.org/activities/"+strconv.Itoa(i)] = []string{FeatureSkill + strconv.Itoa(i%50)}
	}
	mastery := map[string]float64{}
	for s := range 50 {
		know.pre[FeatureSkill+strconv.Itoa(s)] = []string{FeatureSkill + strconv.Itoa(max(s-1, 0))}
		if s%2 == 0 {
			mastery[FeatureSkill+strconv.Itoa(s)] = 0.9
		}
	}
	completed := make([][]string, users)
	for _, e := range evs {
		completed[e[0]] = append(completed[e[0]], m.ItemID(e[1]))
	}
	for u := range completed {
		slices.Sort(completed[u])
	}
	ro := DefaultRerankOptions()
	ro.Knowledge, ro.Mastery = know, mastery

	pop := NewPopularity()
	for _, e := range evs {
		pop.Add(e[1], "", 1)
	}
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
		{"candidates reranked as deployed", func(u int32) {
			user := m.UserID(u)
			o := ro
			o.Completed = func(item string) bool { _, ok := slices.BinarySearch(completed[u], item); return ok }
			cands := c.MergeCandidates(m, user, bl.Candidates(pop, user, "", 50, nil), 50, nil)
			o.Success = make([]float64, len(cands))
			for i, c := range cands {
				o.Success[i] = float64(len(c.Item)%10) / 10
			}
			if _, err := Rerank(cands, o); err != nil {
				b.Fatal(err)
			}
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

// benchKnowledge is a skills graph as maps: the skills each activity
// teaches and each skill's prerequisites.
type benchKnowledge struct{ taught, pre map[string][]string }

func (k benchKnowledge) SkillsTaught(activity string) []string { return k.taught[activity] }
func (k benchKnowledge) Prerequisites(skill string) []string   { return k.pre[skill] }
