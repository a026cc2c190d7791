package xapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/xapi/xapitest"
)

func mustDefinition(t testing.TB, js string) *ActivityDefinition {
	t.Helper()
	d, err := parseDefinition(json.RawMessage(js), "definition")
	if err != nil {
		t.Fatalf("definition %s: %v", js, err)
	}
	return &d
}

func TestMergeDefinition(t *testing.T) {
	likert := `{"name":{"en-US":"How was it?"},"interactionType":"likert","correctResponsesPattern":["likert_3"],
		"scale":[{"id":"likert_0","description":{"en-US":"bad"}},{"id":"likert_3","description":{"en-US":"good"}}]}`
	for _, tc := range []struct {
		name        string
		known, seen string
		want        string
	}{
		{"likert then matching: no scale or likert pattern survives", likert,
			`{"interactionType":"matching","source":[{"id":"a"}],"target":[{"id":"1"}]}`,
			`{"name":{"en-US":"How was it?"},"interactionType":"matching","source":[{"id":"a"}],"target":[{"id":"1"}]}`},
		{"matching then likert", `{"interactionType":"matching","correctResponsesPattern":["a[.]1"],"source":[{"id":"a"}],"target":[{"id":"1"}]}`,
			`{"interactionType":"likert","scale":[{"id":"likert_0"}]}`,
			`{"interactionType":"likert","scale":[{"id":"likert_0"}]}`},
		{"no interaction said: the known one stays", likert, `{"name":{"fr-FR":"Comment?"}}`,
			`{"name":{"en-US":"How was it?","fr-FR":"Comment?"},"interactionType":"likert","correctResponsesPattern":["likert_3"],
			"scale":[{"id":"likert_0","description":{"en-US":"bad"}},{"id":"likert_3","description":{"en-US":"good"}}]}`},
		{"same type: a new list replaces, descriptions of the same ids merge", likert,
			`{"interactionType":"likert","scale":[{"id":"likert_3","description":{"fr-FR":"bien"}},{"id":"likert_9"}]}`,
			`{"name":{"en-US":"How was it?"},"interactionType":"likert","correctResponsesPattern":["likert_3"],
			"scale":[{"id":"likert_3","description":{"en-US":"good","fr-FR":"bien"}},{"id":"likert_9"}]}`},
		{"same type: an empty pattern replaces (no answer is correct)", likert,
			`{"interactionType":"likert","correctResponsesPattern":[]}`,
			`{"name":{"en-US":"How was it?"},"interactionType":"likert","correctResponsesPattern":[],
			"scale":[{"id":"likert_0","description":{"en-US":"bad"}},{"id":"likert_3","description":{"en-US":"good"}}]}`},
		{"no type before: the interaction is the new one", `{"name":{"en-US":"Q"},"type":"http://example.com/t"}`,
			`{"interactionType":"choice","choices":[{"id":"a"}]}`,
			`{"name":{"en-US":"Q"},"type":"http://example.com/t","interactionType":"choice","choices":[{"id":"a"}]}`},
		{"language maps merge; the same language in other case is replaced",
			`{"name":{"en-US":"meeting","de":"Treffen"},"description":{"en-us":"old"}}`,
			`{"name":{"fr-FR":"réunion","en-us":"Meeting"},"description":{"EN-US":"new"}}`,
			`{"name":{"de":"Treffen","en-us":"Meeting","fr-FR":"réunion"},"description":{"EN-US":"new"}}`},
		{"type, moreInfo replaced; extensions merge by key",
			`{"type":"http://example.com/a","moreInfo":"http://example.com/m","extensions":{"http://example.com/x":1,"http://example.com/y":2}}`,
			`{"type":"http://example.com/b","extensions":{"http://example.com/y":3}}`,
			`{"type":"http://example.com/b","moreInfo":"http://example.com/m","extensions":{"http://example.com/x":1,"http://example.com/y":3}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known, seen := mustDefinition(t, tc.known), mustDefinition(t, tc.seen)
			got := MergeDefinition(known, seen)
			if err := got.Validate(); err != nil {
				t.Fatalf("merged definition is invalid: %v", err)
			}
			want := mustDefinition(t, tc.want)
			if !reflect.DeepEqual(got, want) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				t.Fatalf("merged\n got %s\nwant %s", gb, wb)
			}
			if k := mustDefinition(t, tc.known); !reflect.DeepEqual(k, known) {
				t.Fatal("MergeDefinition modified its known argument")
			}
		})
	}
}

func TestDefinitionValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    ActivityDefinition
		want string // "" when valid
	}{
		{"likert with its scale", ActivityDefinition{InteractionType: InteractionLikert, Scale: []InteractionComponent{{ID: "1"}}}, ""},
		{"matching with a scale (the wedge's mix)", ActivityDefinition{InteractionType: InteractionMatching,
			Scale: []InteractionComponent{{ID: "1"}}, Source: []InteractionComponent{{ID: "a"}}},
			`definition.scale: is not a component list of a "matching" interaction (it uses source and target)`},
		{"list without a type", ActivityDefinition{Choices: []InteractionComponent{}}, "definition.choices: may only be used together with interactionType"},
		{"pattern without a type", ActivityDefinition{CorrectResponsesPattern: []string{}}, "definition.correctResponsesPattern: may only be used together with interactionType"},
		{"unknown type", ActivityDefinition{InteractionType: "Likert"}, "definition.interactionType: must be one of"},
		{"duplicate component", ActivityDefinition{InteractionType: InteractionChoice, Choices: []InteractionComponent{{ID: "a"}, {ID: "a"}}},
			`definition.choices[1].id: must be distinct within the list: "a" is used twice`},
		{"empty component id", ActivityDefinition{InteractionType: InteractionPerformance, Steps: []InteractionComponent{{}}}, "definition.steps[0].id: must not be empty"},
		{"one language twice", ActivityDefinition{Name: LanguageMap{"en-US": "a", "en-us": "b"}}, `definition.name["en-us"]: names the same language as "en-US"`},
		{"bad tag in a component", ActivityDefinition{InteractionType: InteractionLikert, Scale: []InteractionComponent{{ID: "a", Description: LanguageMap{"en_US": "x"}}}},
			`definition.scale[0].description["en_US"]: is not an RFC 5646 language tag`},
		{"type not an IRI", ActivityDefinition{Type: "quiz"}, "definition.type: must be an absolute IRI"},
		{"extension key not an IRI", ActivityDefinition{Extensions: Extensions{"level": json.RawMessage("1")}}, `definition.extensions["level"]: is not an IRI`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid definition rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

// checkMergeSequence folds definitions of one activity, of random
// interaction types, into a canonical one as the LRS does and checks after
// each step: the canonical definition validates and survives the JSON round
// trip through the store; its interaction is the latest one said; and it
// has every language any definition named, with the latest text.
func checkMergeSequence(t *testing.T, c xapitest.Choices, n int) {
	t.Helper()
	var canonical *ActivityDefinition
	latestType := ""
	latestName := map[string]string{} // lower-case tag -> text
	for step := range n {
		js, err := json.Marshal(xapitest.Definition(c, xapitest.InteractionTypes[c.IntN(len(xapitest.InteractionTypes))]))
		if err != nil {
			t.Fatal(err)
		}
		seen, err := parseDefinition(js, "definition")
		if err != nil {
			t.Fatalf("step %d: generated definition is invalid: %v\n%s", step, err, js)
		}
		canonical = MergeDefinition(canonical, &seen)
		if err := canonical.Validate(); err != nil {
			cb, _ := json.Marshal(canonical)
			t.Fatalf("step %d: merged definition is invalid: %v\nseen %s\nmerged %s", step, err, js, cb)
		}
		stored, err := json.Marshal(Activity{ObjectType: ObjectTypeActivity, ID: "https://example.com/a", Definition: canonical})
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseActivity(stored)
		if err != nil {
			t.Fatalf("step %d: stored canonical activity does not parse: %v\n%s", step, err, stored)
		}
		if again, _ := json.Marshal(back); string(again) != string(stored) {
			t.Fatalf("step %d: canonical activity changes in the round trip:\n%s\n%s", step, stored, again)
		}
		if seen.InteractionType != "" {
			latestType = seen.InteractionType
		}
		if canonical.InteractionType != latestType {
			t.Fatalf("step %d: interactionType %q, want the latest said, %q", step, canonical.InteractionType, latestType)
		}
		for tag, text := range seen.Name {
			latestName[strings.ToLower(tag)] = text
		}
		if len(canonical.Name) != len(latestName) {
			t.Fatalf("step %d: name has %d languages, want %d", step, len(canonical.Name), len(latestName))
		}
		for tag, text := range canonical.Name {
			if latestName[strings.ToLower(tag)] != text {
				t.Fatalf("step %d: name[%q] = %q, want %q", step, tag, text, latestName[strings.ToLower(tag)])
			}
		}
	}
}

func TestMergeDefinitionProperty(t *testing.T) {
	for seed := range uint64(2000) {
		checkMergeSequence(t, xapitest.Rand(seed), 1+int(seed%9))
	}
}

// FuzzMergeDefinition lets the fuzzer choose the definitions and their
// interaction types; the checks are those of the property test.
func FuzzMergeDefinition(f *testing.F) {
	f.Add([]byte{7, 8, 1, 0, 5, 3, 3, 1, 2, 2, 0, 1, 5, 1, 2, 3, 1, 1, 1, 0, 9})
	f.Add([]byte("likert then matching then likert again"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := xapitest.Bytes(data)
		checkMergeSequence(t, &c, 1+len(data)/8)
	})
}

func TestParseStoredActivity(t *testing.T) {
	// What the merge of an earlier release stored for the likert→matching
	// redefinition: the likert scale kept under "matching".
	mix := `{"objectType":"Activity","id":"https://example.com/q","definition":{"name":{"en-US":"Q"},"interactionType":"matching",
		"scale":[{"id":"likert_0"}],"source":[{"id":"a"}],"target":[{"id":"1"}]}}`
	if _, err := ParseActivity([]byte(mix)); err == nil {
		t.Fatal("ParseActivity accepted an invalid mix")
	}
	a, err := ParseStoredActivity([]byte(mix))
	if err != nil {
		t.Fatalf("ParseStoredActivity: %v", err)
	}
	if a.Definition.Scale != nil || len(a.Definition.Source) != 1 || len(a.Definition.Target) != 1 || a.Definition.Name["en-US"] != "Q" {
		t.Fatalf("repaired definition = %+v", a.Definition)
	}
	if _, err := ParseStoredActivity([]byte(`{"id":"not an iri"}`)); err == nil {
		t.Fatal("ParseStoredActivity accepted an activity it cannot repair")
	}
}
