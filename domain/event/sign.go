package event

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// appendSigningInput appends what a signature covers: every attribute that says who
// the event is about and what it says (id, type, source, time, tenant,
// content type, record key, extensions such as the authority's rights) and
// a SHA-256 digest of the data. Each part is length-prefixed, so no two
// different events share an input.
func appendSigningInput(b []byte, e Event) []byte {
	ct := e.ContentType
	if ct == "" {
		ct = ContentTypeJSON
	}
	digest := sha256.Sum256(e.Data)
	var ts [len(time.RFC3339Nano) + 8]byte
	tb := e.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano)
	fixed := [...]string{"learnstream event " + signatureVersion, e.ID, e.Type, e.Source}
	rest := [...]string{e.Tenant, ct, e.Key}
	var arr [8]string
	names := e.extensionNames(arr[:0])
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
	b = slices.Grow(b, n)
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

// mac is the HMAC of appendSigningInput(nil, e) under key, appended to dst. Every
// event published is signed and every one received verified (by each
// consumer), so the keyed hash and the input's buffer are reused (macs).
func mac(dst []byte, e Event, key []byte) []byte {
	m := macs.get(key)
	m.buf = appendSigningInput(m.buf[:0], e)
	m.h.Write(m.buf)
	dst = m.h.Sum(dst)
	macs.put(key, m)
	return dst
}

// macs keeps keyed HMACs of the key last used for reuse: a process signs
// and verifies with its install's key (and, while a key is rotated, now
// and then another), so one key's pool serves nearly every use, and what
// it holds does not grow with the number of keys seen.
var macs macCache

type macCache struct {
	cur atomic.Pointer[keyedMACs]
}

type keyedMACs struct {
	key  string
	pool sync.Pool // of *macState
}

// macState is an HMAC-SHA256 under one key and a buffer for its input.
type macState struct {
	h   hash.Hash
	buf []byte
}

// get returns an HMAC-SHA256 under key, reset.
func (c *macCache) get(key []byte) *macState {
	if k := c.cur.Load(); k != nil && k.key == string(key) {
		if m, ok := k.pool.Get().(*macState); ok {
			return m
		}
	}
	return &macState{h: hmac.New(sha256.New, key)}
}

// put returns m, an HMAC under key, for reuse by the next get of key.
// Buffers of unusually large inputs (many extensions) are not kept.
func (c *macCache) put(key []byte, m *macState) {
	if cap(m.buf) > 4<<10 {
		return
	}
	m.h.Reset()
	k := c.cur.Load()
	if k == nil || k.key != string(key) {
		k = &keyedMACs{key: string(key)}
		c.cur.Store(k)
	}
	k.pool.Put(m)
}

// Sign returns e with its Signature set: an HMAC-SHA256 under key (the
// install's signing key) over appendSigningInput. Consumers that hold the key
// trust the tenant, the authority and the data of an event only when
// Verify accepts it.
func Sign(e Event, key []byte) Event {
	var sum [sha256.Size]byte
	m := mac(sum[:0], e, key)
	var out [len(signatureVersion) + 43]byte // base64url of 32 bytes, unpadded
	b := append(out[:0], signatureVersion...)
	e.Signature = string(base64.RawURLEncoding.AppendEncode(b, m))
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
	var gotBuf, sum [sha256.Size + 3]byte
	got, err := base64.RawURLEncoding.AppendDecode(gotBuf[:0], []byte(enc))
	if err != nil || !hmac.Equal(got, mac(sum[:0], e, key)) {
		return &FieldError{HeaderSignature, "does not match the event: forged, altered, or signed with another install's key"}
	}
	return nil
}
