package mf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
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
			cpu := cpuTime()
			for n := 0; n < b.N; n++ {
				e := evs[n%len(evs)]
				m.Update(e[0], e[1], 1)
			}
			reportRates(b, cpuTime()-cpu, "events")
		})
	}
}

// longHistories returns, for learners learners, perUser events each on
// distinct items (Zipf-like popularity over items), learner by learner in
// round-robin order, so that every learner ends with perUser remembered
// items; replaying the events keeps the histories at that length.
func longHistories(learners, items, perUser int) [][2]int32 {
	r := rand.New(rand.NewPCG(7, 7))
	z := rand.NewZipf(r, 1.1, 4, uint64(items-1))
	hist := make([][]int32, learners)
	for u := range hist {
		seen := map[int32]bool{}
		for len(hist[u]) < perUser {
			i := int32(z.Uint64())
			if len(seen) > items/2 || !seen[i] {
				seen[i] = true
				hist[u] = append(hist[u], i)
			}
		}
	}
	out := make([][2]int32, 0, learners*perUser)
	for x := 0; x < perUser; x++ {
		for u := range hist {
			out = append(out, [2]int32{int32(u), hist[u][x]})
		}
	}
	return out
}

// BenchmarkUpdateLongHistory measures one event at k=32 for learners with
// 100 distinct items in their history (1,000 learners, 2,000 items, the
// events replayed, so every solve sees 100 items): the default update,
// the same kernels without the CG budget (3 steps on every history), and
// the update as it was before both (refUpdate, a copy kept in the tests),
// in the same run.
func BenchmarkUpdateLongHistory(b *testing.B) {
	for _, tc := range []struct {
		name   string
		budget int
		old    bool
	}{
		{"default/k=32/hist=100", DefaultConfig().CGBudget, false},
		{"no-budget/k=32/hist=100", 0, false},
		{"before/k=32/hist=100", 0, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.CGBudget = tc.budget
			evs := longHistories(1000, 2000, 100)
			m := warmModel(b, cfg, 1000, 2000, evs)
			if got := m.HistoryLen(0); got != 100 {
				b.Fatalf("history %d, want 100", got)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for n := 0; n < b.N; n++ {
				e := evs[n%len(evs)]
				if tc.old {
					refUpdate(m, e[0], e[1], 1)
				} else {
					m.Update(e[0], e[1], 1)
				}
			}
			reportRates(b, cpuTime()-cpu, "events")
		})
	}
}

// BenchmarkTopN measures ranking all items for one learner (k=32) and
// keeping the best 10, leaving out the learner's history; top=50 is the
// blender's pool (BlendConfig.Pool), a quarter of a small catalog.
func BenchmarkTopN(b *testing.B) {
	for _, c := range []struct{ items, top int }{{219, 10}, {219, 50}, {2000, 10}, {2000, 50}, {20000, 10}, {100000, 10}} {
		b.Run(fmt.Sprintf("items=%d/top=%d", c.items, c.top), func(b *testing.B) {
			evs := pool(2000, c.items, 10)
			m := warmModel(b, DefaultConfig(), 2000, c.items, evs)
			dst := make([]Scored, 0, c.top)
			var ex []int32
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for n := 0; n < b.N; n++ {
				u := int32(n % 2000)
				ex = m.Seen(u, ex[:0])
				dst = m.TopN(u, c.top, ex, dst)
			}
			reportRates(b, cpuTime()-cpu, "")
		})
	}
}

// reportRates reports the CPU time per operation (and, with a unit, the
// operations per CPU second): on a shared machine the wall-clock ns/op
// includes the time other processes had the core.
func reportRates(b *testing.B, cpu time.Duration, unit string) {
	if unit != "" {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
	}
	if cpu <= 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if unit != "" {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), unit+"/cpu-s")
	}
}

// liveHeap is the heap's live bytes after a collection: memory
// benchmarks report the difference it makes.
func liveHeap() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// BenchmarkMemory reports the heap bytes per learner (with a 10-item
// history) and per item at k=32, including the id maps.
func BenchmarkMemory(b *testing.B) {
	heap := liveHeap
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
