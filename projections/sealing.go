package projections

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// What the store keeps sealed (webhook subscriptions' secrets, model
// checkpoints) is AES-GCM: the nonce, then the ciphertext, bound to
// additional data that says where the value belongs.

var errSealedShort = errors.New("shorter than a nonce and a tag")

// newAEAD is AES-GCM under key (16, 24 or 32 bytes).
func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealValue returns a fresh nonce, then plain sealed under a and ad.
func sealValue(a cipher.AEAD, plain, ad []byte) []byte {
	out := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	_, _ = rand.Read(out)
	return a.Seal(out, out, plain, ad)
}

// openValue opens what sealValue made: errSealedShort when it cannot be
// one, the AEAD's error when it does not open under a and ad.
func openValue(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := a.NonceSize()
	if len(sealed) < n+a.Overhead() {
		return nil, errSealedShort
	}
	return a.Open(nil, sealed[:n], sealed[n:], ad)
}
