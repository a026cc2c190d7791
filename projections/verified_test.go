package projections

import (
	"context"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
)

// The statements projection decodes without validating only events the
// transport verified as signed by this install (its LRS validated them
// before publishing); any other event is validated. A statement with a
// bad language tag shows which path ran: validation rejects it, decoding
// does not look at display maps, so a statement the LRS accepted under
// laxer rules stays readable after a replay.
func TestStatementsValidateWhatIsNotVerified(t *testing.T) {
	bad := stmtEvent(t, "e1", uuid(1), "https://x/a")
	bad.Data = []byte(strings.Replace(string(bad.Data), `"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"}`,
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"not a tag!":"x"}}`, 1))
	for _, tc := range []struct {
		name      string
		signature string
		verified  bool
		wantStore bool
	}{
		{"unsigned: validated, rejected", "", false, false},
		{"signed, not verified (no signing key): validated, rejected", "v1=c2lnbmVk", false, false},
		{"verified: decoded, stored", "v1=c2lnbmVk", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewStatements(openStore(t), NewWaiters())
			if err != nil {
				t.Fatal(err)
			}
			e := bad
			e.Signature, e.Verified = tc.signature, tc.verified
			err = p.Handle(context.Background(), event.Position{Topic: "s"}, e)
			if tc.wantStore != (err == nil) || (err != nil && !event.IsRejected(err)) {
				t.Fatalf("Handle: %v, want stored %v (else rejected)", err, tc.wantStore)
			}
		})
	}
}
