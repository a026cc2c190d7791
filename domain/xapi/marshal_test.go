package xapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMarshalCanonical(t *testing.T) {
	in := `{
		"version": "1.0.0",
		"timestamp": "2015-11-18T12:17:00.5+01:00",
		"object": {"id": "http://example.com/a?x=1&y=2", "definition": {
			"extensions": {"https://example.com/z": {"b": 2,  "a": 1}, "https://example.com/a": true},
			"name": {"fr": "Un", "en": "One"},
			"interactionType": "choice", "correctResponsesPattern": [], "choices": [{"id": "c1"}]}},
		"verb": {"display": {"en-US": "passed"}, "id": "http://adlnet.gov/expapi/verbs/passed"},
		"actor": {"mbox": "mailto:ana@example.com", "name": "Ana"},
		"context": {"extensions": {"https://example.com/c": [1, 2]},
			"contextActivities": {"category": {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}},
			"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7"},
		"result": {"duration": "PT5M", "completion": true, "response": "", "score": {"max": 10, "scaled": 0.9, "raw": 9, "min": 0}},
		"id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"
	}`
	want := `{"id":"fd41c918-b88b-4b20-a0a5-a4c32391aaa0",` +
		`"actor":{"name":"Ana","mbox":"mailto:ana@example.com"},` +
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/passed","display":{"en-US":"passed"}},` +
		`"object":{"id":"http://example.com/a?x=1&y=2","definition":{"name":{"en":"One","fr":"Un"},"interactionType":"choice","correctResponsesPattern":[],"choices":[{"id":"c1"}],"extensions":{"https://example.com/a":true,"https://example.com/z":{"b":2,"a":1}}}},` +
		`"result":{"score":{"scaled":0.9,"raw":9,"min":0,"max":10},"completion":true,"response":"","duration":"PT5M"},` +
		`"context":{"registration":"ec531277-b57b-4c15-8d91-d292c5b2b8f7","contextActivities":{"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/cmi5"}]},"extensions":{"https://example.com/c":[1,2]}},` +
		`"timestamp":"2015-11-18T11:17:00.500Z","version":"1.0.0"}`
	s := mustParse(t, in)
	got, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("MarshalJSON:\n got %s\nwant %s", got, want)
	}
	// The same bytes whether the statement is encoded by pointer, by value
	// or from inside another value (json.Marshal itself always escapes "&").
	escaped := strings.ReplaceAll(want, "&", `\u0026`)
	for _, v := range []any{s, *s, []Statement{*s}[0], map[string]*Statement{"s": s}["s"]} {
		if b := mustJSON(t, v); b != escaped {
			t.Errorf("json.Marshal(%T) = %s", v, b)
		}
	}
	again, err := mustParse(t, string(got)).MarshalJSON()
	if err != nil || string(again) != want {
		t.Errorf("canonical JSON is not a fixed point: %s", again)
	}
}

func TestMarshalObjects(t *testing.T) {
	tests := []struct {
		name string
		obj  Object
		want string
	}{
		{"activity", Object{Activity: &Activity{ID: "http://example.com/a"}}, `{"id":"http://example.com/a"}`},
		{"agent gets its objectType", Object{Agent: &Agent{Mbox: "mailto:a@example.com"}}, `{"objectType":"Agent","mbox":"mailto:a@example.com"}`},
		{"group", Object{Agent: &Agent{ObjectType: "Group", Member: []Agent{{Mbox: "mailto:a@example.com"}}}}, `{"objectType":"Group","member":[{"mbox":"mailto:a@example.com"}]}`},
		{"statement ref", Object{StatementRef: &StatementRef{ID: "e05aa883-acaf-40ad-bf54-02c8ce485fb0"}}, `{"objectType":"StatementRef","id":"e05aa883-acaf-40ad-bf54-02c8ce485fb0"}`},
		{"substatement", Object{SubStatement: &SubStatement{Actor: Agent{Mbox: "mailto:a@example.com"}, Verb: Verb{ID: "http://example.com/v"}, Object: Object{Activity: &Activity{ID: "http://example.com/a"}}}},
			`{"objectType":"SubStatement","actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://example.com/v"},"object":{"id":"http://example.com/a"}}`},
		{"empty", Object{}, `{}`},
	}
	for _, tc := range tests {
		if got := mustJSON(t, tc.obj); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMarshalContextLeavesOutEmptyContextActivities(t *testing.T) {
	c := Context{Registration: "ec531277-b57b-4c15-8d91-d292c5b2b8f7", ContextActivities: &ContextActivities{Parent: []Activity{}}}
	if got, want := mustJSON(t, c), `{"registration":"ec531277-b57b-4c15-8d91-d292c5b2b8f7"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMarshalKeepsUnicodeAndAmpersands(t *testing.T) {
	s := mustParse(t, edit(t, baseStatement, "object.id", `"http://example.com/q?a=1&b=2"`, "actor.name", `"Zoë <李>"`))
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"http://example.com/q?a=1&b=2"`, `"Zoë <李>"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s not in %s", want, b)
		}
	}
}

func TestClone(t *testing.T) {
	body := edit(t, baseStatement,
		"actor", groupAnon,
		"object", subStatement,
		"object.object.definition", `{"name": {"en": "Visit"}, "interactionType": "choice", "correctResponsesPattern": ["a"], "choices": [{"id": "a", "description": {"en": "A"}}], "extensions": {"http://example.com/e": 1}}`,
		"object.context", `{"contextActivities": {"parent": [{"id": "http://example.com/p"}]}}`,
		"result", `{"score": {"scaled": 0.5}, "success": true, "completion": false, "response": "r", "extensions": {"http://example.com/e": [1]}}`,
		"context", `{"instructor": {"mbox": "mailto:t@example.com"}, "team": `+groupIdent+`, "contextActivities": {"grouping": [{"id": "http://example.com/g", "definition": {"name": {"en": "G"}}}]}, "statement": `+statementRef+`, "extensions": {"http://example.com/e": {}}}`,
		"timestamp", `"2015-11-18T12:17:00Z"`,
		"stored", `"2015-11-18T12:17:01Z"`,
		"authority", oauthAuthority,
		"attachments", "["+attachmentOK+"]",
	)
	s := mustParse(t, body)
	before := mustJSON(t, s)
	c := s.Clone()
	if got := mustJSON(t, c); got != before {
		t.Fatalf("clone differs:\n%s\n%s", got, before)
	}
	// Change everything reachable in the clone; the original must not move.
	c.Actor.Member[0].Mbox = "mailto:x@example.com"
	c.Actor.Member[1].Account.Name = "x"
	c.Verb.Display["en-US"] = "x"
	sub := c.Object.SubStatement
	sub.Actor.Mbox = "mailto:x@example.com"
	sub.Object.Activity.Definition.Name["en"] = "x"
	sub.Object.Activity.Definition.CorrectResponsesPattern[0] = "x"
	sub.Object.Activity.Definition.Choices[0].Description["en"] = "x"
	sub.Object.Activity.Definition.Extensions["http://example.com/e"][0] = '9'
	sub.Context.ContextActivities.Parent[0].ID = "http://example.com/x"
	*c.Result.Score.Scaled = 0.1
	*c.Result.Success = false
	*c.Result.Completion = true
	*c.Result.Response = "x"
	c.Result.Extensions["http://example.com/e"][1] = '9'
	c.Context.Instructor.Mbox = "mailto:x@example.com"
	c.Context.Team.Account.Name = "x"
	c.Context.ContextActivities.Grouping[0].Definition.Name["en"] = "x"
	c.Context.Statement.ID = "x"
	c.Context.Extensions["http://example.com/e"] = json.RawMessage("1")
	*c.Timestamp = c.Timestamp.Add(1)
	*c.Stored = c.Stored.Add(1)
	c.Authority.Member[0].Account.Name = "x"
	c.Attachments[0].Display["en-US"] = "x"
	if after := mustJSON(t, s); after != before {
		t.Errorf("changing the clone changed the original:\n%s\n%s", after, before)
	}
	if (*Statement)(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}
