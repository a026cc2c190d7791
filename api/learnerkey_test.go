package api

import "testing"

func TestLearnerKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ann@example.com", "mbox:mailto:ann@example.com"},
		{"mailto:ann@example.com", "mbox:mailto:ann@example.com"},
		{"mailto:Ann@EXAMPLE.com", "mbox:mailto:Ann@example.com"},
		{"mbox:mailto:ann@example.com", "mbox:mailto:ann@example.com"},
		{"account:https://lms.example.com|ann", "account:https://lms.example.com|ann"},
		{"openid:https://id.example.com/ann", "openid:https://id.example.com/ann"},
	} {
		if got := learnerKey(tc.in); got != tc.want {
			t.Errorf("learnerKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
