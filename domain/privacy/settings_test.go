package privacy

import (
	"strings"
	"testing"
	"time"
)

func TestRetentionCutoff(t *testing.T) {
	tests := []struct {
		name string
		now  string
		days int
		want string
	}{
		{"off", "2026-12-04T10:00:00Z", 0, ""},
		{"a year: the month holding now-365d is kept whole", "2026-12-04T10:00:00Z", 365, "2025-12-01T00:00:00Z"},
		{"exactly a month start", "2026-03-01T00:00:00Z", 31, "2026-01-01T00:00:00Z"},
		{"across a year", "2026-01-15T00:00:00Z", 31, "2025-12-01T00:00:00Z"},
		{"non-UTC now", "2026-02-01T00:30:00+02:00", 31, "2025-12-01T00:00:00Z"},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		got := RetentionCutoff(now, tt.days)
		if tt.want == "" {
			if !got.IsZero() {
				t.Errorf("%s: %v, want zero", tt.name, got)
			}
			continue
		}
		if got.Format(time.RFC3339) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got.Format(time.RFC3339), tt.want)
		}
		// Nothing from within the period is before the cutoff.
		if got.After(now.AddDate(0, 0, -tt.days)) {
			t.Errorf("%s: cutoff %v is after now-period", tt.name, got)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	p := Secret("0123456789abcdef0123456789abcdef").Pseudonym("t", "mbox:mailto:a@example.com")
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"consent ok", ConsentSet{Learner: "mbox:mailto:a@example.com", At: at}.Validate(), ""},
		{"consent without learner", ConsentSet{At: at}.Validate(), "data.learner"},
		{"consent without time", ConsentSet{Learner: "x"}.Validate(), "data.at"},
		{"retention off", RetentionSet{Tenant: "t", At: at}.Validate(), ""},
		{"retention a year", RetentionSet{Tenant: "t", Days: 365, At: at}.Validate(), ""},
		{"retention shorter than a month", RetentionSet{Tenant: "t", Days: 30, At: at}.Validate(), "days: must be 0"},
		{"retention negative", RetentionSet{Tenant: "t", Days: -1, At: at}.Validate(), "days: must be 0"},
		{"retention too long", RetentionSet{Tenant: "t", Days: MaxRetentionDays + 1, At: at}.Validate(), "days: must be 0"},
		{"retention without tenant", RetentionSet{Days: 365, At: at}.Validate(), "data.tenant"},
		{"access ok", AccessRecorded{ID: "1", Credential: "k", Route: "GET /x", Status: 200, Learners: []string{p}, At: at}.Validate(), ""},
		{"access with a learner key instead of a pseudonym", AccessRecorded{ID: "1", Credential: "k", Route: "GET /x", Status: 200,
			Learners: []string{"mbox:mailto:a@example.com"}, At: at}.Validate(), "data.learners[0]: must be a pseudonym"},
		{"access without credential", AccessRecorded{ID: "1", Route: "GET /x", Status: 200, At: at}.Validate(), "data.credential"},
		{"access bad status", AccessRecorded{ID: "1", Credential: "k", Route: "GET /x", Status: 42, At: at}.Validate(), "data.status"},
	}
	for _, tt := range tests {
		switch {
		case tt.wantErr == "" && tt.err != nil:
			t.Errorf("%s: %v", tt.name, tt.err)
		case tt.wantErr != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.wantErr)):
			t.Errorf("%s: err %v, want one containing %q", tt.name, tt.err, tt.wantErr)
		}
	}
}
