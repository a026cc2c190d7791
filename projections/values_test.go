package projections

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// storedValue is a packed entry type as the store keeps it.
type storedValue interface {
	valueEncoder
	valueDecoder
}

func TestPackedValues(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	zoned := time.Date(2026, 12, 7, 11, 30, 0, 5, time.FixedZone("", 2*3600+1800))
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.FixedZone("", -3600))
	best, last := 0.75, 0.0
	pos := inputPosition{Partition: 3, Offset: 1 << 40, Set: true}
	for _, tc := range []struct {
		name string
		v    storedValue
		// fresh returns an empty value of the same type to decode into.
		fresh func() storedValue
	}{
		{"learner item", &LearnerItem{Learner: "p000042", Item: "https://example.com/activities/é\"7", Attempts: 12, Correct: 9,
			FirstAt: at, LastAt: zoned, FirstCorrect: true, LastScore: 0.125, Position: pos}, func() storedValue { return new(LearnerItem) }},
		{"learner item, zero", &LearnerItem{}, func() storedValue { return new(LearnerItem) }},
		{"learner item, far times", &LearnerItem{Learner: "x", FirstAt: far, LastAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), Attempts: -1},
			func() storedValue { return new(LearnerItem) }},
		{"skill mastery", &SkillMastery{Skill: "sql", PMastery: 0.97, PInitial: 0.2, Ability: 1.25, Attempts: 9, Correct: 7, FirstAt: at, LastAt: zoned,
			MasteredAt: &zoned, RecentSuccess: 0.8, RecentAttempts: 5, FirstScores: []float64{0, 1}, LastScores: []float64{},
			Trajectory: []MasteryPoint{{At: at, PMastery: 0.5, Correct: true}, {At: zoned, PMastery: 0.97}}, Position: pos},
			func() storedValue { return new(SkillMastery) }},
		{"skill mastery, zero", &SkillMastery{}, func() storedValue { return new(SkillMastery) }},
		{"item part", &itemPart{Difficulty: -1.5e-7, Attempts: 1 << 33, Position: pos}, func() storedValue { return new(itemPart) }},
		{"item part, no position", &itemPart{Difficulty: 2}, func() storedValue { return new(itemPart) }},
		{"learner global", &learnerGlobal{Ability: 0.3, Position: pos, At: zoned}, func() storedValue { return new(learnerGlobal) }},
		{"learner global, no time", &learnerGlobal{Ability: -0.3, Position: pos}, func() storedValue { return new(learnerGlobal) }},
		{"progress", &ActivityProgress{Activity: "https://example.com/a", Statements: 40, Attempts: 3, Completed: true, Failed: true,
			BestScore: &best, LastScore: &last, TimeSpentS: 1234.5, First: at, Last: zoned}, func() storedValue { return new(ActivityProgress) }},
		{"progress, no scores", &ActivityProgress{Activity: "a", Statements: 1, Passed: true, First: at, Last: at},
			func() storedValue { return new(ActivityProgress) }},
		{"progress, zero", &ActivityProgress{}, func() storedValue { return new(ActivityProgress) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.v.encodeValue()
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != valueFormat {
				t.Fatalf("format byte %#x", b[0])
			}
			want, _ := json.Marshal(tc.v)
			// The packed value and the JSON stored before read the same,
			// as the API shows them.
			old, _ := json.Marshal(tc.v)
			for _, stored := range [][]byte{b, old} {
				got := tc.fresh()
				if err := decodeStored(stored, got); err != nil {
					t.Fatalf("%v: %x", err, stored)
				}
				if have, _ := json.Marshal(got); string(have) != string(want) {
					t.Fatalf("read back from %q:\n got %s\nwant %s", stored, have, want)
				}
			}
			if len(b) >= len(old) {
				t.Errorf("packed %d bytes, JSON %d", len(b), len(old))
			}
			// Damage is refused, naming it, at every length and with a
			// byte too many; never a panic.
			damaged := func(err error) bool { return errors.Is(err, errValue) || errors.Is(err, errTrajectory) }
			for n := 1; n < len(b); n++ {
				if err := tc.fresh().decodeValue(b[:n]); !damaged(err) {
					t.Fatalf("cut to %d of %d bytes: %v", n, len(b), err)
				}
			}
			if err := tc.fresh().decodeValue(append(b, 0)); !damaged(err) {
				t.Fatalf("a byte too many: %v", err)
			}
		})
	}
}

// Times keep their instant and zone offset through the packed form; the
// zero time stays zero.
func TestPackedTimes(t *testing.T) {
	for _, at := range []time.Time{
		{}, time.Unix(0, 0).UTC(), time.Date(2026, 12, 7, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 12, 7, 0, 0, 0, 0, time.FixedZone("", -9*3600-1800)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		r := packedReader{b: appendTime(nil, at), damaged: errValue}
		got := r.time("t")
		if err := r.done(); err != nil {
			t.Fatalf("%v: %v", at, err)
		}
		_, off := at.Zone()
		_, gotOff := got.Zone()
		if !got.Equal(at) || off != gotOff || got.IsZero() != at.IsZero() {
			t.Errorf("%v read back as %v", at, got)
		}
	}
	// What RFC 3339 cannot show is refused when stored, as JSON did.
	for _, v := range []valueEncoder{&LearnerItem{LastAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		&ActivityProgress{First: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}, &learnerGlobal{At: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := v.encodeValue(); err == nil {
			t.Errorf("%+v stored", v)
		}
	}
	r := packedReader{b: []byte{timeText + 1}, damaged: errValue}
	if r.time("at"); !errors.Is(r.err, errValue) {
		t.Fatalf("unknown tag: %v", r.err)
	}
}

// The admin totals and the recommender read one field of an entry
// without decoding the rest, from a packed value and from JSON alike.
func TestPackedFieldReads(t *testing.T) {
	ap := &ActivityProgress{Activity: `https://example.com/"a"`, Statements: 1234567, Attempts: 2}
	packed, _ := ap.encodeValue()
	old, _ := json.Marshal(ap)
	for _, v := range [][]byte{packed, old} {
		if n, err := statementsOf(v); n != 1234567 || err != nil {
			t.Errorf("statementsOf(%q) = %d, %v", v, n, err)
		}
	}
	if _, err := statementsOf(packed[:3]); !errors.Is(err, errValue) {
		t.Errorf("statementsOf a damaged value: %v", err)
	}
	s := &SkillMastery{Skill: "sql", PMastery: 0.9}
	b, _ := s.encodeValue()
	if _, _, err := skillProbability(b[:4]); !errors.Is(err, errValue) {
		t.Errorf("skillProbability of a damaged value: %v", err)
	}
	var got SkillMastery
	if err := got.decodeValue(b); err != nil || !reflect.DeepEqual(got, *s) {
		t.Errorf("decoded %+v, %v", got, err)
	}
}

// An entry stored as JSON by an earlier version goes on counting from
// where it was, and is packed when next written.
func TestProgressEntryStoredAsJSON(t *testing.T) {
	store := openStore(t)
	p, err := NewProgress(store)
	if err != nil {
		t.Fatal(err)
	}
	const learner, act = "mbox:mailto:old@example.com", "https://example.com/a"
	key := progressKey(p.Space(), "t1", learner, act)
	old, _ := json.Marshal(ActivityProgress{Activity: act, Statements: 5, Attempts: 1, Completed: true, First: t0, Last: t0})
	if err := store.db.Update(func(txn *badger.Txn) error { return txn.Set(key, old) }); err != nil {
		t.Fatal(err)
	}
	mustApply(t, &batcher{p: p.Projection}, progressStatement(t, "t1", learner, act, t0.Add(time.Hour)))
	aps, err := p.Learner(context.Background(), "t1", learner)
	if err != nil || len(aps) != 1 {
		t.Fatalf("%+v, %v", aps, err)
	}
	if ap := aps[0]; ap.Statements != 6 || !ap.First.Equal(t0) || !ap.Last.Equal(t0.Add(time.Hour)) || !ap.Completed {
		t.Fatalf("after one more statement: %+v", ap)
	}
	err = store.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if v[0] != valueFormat {
				t.Errorf("stored again as %q", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
