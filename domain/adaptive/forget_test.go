package adaptive

import (
	"testing"
)

func TestForgetLearner(t *testing.T) {
	// Three learners on two items of skills 0 and 1; learner 1 is the one
	// forgotten in most cases.
	train := func(t *testing.T) *Model {
		m, err := New(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for round := range 4 {
			for l := range int32(3) {
				for it := range int32(2) {
					e := Event{Learner: l, Item: it, Skills: []int32{it}, Score: float64((int(l) + round + int(it)) % 2)}
					if _, err := m.Observe(&e); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		forget  int32
		had     bool
		touched bool // whether learner `forget` had state
	}{
		{"a learner in the middle", 1, true, true},
		{"the first learner", 0, true, true},
		{"an id the model never saw", 7, false, false},
		{"a negative id", -1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := train(t)
			ref := train(t)
			if got := m.ForgetLearner(tc.forget); got != tc.had {
				t.Fatalf("ForgetLearner(%d) = %v, want %v", tc.forget, got, tc.had)
			}
			for l := range int32(3) {
				for s := range int32(2) {
					got, want := m.LearnerSkill(l, s), ref.LearnerSkill(l, s)
					if l == tc.forget {
						want = LearnerSkillState{Mastery: m.skillParams(s).Prior}
					}
					if got != want {
						t.Errorf("learner %d skill %d: %+v, want %+v", l, s, got, want)
					}
				}
				if l == tc.forget {
					continue
				}
				e := Event{Learner: l, Item: 0, Skills: []int32{0}}
				p, _ := m.Predict(&e)
				q, _ := ref.Predict(&e)
				if p != q {
					t.Errorf("learner %d: prediction %+v, want %+v (unchanged)", l, p, q)
				}
			}
			for it := range int32(2) {
				d, n := m.ItemDifficulty(it)
				rd, rn := ref.ItemDifficulty(it)
				if d != rd || n != rn {
					t.Errorf("item %d difficulty %v (%d), want unchanged %v (%d)", it, d, n, rd, rn)
				}
			}
			if tc.touched {
				e := Event{Learner: tc.forget, Item: 1, Skills: []int32{1}}
				p, _ := m.Predict(&e)
				if st := m.LearnerSkill(tc.forget, 1); st.Mastery != m.skillParams(1).Prior || p.Elo == 0 {
					t.Errorf("forgotten learner reads %+v (prediction %+v), want the priors", st, p)
				}
				if m.li.get(pairKey(tc.forget, 0)) != nil || m.lsIndex.get(pairKey(tc.forget, 0)) != nil {
					t.Error("learner-item or learner-skill entries of the forgotten learner remain")
				}
			}
			// The snapshot restores to the same state.
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			r, _ := New(DefaultConfig())
			if err := r.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			for l := range int32(3) {
				if r.LearnerSkill(l, 0) != m.LearnerSkill(l, 0) {
					t.Errorf("restored learner %d differs", l)
				}
			}
		})
	}
}

func TestVocabForget(t *testing.T) {
	v := NewVocab()
	for _, n := range []string{"a", "b", "c"} {
		v.Add(n)
	}
	tests := []struct {
		name   string
		forget string
		id     int32
		ok     bool
	}{
		{"known", "b", 1, true},
		{"again", "b", 0, false},
		{"unknown", "z", 0, false},
	}
	for _, tt := range tests {
		id, ok := v.Forget(tt.forget)
		if id != tt.id || ok != tt.ok {
			t.Errorf("%s: Forget(%q) = %d, %v; want %d, %v", tt.name, tt.forget, id, ok, tt.id, tt.ok)
		}
	}
	if id, _ := v.ID("c"); id != 2 || v.Name(1) != "" || v.Len() != 3 {
		t.Errorf("after forgetting b: c=%d, name(1)=%q, len %d", id, v.Name(1), v.Len())
	}
	if id := v.Add("b"); id != 3 {
		t.Errorf("b added again gets id %d, want a new one (3)", id)
	}
	if id := v.AddForgotten(); id != 4 || v.Name(4) != "" {
		t.Errorf("AddForgotten = %d", id)
	}
}
