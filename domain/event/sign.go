package event

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"time"
)

// HeaderSignature carries the producer's HMAC over the event's identity
// and data (see Sign). It is not an extension: it signs the extensions.
const HeaderSignature = "ce_signature"

// signatureVersion prefixes every signature, so that the scheme can change
// without a consumer mistaking one for another.
const signatureVersion = "v1="

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// signingInput is what a signature covers: every attribute that says who
// the event is about and what it says (id, type, source, time, tenant,
// content type, record key, extensions such as the authority's rights) and
// a SHA-256 digest of the data. Each part is length-prefixed, so no two
// different events share an input.
func signingInput(e Event) []byte {
	ct := e.ContentType
	if ct == "" {
		ct = ContentTypeJSON
	}
	digest := sha256.Sum256(e.Data)
	var ts [len(time.RFC3339Nano) + 8]byte
	tb := e.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano)
	fixed := [...]string{"learnstream event " + signatureVersion, e.ID, e.Type, e.Source}
	rest := [...]string{e.Tenant, ct, e.Key}
	var names []string
	if len(e.Extensions) > 0 {
		names = slices.Sorted(maps.Keys(e.Extensions))
	}
	// Sized once: this runs for every event signed and every one verified.
	n := 4 * (len(fixed) + 1 + len(rest) + len(names) + 1)
	for _, p := range fixed {
		n += len(p)
	}
	n += len(tb)
	for _, p := range rest {
		n += len(p)
	}
	for _, name := range names {
		n += len(name) + 1 + len(e.Extensions[name])
	}
	n += len(digest)
	b := make([]byte, 0, n)
	for _, p := range fixed {
		b = appendPart(b, p)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(tb)))
	b = append(b, tb...)
	for _, p := range rest {
		b = appendPart(b, p)
	}
	for _, name := range names {
		v := e.Extensions[name]
		b = binary.BigEndian.AppendUint32(b, uint32(len(name)+1+len(v)))
		b = append(append(append(b, name...), '='), v...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(digest)))
	return append(b, digest[:]...)
}

// appendPart appends p to b, prefixed with its length.
func appendPart(b []byte, p string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

func mac(e Event, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(signingInput(e))
	return h.Sum(nil)
}

// Sign returns e with its Signature set: an HMAC-SHA256 under key (the
// install's signing key) over signingInput. Consumers that hold the key
// trust the tenant, the authority and the data of an event only when
// Verify accepts it.
func Sign(e Event, key []byte) Event {
	e.Signature = signatureVersion + base64.RawURLEncoding.EncodeToString(mac(e, key))
	return e
}

// Verify checks e's Signature under key. Its error is a FieldError naming
// ce_signature, so consumers send the event to the DLQ with the reason.
func Verify(e Event, key []byte) error {
	if e.Signature == "" {
		return &FieldError{HeaderSignature, "missing: the event was not written by this install's API or models"}
	}
	enc, ok := strings.CutPrefix(e.Signature, signatureVersion)
	if !ok {
		return &FieldError{HeaderSignature, "unknown scheme (want " + signatureVersion + "<base64url HMAC-SHA256>)"}
	}
	got, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal(got, mac(e, key)) {
		return &FieldError{HeaderSignature, "does not match the event: forged, altered, or signed with another install's key"}
	}
	return nil
}
