package mf

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// bruteTop ranks every item by Score, ties by lower index, leaving out exclude.
func bruteTop(m *Model, u int32, n int, exclude []int32) []Scored {
	var all []Scored
	for j := int32(0); j < int32(m.Items()); j++ {
		if !slices.Contains(exclude, j) {
			all = append(all, Scored{Item: j, Score: m.Score(u, j)})
		}
	}
	slices.SortStableFunc(all, func(a, b Scored) int { return cmp.Compare(b.Score, a.Score) })
	return all[:min(n, len(all))]
}

// TestTopNMatchesBruteForce: TopN gives exactly the ranking of scoring
// every item one by one with Score, as items are added, learned and
// written directly by a caller (as the recommender merges factors).
func TestTopNMatchesBruteForce(t *testing.T) {
	tests := []struct {
		name  string
		items int
		then  func(m *Model, r *rand.Rand)
	}{
		{"one partial block", 37, func(*Model, *rand.Rand) {}},
		{"several blocks, last partial", 3*256 + 11, func(*Model, *rand.Rand) {}},
		{"items added after a ranking", 300, func(m *Model, r *rand.Rand) {
			for i := 0; i < 400; i++ {
				m.AddItem(fmt.Sprintf("late-%d", i))
			}
			for n := 0; n < 300; n++ {
				m.Update(int32(r.IntN(m.Users())), int32(m.Items()-1-r.IntN(400)), 2)
			}
		}},
		{"factors written directly", 2*256 + 5, func(m *Model, r *rand.Rand) {
			for n := 0; n < 50; n++ {
				i := r.IntN(m.Items())
				for f := range m.ItemVector(int32(i)) {
					m.V[i*m.K()+f] = float32(r.NormFloat64())
				}
				m.B[i] = float32(r.NormFloat64())
			}
			m.RefreshGram()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.K = 16
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			for u := 0; u < 20; u++ {
				m.AddUser(fmt.Sprintf("u%d", u))
			}
			for i := 0; i < tc.items; i++ {
				m.AddItem(fmt.Sprintf("i%d", i))
			}
			for n := 0; n < 400; n++ {
				m.Update(int32(r.IntN(20)), int32(r.IntN(tc.items)), 1)
			}
			check := func(stage string) {
				for u := int32(0); u < 20; u++ {
					ex := m.Seen(u, nil)
					for _, n := range []int{1, 10, 50} {
						got := m.TopN(u, n, ex, nil)
						if want := bruteTop(m, u, n, ex); !slices.Equal(got, want) {
							t.Fatalf("%s: learner %d top %d:\n got %v\nwant %v", stage, u, n, got, want)
						}
					}
				}
			}
			check("trained")
			tc.then(m, r)
			check("after")
		})
	}
}

// cloneModel copies a model through a snapshot.
func cloneModel(t *testing.T, m *Model) *Model {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var c Model
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return &c
}

// longLearner returns a trained model (k=16) whose learner 0 has hist
// distinct items in its history.
func longLearner(t *testing.T, budget, hist int) *Model {
	t.Helper()
	cfg := DefaultConfig()
	cfg.K = 16
	cfg.CGBudget = budget
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		m.AddItem(fmt.Sprintf("i%d", i))
	}
	r := rand.New(rand.NewPCG(5, 5))
	for u := 0; u < 30; u++ {
		m.AddUser(fmt.Sprintf("u%d", u))
	}
	for n := 0; n < hist; n++ {
		m.Update(0, int32(n), 1+float32(n%3))
		for x := 0; x < 5; x++ {
			m.Update(int32(1+r.IntN(29)), int32(r.IntN(400)), 1)
		}
	}
	return m
}

// TestFusedSolveMatchesReference: one residual pass and a dot-only last
// step compute the same learner vector as the solve they replace.
func TestFusedSolveMatchesReference(t *testing.T) {
	for _, hist := range []int{1, 10, 120} {
		t.Run(fmt.Sprintf("history=%d", hist), func(t *testing.T) {
			m := longLearner(t, 0, hist)
			ref := cloneModel(t, m)
			for f := range m.UserVector(0) { // from the same cold start
				m.UserVector(0)[f], ref.UserVector(0)[f] = 0, 0
			}
			m.solveUser(0)
			refSolve(ref, 0)
			for f, v := range m.UserVector(0) {
				if w := ref.UserVector(0)[f]; math.Abs(float64(v-w)) > 1e-4*(1+math.Abs(float64(w))) {
					t.Fatalf("factor %d: fused %v, reference %v", f, v, w)
				}
			}
		})
	}
}

// TestCGBudgetOnLongHistory: with the default budget a 200-item history
// gets one CG step per event instead of three, and because each solve starts from the
// previous vector, a few events take the learner's vector to the exact
// (Cholesky) solution all the same.
func TestCGBudgetOnLongHistory(t *testing.T) {
	m := longLearner(t, DefaultConfig().CGBudget, 200) // one step per solve
	exact := cloneModel(t, m)
	exact.cfg.Exact = true
	exact.solveUser(0)
	want := exact.UserVector(0)
	dist := func(p []float32) float64 {
		var d, n float64
		for f, v := range p {
			d += float64(v-want[f]) * float64(v-want[f])
			n += float64(want[f]) * float64(want[f])
		}
		return math.Sqrt(d / n)
	}
	full := cloneModel(t, m)
	full.cfg.CGBudget = 0
	for f := range m.UserVector(0) {
		m.UserVector(0)[f], full.UserVector(0)[f] = 0, 0
	}
	m.solveUser(0)
	full.solveUser(0)
	one, three := dist(m.UserVector(0)), dist(full.UserVector(0))
	if !(one > three) {
		t.Fatalf("from a cold start one budgeted solve is %.3g from the exact vector, three steps %.3g: the budget did not cut the steps", one, three)
	}
	for n := 0; n < 8; n++ {
		m.solveUser(0)
	}
	if d := dist(m.UserVector(0)); d > 0.01 {
		t.Fatalf("after 9 warm-started budgeted solves the vector is %.3g (relative) from the exact one", d)
	}
}

// TestSnapshotVersion1StillRestores: a snapshot written before CGBudget
// existed (testdata/snapshot-v1.bin, made by that code from the stream
// below) restores with the default CGBudget, and holds
// the model this code learns from the same stream.
func TestSnapshotVersion1StillRestores(t *testing.T) {
	old, err := os.ReadFile("testdata/snapshot-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	var m Model
	if err := m.UnmarshalBinary(old); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.K, cfg.GramEvery, cfg.SampleWindow = 8, 50, 100
	if m.Config() != cfg {
		t.Fatalf("restored config %+v, want %+v", m.Config(), cfg)
	}
	again, _ := New(cfg)
	for n := 0; n < 600; n++ {
		u := n % 12
		again.Observe(fmt.Sprintf("learner-%d", u), fmt.Sprintf("item-%d", (u%3)*10+(n*7+u)%10), 1)
	}
	if m.Users() != again.Users() || m.Items() != again.Items() || m.Events() != again.Events() {
		t.Fatalf("restored %d learners, %d items, %d events; want %d, %d, %d",
			m.Users(), m.Items(), m.Events(), again.Users(), again.Items(), again.Events())
	}
	for u := int32(0); u < int32(m.Users()); u++ {
		a, b := m.UserVector(u), again.UserVector(u)
		for f := range a {
			if math.Abs(float64(a[f]-b[f])) > 1e-3*(1+math.Abs(float64(b[f]))) {
				t.Fatalf("learner %s factor %d: restored %v, learned again %v", m.UserID(u), f, a[f], b[f])
			}
		}
	}
	// Written again, it is a current-version snapshot of the same model.
	cur, _ := m.MarshalBinary()
	if cur[4] != snapshotVersion || bytes.Equal(cur, old) {
		t.Fatalf("re-marshalled snapshot has version %d", cur[4])
	}
	var back Model
	if err := back.UnmarshalBinary(cur); err != nil || back.Config() != cfg {
		t.Fatalf("round trip: %v, config %+v", err, back.Config())
	}
}
