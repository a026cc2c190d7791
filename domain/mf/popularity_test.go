package mf

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func items(list []Scored) []int32 {
	out := make([]int32, len(list))
	for i, s := range list {
		out[i] = s.Item
	}
	return out
}

func TestPopularity(t *testing.T) {
	tests := []struct {
		name    string
		adds    []int32
		n       int
		exclude []int32
		want    []int32
	}{
		{"empty", nil, 3, nil, []int32{}},
		{"by count", []int32{1, 2, 2, 3, 3, 3}, 3, nil, []int32{3, 2, 1}},
		{"ties: first to reach the count first", []int32{5, 4, 4, 5}, 2, nil, []int32{4, 5}},
		{"exclusions", []int32{1, 2, 2, 3, 3, 3}, 2, []int32{3}, []int32{2, 1}},
		{"n beyond items", []int32{7}, 5, nil, []int32{7}},
		{"exclude unknown item", []int32{1}, 2, []int32{500}, []int32{1}},
		{"sparse index", []int32{130, 0, 130}, 2, nil, []int32{130, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPopularity()
			for _, a := range tc.adds {
				p.Add(a, "", 1)
			}
			got := items(p.TopN("", tc.n, tc.exclude, nil))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPopularityGroupsAndWeights(t *testing.T) {
	p := NewPopularity()
	p.Add(1, "analyst", 1)
	p.Add(2, "engineer", 1)
	p.Add(2, "engineer", 1)
	p.Add(3, "", 0.5)
	p.Add(3, "", 0)  // ignored
	p.Add(3, "", -1) // ignored
	if got := items(p.TopN("analyst", 5, nil, nil)); !reflect.DeepEqual(got, []int32{1}) {
		t.Fatalf("analyst %v", got)
	}
	if got := items(p.TopN("", 5, nil, nil)); !reflect.DeepEqual(got, []int32{2, 1, 3}) {
		t.Fatalf("global %v", got)
	}
	if got := p.TopN("nobody", 5, nil, nil); len(got) != 0 || p.HasGroup("nobody") {
		t.Fatalf("unknown group %v", got)
	}
	if p.Count(2, "engineer") != 2 || p.Count(3, "") != 0.5 || p.Total("") != 3.5 || p.Count(99, "") != 0 {
		t.Fatal("counts")
	}
}

// The incremental ranking equals a full sort by (count desc, time the count
// was reached asc).
func TestPopularityMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := NewPopularity()
	count := map[int32]int{}
	reached := map[int32]int{}
	for step := 0; step < 5000; step++ {
		it := int32(r.IntN(50))
		if r.IntN(3) == 0 {
			it = int32(r.IntN(5)) // a few heavy items
		}
		p.Add(it, "", 1)
		count[it]++
		reached[it] = step
		if step%97 != 0 {
			continue
		}
		var want []int32
		for it := range count {
			want = append(want, it)
		}
		slices.SortFunc(want, func(a, b int32) int {
			if count[a] != count[b] {
				return count[b] - count[a]
			}
			return reached[a] - reached[b]
		})
		if got := items(p.TopN("", len(want), nil, nil)); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: got %v, want %v", step, got, want)
		}
	}
}
