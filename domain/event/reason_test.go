package event

import "testing"

func TestRedactReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{`data.pseudonym: "mbox:mailto:ada@example.com" is not a pseudonym (p and 32 hex digits)`,
			`data.pseudonym: "…" is not a pseudonym (p and 32 hex digits)`},
		{`object.id: an Activity must have an IRI id, got "Ada \"the\" Countess"`, `object.id: an Activity must have an IRI id, got "…"`},
		{`progress mbox:mailto:ada@example.com/https://x/a is unreadable: unexpected end of JSON input`,
			// A key runs to the next space: what follows it goes too.
			`progress … is unreadable: unexpected end of JSON input`},
		{`adaptive account:https://lms.example|ada42/sql is unreadable: EOF`, `adaptive … is unreadable: EOF`},
		{`actor: write to ada@example.com failed`, `actor: write to … failed`},
		{`result.score.scaled: must be a number in [-1, 1] (got 2)`, `result.score.scaled: must be a number in [-1, 1] (got 2)`},
		{`ce_type: major version 2 of learnstream.x is not supported (want 1)`, `ce_type: major version 2 of learnstream.x is not supported (want 1)`},
		{`data: invalid character 'x' looking for beginning of value`, `data: invalid character 'x' looking for beginning of value`},
	}
	for _, tt := range tests {
		if got := RedactReason(tt.in); got != tt.want {
			t.Errorf("RedactReason(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}
