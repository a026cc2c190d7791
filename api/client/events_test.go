package client

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/event/schema"
)

// The Go event types have exactly the fields of their schemas, so an
// integrator decoding with them loses nothing and invents nothing.
func TestEventTypesHaveTheFieldsOfTheirSchemas(t *testing.T) {
	for typ, v := range map[string]any{
		TypeSkillPut: Skill{}, TypePrerequisitePut: Prerequisite{}, TypePrerequisiteDeleted: Prerequisite{},
		TypeActivityPut: Activity{}, TypeRolePut: Role{}, TypeLearnerRolePut: LearnerRole{}, TypeLearnerRoleSet: LearnerRole{},
		TypeSkillDeleted: Deleted{}, TypeActivityDeleted: Deleted{}, TypeRoleDeleted: Deleted{},
		TypeRecommendationsUpdated: RecommendationsUpdated{}, TypeMasteryUpdated: MasteryUpdated{},
		TypeDifficultyAdjusted: DifficultyAdjusted{}, TypeDocument: Document{},
		TypeConsentSet: ConsentSet{}, TypeRetentionSet: RetentionSet{}, TypeRetentionApplied: RetentionApplied{},
		TypeAccessRecorded: AccessRecord{},
	} {
		b, err := schema.JSON(typ)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		var want []string
		for p := range s.Properties {
			want = append(want, p)
		}
		slices.Sort(want)
		var got []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Go fields %v, schema properties %v", typ, got, want)
		}
	}
	// Every event type with data is named by a constant here, except the
	// internal ones.
	consts := []string{TypeStatementStored, TypeAttachmentStored, TypeDocument, TypeSkillPut, TypeSkillDeleted,
		TypePrerequisitePut, TypePrerequisiteDeleted, TypeActivityPut, TypeActivityDeleted, TypeActivitySeen,
		TypeRolePut, TypeRoleDeleted, TypeLearnerRolePut, TypeLearnerRoleSet, TypeRecommendationsUpdated, TypeMasteryUpdated, TypeDifficultyAdjusted,
		TypeConsentSet, TypeRetentionSet, TypeRetentionApplied, TypeAccessRecorded,
		TypeErasureRequested, TypeErasureKeysDestroyed, TypeLearnerErased, TypeErasureApplied, TypeErasureCompleted, TypeStorePurged}
	for _, e := range schema.Events {
		tp := schema.Topics[slices.IndexFunc(schema.Topics, func(tp schema.Topic) bool { return tp.Name == e.Topic })]
		if !tp.Internal && !slices.Contains(consts, e.Type) {
			t.Errorf("event type %s has no constant in package client", e.Type)
		}
	}
}

// A record signed by learnstream verifies under the install's key, and a
// changed value, key or header does not.
func TestVerifySignature(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	ev, err := event.New("6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f", TypeRecommendationsUpdated, "https://lrs.example", "t1",
		"mbox:mailto:ada@example.com", mustTime(t, "2026-11-29T10:00:00Z"), []byte(`{"learner":"mbox:mailto:ada@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	ev = event.Sign(ev, key)
	var hs []Header
	for _, h := range ev.Headers() {
		hs = append(hs, Header{Key: h.Key, Value: h.Value})
	}
	if err := VerifySignature(key, hs, []byte(ev.Key), ev.Data); err != nil {
		t.Fatalf("a signed record: %v", err)
	}
	env, err := ParseEnvelope(hs, []byte(ev.Key), ev.Data)
	if err != nil || env.Type != TypeRecommendationsUpdated || env.Tenant != "t1" || env.Signature == "" {
		t.Fatalf("envelope %+v, %v", env, err)
	}
	for name, tc := range map[string]struct {
		key, rkey, value []byte
		hs               []Header
	}{
		"other value":   {key, []byte(ev.Key), []byte(`{"learner":"mbox:mailto:eve@example.com"}`), hs},
		"other key":     {key, []byte("mbox:mailto:eve@example.com"), ev.Data, hs},
		"other tenant":  {key, []byte(ev.Key), ev.Data, replace(hs, "tenant", "t2")},
		"other install": {[]byte(strings.Repeat("x", 32)), []byte(ev.Key), ev.Data, hs},
		"unsigned":      {key, []byte(ev.Key), ev.Data, replace(hs, event.HeaderSignature, "")},
	} {
		err := VerifySignature(tc.key, tc.hs, tc.rkey, tc.value)
		if err == nil || !strings.Contains(err.Error(), "ce_signature") {
			t.Errorf("%s: err %v, want one naming ce_signature", name, err)
		}
	}
}

func replace(hs []Header, k, v string) []Header {
	out := slices.Clone(hs)
	for i := range out {
		if out[i].Key == k {
			out[i].Value = []byte(v)
		}
	}
	return out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
