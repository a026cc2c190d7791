package mf

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

func TestForget(t *testing.T) {
	evs := clusters(1, 2, 6, 4, 3)
	users := func(m *Model) []string {
		var out []string
		for u := range m.Users() {
			out = append(out, m.UserID(int32(u)))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name   string
		forget []string
		known  []bool
	}{
		{"the last learner", []string{"u1-5"}, []bool{true}},
		{"the first learner (the last moves)", []string{"u0-0"}, []bool{true}},
		{"an unknown learner", []string{"nobody"}, []bool{false}},
		{"twice", []string{"u0-3", "u0-3"}, []bool{true, false}},
		{"everybody", func() []string {
			var all []string
			for c := range 2 {
				for x := range 6 {
					all = append(all, fmt.Sprintf("u%d-%d", c, x))
				}
			}
			return all
		}(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.K = 4
			m := trained(t, cfg, evs)
			before := users(m)
			// What the others look like, to check they are untouched.
			vec := map[string][]float32{}
			seen := map[string][]string{}
			for _, id := range before {
				u, _ := m.LookupUser(id)
				vec[id] = slices.Clone(m.UserVector(u))
				for _, i := range m.Seen(u, nil) {
					seen[id] = append(seen[id], m.ItemID(i))
				}
			}
			items := slices.Clone(m.V)
			for i, id := range tc.forget {
				got := m.Forget(id)
				if tc.known != nil && got != tc.known[i] {
					t.Errorf("Forget(%q) = %v, want %v", id, got, tc.known[i])
				}
			}
			want := slices.DeleteFunc(slices.Clone(before), func(id string) bool { return slices.Contains(tc.forget, id) })
			if got := users(m); !slices.Equal(got, want) {
				t.Fatalf("learners %v, want %v", got, want)
			}
			for _, id := range want {
				u, ok := m.LookupUser(id)
				if !ok || m.UserID(u) != id {
					t.Fatalf("%s: index %d names %q", id, u, m.UserID(u))
				}
				if !slices.Equal(m.UserVector(u), vec[id]) {
					t.Errorf("%s: factors changed", id)
				}
				var s []string
				for _, i := range m.Seen(u, nil) {
					s = append(s, m.ItemID(i))
				}
				if !slices.Equal(s, seen[id]) {
					t.Errorf("%s: history %v, want %v", id, s, seen[id])
				}
			}
			if !slices.Equal(m.V, items) {
				t.Error("item factors changed")
			}
			// The snapshot holds no forgotten learner and restores.
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range tc.forget {
				if !slices.Contains(want, id) && bytes.Contains(b, []byte(id)) {
					t.Errorf("snapshot still names %q", id)
				}
			}
			var r Model
			if err := r.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if got := users(&r); !slices.Equal(got, want) {
				t.Errorf("restored learners %v, want %v", got, want)
			}
			// The model goes on learning, the forgotten learner anew.
			m.Observe(tc.forget[0], "i0-0", 1)
			if u, ok := m.LookupUser(tc.forget[0]); !ok || m.HistoryLen(u) != 1 {
				t.Errorf("a forgotten learner who comes back starts with a history of %d", m.HistoryLen(u))
			}
		})
	}
}
