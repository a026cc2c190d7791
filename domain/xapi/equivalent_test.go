package xapi

import (
	"strings"
	"testing"
)

func TestEquivalent(t *testing.T) {
	rich := edit(t, baseStatement,
		"actor", groupAnon,
		"result", `{"score": {"scaled": 0.5}, "success": true, "response": "a", "duration": "PT1.00S", "extensions": {"http://example.com/e": {"a": 1, "b": [1, 2]}}}`,
		"context", `{"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "contextActivities": {"parent": [{"id": "http://example.com/p"}]}, "revision": "1", "statement": `+statementRef+`}`,
		"timestamp", `"2015-11-18T12:17:00.123Z"`,
		"attachments", "["+attachmentOK+"]",
	)
	e := func(changes ...string) string { return edit(t, rich, changes...) }
	tests := []struct {
		name string
		b    string
		want bool
	}{
		{"identical", rich, true},
		{"other key order and spacing", strings.ReplaceAll(reorderTopLevel(t, rich), ",", " ,\n "), true},
		{"id in upper case", e("id", `"FD41C918-B88B-4B20-A0A5-A4C32391AAA0"`), true},
		{"id missing on one side", e("id", "-"), true},
		{"stored, authority and version set", e("stored", `"2020-01-01T00:00:00Z"`, "authority", agentBo, "version", `"1.0.3"`), true},
		{"same instant in another zone", e("timestamp", `"2015-11-18T13:17:00.123+01:00"`), true},
		{"timestamp missing on one side", e("timestamp", "-"), true},
		{"timestamp differing below a millisecond", e("timestamp", `"2015-11-18T12:17:00.1239Z"`), true},
		{"verb display differs", e("verb.display", `{"de": "versucht"}`), true},
		{"verb display missing", e("verb.display", "-"), true},
		{"activity definition differs", e("object.definition", `{"name": {"en": "Other"}, "type": "http://example.com/t"}`), true},
		{"activity definition missing", e("object.definition", "-"), true},
		{"activity objectType left out", e("object.objectType", "-"), true},
		{"members in another order", e("actor.member", `[{"account": {"homePage": "https://lms.example.com", "name": "u-17"}}, {"mbox": "mailto:a@example.com"}]`), true},
		{"member objectType written out", e("actor.member[0].objectType", `"Agent"`), true},
		{"email domain in upper case", e("actor.member[0].mbox", `"mailto:a@EXAMPLE.com"`), true},
		{"context activity as single object", e("context.contextActivities.parent", `{"id": "http://example.com/p", "objectType": "Activity"}`), true},
		{"empty context activity list", e("context.contextActivities.other", `[]`), true},
		{"context activity definition", e("context.contextActivities.parent[0].definition", `{"name": {"en": "P"}}`), true},
		{"registration in upper case", e("context.registration", `"EC531277-B57B-4C15-8D91-D292C5B2B8F7"`), true},
		{"statement ref in upper case", e("context.statement.id", `"E05AA883-ACAF-40AD-BF54-02C8CE485FB0"`), true},
		{"extension value formatted differently", e("result.extensions", `{"http://example.com/e": {"b": [1.0, 2], "a": 1.00}}`), true},
		{"extension numbers written as floats", e("result.extensions", `{"http://example.com/e": {"a": 1.0, "b": [1e0, 2.000]}}`), true},
		{"duration beyond hundredths", e("result.duration", `"PT1.004S"`), true},
		{"attachment display tag case", e("attachments[0].display", `{"EN-us": "Signature"}`), true},
		{"attachment sha2 case", e("attachments[0].sha2", `"495395E777CD98DA653DF9615D09C0FD6BB2F8D4788394CD53C56A3BFDCD848A"`), true},

		{"different verb", e("verb.id", `"http://adlnet.gov/expapi/verbs/completed"`), false},
		{"different object", e("object.id", `"http://example.com/activities/algebra-2"`), false},
		{"object is an agent", e("object", agentBo, "context.revision", "-"), false},
		{"different id", e("id", `"fd41c918-b88b-4b20-a0a5-a4c32391aaa1"`), false},
		{"email local part case", e("actor.member[0].mbox", `"mailto:A@example.com"`), false},
		{"member removed", e("actor.member", `[{"mbox": "mailto:a@example.com"}]`), false},
		{"group name added", e("actor.name", `"Team"`), false},
		{"other instant", e("timestamp", `"2015-11-18T12:17:00.124Z"`), false},
		{"success differs", e("result.success", `false`), false},
		{"response missing", e("result.response", "-"), false},
		{"score differs", e("result.score.scaled", `0.51`), false},
		{"duration written differently", e("result.duration", `"PT1S"`), false},
		{"extension value differs", e("result.extensions", `{"http://example.com/e": {"a": 2, "b": [1, 2]}}`), false},
		{"extension added", e("result.extensions", `{"http://example.com/e": {"a": 1, "b": [1, 2]}, "http://example.com/f": null}`), false},
		{"context activity added", e("context.contextActivities.category", `[{"id": "http://example.com/c"}]`), false},
		{"revision differs", e("context.revision", `"2"`), false},
		{"context statement differs", e("context.statement.id", `"e05aa883-acaf-40ad-bf54-02c8ce485fb1"`), false},
		{"registration missing", e("context.registration", "-"), false},
		{"attachment differs", e("attachments[0].sha2", `"`+strings.Repeat("0", 64)+`"`), false},
		{"attachments missing", e("attachments", "-"), false},
	}
	a := mustParse(t, rich)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustParse(t, tc.b)
			if got := Equivalent(a, b); got != tc.want {
				t.Errorf("Equivalent = %v, want %v\n a: %s\n b: %s", got, tc.want, mustJSON(t, a), mustJSON(t, b))
			}
			if got := Equivalent(b, a); got != tc.want {
				t.Errorf("Equivalent is not symmetric")
			}
		})
	}
	before := mustJSON(t, a)
	Equivalent(a, mustParse(t, rich))
	if mustJSON(t, a) != before {
		t.Error("Equivalent changed its argument")
	}
}

func TestEquivalentExtensionNumbers(t *testing.T) {
	// edit re-encodes numbers as float64, so build these bodies by hand.
	with := func(v string) *Statement {
		return mustParse(t, strings.Replace(edit(t, baseStatement, "context.extensions", `{"http://example.com/n": "N"}`), `"N"`, v, 1))
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"9007199254740992", "9007199254740993", false}, // equal as float64, different integers
		{"12345678901234567890", "12345678901234567890", true},
		{"1", "1.0", true},
		{"1.5", "1.50", true},
		{"-0", "0", true},
		{"1e2", "100", true},
		{"0.1", "0.10000000000000001", true}, // the same float64
		{`{"x": [1, {"y": 2}]}`, `{"x":[1.0,{"y":2e0}]}`, true},
		{`"1"`, "1", false},
	}
	for _, tc := range tests {
		if got := Equivalent(with(tc.a), with(tc.b)); got != tc.want {
			t.Errorf("extension %s vs %s: Equivalent = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestEquivalentEmptyParts(t *testing.T) {
	a := mustParse(t, baseStatement)
	for _, b := range []string{
		edit(t, baseStatement, "context", `{}`),
		edit(t, baseStatement, "result", `{}`),
		edit(t, baseStatement, "result", `{"score": {}, "extensions": {}}`),
		edit(t, baseStatement, "context", `{"extensions": {}, "contextActivities": {"parent": []}}`),
	} {
		if !Equivalent(a, mustParse(t, b)) {
			t.Errorf("empty parts make a difference: %s", b)
		}
	}
	if !Equivalent(nil, nil) || Equivalent(a, nil) || Equivalent(nil, a) {
		t.Error("nil handling")
	}
}

func TestEquivalentSubStatement(t *testing.T) {
	sub := edit(t, baseStatement, "object", subStatement, "object.timestamp", `"2030-01-01T00:00:00Z"`)
	a := mustParse(t, sub)
	same := mustParse(t, edit(t, sub, "object.timestamp", `"2030-01-01T02:00:00+02:00"`, "object.verb.display", `{"en": "planned"}`))
	if !Equivalent(a, same) {
		t.Error("substatement: zone and verb display should not matter")
	}
	for _, change := range [][]string{
		{"object.timestamp", "-"},
		{"object.actor.mbox", `"mailto:x@example.com"`},
		{"object.object.id", `"http://example.com/other"`},
	} {
		if Equivalent(a, mustParse(t, edit(t, sub, change...))) {
			t.Errorf("substatement change %v not noticed", change)
		}
	}
}

// reorderTopLevel rewrites a statement with its top-level properties in
// reverse order.
func reorderTopLevel(t *testing.T, body string) string {
	t.Helper()
	s := mustParse(t, body)
	var parts []string
	add := func(key string, v any) { parts = append([]string{`"` + key + `": ` + mustJSON(t, v)}, parts...) }
	add("id", s.ID)
	add("actor", s.Actor)
	add("verb", s.Verb)
	add("object", s.Object)
	add("result", s.Result)
	add("context", s.Context)
	add("timestamp", FormatTimestamp(*s.Timestamp))
	add("attachments", s.Attachments)
	return "{" + strings.Join(parts, ",") + "}"
}
