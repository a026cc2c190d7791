package xapi

import (
	"reflect"
	"testing"
	"time"
)

func TestIsVoiding(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		target string
		ok     bool
	}{
		{"voiding", edit(t, baseStatement, "verb.id", `"`+VerbVoided+`"`, "object", statementRef), "e05aa883-acaf-40ad-bf54-02c8ce485fb0", true},
		{"statement ref with another verb", edit(t, baseStatement, "verb.id", `"http://example.com/commented"`, "object", statementRef), "", false},
		{"activity", baseStatement, "", false},
		{"voided verb inside a substatement", edit(t, baseStatement, "object", subStatement, "object.verb.id", `"`+VerbVoided+`"`, "object.object", statementRef), "", false},
	}
	for _, tc := range tests {
		target, ok := mustParse(t, tc.body).IsVoiding()
		if target != tc.target || ok != tc.ok {
			t.Errorf("%s: IsVoiding = %q, %v; want %q, %v", tc.name, target, ok, tc.target, tc.ok)
		}
	}
}

func TestPrepare(t *testing.T) {
	stored := time.Date(2024, 3, 1, 14, 30, 0, 123456789, time.FixedZone("", 2*3600))
	lrs := Agent{ObjectType: "Agent", Account: &Account{HomePage: "https://lrs.example.com", Name: "client-7"}}
	newID := "11111111-2222-4333-8444-555555555555"

	t.Run("fills in what is missing", func(t *testing.T) {
		s := mustParse(t, edit(t, baseStatement, "id", "-", "object.objectType", "-"))
		s.Prepare(newID, stored, lrs)
		if s.ID != newID {
			t.Errorf("ID = %q", s.ID)
		}
		if !s.Stored.Equal(stored) || s.Stored.Location() != time.UTC {
			t.Errorf("Stored = %v", s.Stored)
		}
		if s.Timestamp == nil || !s.Timestamp.Equal(stored) {
			t.Errorf("Timestamp = %v, want stored", s.Timestamp)
		}
		if s.Version != "1.0.0" {
			t.Errorf("Version = %q", s.Version)
		}
		if ActorKey(*s.Authority) != "account:https://lrs.example.com|client-7" {
			t.Errorf("Authority = %+v", s.Authority)
		}
		if s.Object.Activity.ObjectType != "Activity" {
			t.Errorf("object objectType = %q", s.Object.Activity.ObjectType)
		}
		lrs.Account.Name = "changed"
		if s.Authority.Account.Name != "client-7" {
			t.Error("Prepare kept a reference to the caller's authority")
		}
		lrs.Account.Name = "client-7"
		if err := s.Validate(); err != nil {
			t.Errorf("prepared statement does not validate: %v", err)
		}
	})

	t.Run("keeps what the client set, overwrites stored and authority", func(t *testing.T) {
		s := mustParse(t, edit(t, baseStatement,
			"timestamp", `"2020-01-01T00:00:00Z"`, "version", `"1.0.3"`,
			"stored", `"2019-01-01T00:00:00Z"`, "authority", agentBo))
		s.Prepare(newID, stored, lrs)
		if s.ID != "fd41c918-b88b-4b20-a0a5-a4c32391aaa0" {
			t.Errorf("ID overwritten: %q", s.ID)
		}
		if s.Timestamp.Year() != 2020 || s.Version != "1.0.3" {
			t.Errorf("timestamp or version overwritten: %v %q", s.Timestamp, s.Version)
		}
		if !s.Stored.Equal(stored) || s.Authority.Account == nil {
			t.Errorf("stored/authority not overwritten: %v %+v", s.Stored, s.Authority)
		}
	})

	t.Run("zero authority leaves it alone", func(t *testing.T) {
		s := mustParse(t, edit(t, baseStatement, "authority", agentBo))
		s.Prepare(newID, stored, Agent{})
		if s.Authority == nil || s.Authority.Mbox != "mailto:bo@example.com" {
			t.Errorf("Authority = %+v", s.Authority)
		}
	})

	t.Run("substatement activity", func(t *testing.T) {
		s := mustParse(t, edit(t, baseStatement, "object", subStatement))
		s.Prepare(newID, stored, lrs)
		if got := s.Object.SubStatement.Object.Activity.ObjectType; got != "Activity" {
			t.Errorf("substatement object objectType = %q", got)
		}
	})
}

func TestValidate(t *testing.T) {
	yes := true
	built := &Statement{
		Actor:  Agent{Account: &Account{HomePage: "https://lms.example.com", Name: "u-1"}},
		Verb:   Verb{ID: "http://adlnet.gov/expapi/verbs/completed", Display: LanguageMap{"en-US": "completed"}},
		Object: Object{Activity: &Activity{ID: "http://example.com/scorm/sco-1"}},
		Result: &Result{Completion: &yes, Duration: "PT1M"},
	}
	if err := built.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	tests := []struct {
		name   string
		change func(s *Statement)
		field  string
		rule   string
	}{
		{"no verb id", func(s *Statement) { s.Verb.ID = "" }, "verb.id", "IRI"},
		{"two IFIs", func(s *Statement) { s.Actor.Mbox = "mailto:a@example.com" }, "actor", "mbox and account"},
		{"no object", func(s *Statement) { s.Object = Object{} }, "object.id", "is required"},
		{"bad duration", func(s *Statement) { s.Result.Duration = "1 minute" }, "result.duration", "ISO 8601"},
		{"bad language", func(s *Statement) { s.Verb.Display = LanguageMap{"en_GB": "x"} }, `verb.display["en_GB"]`, "RFC 5646"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := built.Clone()
			tc.change(s)
			checkInvalid(t, s.Validate(), tc.field, tc.rule)
		})
	}
}

func TestFormat(t *testing.T) {
	body := edit(t, baseStatement,
		"actor", `{"objectType": "Group", "name": "Pair", "member": [{"name": "A", "mbox": "mailto:a@example.com"}, {"name": "B", "openid": "https://id.example.org/b"}]}`,
		"verb.display", `{"en-US": "attempted", "de-DE": "versuchte", "fr": "a tenté"}`,
		"object.definition", `{"name": {"en-US": "Algebra", "de": "Algebra DE"}, "description": {"fr": "Desc FR", "en": "Desc EN"}, "interactionType": "choice", "choices": [{"id": "a", "description": {"en-US": "A", "de": "A DE"}}]}`,
		"context", `{"instructor": {"name": "T", "mbox": "mailto:t@example.com"}, "team": {"objectType": "Group", "name": "Team", "mbox": "mailto:team@example.com", "member": [{"mbox": "mailto:m@example.com"}]}, "contextActivities": {"parent": [{"id": "http://example.com/course", "definition": {"name": {"de": "Kurs", "en": "Course"}}}]}}`,
		"authority", `{"name": "LRS", "mbox": "mailto:lrs@example.com"}`,
	)
	s := mustParse(t, body)
	before := mustJSON(t, s)

	if got := mustJSON(t, s.Format(FormatExact, nil)); got != before {
		t.Errorf("exact changed the statement:\n%s\n%s", got, before)
	}

	ids := s.Format(FormatIDs, nil)
	wantIDs := `{"id":"fd41c918-b88b-4b20-a0a5-a4c32391aaa0",` +
		`"actor":{"objectType":"Group","member":[{"mbox":"mailto:a@example.com"},{"openid":"https://id.example.org/b"}]},` +
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/attempted"},` +
		`"object":{"id":"http://example.com/activities/algebra-1"},` +
		`"context":{"instructor":{"mbox":"mailto:t@example.com"},"team":{"objectType":"Group","mbox":"mailto:team@example.com"},"contextActivities":{"parent":[{"id":"http://example.com/course"}]}},` +
		`"authority":{"mbox":"mailto:lrs@example.com"}}`
	if got := mustJSON(t, ids); got != wantIDs {
		t.Errorf("ids:\n got %s\nwant %s", got, wantIDs)
	}

	canon := s.Format(FormatCanonical, []string{"de", "en"})
	d := canon.Object.Activity.Definition
	checks := []struct {
		name string
		got  LanguageMap
		want LanguageMap
	}{
		{"verb display", canon.Verb.Display, LanguageMap{"de-DE": "versuchte"}},
		{"name", d.Name, LanguageMap{"de": "Algebra DE"}},
		{"description", d.Description, LanguageMap{"en": "Desc EN"}},
		{"choice", d.Choices[0].Description, LanguageMap{"de": "A DE"}},
		{"context activity", canon.Context.ContextActivities.Parent[0].Definition.Name, LanguageMap{"de": "Kurs"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("canonical %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if canon.Actor.Member[0].Name != "A" {
		t.Error("canonical must keep agents as they are")
	}
	for name, f := range map[string]*Statement{"ids": ids, "canonical": canon} {
		if err := f.Validate(); err != nil {
			t.Errorf("%s output does not validate: %v", name, err)
		}
	}
	if after := mustJSON(t, s); after != before {
		t.Error("Format changed the original")
	}

	sub := mustParse(t, edit(t, baseStatement, "object", subStatement, "object.verb.display", `{"en": "planned", "de": "plante"}`,
		"object.object.definition", `{"name": {"en": "Visit"}}`))
	if got := sub.Format(FormatIDs, nil).Object.SubStatement; got.Verb.Display != nil || got.Object.Activity.Definition != nil {
		t.Errorf("ids did not reach into the substatement: %+v", got)
	}
	if got := sub.Format(FormatCanonical, []string{"de"}).Object.SubStatement.Verb.Display; !reflect.DeepEqual(got, LanguageMap{"de": "plante"}) {
		t.Errorf("canonical substatement verb = %v", got)
	}
}

func TestBestLanguage(t *testing.T) {
	m := LanguageMap{"en-US": "color", "en-GB": "colour", "de": "Farbe", "fr-CA": "couleur"}
	tests := []struct {
		prefs []string
		want  string
	}{
		{[]string{"en-GB"}, "en-GB"},
		{[]string{"EN-gb"}, "en-GB"},
		{[]string{"de-AT", "en"}, "en-GB"}, // "en" matches en-GB and en-US; sorted first wins
		{[]string{"fr", "de"}, "fr-CA"},
		{[]string{"es", "de"}, "de"},
		{[]string{"de-AT"}, "de"}, // no match, then "de-AT" shortened to "de"
		{[]string{"*"}, "de"},
		{[]string{"es"}, "de"}, // nothing fits: first tag in sorted order
		{nil, "de"},
		{[]string{"", " en-US "}, "en-US"},
	}
	for _, tc := range tests {
		if got := BestLanguage(m, tc.prefs); got != tc.want {
			t.Errorf("BestLanguage(%v) = %q, want %q", tc.prefs, got, tc.want)
		}
	}
	if got := BestLanguage(LanguageMap{"und": "x", "ar": "y"}, []string{"ja"}); got != "und" {
		t.Errorf("BestLanguage prefers und when nothing matches; got %q", got)
	}
	if got := BestLanguage(nil, []string{"en"}); got != "" {
		t.Errorf("BestLanguage(nil) = %q", got)
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		header string
		want   []string
	}{
		{"", []string{}},
		{"en", []string{"en"}},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", []string{"fr-CH", "fr", "en", "de", "*"}},
		{"en;q=0.5, de", []string{"de", "en"}},
		{"de;q=0.7, fr;q=0.7, en", []string{"en", "de", "fr"}},
		{"en;q=0, de", []string{"de"}},
		{"en;q=abc, de;q=2, fr;level=1, es", []string{"es"}},
		{" en-US ; q=0.9 ,, ja", []string{"ja", "en-US"}},
		{"en_US, <script>", []string{}},
	}
	for _, tc := range tests {
		if got := ParseAcceptLanguage(tc.header); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseAcceptLanguage(%q) = %#v, want %#v", tc.header, got, tc.want)
		}
	}
}
