package mf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// pool returns events over users learners and items items with Zipf-like
// item popularity, events per learner on average.
func pool(users, items, perUser int) [][2]int32 {
	r := rand.New(rand.NewPCG(42, 1))
	z := rand.NewZipf(r, 1.1, 4, uint64(items-1))
	out := make([][2]int32, 0, users*perUser)
	for n := 0; n < users*perUser; n++ {
		out = append(out, [2]int32{int32(r.IntN(users)), int32(z.Uint64())})
	}
	return out
}

func warmModel(b *testing.B, cfg Config, users, items int, evs [][2]int32) *Model {
	b.Helper()
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for u := 0; u < users; u++ {
		m.AddUser("learner-" + strconv.Itoa(u))
	}
	for i := 0; i < items; i++ {
		m.AddItem("https://example.org/activities/" + strconv.Itoa(i))
	}
	for _, e := range evs {
		m.Update(e[0], e[1], 1)
	}
	return m
}

// BenchmarkUpdate measures one event's update (learner solve, item step,
// negatives, amortised Gram refresh) at k=32 on a warm model: 10,000
// learners, 2,000 items, histories of about 10 or 50 items.
func BenchmarkUpdate(b *testing.B) {
	for _, tc := range []struct {
		name    string
		per     int
		setting func(*Config)
	}{
		{"als/k=32/hist=10", 10, func(*Config) {}},
		{"als/k=32/hist=50", 50, func(*Config) {}},
		{"als-exact/k=32/hist=10", 10, func(c *Config) { c.Exact = true }},
		{"isgd/k=32/hist=10", 10, func(c *Config) { c.Algorithm = ISGD }},
		{"isgd-noneg/k=32/hist=10", 10, func(c *Config) { c.Algorithm = ISGD; c.Negatives = 0 }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			tc.setting(&cfg)
			evs := pool(10000, 2000, tc.per)
			m := warmModel(b, cfg, 10000, 2000, evs)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				e := evs[n%len(evs)]
				m.Update(e[0], e[1], 1)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkTopN measures ranking all items for one learner (k=32) and
// keeping the best 10, leaving out the learner's history.
func BenchmarkTopN(b *testing.B) {
	for _, items := range []int{219, 2000, 20000} {
		b.Run(fmt.Sprintf("items=%d", items), func(b *testing.B) {
			evs := pool(2000, items, 10)
			m := warmModel(b, DefaultConfig(), 2000, items, evs)
			dst := make([]Scored, 0, 10)
			var ex []int32
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				u := int32(n % 2000)
				ex = m.Seen(u, ex[:0])
				dst = m.TopN(u, 10, ex, dst)
			}
		})
	}
}

// BenchmarkMemory reports the heap bytes per learner (with a 10-item
// history) and per item at k=32, including the id maps.
func BenchmarkMemory(b *testing.B) {
	heap := func() uint64 {
		runtime.GC()
		var s runtime.MemStats
		runtime.ReadMemStats(&s)
		return s.HeapAlloc
	}
	const n = 100000
	for range b.N {
		m, _ := New(DefaultConfig())
		before := heap()
		for i := 0; i < n; i++ {
			m.AddItem("https://example.org/activities/" + strconv.Itoa(i))
		}
		perItem := float64(heap()-before) / n
		before = heap()
		r := rand.New(rand.NewPCG(1, 1))
		for u := 0; u < n; u++ {
			id := m.AddUser("mailto:learner" + strconv.Itoa(u) + "@example.org")
			for h := 0; h < 10; h++ {
				m.remember(id, int32(r.IntN(n)), 1)
			}
		}
		perUser := float64(heap()-before) / n
		runtime.KeepAlive(m)
		b.ReportMetric(math.Round(perItem), "B/item")
		b.ReportMetric(math.Round(perUser), "B/learner")
	}
}
