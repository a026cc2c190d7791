package analytics

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

const sampleStatement = `{
  "id": "6690E6C9-3EF0-4ED3-8B37-7F3964730BEE",
  "actor": {"objectType": "Agent", "name": "Ada Lovelace", "mbox": "mailto:ada@example.com"},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"de-DE": "bestanden", "en-US": "passed"}},
  "object": {"objectType": "Activity", "id": "https://example.com/course/1/au/2",
             "definition": {"name": {"fr-FR": "Unité 2", "en-GB": "Unit 2"}, "type": "https://w3id.org/xapi/cmi5/activitytype/au"}},
  "result": {"success": true, "completion": false, "response": "42",
             "score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100}, "duration": "PT1H2M3.5S"},
  "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
              "instructor": {"mbox": "mailto:teacher@example.com", "name": "T"},
              "contextActivities": {"parent": [{"id": "https://example.com/course/1"}],
                                    "grouping": [{"id": "https://example.com/course/1/au/2"}],
                                    "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}]},
              "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "sess-1"}},
  "timestamp": "2025-02-03T10:11:12.345+01:00",
  "stored": "2025-02-03T09:11:13.000Z",
  "authority": {"objectType": "Agent", "account": {"homePage": "https://lrs.example.com", "name": "client"}},
  "version": "1.0.3"
}`

func stmtEvent(data string) event.Event {
	return event.Event{ID: "evt-1", Type: event.TypeStatementStored, Source: "/xapi", Time: time.Date(2025, 2, 3, 9, 11, 13, 0, time.UTC),
		Tenant: "acme", ContentType: event.ContentTypeJSON, Key: "mbox:mailto:ada@example.com", Data: []byte(data)}
}

func TestStatementRowFlattens(t *testing.T) {
	r, err := NewEncoder(NoPseudonymization()).StatementRow(stmtEvent(sampleStatement))
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	u := func(v uint8) *uint8 { return &v }
	reg := "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
	want := Statement{
		Tenant: "acme", StatementID: "6690e6c9-3ef0-4ed3-8b37-7f3964730bee", EventID: "evt-1",
		ActorKey: "mbox:mailto:ada@example.com", ActorPseudo: "mbox:mailto:ada@example.com", ActorName: "Ada Lovelace", ActorType: "Agent",
		VerbID: VerbPassed, VerbDisplay: "passed", ObjectID: "https://example.com/course/1/au/2", ObjectType: "Activity",
		ObjectName: "Unité 2", ActivityType: "https://w3id.org/xapi/cmi5/activitytype/au", CourseID: "https://example.com/course/1",
		ParentIDs: []string{"https://example.com/course/1"}, GroupingIDs: []string{"https://example.com/course/1/au/2"},
		CategoryIDs: []string{cmi5Category}, Registration: &reg, SessionID: "sess-1",
		ResultSuccess: u(1), ResultCompletion: u(0), ScoreScaled: f(0.85), ScoreRaw: f(85), ScoreMin: f(0), ScoreMax: f(100),
		DurationSeconds: f(3723.5), Response: "42",
		Timestamp: time.Date(2025, 2, 3, 9, 11, 12, 345e6, time.UTC), Stored: time.Date(2025, 2, 3, 9, 11, 13, 0, time.UTC),
		XAPIVersion: "1.0.3", Raw: sampleStatement, IngestVersion: IngestVersion,
	}
	gj, _ := json.Marshal(r)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Fatalf("got  %s\nwant %s", gj, wj)
	}
	if len(r.Values()) != len(r.Columns()) {
		t.Fatalf("%d values for %d columns", len(r.Values()), len(r.Columns()))
	}
	var line map[string]any
	if err := json.Unmarshal(r.AppendJSON(nil), &line); err != nil {
		t.Fatalf("AppendJSON is not JSON: %v", err)
	}
	if len(line) != len(r.Columns()) {
		t.Fatalf("AppendJSON wrote %d fields for %d columns", len(line), len(r.Columns()))
	}
	if line["timestamp"] != "2025-02-03 09:11:12.345" || line["result_completion"] != 0.0 || line["registration"] != reg {
		t.Fatalf("AppendJSON: %v", line)
	}
}

func TestStatementRowPseudonymises(t *testing.T) {
	p := NewPseudonymizer([]byte("secret"))
	r, err := NewEncoder(p).StatementRow(stmtEvent(sampleStatement))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := p.Pseudonym("acme", "mbox:mailto:ada@example.com")
	if r.ActorPseudo != want || len(want) != 64 || r.ActorKey != "" || r.ActorName != "" {
		t.Fatalf("actor: key %q pseudo %q name %q", r.ActorKey, r.ActorPseudo, r.ActorName)
	}
	for _, leak := range []string{"ada@", "Ada Lovelace", "teacher@", `"T"`, "lrs.example.com"} {
		if strings.Contains(r.Raw, leak) {
			t.Errorf("raw still contains %q: %s", leak, r.Raw)
		}
	}
	var raw struct {
		Actor struct {
			Account xAccount `json:"account"`
		} `json:"actor"`
		Result struct {
			Score struct {
				Raw json.Number `json:"raw"`
			} `json:"score"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Actor.Account.Name != want || raw.Actor.Account.HomePage != PseudonymHomePage {
		t.Fatalf("raw actor %+v, want pseudonym %s", raw.Actor.Account, want)
	}
	if raw.Result.Score.Raw != "85" {
		t.Fatalf("numbers must survive rewriting, got %q", raw.Result.Score.Raw)
	}
	// Per-tenant salts: the same learner differs across tenants, and an
	// explicit salt overrides the derived one.
	other, _ := p.Pseudonym("globex", "mbox:mailto:ada@example.com")
	salted, _ := p.WithTenantSalt("acme", []byte("s")).Pseudonym("acme", "mbox:mailto:ada@example.com")
	if other == want || salted == want {
		t.Fatal("pseudonyms must differ per tenant salt")
	}
}

func TestDefaultEncoderRefusesWithoutSecret(t *testing.T) {
	_, err := StatementRow(stmtEvent(sampleStatement))
	var ce *ConfigError
	if !errors.As(err, &ce) || event.IsRejected(err) {
		t.Fatalf("want a ConfigError that is not a rejection, got %v", err)
	}
}

func TestStatementRowRejects(t *testing.T) {
	enc := NewEncoder(NewPseudonymizer([]byte("k")))
	mut := func(f func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal([]byte(sampleStatement), &m)
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	res := func(m map[string]any) map[string]any { return m["result"].(map[string]any) }
	cases := []struct {
		name, data, field string
	}{
		{"not json", `{"id":`, "data"},
		{"bad id", mut(func(m map[string]any) { m["id"] = "nope" }), "id"},
		{"no actor", mut(func(m map[string]any) { delete(m, "actor") }), "actor"},
		{"no verb", mut(func(m map[string]any) { delete(m, "verb") }), "verb.id"},
		{"verb not IRI", mut(func(m map[string]any) { m["verb"] = map[string]any{"id": "passed"} }), "verb.id"},
		{"no object id", mut(func(m map[string]any) { m["object"] = map[string]any{"objectType": "Activity"} }), "object.id"},
		{"bad object type", mut(func(m map[string]any) { m["object"] = map[string]any{"objectType": "Thing", "id": "x:y"} }), "object.objectType"},
		{"scaled out of range", mut(func(m map[string]any) { res(m)["score"] = map[string]any{"scaled": 1.5} }), "result.score.scaled"},
		{"raw above max", mut(func(m map[string]any) { res(m)["score"] = map[string]any{"raw": 101, "max": 100} }), "result.score.raw"},
		{"bad duration", mut(func(m map[string]any) { res(m)["duration"] = "1 hour" }), "result.duration"},
		{"bad registration", mut(func(m map[string]any) { m["context"].(map[string]any)["registration"] = "r" }), "context.registration"},
		{"no timestamp", mut(func(m map[string]any) { delete(m, "timestamp") }), "timestamp"},
		{"bad timestamp", mut(func(m map[string]any) { m["timestamp"] = "yesterday" }), "timestamp"},
		{"timestamp out of range", mut(func(m map[string]any) { m["timestamp"] = "1800-01-01T00:00:00Z" }), "timestamp"},
		{"no stored", mut(func(m map[string]any) { delete(m, "stored") }), "stored"},
	}
	for _, c := range cases {
		_, err := enc.StatementRow(stmtEvent(c.data))
		var pe *PayloadError
		if !event.IsRejected(err) || !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%s: got %v, want a rejection naming %s", c.name, err, c.field)
		}
	}
	e := stmtEvent(sampleStatement)
	e.Type = "learnstream.xapi.statement.stored.v2"
	if _, err := enc.StatementRow(e); !event.IsRejected(err) || !strings.Contains(err.Error(), "major version 2") {
		t.Errorf("unknown major version: %v", err)
	}
	e = stmtEvent(sampleStatement)
	e.Tenant = ""
	if _, err := enc.StatementRow(e); !event.IsRejected(err) || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("missing tenant: %v", err)
	}
}

func TestStatementRowShapes(t *testing.T) {
	enc := NewEncoder(NoPseudonymization())
	// single-object contextActivities, no parent: course from grouping;
	// language map without en-US: the first entry; key derived from the actor.
	data := `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"account":{"homePage":"https://hr.example","name":"42"}},
	  "verb":{"id":"http://adlnet.gov/expapi/verbs/experienced","display":{"fr-FR":"a vécu","de-DE":"erlebt"}},
	  "object":{"id":"https://x.example/page"},
	  "context":{"contextActivities":{"grouping":{"id":"https://x.example/course"}}},
	  "timestamp":"2025-01-01T00:00:00Z","stored":"2025-01-01T00:00:01Z"}`
	e := stmtEvent(data)
	e.Key = ""
	r, err := enc.StatementRow(e)
	if err != nil {
		t.Fatal(err)
	}
	if r.CourseID != "https://x.example/course" || r.VerbDisplay != "a vécu" || r.ActorKey != "account:https://hr.example|42" || r.ObjectType != "Activity" {
		t.Fatalf("%+v", r)
	}
	// a course object without context is its own course; a StatementRef keeps the target id
	data = `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"https://w3id.org/xapi/adl/verbs/satisfied"},
	  "object":{"id":"https://x.example/course","definition":{"type":"https://w3id.org/xapi/cmi5/activitytype/course"}},
	  "timestamp":"2025-01-01T00:00:00","stored":"2025-01-01T00:00:01Z"}`
	if r, err = enc.StatementRow(stmtEvent(data)); err != nil || r.CourseID != "https://x.example/course" {
		t.Fatalf("course object: %+v %v", r, err)
	}
	data = `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},
	  "object":{"objectType":"StatementRef","id":"EC531277-B57B-4C15-8D91-D292C5B2B8F7"},"timestamp":"2025-01-01T00:00:00Z","stored":"2025-01-01T00:00:01Z"}`
	if r, err = enc.StatementRow(stmtEvent(data)); err != nil || r.ObjectID != "ec531277-b57b-4c15-8d91-d292c5b2b8f7" {
		t.Fatalf("statement ref: %+v %v", r, err)
	}
	// an Agent object is pseudonymised like a learner
	data = `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/mentored"},
	  "object":{"objectType":"Agent","mbox":"mailto:z@b.c","name":"Zed"},"timestamp":"2025-01-01T00:00:00Z","stored":"2025-01-01T00:00:01Z"}`
	p := NewPseudonymizer([]byte("k"))
	r, err = NewEncoder(p).StatementRow(stmtEvent(data))
	want, _ := p.Pseudonym("acme", "mbox:mailto:z@b.c")
	if err != nil || r.ObjectID != want || r.ObjectName != "" || strings.Contains(r.Raw, "z@b.c") {
		t.Fatalf("agent object: %+v %v", r, err)
	}
	// xAPI 2.0 context agents and groups (and the groups' members) are
	// pseudonymised too, in statements and sub-statements alike.
	ctx2 := `{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:coach@b.c","name":"Coach"},"relevantTypes":["https://x.example/coach"]}],` +
		`"contextGroups":[{"objectType":"contextGroup","group":{"objectType":"Group","name":"Team A","mbox":"mailto:team@b.c","member":[{"mbox":"mailto:m1@b.c"}]}}]}`
	for name, data := range map[string]string{
		"statement": `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},
	  "object":{"id":"https://x.example/game"},"context":` + ctx2 + `,"timestamp":"2025-01-01T00:00:00Z","stored":"2025-01-01T00:00:01Z","version":"2.0.0"}`,
		"sub-statement": `{"id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/planned"},
	  "object":{"objectType":"SubStatement","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"id":"https://x.example/game"},"context":` + ctx2 + `},
	  "timestamp":"2025-01-01T00:00:00Z","stored":"2025-01-01T00:00:01Z","version":"2.0.0"}`,
	} {
		r, err = NewEncoder(p).StatementRow(stmtEvent(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, leak := range []string{"coach@b.c", "Coach", "team@b.c", "Team A", "m1@b.c"} {
			if strings.Contains(r.Raw, leak) {
				t.Errorf("%s: raw keeps %q: %s", name, leak, r.Raw)
			}
		}
		for _, kept := range []string{`"relevantTypes":["https://x.example/coach"]`, `"objectType":"contextGroup"`, "urn:learnstream:pseudonym"} {
			if !strings.Contains(r.Raw, kept) {
				t.Errorf("%s: raw lost %s: %s", name, kept, r.Raw)
			}
		}
	}
}

// The sink converts durations with the LRS's parser; this pins the
// calendar convention the duration_seconds column documents.
func TestDurationSeconds(t *testing.T) {
	const day = 86400.0
	good := map[string]float64{
		"PT0S": 0, "PT1.5S": 1.5, "PT2M": 120, "PT1H2M3.25S": 3723.25, "P1D": day, "P1DT1H": 90000,
		"P1W": 7 * day, "P1Y": 365.25 * day, "P1M": 365.25 / 12 * day, "PT0,5S": 0.5, "PT0.5H": 1800,
	}
	for s, want := range good {
		if got, err := durationSeconds(s); err != nil || math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: got %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "P", "PT", "1H", "PT1H1H", "PT1S2M", "PT-1S", "PTxS", "P1H", "PT1D", "PT1.5M2S", "PT1", "P1DT", "P1W2D"} {
		if _, err := durationSeconds(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
}
