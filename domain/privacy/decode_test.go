package privacy

import (
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

func TestDecodePrivacyEvents(t *testing.T) {
	p := Secret("0123456789abcdef0123456789abcdef").Pseudonym("t1", "mbox:mailto:a@example.com")
	ev := func(tenant, data string) event.Event {
		return event.Event{ID: "e", Type: TypeLearnerErased, Tenant: tenant, Data: []byte(data), Time: time.Now()}
	}
	erased := []struct {
		name, tenant, data, reject string
	}{
		{"well formed", "t1", `{"erasure":"x","pseudonym":"` + p + `"}`, ""},
		{"not JSON", "t1", `nope`, "data:"},
		{"no erasure", "t1", `{"pseudonym":"` + p + `"}`, "data.erasure"},
		{"a learner key for a pseudonym", "t1", `{"erasure":"x","pseudonym":"mbox:mailto:a@example.com"}`, "data.pseudonym"},
		{"no tenant", "", `{"erasure":"x","pseudonym":"` + p + `"}`, "tenant"},
	}
	for _, tt := range erased {
		le, err := DecodeLearnerErased(ev(tt.tenant, tt.data))
		switch {
		case tt.reject == "" && (err != nil || le.Pseudonym != p):
			t.Errorf("%s: %+v, %v", tt.name, le, err)
		case tt.reject != "" && (!event.IsRejected(err) || !strings.Contains(err.Error(), tt.reject)):
			t.Errorf("%s: got %v, want a rejection naming %s", tt.name, err, tt.reject)
		}
	}
	retention := []struct {
		name, tenant, data, reject, wantTenant string
	}{
		{"well formed", "t1", `{"tenant":"t1","before":"2026-01-01T00:00:00Z"}`, "", "t1"},
		{"tenant from the event", "t1", `{"before":"2026-01-01T00:00:00Z"}`, "", "t1"},
		{"no cut-off", "t1", `{"tenant":"t1"}`, "data.before", ""},
		{"another tenant", "t1", `{"tenant":"t2","before":"2026-01-01T00:00:00Z"}`, "data.tenant", ""},
		{"no tenant anywhere", "", `{"before":"2026-01-01T00:00:00Z"}`, "data.tenant", ""},
	}
	for _, tt := range retention {
		ra, err := DecodeRetentionApplied(ev(tt.tenant, tt.data))
		switch {
		case tt.reject == "" && (err != nil || ra.Tenant != tt.wantTenant || ra.Before.IsZero()):
			t.Errorf("%s: %+v, %v", tt.name, ra, err)
		case tt.reject != "" && (!event.IsRejected(err) || !strings.Contains(err.Error(), tt.reject)):
			t.Errorf("%s: got %v, want a rejection naming %s", tt.name, err, tt.reject)
		}
	}
}
