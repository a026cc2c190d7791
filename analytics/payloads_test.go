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
	recs, err := enc.RecommendationRows(ev(TypeRecommendationsUpdated, "l1", RecommendationsUpdatedPayload{Learner: "l1", Model: "isgd",
		Items: []RecommendedItem{{Item: "a", Score: 0.9, Rank: 1, Reasons: []string{"x"}}, {Item: "b", Score: 0.5, Rank: 2}}}))
	if err != nil || len(recs) != 2 || recs[1].ItemID != "b" || recs[1].Rank != 2 || recs[0].ActorPseudo != "l1" ||
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
	r, err := enc.CatalogRow(ev(TypeCatalogRole, "r", CatalogRolePayload{ID: "r", Skills: []RoleSkill{{"s1", 0.8}, {"s2", 0.5}}}))
	if role, ok := r.(CatalogRole); err != nil || !ok || len(role.SkillIDs) != 2 || role.TargetLevels[1] != 0.5 || role.Version == 0 {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = enc.CatalogRow(ev(TypeCatalogRoleMember, "r|l1", nil))
	if rm, ok := r.(RoleMember); err != nil || !ok || rm.RoleID != "r" || rm.ActorPseudo != "l1" || rm.Deleted != 1 {
		t.Fatalf("tombstone: %+v %v", r, err)
	}
	r, err = enc.CatalogRow(ev(TypeCatalogActivity, "act", nil))
	if a, ok := r.(CatalogActivity); err != nil || !ok || a.ActivityID != "act" || a.Deleted != 1 {
		t.Fatalf("tombstone: %+v %v", r, err)
	}
	rows, err := enc.Rows(ev(TypeCatalogSkill, "s", CatalogSkillPayload{ID: "s", Name: "S"}))
	if err != nil || len(rows) != 1 || rows[0].Table() != "catalog_skills" {
		t.Fatalf("%+v %v", rows, err)
	}
	for _, r := range append(rows, recs[0], m, d) {
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
		{ev(TypeCatalogPrerequisite, "s", CatalogPrerequisitePayload{Skill: "s", Requires: "s"}), "requires"},
		{ev(TypeCatalogPrerequisite, "nokey", nil), "key"},
		{ev(TypeCatalogRole, "r", CatalogRolePayload{ID: "r", Skills: []RoleSkill{{"s", 1.2}}}), "skills[0].level"},
		{ev(TypeCatalogSkill, "s", CatalogSkillPayload{Name: "x"}), "id"},
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
