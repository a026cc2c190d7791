package privacy

import (
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
//
// It computes the HMAC (RFC 2104) with two sha256.Sum256 over buffers on
// the stack instead of crypto/hmac: it runs for every personal event
// sealed (once per learner of the event) and for every learner a
// consumer checks against an erasure, and crypto/hmac allocated ten
// times per call. A test holds it equal to crypto/hmac.
func Pseudonym(secret []byte, tenant, learner string) string {
	const block = 64 // SHA-256's block size
	var key [block]byte
	if len(secret) > block {
		k := sha256.Sum256(secret)
		copy(key[:], k[:])
	} else {
		copy(key[:], secret)
	}
	var stack [block + 192]byte
	msg := stack[:0]
	if n := block + len(tenant) + 1 + len(learner); n > len(stack) {
		msg = make([]byte, 0, n)
	}
	for _, c := range key {
		msg = append(msg, c^0x36)
	}
	msg = append(msg, tenant...)
	msg = append(msg, 0)
	msg = append(msg, learner...)
	inner := sha256.Sum256(msg)
	var outer [block + sha256.Size]byte
	for i, c := range key {
		outer[i] = c ^ 0x5c
	}
	copy(outer[block:], inner[:])
	sum := sha256.Sum256(outer[:])
	var out [PseudonymLen]byte
	out[0] = 'p'
	hex.Encode(out[1:], sum[:16])
	return string(out[:])
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
