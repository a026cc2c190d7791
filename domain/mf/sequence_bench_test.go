package mf

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// seqEvents is a stream of learners walking courses: each learner picks
// one of courses paths of length items (by a Zipf-like popularity) and
// does per of its items in order from a random start, interleaved.
func seqEvents(learners, courses, length, per int) [][2]int32 {
	r := rand.New(rand.NewPCG(42, 2))
	z := rand.NewZipf(r, 1.1, 4, uint64(courses-1))
	type walk struct{ course, pos, left int }
	ws := make([]walk, learners)
	for u := range ws {
		ws[u] = walk{int(z.Uint64()), r.IntN(length), per}
	}
	out := make([][2]int32, 0, learners*per)
	for len(out) < learners*per {
		u := r.IntN(learners)
		w := &ws[u]
		if w.left == 0 {
			continue
		}
		out = append(out, [2]int32{int32(u), int32(w.course*length + w.pos%length)})
		w.pos++
		w.left--
	}
	return out
}

// BenchmarkSequenceAdd measures learning one event in the sequence rules
// (window 3): 10,000 learners, 2,000 items in 100 courses of 20.
func BenchmarkSequenceAdd(b *testing.B) {
	evs := seqEvents(10000, 100, 20, 20)
	s, _ := NewSequence(DefaultSequenceConfig())
	ids := make([]string, 10000)
	for u := range ids {
		ids[u] = "learner-" + strconv.Itoa(u)
	}
	for _, e := range evs {
		s.Add(ids[e[0]], e[1])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		e := evs[n%len(evs)]
		s.Add(ids[e[0]], e[1])
	}
}

// BenchmarkBlendTopN compares the blended top-10 (MF pool of 50 plus the
// rules from the last 3 items) with the model's own top-10 in the same
// run: k=32, 10,000 learners, 2,000 items, about 20 events each.
func BenchmarkBlendTopN(b *testing.B) {
	evs := seqEvents(10000, 100, 20, 20)
	cfg := DefaultConfig()
	m, _ := New(cfg)
	for u := range 10000 {
		m.AddUser("learner-" + strconv.Itoa(u))
	}
	for i := range 2000 {
		m.AddItem("https://example.org/activities/" + strconv.Itoa(i))
	}
	s, _ := NewSequence(DefaultSequenceConfig())
	bl, _ := NewBlender(m, s, DefaultBlendConfig())
	for _, e := range evs {
		bl.Learn(e[0], e[1], 1)
	}
	ex := make([]int32, 0, 256)
	b.Run("model", func(b *testing.B) {
		dst := make([]Scored, 0, 10)
		b.ReportAllocs()
		for n := range b.N {
			u := int32(n % 10000)
			ex = m.Seen(u, ex[:0])
			dst = m.TopN(u, 10, ex, dst)
		}
	})
	b.Run("blend", func(b *testing.B) {
		dst := make([]Blended, 0, 10)
		b.ReportAllocs()
		for n := range b.N {
			u := int32(n % 10000)
			ex = m.Seen(u, ex[:0])
			dst = bl.TopN(u, 10, ex, dst)
		}
	})
}

// BenchmarkSequenceMemory reports the heap the sequence rules take: per
// learner (their recent items and index entry; the id string is the
// model's) and per item (links, at most Fanout), after 100,000 learners
// did 20 events each over 20,000 items in 1,000 courses.
func BenchmarkSequenceMemory(b *testing.B) {
	heap := liveHeap
	const learners, items = 100000, 20000
	evs := seqEvents(learners, 1000, 20, 20)
	ids := make([]string, learners)
	for u := range ids {
		ids[u] = "mailto:learner" + strconv.Itoa(u) + "@example.org"
	}
	for range b.N {
		before := heap()
		s, _ := NewSequence(DefaultSequenceConfig())
		for u := range ids {
			s.Add(ids[u], 0)
		}
		perLearner := float64(heap()-before) / learners
		before = heap()
		for _, e := range evs {
			s.Add(ids[e[0]], e[1])
		}
		links := 0
		for _, ls := range s.links {
			links += len(ls)
		}
		perItem := float64(heap()-before) / items
		runtime.KeepAlive(s)
		b.ReportMetric(math.Round(perLearner), "B/learner")
		b.ReportMetric(math.Round(perItem), "B/item")
		b.ReportMetric(float64(links)/items, "links/item")
	}
}
