package adaptive

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// randomEvents draws attempts over a few learners, items and skills, with
// choice items, multi-skill items and partial credit, so every part of the
// state is exercised.
func randomEvents(n int, seed uint64) []Event {
	rng := rand.New(rand.NewPCG(seed, 11))
	evs := make([]Event, n)
	for i := range evs {
		it := int32(rng.IntN(30))
		skills := []int32{it % 7}
		if it%5 == 0 {
			skills = append(skills, 7+it%3)
		}
		if it%11 == 0 {
			skills = nil // an item without skills
		}
		score := float64(rng.IntN(2))
		if i%9 == 0 {
			score = rng.Float64()
		}
		var opts int32
		if it%4 == 0 {
			opts = 4
		}
		evs[i] = Event{Learner: int32(rng.IntN(20)), Item: it, Skills: skills, Score: score, Options: opts}
	}
	return evs
}

func TestSnapshotRestoresBitForBit(t *testing.T) {
	evs := randomEvents(4000, 1)
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetSkillBKT(3, BKTParams{Prior: 0.2, Learn: 0.2, Guess: 0.25, Slip: 0.05}); err != nil {
		t.Fatal(err)
	}
	for i := range evs[:2000] {
		if _, err := a.Observe(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(DefaultConfig())
	if err := b.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := b.MarshalBinary()
	if !bytes.Equal(snap, again) {
		t.Fatal("a restored model snapshots differently")
	}
	for i := 2000; i < len(evs); i++ {
		pa, _ := a.Observe(&evs[i])
		pb, _ := b.Observe(&evs[i])
		if pa != pb {
			t.Fatalf("event %d: original predicts %+v, restored %+v", i, pa, pb)
		}
	}
	if a.SkillBKT(3) != b.SkillBKT(3) {
		t.Errorf("fitted BKT parameters not restored")
	}
	for l := int32(0); l < 20; l++ {
		for s := int32(0); s < 10; s++ {
			if a.LearnerSkill(l, s) != b.LearnerSkill(l, s) {
				t.Fatalf("learner %d skill %d differs after the same events", l, s)
			}
		}
	}
}

func TestSnapshotRejectsDamageAndKeepsState(t *testing.T) {
	a, _ := New(DefaultConfig())
	for _, e := range randomEvents(300, 2) {
		a.Observe(&e)
	}
	snap, _ := a.MarshalBinary()
	b, _ := New(DefaultConfig())
	e := Event{Learner: 1, Item: 2, Skills: []int32{3}, Score: 1}
	b.Observe(&e)
	before, _ := b.MarshalBinary()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other magic", append([]byte("LSBK"), snap[4:]...)},
		{"other version", append(append([]byte(snapshotMagic), 0, 0, 0, 9), snap[8:]...)},
		{"trailing bytes", append(append([]byte{}, snap...), 0)},
		{"huge count", func() []byte {
			d := append([]byte{}, snap...)
			// the learner count follows magic, version, numDense, frozen
			// and the dense weights.
			off := 4 + 4 + 4 + 1 + 16*numDense
			copy(d[off:], []byte{0x7f, 0xff, 0xff, 0xff})
			return d
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v, want ErrSnapshot", err)
			}
			after, _ := b.MarshalBinary()
			if !bytes.Equal(before, after) {
				t.Fatal("a failed restore changed the model")
			}
		})
	}
	// Every truncation fails cleanly (no panic).
	for n := 0; n < len(snap); n += 1 + n/16 {
		if err := b.UnmarshalBinary(snap[:n]); err == nil {
			t.Fatalf("truncated snapshot of %d/%d bytes restored", n, len(snap))
		}
	}
}

func TestEloPredict(t *testing.T) {
	for _, tc := range []struct {
		ability, difficulty, guess, want float64
	}{
		{0, 0, 0, 0.5},
		{0, 0, 0.25, 0.625},
		{100, 0, 0, 1},
		{0, 0, -1, 0.5}, // a bad floor is ignored
	} {
		if got := EloPredict(tc.ability, tc.difficulty, tc.guess); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("EloPredict(%v, %v, %v) = %v, want %v", tc.ability, tc.difficulty, tc.guess, got, tc.want)
		}
	}
}
