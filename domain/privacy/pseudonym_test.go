package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

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

// TestPseudonymIsHMAC holds Pseudonym equal to crypto/hmac over secrets
// shorter and longer than a block and learner keys of every length.
func TestPseudonymIsHMAC(t *testing.T) {
	for _, secret := range []string{"", "k", "0123456789abcdef0123456789abcdef", strings.Repeat("s", 64), strings.Repeat("long", 40)} {
		for _, learner := range []string{"", "mbox:mailto:a@example.com", strings.Repeat("account:https://x|", 30)} {
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte("tenant-1\x00" + learner))
			want := "p" + hex.EncodeToString(m.Sum(nil)[:16])
			if got := Pseudonym([]byte(secret), "tenant-1", learner); got != want {
				t.Errorf("secret %d bytes, learner %d bytes: %s, want %s", len(secret), len(learner), got, want)
			}
		}
	}
}

func BenchmarkPseudonym(b *testing.B) {
	s := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		Pseudonym(s, "acme", "mbox:mailto:learner417@example.com")
	}
}
