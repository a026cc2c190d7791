package projections

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStoredSkillMasteryRoundTrip(t *testing.T) {
	base := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	full := make([]MasteryPoint, TrajectoryLen)
	for i := range full {
		full[i] = MasteryPoint{At: base.Add(time.Duration(i) * 37 * time.Second), PMastery: 0.1 + float64(i)/71, Correct: i%3 != 0}
	}
	mastered := base.Add(time.Hour)
	for _, tc := range []struct {
		name string
		tr   []MasteryPoint
	}{
		{"none", nil},
		{"one", []MasteryPoint{{At: base, PMastery: 0.6279, Correct: true}}},
		{"full", full},
		{"times out of order", []MasteryPoint{{At: base, PMastery: 0.5}, {At: base.Add(-time.Minute), PMastery: 0.4}, {At: base.Add(time.Minute), PMastery: 1}}},
		{"zone offsets", []MasteryPoint{
			{At: time.Date(2026, 11, 29, 11, 0, 0, 0, time.FixedZone("", 3600)), PMastery: 0.3, Correct: true},
			{At: time.Date(2026, 11, 29, 5, 30, 0, 5, time.FixedZone("", -5*3600-1800)), PMastery: 0.31}}},
		{"times beyond Unix nanoseconds", []MasteryPoint{
			{At: time.Time{}, PMastery: 0}, {At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), PMastery: 1e-300},
			{At: time.Date(1200, 5, 1, 0, 0, 0, 0, time.FixedZone("", 7200)), PMastery: 1}, {At: base, PMastery: 0.75, Correct: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &SkillMastery{Skill: "sql \"joins\"", PMastery: 0.8123456789, PInitial: 0.3, Ability: -0.25, Attempts: 7, Correct: 5,
				FirstAt: base, LastAt: base.Add(time.Hour), FirstCorrect: true, MasteredAt: &mastered, RecentSuccess: 0.7, RecentAttempts: 4.5,
				FirstScores: []float64{0.5, 1}, LastScores: []float64{1, 0.25}, Trajectory: tc.tr, Position: inputPosition{Partition: 2, Offset: 99, Set: true}}
			b, err := s.encodeValue()
			if err != nil {
				t.Fatal(err)
			}
			var got SkillMastery
			if err := got.decodeValue(b); err != nil {
				t.Fatalf("%v: %x", err, b)
			}
			// Compared as the API shows them: the same instants, zones and values.
			want, _ := json.Marshal(s)
			have, _ := json.Marshal(&got)
			if string(want) != string(have) {
				t.Fatalf("through the store:\n got %s\nwant %s", have, want)
			}
			for i := range tc.tr {
				if !got.Trajectory[i].At.Equal(tc.tr[i].At) {
					t.Errorf("point %d at %v, want %v", i, got.Trajectory[i].At, tc.tr[i].At)
				}
			}
			// The recommender's fast read of the stored record, and of
			// one stored as JSON before (the trajectory in base64).
			for _, stored := range [][]byte{b, jsonStoredMastery(t, s)} {
				skill, p, err := skillProbability(stored)
				if err != nil || skill != s.Skill || p != s.PMastery {
					t.Errorf("skillProbability = %q %v %v", skill, p, err)
				}
				var old SkillMastery
				if err := old.decodeValue(stored); err != nil {
					t.Fatal(err)
				}
				if have, _ := json.Marshal(&old); string(have) != string(want) {
					t.Fatalf("read back:\n got %s\nwant %s", have, want)
				}
			}
		})
	}
}

// A full trajectory made the stored record several times the size of a
// statement, rewritten on every attempt; packed, it is a fraction.
func TestStoredSkillMasteryIsSmall(t *testing.T) {
	base := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	s := &SkillMastery{Skill: "skill-07", PMastery: 0.8123456789, FirstAt: base, LastAt: base, FirstScores: []float64{0.5, 1, 0.75}, LastScores: []float64{1, 0.25, 0.5}}
	for i := range TrajectoryLen {
		s.Trajectory = append(s.Trajectory, MasteryPoint{At: base.Add(time.Duration(i) * 41 * time.Second), PMastery: 0.123456789 + float64(i)/97, Correct: i%2 == 0})
	}
	old, _ := json.Marshal(s)
	packed, err := s.encodeValue()
	if err != nil {
		t.Fatal(err)
	}
	if len(packed)*3 > len(old) {
		t.Fatalf("stored %d bytes, as JSON objects %d: want under a third", len(packed), len(old))
	}
	t.Logf("a full trajectory stored in %d bytes (as JSON objects %d)", len(packed), len(old))
}

// jsonStoredMastery is s as the store kept it before the record was
// packed: JSON, with the trajectory packed in base64.
func jsonStoredMastery(t *testing.T, s *SkillMastery) []byte {
	t.Helper()
	type plain SkillMastery
	var tr any
	if len(s.Trajectory) > 0 {
		tr = base64.RawStdEncoding.EncodeToString(appendPoints(nil, s.Trajectory))
	}
	b, err := json.Marshal(struct {
		*plain
		Trajectory any `json:"trajectory"`
	}{(*plain)(s), tr})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Records written before the trajectory was packed are read as they are.
func TestStoredSkillMasteryReadsOlderRecords(t *testing.T) {
	old := `{"skill":"sql","p_mastery":0.7,"p_initial":0.3,"ability":0.1,"attempts":2,"correct":1,"first_at":"2026-11-29T10:00:00Z",` +
		`"last_at":"2026-11-29T10:05:00+01:00","first_correct":false,"recent_success":0.5,"recent_attempts":2,"first_scores":[0,1],"last_scores":[0,1],` +
		`"trajectory":[{"at":"2026-11-29T10:00:00Z","p_mastery":0.4,"correct":false},{"at":"2026-11-29T10:05:00+01:00","p_mastery":0.7,"correct":true}],` +
		`"position":{"p":1,"o":41,"s":true}}`
	var s SkillMastery
	if err := json.Unmarshal([]byte(old), &s); err != nil {
		t.Fatal(err)
	}
	want := []MasteryPoint{
		{At: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), PMastery: 0.4},
		{At: time.Date(2026, 11, 29, 10, 5, 0, 0, time.FixedZone("", 3600)), PMastery: 0.7, Correct: true},
	}
	if len(s.Trajectory) != 2 || s.Attempts != 2 || s.Position.Offset != 41 {
		t.Fatalf("read %+v", s)
	}
	for i := range want {
		if !s.Trajectory[i].At.Equal(want[i].At) || s.Trajectory[i].PMastery != want[i].PMastery || s.Trajectory[i].Correct != want[i].Correct {
			t.Errorf("point %d: %+v, want %+v", i, s.Trajectory[i], want[i])
		}
	}
	var none SkillMastery
	if err := json.Unmarshal([]byte(`{"skill":"x","trajectory":null}`), &none); err != nil || none.Trajectory != nil {
		t.Fatalf("null trajectory: %+v %v", none, err)
	}
}

func TestStoredSkillMasteryRefusesDamage(t *testing.T) {
	s := &SkillMastery{Skill: "x", Trajectory: []MasteryPoint{{At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PMastery: 0.5}}}
	b := jsonStoredMastery(t, s)
	packed := base64.RawStdEncoding.EncodeToString(appendPoints(nil, s.Trajectory))
	for _, tc := range []struct{ name, trajectory string }{
		{"not base64", `"!!!"`},
		{"unknown format", `"` + "Ag" + `"`}, // format byte 2
		{"cut short", `"` + packed[:len(packed)-4] + `"`},
		{"unknown flags", `"` + "AUA" + `"`}, // flags 0x40
		{"not a trajectory", `17`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(b), `"`+packed+`"`, tc.trajectory, 1)
			var got SkillMastery
			err := json.Unmarshal([]byte(bad), &got)
			if err == nil {
				t.Fatalf("read %s as %+v", bad, got)
			}
			if !strings.Contains(err.Error(), "trajectory") {
				t.Errorf("error %q does not name the trajectory", err)
			}
		})
	}
	if _, err := unpackTrajectory(packed); err != nil {
		t.Fatalf("the undamaged one: %v", err)
	}
	if _, err := unpackTrajectory(packed[:len(packed)-4]); !errors.Is(err, errTrajectory) {
		t.Fatalf("a damaged one: %v, want errTrajectory", err)
	}
}
