package projections

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// The statements projection decodes without validating only the exact
// bytes this process's LRS vouched for; any other event is validated. A
// statement with a bad language tag shows which path ran: validation
// rejects it, decoding does not look at display maps.
func TestStatementsValidateWhatNoOneVouchedFor(t *testing.T) {
	bad := stmtEvent(t, "e1", uuid(1), "https://x/a")
	bad.Data = []byte(strings.Replace(string(bad.Data), `"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"}`,
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"not a tag!":"x"}}`, 1))
	for _, tc := range []struct {
		name      string
		vouch     []byte
		wantStore bool
	}{
		{"not vouched: validated, rejected", nil, false},
		{"vouched for other bytes: validated, rejected", []byte(`{}`), false},
		{"vouched for these bytes: decoded, stored", bad.Data, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWaiters()
			p, err := NewStatements(openStore(t), w)
			if err != nil {
				t.Fatal(err)
			}
			w.Register(bad.ID)
			if tc.vouch != nil {
				w.Vouch(bad.ID, tc.vouch)
			}
			err = p.Handle(context.Background(), event.Position{Topic: "s"}, bad)
			if tc.wantStore != (err == nil) || (err != nil && !event.IsRejected(err)) {
				t.Fatalf("Handle: %v, want stored %v (else rejected)", err, tc.wantStore)
			}
			// Waiting forgets the vouch with the registration.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			w.Wait(ctx, bad.ID)
			cancel()
			if w.vouchedFor(bad.ID, bad.Data) {
				t.Error("vouch outlived the wait")
			}
		})
	}
}
