package xapi

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzParseStatements feeds arbitrary bodies to ParseStatements. Besides
// not panicking, it checks the properties the rest of the system relies on:
// every rejection is a *ValidationError naming a field and a rule; every
// accepted statement re-marshals to canonical JSON that parses back to an
// Equivalent statement and to the same bytes; Clone, Format and Prepare
// keep statements valid.
func FuzzParseStatements(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// xAPI 2.0 rules: they accept everything 1.0.3 does and more.
		list, err := ParseStatements(data, Spec2)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Rule == "" {
				t.Fatalf("error without field and rule: %#v", err)
			}
			if list != nil {
				t.Fatal("statements returned together with an error")
			}
			return
		}
		if len(list) == 0 {
			t.Fatal("no error and no statements")
		}
		for _, s := range list {
			checkRoundTrip(t, s)
		}
	})
}

func checkRoundTrip(t *testing.T, s *Statement) {
	t.Helper()
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	s2, err := ParseStatement(b)
	if err != nil {
		t.Fatalf("canonical JSON does not parse: %v\n%s", err, b)
	}
	if !Equivalent(s, s2) {
		t.Fatalf("re-parsed statement is not Equivalent:\n%s", b)
	}
	b2, err := s2.MarshalJSON()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("canonical JSON is not a fixed point:\n%s\n%s", b, b2)
	}
	d, err := DecodeStored(b)
	if err != nil {
		t.Fatalf("DecodeStored of canonical JSON: %v\n%s", err, b)
	}
	if db, _ := d.MarshalJSON(); !bytes.Equal(db, b) || d.LearnerKey() != s.LearnerKey() {
		t.Fatalf("DecodeStored differs from ParseStatement:\n%s\n%s", db, b)
	}
	if c, _ := s.Clone().MarshalJSON(); !bytes.Equal(c, b) {
		t.Fatalf("Clone differs:\n%s\n%s", c, b)
	}
	if s.LearnerKey() == "" {
		t.Fatal("valid statement without a learner key")
	}
	for _, mode := range []string{FormatIDs, FormatCanonical} {
		if err := s.Format(mode, []string{"en"}).Validate(); err != nil {
			t.Fatalf("Format(%s) output is invalid: %v", mode, err)
		}
	}
	p := s.Clone()
	p.Prepare("00000000-0000-4000-8000-000000000000", time.Unix(1700000000, 0), Agent{Mbox: "mailto:lrs@example.com"})
	if err := p.Validate(); err != nil {
		t.Fatalf("prepared statement is invalid: %v", err)
	}
	if !Equivalent(s, p) {
		t.Fatal("Prepare made the statement a different one")
	}
	// What the LRS stores: its actor key is read without decoding the rest.
	pb, err := p.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of the prepared statement: %v", err)
	}
	if key, fast := storedActorFast(pb); !fast || key != s.LearnerKey() {
		t.Fatalf("storedActorFast = %q, %v; want %q, true\n%s", key, fast, s.LearnerKey(), pb)
	}
	if after, _ := s.MarshalJSON(); !bytes.Equal(after, b) {
		t.Fatal("Format, Prepare on a clone or Equivalent changed the statement")
	}
}

func fuzzSeeds(tb testing.TB) []string {
	e := func(changes ...string) string { return edit(tb, baseStatement, changes...) }
	return []string{
		baseStatement,
		"[" + baseStatement + "]",
		cmi5Session,
		cmi5Failed,
		authoringToolAnswered,
		e("actor", groupAnon, "object", subStatement, "authority", oauthAuthority),
		e("object", statementRef, "verb.id", `"`+VerbVoided+`"`),
		e("object", groupIdent, "context", `{"team": `+groupAnon+`, "instructor": `+agentBo+`, "language": "zh-Hant"}`),
		e("object.definition", `{"interactionType": "matching", "correctResponsesPattern": [], "source": [{"id": "a", "description": {"en": "A"}}], "target": [{"id": "b"}]}`),
		e("result", `{"score": {"scaled": -0.5, "raw": -1e-3, "min": -1, "max": 1E2}, "response": "\u00e9\u0000", "duration": "P1Y2M3DT4H5M6.789S"}`),
		e("timestamp", `"2015-11-18T12:17:00.123456789+05:30"`, "stored", `"9999-12-31T23:59:59Z"`, "version", `"1.0.3"`),
		e("attachments", "["+attachmentOK+"]"),
		e("version", `"2.0.0"`, "context", `{"contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:c@example.com"}, "relevantTypes": ["a:b"]}], "contextGroups": [{"objectType": "contextGroup", "group": `+groupAnon+`}]}`),
		`{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"id":"a:b"},"context":{"extensions":{"a:b":{"x":[1,2.50,null,true,"\ud83d\ude00"]}}}}`,
		`{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"id":"a:b"},"context":{"contextActivities":{"parent":{"id":"a:b"},"other":[]}}}`,
		`{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b","display":{"EN":"x"}},"object":{"id":"a:b","definition":{}},"result":{},"context":{}}`,
		`[]`, `{}`, `null`, `[1]`, `{"actor": null}`, `{"id": 1}`,
	}
}
