package analytics

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

func ev(typ, key string, v any) event.Event {
	var data []byte
	switch x := v.(type) {
	case nil:
	case string:
		data = []byte(x)
	default:
		data, _ = json.Marshal(v)
	}
	return event.Event{ID: "e1", Type: typ, Source: "/t", Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Tenant: "acme",
		ContentType: event.ContentTypeJSON, Key: key, Data: data}
}

func TestOtherEncoders(t *testing.T) {
	enc := NewEncoder(NoPseudonymization())
	recs, err := enc.RecommendationRows(ev(TypeRecommendationsUpdated, "l1", RecommendationsUpdatedPayload{Learner: "l1",
		ModelVersion: "isgd-k16/p2/40", BasedOn: "s1", Role: "dev", ColdStart: true,
		Items: []RecommendedItem{{Item: "a", Score: 0.9, Rank: 1, Reasons: []string{"x"}}, {Item: "b", Score: 0.5, Rank: 2}}}))
	if err != nil || len(recs) != 2 || recs[1].ItemID != "b" || recs[1].Rank != 2 || recs[0].ActorPseudo != "l1" ||
		recs[0].Model != "isgd-k16" || recs[0].ModelVersion != "isgd-k16/p2/40" || recs[0].BasedOn != "s1" ||
		recs[0].Role != "dev" || recs[0].ColdStart != 1 ||
		!recs[0].RecommendedAt.Equal(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v %v", recs, err)
	}
	at := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	yes := true
	m, err := enc.MasteryRow(ev(TypeMasteryUpdated, "l1", MasteryUpdatedPayload{Learner: "l1", Skill: "s", PMastery: 0.9, Correct: &yes, At: &at}))
	if err != nil || m.SkillID != "s" || *m.Correct != 1 || !m.UpdatedAt.Equal(at) {
		t.Fatalf("%+v %v", m, err)
	}
	p := 0.7
	d, err := enc.DifficultyRow(ev(TypeDifficultyAdjusted, "l1", DifficultyAdjustedPayload{Item: "q", Difficulty: 0.3, Expected: &p, Learner: "l1"}))
	if err != nil || d.ItemID != "q" || *d.Expected != 0.7 || d.ActorKey != "l1" || d.Correct != nil {
		t.Fatalf("%+v %v", d, err)
	}
	rows, err := enc.Rows(ev(TypeCatalogSkillPut, "skill:s", `{"id":"s","name":"S"}`))
	if err != nil || len(rows) != 1 || rows[0].Table() != "catalog_skills" {
		t.Fatalf("%+v %v", rows, err)
	}
	for _, r := range append(rows, recs[0], m, d, CatalogActivity{}, CatalogPrerequisite{}, CatalogRole{}, LearnerRole{}) {
		if len(r.Values()) != len(r.Columns()) {
			t.Errorf("%s: %d values, %d columns", r.Table(), len(r.Values()), len(r.Columns()))
		}
		var obj map[string]any
		if err := json.Unmarshal(r.AppendJSON(nil), &obj); err != nil || len(obj) != len(r.Columns()) {
			t.Errorf("%s: AppendJSON %s: %v", r.Table(), r.AppendJSON(nil), err)
		}
	}
}

func TestOtherEncodersReject(t *testing.T) {
	enc := NewEncoder(NoPseudonymization())
	two := 2.0
	cases := []struct {
		e     event.Event
		field string
	}{
		{ev(TypeRecommendationsUpdated, "l", RecommendationsUpdatedPayload{Items: []RecommendedItem{{Item: "a", Rank: 1}}}), "learner"},
		{ev(TypeRecommendationsUpdated, "l", RecommendationsUpdatedPayload{Learner: "l", Items: []RecommendedItem{{Item: "a", Rank: 0}}}), "items[0].rank"},
		{ev(TypeRecommendationsUpdated, "l", RecommendationsUpdatedPayload{Learner: "l", Items: []RecommendedItem{{Item: "a", Rank: 1}, {Item: "a", Rank: 2}}}), "items[1].item"},
		{ev(TypeMasteryUpdated, "l", MasteryUpdatedPayload{Learner: "l", Skill: "s", PMastery: 1.5}), "p_mastery"},
		{ev(TypeMasteryUpdated, "l", MasteryUpdatedPayload{Learner: "l"}), "skill"},
		{ev(TypeDifficultyAdjusted, "l", DifficultyAdjustedPayload{Item: "q", Expected: &two}), "expected"},
		{ev(TypeDifficultyAdjusted, "l", `{"difficulty": 1}`), "item"},
		{ev(TypeDifficultyAdjusted, "l", `[1]`), "data"},
		{ev(TypeCatalogPrerequisitePut, "k", `{"from":"s","to":"s"}`), "to"},
		{ev(TypeCatalogPrerequisiteDeleted, "k", `{"from":"s"}`), "to"},
		{ev(TypeCatalogRolePut, "k", `{"id":"r","requires":[{"skill":"s","level":1.2}]}`), "requires[0].level"},
		{ev(TypeCatalogRolePut, "k", `{"id":"r","requires":[{"level":0.2}]}`), "requires[0].skill"},
		{ev(TypeCatalogSkillPut, "k", `{"name":"x"}`), "id"},
		{ev(TypeCatalogSkillDeleted, "k", `{}`), "id"},
		{ev(TypeCatalogActivityPut, "k", `{"id":"https://x/a","type":"item","duration":"PT1H1H"}`), "duration"},
		{ev(TypeCatalogActivityDeleted, "k", ``), "data"},
		{ev(TypeCatalogActivitySeen, "k", `{"name":"x"}`), "id"},
		{ev(TypeCatalogRoleDeleted, "k", `"r"`), "data"},
		{ev(TypeCatalogLearnerRolePut, "k", `{"role":"r"}`), "learner"},
	}
	for i, c := range cases {
		_, err := enc.Rows(c.e)
		var pe *PayloadError
		if !event.IsRejected(err) || !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("case %d (%s): got %v, want a rejection naming %s", i, c.e.Type, err, c.field)
		}
	}
	for _, typ := range []string{"learnstream.unknown.v1", "learnstream.adaptive.mastery.updated.v2", "learnstream.catalog.thing.v1", "no-version"} {
		if _, err := enc.Rows(ev(typ, "k", `{}`)); !event.IsRejected(err) {
			t.Errorf("%s: got %v, want a rejection", typ, err)
		}
	}
}

// A row's string list is a ClickHouse Array: [] when there is none, never
// null, which the column refuses.
func TestRowStringLists(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, `{"ids":[]}`},
		{[]string{}, `{"ids":[]}`},
		{[]string{"a", `b"c`}, `{"ids":["a","b\"c"]}`},
	} {
		w := newJSONW(nil)
		w.strs("ids", tc.in)
		if got := string(append(w.b, '}')); got != tc.want {
			t.Errorf("strs(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
