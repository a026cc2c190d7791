package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Pseudonyms turns a tenant's learner key into that learner's pseudonym.
// The key store implements it with the install's pseudonym secret; every
// consumer that must find a learner's data from a LearnerErased uses it.
type Pseudonyms interface {
	Pseudonym(tenant, learner string) string
}

// PseudonymLen is the length of a pseudonym: "p" and 32 hex digits (128
// bits of HMAC-SHA256).
const PseudonymLen = 33

// Pseudonym is HMAC-SHA256(secret, tenant NUL learner), truncated to 128
// bits, hex, prefixed "p". The NUL keeps "a"+"bc" and "ab"+"c" apart.
func Pseudonym(secret []byte, tenant, learner string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write([]byte(learner))
	var sum [sha256.Size]byte
	b := make([]byte, 1, PseudonymLen)
	b[0] = 'p'
	return string(hex.AppendEncode(b, m.Sum(sum[:0])[:16]))
}

// Secret is a pseudonym secret used as Pseudonyms directly (tests, tools).
type Secret []byte

// Pseudonym implements Pseudonyms.
func (s Secret) Pseudonym(tenant, learner string) string { return Pseudonym(s, tenant, learner) }

// IsPseudonym reports whether s has the shape of a pseudonym.
func IsPseudonym(s string) bool {
	if len(s) != PseudonymLen || s[0] != 'p' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
