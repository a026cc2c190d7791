package projections

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMasteryCacheMemory reports the mastery cache's heap per
// learner when full (learnerCacheEntries learners of 10 skills each, the
// skills' numbering included), against the map by skill id each entry
// was before (the baseline, built the same way).
func BenchmarkMasteryCacheMemory(b *testing.B) {
	const skills = 10
	sp := newSpace(AdaptiveName, 0)
	keys := func() []string {
		keys := make([]string, learnerCacheEntries)
		for i := range keys {
			keys[i] = learnerKey("tenant-1", fmt.Sprintf("mbox:mailto:learner%06d@example.com", i))
		}
		return keys
	}
	skill := func(s int) string { return fmt.Sprintf("https://example.com/skills/%d", s) }
	b.Run("by skill number", func(b *testing.B) {
		for range b.N {
			before := heapInUse()
			var c learnerCaches
			ks := keys()
			_, stamps := c.mastery.lookup(sp, ks, nil)
			for i, k := range ks {
				var l skillLevels
				for s := range skills {
					l = l.with(c.skills.number(skill(s)), float64(s)/skills)
				}
				c.mastery.fill(sp, k, stamps[i], l)
			}
			ks, stamps = nil, nil
			after := heapInUse()
			if got, _ := c.mastery.lookup(sp, keys()[:1], nil); len(got) != 1 {
				b.Fatal("the cache lost its first learner")
			}
			b.ReportMetric(float64(after-before)/learnerCacheEntries, "B/learner")
			runtime.KeepAlive(&c)
		}
	})
	b.Run("map by skill id (before)", func(b *testing.B) {
		for range b.N {
			before := heapInUse()
			entries := map[string]map[string]float64{}
			for _, k := range keys() {
				m := map[string]float64{}
				for s := range skills {
					m[skill(s)] = float64(s) / skills
				}
				entries[k] = m
			}
			after := heapInUse()
			b.ReportMetric(float64(after-before)/learnerCacheEntries, "B/learner")
			runtime.KeepAlive(entries)
		}
	})
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
