package privacy

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// DataKey is one data key: 32 bytes, with its id (1-32 chars of [a-z0-9])
// as sealed values name it.
type DataKey struct {
	ID  string
	Key []byte
}

// Keys gives the data keys to seal with and finds them to open.
// streams.Vault implements it; MemoryKeys is an in-memory one.
type Keys interface {
	Pseudonyms
	// For returns the data key of learner (a learner key, xapi.ActorKey
	// form) in tenant for the UTC month of t, creating it if need be.
	For(ctx context.Context, tenant, learner string, t time.Time) (DataKey, error)
	// Lookup finds data key kid of tenant; ok=false when it does not
	// exist (destroyed).
	Lookup(ctx context.Context, tenant, kid string) (k DataKey, ok bool, err error)
}

// ExtSealed is the extension attribute (header ce_sealed) that marks a
// sealed event. Its value is SealScheme and the event's record key sealed
// under the owner's data key: the key store needs no clear learner key to
// restore it, and a consumer knows from it alone whether the owner is
// erased.
const ExtSealed = "sealed"

// SealScheme prefixes the value of ExtSealed; an event sealed by another
// scheme is refused, never guessed at.
const SealScheme = "v1:"

// ErasedAgent is what an agent becomes when its data key is gone: a valid
// xAPI Agent that identifies nobody.
var ErasedAgent = xapi.Agent{ObjectType: xapi.ObjectTypeAgent,
	Account: &xapi.Account{HomePage: "https://learnstream.invalid/erased", Name: "erased"}}

// The JSON of ErasedAgent, and of a Group whose own identity (name and
// identifier) is gone; its members are opened one by one.
const (
	erasedAgentJSON = `{"objectType":"Agent","account":{"homePage":"https://learnstream.invalid/erased","name":"erased"}}`
	erasedGroupJSON = `{"objectType":"Group","account":{"homePage":"https://learnstream.invalid/erased","name":"erased"}`
)

// How an event type is sealed.
type rule int

const (
	notPersonal rule = iota // not personal: never sealed
	statement               // agents and the response sealed field by field
	whole                   // the whole data, under the learner's key
	document                // whole, except activity profiles (keyed by an activity)
	learnerRole             // whole; the record key is learner_role:<learner key>
)

// Event types sealing knows. Most are defined by the layers above
// (projections, streams); the strings are repeated here because the
// domain cannot import them, and a test checks every type of the event
// schema is classified.
const (
	typeAttachmentStored   = "learnstream.xapi.attachment.stored.v1"
	typeDocument           = "learnstream.xapi.document.v1"
	typeLearnerRolePut     = "learnstream.catalog.learner_role.put.v1"
	typeLearnerRoleSet     = "learnstream.learner.role.set.v1"
	typeRecommendations    = "learnstream.recommendations.updated.v1"
	typeMasteryUpdated     = "learnstream.adaptive.mastery.updated.v1"
	typeDifficultyAdjusted = "learnstream.adaptive.difficulty.adjusted.v1"
)

// learnerRolePrefix is the record key prefix of learner role events.
const learnerRolePrefix = "learner_role:"

var policy = map[string]rule{
	event.TypeStatementStored: statement,
	typeAttachmentStored:      whole,
	typeDocument:              document,
	typeLearnerRolePut:        learnerRole,
	typeLearnerRoleSet:        whole,
	typeRecommendations:       whole,
	typeMasteryUpdated:        whole,
	typeDifficultyAdjusted:    whole,
	TypeConsentSet:            whole,
}

// KeyRequest names the data key of a learner (a learner key) in a tenant
// for the UTC month of At.
type KeyRequest struct {
	Tenant, Learner string
	At              time.Time
}

// KeyPreparer is a key store that makes ready the data keys of many
// learners at once (Prepare), so that sealing a batch of events does not
// wait for each new learner's key in turn: creating a key is a durable
// write, one round trip each when asked one at a time.
type KeyPreparer interface {
	Prepare(ctx context.Context, reqs []KeyRequest) error
}

// OwnerKey returns the data key SealEvent seals e with first (its
// learner's); ok is false when SealEvent leaves e as it is or refuses it.
// A statement's other agents may need keys of their own.
func OwnerKey(e event.Event) (KeyRequest, bool) {
	learner, seal, err := owner(e)
	if err != nil || !seal {
		return KeyRequest{}, false
	}
	return KeyRequest{Tenant: e.Tenant, Learner: learner, At: e.Time}, true
}

// owner returns the learner whose data key seals e, or seal false when e
// is left as it is: not personal, sealed already, or an activity profile
// write.
func owner(e event.Event) (learner string, seal bool, err error) {
	r := policy[e.Type]
	if r == notPersonal || Sealed(e) {
		return "", false, nil
	}
	learner = e.Key
	if r == learnerRole {
		var ok bool
		if learner, ok = strings.CutPrefix(e.Key, learnerRolePrefix); !ok {
			return "", false, errField("key", "a learner role event is keyed "+learnerRolePrefix+"<learner key>")
		}
	}
	if learner == "" {
		return "", false, errField("key", "a personal event is keyed by its learner; the key is empty")
	}
	if r == document {
		res, err := documentResource(e.Data)
		if err != nil {
			return "", false, err
		}
		if res == "activityProfile" {
			return "", false, nil
		}
	}
	return learner, true, nil
}

// Personal reports whether events of the type carry personal data, and so
// are sealed (see docs/privacy.md). A document event is personal as a
// type; an activity profile write among them is left clear.
func Personal(eventType string) bool { return policy[eventType] != notPersonal }

// Sealed reports whether e is marked sealed (it carries ExtSealed), so
// that OpenEvent has something to open.
func Sealed(e event.Event) bool {
	_, ok := e.Extensions[ExtSealed]
	return ok
}

// errField names the field of a sealed event at fault and the rule it
// broke. It is an event.FieldError, so event.IsRejected holds and a
// consumer dead-letters the event.
func errField(field, rule string) error { return &event.FieldError{Field: field, Rule: rule} }

const (
	extField = "ce_" + ExtSealed
	keyPath  = "key" // additional-data path of the sealed record key
	// keyFromActor, in place of the sealed record key, says that the
	// record key is the key (xapi.ActorKey) of the statement's actor,
	// an Agent sealed under that learner's data key.
	keyFromActor = "actor"
	dataPath     = "data" // … of a whole sealed data
	ruleOpen     = "sealed value does not open under its data key: altered, or moved from another field, event or tenant"
	ruleShape    = "is not a sealed value (<kid>.<base64url of nonce and ciphertext>)"
)

// SealEvent seals e's personal data under its learners' data keys (see
// docs/privacy.md): the record key becomes the learner's pseudonym, and
// the ExtSealed extension carries the clear key, sealed. Events of types
// that are not personal, activity profile writes and events already
// sealed are returned unchanged. The signature, if any, is dropped: sign
// after sealing.
func SealEvent(ctx context.Context, e event.Event, keys Keys) (event.Event, error) {
	learner, seal, err := owner(e)
	if err != nil {
		return event.Event{}, err
	}
	if !seal {
		return e, nil
	}
	r := policy[e.Type]
	k := getWork(ctx, keys, e)
	defer k.release()
	s := &k.s
	owner, err := s.keyFor(learner)
	if err != nil {
		return event.Event{}, err
	}
	ext := append(make([]byte, 0, 96+len(e.Key)), SealScheme...)
	switch r {
	case statement:
		w := &k.w
		w.in, w.owner = e.Data, learner
		out, err := w.run()
		if err != nil {
			return event.Event{}, err
		}
		e.Data = out
		if w.actorKey == learner {
			// The record key is the actor's key, and the actor is
			// sealed under it: sealing the key again would only make
			// the record bigger and the seal slower.
			ext = append(ext, keyFromActor...)
		} else {
			ext = s.seal(ext, owner, []byte(keyPath), []byte(e.Key))
		}
	default:
		ext = s.seal(ext, owner, []byte(keyPath), []byte(e.Key))
		out := make([]byte, 0, len(`{"sealed":""}`)+len(owner.ID)+1+base64.RawURLEncoding.EncodedLen(nonceSize+len(e.Data)+tagSize))
		out = append(out, `{"sealed":"`...)
		out = s.seal(out, owner, []byte(dataPath), e.Data)
		e.Data = append(out, `"}`...)
	}
	p := keys.Pseudonym(e.Tenant, learner)
	if r == learnerRole {
		p = learnerRolePrefix + p
	}
	e.Key = p
	x := make(map[string]string, len(e.Extensions)+1)
	maps.Copy(x, e.Extensions)
	x[ExtSealed] = string(ext)
	e.Extensions = x
	e.Signature = ""
	return e, nil
}

// OpenEvent restores an event SealEvent sealed: its data and its record
// key. Agents whose data key is gone become ErasedAgent; when the owner's
// key (the learner of the record key) is gone, the event comes back with
// Erased set, its key still the pseudonym and its data opened only as far
// as the remaining keys allow (nil for data sealed whole). Events not
// marked sealed are returned unchanged. An altered, moved or malformed
// sealed value is an event.FieldError naming the field.
func OpenEvent(ctx context.Context, e event.Event, keys Keys) (event.Event, error) {
	v, ok := e.Extensions[ExtSealed]
	if !ok {
		return e, nil
	}
	sealed, ok := strings.CutPrefix(v, SealScheme)
	if !ok {
		return event.Event{}, errField(extField, "unknown sealing scheme (want "+SealScheme+"<sealed record key>)")
	}
	r := policy[e.Type]
	if r == notPersonal {
		return event.Event{}, errField(extField, "events of type "+e.Type+" carry no personal data and are never sealed")
	}
	k := getWork(ctx, keys, e)
	defer k.release()
	s := &k.s
	fromActor := sealed == keyFromActor
	if fromActor && r != statement {
		return event.Event{}, errField(extField, "only a statement's record key is its actor's ("+SealScheme+keyFromActor+")")
	}
	if !fromActor {
		key, gone, err := s.open(nil, []byte(keyPath), []byte(sealed))
		if err != nil {
			return event.Event{}, fieldOf(err, extField)
		}
		if gone {
			e.Erased = true
		} else {
			e.Key = string(key)
		}
	}
	switch r {
	case statement:
		w := &k.w
		w.in, w.opening, w.deriveKey = e.Data, true, fromActor
		out, err := w.run()
		if err != nil {
			return event.Event{}, err
		}
		e.Data = out
		if fromActor {
			switch {
			case !w.actorSeen:
				return event.Event{}, errField(extField, "the record key is the actor's ("+SealScheme+keyFromActor+"), and the statement has no sealed Agent actor")
			case w.actorGone:
				e.Erased = true
			default:
				e.Key = w.actorKey
			}
		}
	default:
		var ms [1]member
		m, err := members(ms[:0], e.Data, 0, len(e.Data))
		if err != nil || len(m) != 1 || !m[0].is(e.Data, "sealed") {
			return event.Event{}, errField("data", `must be {"sealed":"<sealed value>"}`)
		}
		raw, err := stringBytes(e.Data, m[0].vs, m[0].ve)
		if err != nil {
			return event.Event{}, errField("data.sealed", ruleShape)
		}
		data, gone, err := s.open(nil, []byte(dataPath), raw)
		if err != nil {
			return event.Event{}, fieldOf(err, "data.sealed")
		}
		if gone {
			data = nil
			e.Erased = true
		}
		e.Data = data
	}
	x := make(map[string]string, len(e.Extensions))
	maps.Copy(x, e.Extensions)
	delete(x, ExtSealed)
	if len(x) == 0 {
		x = nil
	}
	e.Extensions = x
	return e, nil
}

// documentResource returns the resource of a document event's data.
func documentResource(data []byte) (string, error) {
	var buf [16]member
	ms, err := members(buf[:0], data, 0, len(data))
	if err != nil {
		return "", errField("data", "a document write must be a JSON object")
	}
	m, ok := find(ms, data, "resource")
	if !ok {
		return "", errField("data.resource", "is required")
	}
	res, err := stringValue(data, m.vs, m.ve)
	if err != nil {
		return "", errField("data.resource", "must be a string")
	}
	return res, nil
}

// Sizes of AES-GCM's nonce and tag.
const (
	nonceSize = 12
	tagSize   = 16
)

// sealer seals and opens the values of one event. It keeps what it
// resolved for that event only (data keys, ciphers), never across
// events: a destroyed key must stop opening the next event at once.
type sealer struct {
	ctx    context.Context
	keys   Keys
	tenant string
	id     string
	t      time.Time

	learners []learnerKey
	kids     []kidKey
	nonces   [nonceSize * 8]byte
	used     int
	ad       []byte
	buf      []byte

	// Backing arrays, so that a typical statement needs no growth.
	learnersArr [4]learnerKey
	kidsArr     [4]kidKey
	adArr       [160]byte
	bufArr      [512]byte
}

type learnerKey struct {
	learner string
	key     DataKey
}

type kidKey struct {
	kid  string
	ok   bool
	aead cipher.AEAD
}

// work is the state of one SealEvent or OpenEvent, pooled: a statement
// is sealed once and opened by every consumer, and a fresh state of this
// size per event was a good part of the cost.
type work struct {
	s sealer
	w walker
}

var works = sync.Pool{New: func() any {
	k := new(work)
	k.s.used = len(k.s.nonces)
	return k
}}

func getWork(ctx context.Context, keys Keys, e event.Event) *work {
	k := works.Get().(*work)
	s := &k.s
	s.ctx, s.keys, s.tenant, s.id, s.t = ctx, keys, e.Tenant, e.ID, e.Time
	s.learners, s.kids, s.ad, s.buf = s.learnersArr[:0], s.kidsArr[:0], s.adArr[:0], s.bufArr[:0]
	k.w = walker{sealer: s}
	return k
}

// release returns k to the pool holding nothing of the event: no key,
// no plaintext. The unused nonces stay: they were never used.
func (k *work) release() {
	s := &k.s
	clear(s.learnersArr[:])
	clear(s.kidsArr[:])
	clear(s.bufArr[:])
	s.ctx, s.keys, s.learners, s.kids, s.ad, s.buf = nil, nil, nil, nil, nil, nil
	k.w = walker{}
	works.Put(k)
}

// keyFor returns the data key of learner for this event.
func (s *sealer) keyFor(learner string) (DataKey, error) {
	for _, l := range s.learners {
		if l.learner == learner {
			return l.key, nil
		}
	}
	k, err := s.keys.For(s.ctx, s.tenant, learner, s.t)
	if err != nil {
		return DataKey{}, fmt.Errorf("privacy: data key: %w", err)
	}
	if err := checkKey(k); err != nil {
		return DataKey{}, err
	}
	s.learners = append(s.learners, learnerKey{learner, k})
	return k, nil
}

// checkKey refuses a data key that would seal badly: the key store is
// trusted, but a short key or an id sealed values cannot name must not
// produce data nobody can open.
func checkKey(k DataKey) error {
	if len(k.Key) != 32 {
		return fmt.Errorf("privacy: data key %q has %d bytes, want 32", k.ID, len(k.Key))
	}
	if !validKID(k.ID) {
		return fmt.Errorf("privacy: data key id %q is not 1-32 of [a-z0-9]", k.ID)
	}
	return nil
}

func validKID[T string | []byte](kid T) bool {
	if len(kid) == 0 || len(kid) > 32 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ciphers keeps the AES-GCM state of recently used data keys: expanding
// a key costs more than sealing a statement's fields with it. An entry
// is used only for the key the key store has just returned (For or
// Lookup, byte for byte), so a destroyed key, which Lookup no longer
// finds, never opens anything through it. Bounded: emptied when full.
var ciphers = struct {
	sync.Mutex
	m map[string]cachedAEAD
}{m: map[string]cachedAEAD{}}

type cachedAEAD struct {
	key  []byte
	aead cipher.AEAD
}

const maxCiphers = 4096

// aeadFor returns the cipher of k.
func (s *sealer) aeadFor(k DataKey) cipher.AEAD {
	for _, c := range s.kids {
		if c.kid == k.ID && c.aead != nil {
			return c.aead
		}
	}
	ciphers.Lock()
	c, ok := ciphers.m[k.ID]
	ciphers.Unlock()
	if !ok || !bytes.Equal(c.key, k.Key) {
		a, err := newAEAD(k.Key)
		if err != nil {
			panic(err) // checkKey let only 32-byte keys through
		}
		c = cachedAEAD{key: bytes.Clone(k.Key), aead: a}
		ciphers.Lock()
		if len(ciphers.m) >= maxCiphers {
			clear(ciphers.m)
		}
		ciphers.m[k.ID] = c
		ciphers.Unlock()
	}
	s.kids = append(s.kids, kidKey{kid: k.ID, ok: true, aead: c.aead})
	return c.aead
}

// additional returns the additional data of the value at path: it binds
// the value to its tenant, event and field.
func (s *sealer) additional(path []byte) []byte {
	b := append(s.ad[:0], "learnstream seal v1"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.tenant)))
	b = append(b, s.tenant...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.id)))
	b = append(b, s.id...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(path)))
	s.ad = append(b, path...)
	return s.ad
}

func (s *sealer) nonce() []byte {
	if s.used+nonceSize > len(s.nonces) {
		// crypto/rand.Read does not fail (it crashes the program if the
		// system's source fails): one read serves several values.
		_, _ = rand.Read(s.nonces[:])
		s.used = 0
	}
	n := s.nonces[s.used : s.used+nonceSize]
	s.used += nonceSize
	return n
}

// seal appends plaintext sealed under k, bound to path, to dst:
// <kid>.<base64url(nonce | ciphertext and tag)>.
func (s *sealer) seal(dst []byte, k DataKey, path, plaintext []byte) []byte {
	a := s.aeadFor(k)
	ad := s.additional(path)
	buf := append(s.buf[:0], s.nonce()...)
	buf = a.Seal(buf, buf[:nonceSize], plaintext, ad)
	s.buf = buf
	dst = append(dst, k.ID...)
	dst = append(dst, '.')
	return base64.RawURLEncoding.AppendEncode(dst, buf)
}

// Why a sealed value does not open; callers name the field.
var (
	errShape = errors.New(ruleShape)
	errOpen  = errors.New(ruleOpen)
)

// fieldOf names field in an error of open.
func fieldOf(err error, field string) error {
	switch {
	case errors.Is(err, errShape):
		return errField(field, ruleShape)
	case errors.Is(err, errOpen):
		return errField(field, ruleOpen)
	}
	return err
}

// open appends the plaintext of sealed, bound to path, to dst. gone
// reports that its data key does not exist (destroyed); dst is then
// returned as it was. The errors are errShape, errOpen or the key store's.
func (s *sealer) open(dst, path, sealed []byte) (out []byte, gone bool, err error) {
	dot := bytes.IndexByte(sealed, '.')
	if dot < 0 || !validKID(sealed[:dot]) {
		return dst, false, errShape
	}
	kid := sealed[:dot]
	var a cipher.AEAD
	found := false
	for _, c := range s.kids {
		if c.kid == string(kid) {
			if !c.ok {
				return dst, true, nil
			}
			a, found = c.aead, true
			break
		}
	}
	if !found {
		k, ok, err := s.keys.Lookup(s.ctx, s.tenant, string(kid))
		if err != nil {
			return dst, false, fmt.Errorf("privacy: data key %s: %w", kid, err)
		}
		if !ok {
			s.kids = append(s.kids, kidKey{kid: string(kid)})
			ciphers.Lock()
			delete(ciphers.m, string(kid)) // keep no state of a destroyed key
			ciphers.Unlock()
			return dst, true, nil
		}
		if k.ID != string(kid) || checkKey(k) != nil {
			return dst, false, fmt.Errorf("privacy: key store returned a bad key for id %s", kid)
		}
		a = s.aeadFor(k)
	}
	buf, err := base64.RawURLEncoding.AppendDecode(s.buf[:0], sealed[dot+1:])
	if err != nil || len(buf) < nonceSize+tagSize {
		return dst, false, errShape
	}
	s.buf = buf
	plain, err := a.Open(buf[nonceSize:nonceSize], buf[:nonceSize], buf[nonceSize:], s.additional(path))
	if err != nil {
		return dst, false, errOpen
	}
	return append(dst, plain...), false, nil
}
