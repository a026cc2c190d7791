package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

// storedJSONCases are statements whose stored JSON must not change:
// plain, rich (extensions with spacing, a sub-statement, attachments),
// and strings that encoding/json escapes for HTML.
var storedJSONCases = []string{
	`{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`,
	`{"id":"6f1c3f0e-2b1d-4d8e-9a3b-0c5e7d9f1a2b","actor":{"objectType":"Agent","name":"Learner <417> & co","mbox":"mailto:learner417@example.com"},
	  "verb":{"id":"http://adlnet.gov/expapi/verbs/passed","display":{"en-US":"passed \u2028 line\u2029sep"}},
	  "object":{"objectType":"Activity","id":"https://example.com/activities/42?a=1&b=2","definition":{"type":"http://adlnet.gov/expapi/activities/lesson",
	    "name":{"en-US":"<b>Lesson</b> 42"},"extensions":{"https://example.com/ext":{ "nested" : [1, 2.50, "x<y"], "e": 1e3 }}}},
	  "result":{"score":{"scaled":0.83,"raw":83,"min":0,"max":100},"success":true,"completion":true,"duration":"PT312S","response":"a&b",
	    "extensions":{"https://example.com/r":  "  spaced  "}},
	  "context":{"registration":"9b2d7c1e-4f3a-4e5b-8c6d-1a2b3c4d5e6f","platform":"bench","language":"en-US",
	    "contextActivities":{"parent":[{"id":"https://example.com/courses/4"}],"grouping":{"id":"https://example.com/g"}}},
	  "timestamp":"2026-11-14T09:29:58.123+01:00"}`,
	`{"actor":{"objectType":"Group","name":"g","member":[{"account":{"homePage":"https://example.com","name":"x>y"}}]},
	  "verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
	  "object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@example.com"},"verb":{"id":"http://example.com/v"},"object":{"objectType":"StatementRef","id":"9b2d7c1e-4f3a-4e5b-8c6d-1a2b3c4d5e6f"}},
	  "attachments":[{"usageType":"http://example.com/u","display":{"en-US":"doc"},"contentType":"text/plain","length":5,"sha2":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}]}`,
}

// storedJSON gives the bytes json.Marshal gave: stored statements, and
// so their events' signatures, are what they were.
func TestStoredJSONIsJSONMarshal(t *testing.T) {
	for i, body := range storedJSONCases {
		if !checkStoredJSON(t, i, []byte(body)) {
			t.Errorf("case %d does not parse: the comparison never ran", i)
		}
	}
}

// FuzzStoredJSON compares storedJSON with json.Marshal on every
// statement the parser accepts.
func FuzzStoredJSON(f *testing.F) {
	for _, c := range storedJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkStoredJSON(t, 0, body)
	})
}

// checkStoredJSON compares the two on the statement in body as the LRS
// stores it (id, stored and authority set); false if it does not parse.
func checkStoredJSON(t *testing.T, i int, body []byte) bool {
	t.Helper()
	st, err := xapi.ParseStatementAs(body, xapi.Spec1)
	if err != nil {
		return false
	}
	st.Prepare("00000000-0000-4000-8000-000000000001", time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC),
		xapi.Agent{ObjectType: "Agent", Name: "k<&>", Account: &xapi.Account{HomePage: "http://lrs/", Name: "k"}})
	want, werr := json.Marshal(st)
	got, gerr := storedJSON(st)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("case %d: json.Marshal error %v, storedJSON error %v", i, werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("case %d:\nstoredJSON   %s\njson.Marshal %s", i, got, want)
	}
	return true
}

// BenchmarkStoredJSON: the stored statement's JSON as the POST path made
// it (json.Marshal) and makes it (storedJSON), on the rich case without
// characters to escape (as nearly every statement is).
func BenchmarkStoredJSON(b *testing.B) {
	plain := strings.NewReplacer("<", "(", ">", ")", "&", "+", `\u2028`, " ", `\u2029`, " ").Replace(storedJSONCases[1])
	st, err := xapi.ParseStatementAs([]byte(plain), xapi.Spec1)
	if err != nil {
		b.Fatal(err)
	}
	st.Prepare("00000000-0000-4000-8000-000000000001", time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC),
		xapi.Agent{ObjectType: "Agent", Name: "k", Account: &xapi.Account{HomePage: "http://lrs/", Name: "k"}})
	if out, _ := storedJSON(st); strings.ContainsAny(string(out), "<>&") {
		b.Fatal("the benchmark statement has characters to escape")
	}
	for _, tc := range []struct {
		name string
		f    func(*xapi.Statement) ([]byte, error)
	}{
		{"json.Marshal", func(st *xapi.Statement) ([]byte, error) { return json.Marshal(st) }},
		{"storedJSON", storedJSON},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.f(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
