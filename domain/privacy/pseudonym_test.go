package privacy

import "testing"

func TestPseudonym(t *testing.T) {
	s := Secret("0123456789abcdef0123456789abcdef")
	a := s.Pseudonym("t1", "mbox:mailto:a@example.com")
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"same learner, same tenant", s.Pseudonym("t1", "mbox:mailto:a@example.com"), true},
		{"other tenant", s.Pseudonym("t2", "mbox:mailto:a@example.com"), false},
		{"other learner", s.Pseudonym("t1", "mbox:mailto:b@example.com"), false},
		{"tenant and learner boundary", s.Pseudonym("t1m", "box:mailto:a@example.com"), false},
		{"other secret", Secret("another secret of thirty-two b!!").Pseudonym("t1", "mbox:mailto:a@example.com"), false},
	}
	for _, tt := range tests {
		if (tt.got == a) != tt.same {
			t.Errorf("%s: %q vs %q, want same=%v", tt.name, tt.got, a, tt.same)
		}
		if !IsPseudonym(tt.got) {
			t.Errorf("%s: %q is not a pseudonym", tt.name, tt.got)
		}
	}
	for _, bad := range []string{"", "p", "x" + a[1:], a + "0", "p" + "G" + a[2:]} {
		if IsPseudonym(bad) {
			t.Errorf("IsPseudonym(%q) = true", bad)
		}
	}
}
