package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// A statement the LRS stored stays readable whatever the validation rules
// say today: reads decode what was stored (xapi.DecodeStored) rather than
// validating it again. The statement here has a display map with a bad
// language tag, which today's rules refuse on the way in; a verified event
// puts it in the projection as an earlier release's LRS would have.
func TestStoredStatementsReadWithoutRevalidation(t *testing.T) {
	f := newFixture(t, nil)
	const id = "0b7d3f0e-3c1a-4d2b-9e8f-7a6b5c4d3e2f"
	data := `{"id":"` + id + `","actor":{"objectType":"Agent","mbox":"mailto:ada@example.com"},` +
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"not a tag!":"done"}},` +
		`"object":{"objectType":"Activity","id":"https://example.com/old"},` +
		`"timestamp":"2025-01-02T03:04:05Z","stored":"2025-01-02T03:04:05Z",` +
		`"authority":{"objectType":"Agent","account":{"homePage":"https://example.com","name":"admin"}},"version":"1.0.0"}`
	e, err := event.New("old-release-1", event.TypeStatementStored, "test", "t1", "ada", time.Now(), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	e.Verified = true
	if err := f.log.proj.Handle(context.Background(), event.Position{Topic: "replayed"}, e); err != nil {
		t.Fatalf("applying the stored statement: %v", err)
	}
	for _, path := range []string{
		"/xapi/statements?statementId=" + id,
		"/xapi/statements?statementId=" + id + "&format=ids",
		"/xapi/statements?activity=https%3A%2F%2Fexample.com%2Fold&format=ids",
	} {
		resp, b := f.do(t, req{method: "GET", path: path})
		if resp.StatusCode != 200 || !strings.Contains(string(b), id) {
			t.Errorf("GET %s: %d %s, want 200 with the statement", path, resp.StatusCode, b)
		}
	}
}
