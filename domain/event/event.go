// Package event defines learnstream's event envelope: CloudEvents 1.0 in
// binary mode, carried as Kafka headers, plus a tenant attribute.
//
// The package is pure: it knows nothing of Kafka. Transports map Headers to
// their own header type.
package event

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SpecVersion is the CloudEvents version of every envelope we write.
const SpecVersion = "1.0"

// Header names used in binary mode. Kafka's CloudEvents binding prefixes
// attributes with "ce_"; the data's media type travels as "content-type".
const (
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderSpecVersion = "ce_specversion"
	HeaderContentType = "content-type"
	HeaderTenant      = "tenant"
	// HeaderDLQReason carries why an event was sent to a dead-letter topic.
	HeaderDLQReason = "dlq_reason"
)

// ContentTypeJSON is the only data content type we emit.
const ContentTypeJSON = "application/json"

// Event types. The trailing ".vN" is the major version: a consumer that does
// not know a major version must reject the event, never guess.
const (
	TypeStatementStored = "learnstream.xapi.statement.stored.v1"
)

// Event is one learning action or model decision.
type Event struct {
	ID          string
	Type        string
	Source      string
	Time        time.Time
	Tenant      string
	ContentType string
	// Key is the partition key (the learner for learner events), so that one
	// learner's events stay in order.
	Key  string
	Data []byte
	// Extensions are CloudEvents extension attributes ("ce_<name>"
	// headers): facts about how the event came to be that are not part of
	// its data, e.g. the rights of the credential that stored a statement.
	// Names are 1-20 lowercase letters or digits.
	Extensions map[string]string
	// Signature is the producer's HMAC over the rest (Sign, Verify); empty
	// on an event not signed yet.
	Signature string
	// Verified is set by the transport that delivered the event, never
	// read from it: true when Verify accepted Signature under the
	// install's signing key, so this install's own code produced the
	// event as it stands (for a statement: after the LRS validated it).
	Verified bool
	// Erased is set by the transport that opened a sealed event, never
	// read from it: true when the data key of the event's learner is gone
	// (the learner was erased, or the month fell out of retention). The
	// key is then still the pseudonym and the data holds nothing of the
	// erased; consumers skip the event.
	Erased bool
	// memo holds what Decoders made of Data once for every consumer of
	// this record in the process (see Shared); nil: decode every time.
	memo *memo
}

// extensionPrefix marks extension attributes among the headers.
const extensionPrefix = "ce_"

// reserved are the attribute names the envelope itself uses.
var reserved = map[string]bool{"id": true, "type": true, "source": true, "time": true, "specversion": true,
	"datacontenttype": true, "dataschema": true, "subject": true, "signature": true}

func validExtensionName(n string) bool {
	if n == "" || len(n) > 20 || reserved[n] {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Header is one transport header.
type Header struct {
	Key   string
	Value []byte
}

// FieldError names the envelope field at fault and the rule it broke.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return fmt.Sprintf("event %s: %s", e.Field, e.Rule) }

// New builds a validated event.
func New(id, typ, source, tenant, key string, t time.Time, data []byte) (Event, error) {
	e := Event{ID: id, Type: typ, Source: source, Time: t.UTC(), Tenant: tenant,
		ContentType: ContentTypeJSON, Key: key, Data: data}
	return e, e.Validate()
}

// Validate checks the attributes every event must carry.
func (e Event) Validate() error {
	switch {
	case e.ID == "":
		return &FieldError{HeaderID, "must not be empty"}
	case e.Source == "":
		return &FieldError{HeaderSource, "must not be empty"}
	case e.Tenant == "":
		return &FieldError{HeaderTenant, "must not be empty"}
	case e.Time.IsZero():
		return &FieldError{HeaderTime, "must be set"}
	}
	if _, _, err := SplitType(e.Type); err != nil {
		return err
	}
	for n := range e.Extensions {
		if !validExtensionName(n) {
			return &FieldError{extensionPrefix + n, "extension names are 1-20 lowercase letters or digits, not an attribute of the envelope"}
		}
	}
	return nil
}

// SplitType splits "name.vN" into its name and major version.
func SplitType(t string) (name string, major int, err error) {
	i := strings.LastIndex(t, ".v")
	if t == "" || i <= 0 {
		return "", 0, &FieldError{HeaderType, fmt.Sprintf("%q must end in .v<major>", t)}
	}
	major, err = strconv.Atoi(t[i+2:])
	if err != nil || major < 1 {
		return "", 0, &FieldError{HeaderType, fmt.Sprintf("%q must end in .v<major> with major >= 1", t)}
	}
	return t[:i], major, nil
}

// Headers returns the binary-mode headers for e. Their values share one
// buffer, each capped at its own length: every event published goes
// through here, and a buffer per value (with the extension names' keys
// and sorted names besides) was a tenth of the allocations the server made
// for a statement.
func (e Event) Headers() []Header {
	ct := e.ContentType
	if ct == "" {
		ct = ContentTypeJSON
	}
	var arr [8]string
	names := e.extensionNames(arr[:0])
	n := len(SpecVersion) + len(e.ID) + len(e.Type) + len(e.Source) + len(time.RFC3339Nano) + len(ct) + len(e.Tenant) + len(e.Signature)
	for _, name := range names {
		n += len(e.Extensions[name])
	}
	buf := make([]byte, 0, n)
	hs := make([]Header, 0, 8+len(names))
	// mark adds the header k holding buf from at, capped there; should
	// buf grow (a time beyond year 9999 is longer than its layout), the
	// values already added keep the old array, which nothing writes to
	// again.
	mark := func(k string, at int) { hs = append(hs, Header{k, buf[at:len(buf):len(buf)]}) }
	str := func(k, v string) {
		at := len(buf)
		buf = append(buf, v...)
		mark(k, at)
	}
	str(HeaderSpecVersion, SpecVersion)
	str(HeaderID, e.ID)
	str(HeaderType, e.Type)
	str(HeaderSource, e.Source)
	at := len(buf)
	buf = e.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	mark(HeaderTime, at)
	str(HeaderContentType, ct)
	str(HeaderTenant, e.Tenant)
	for _, name := range names {
		str(extensionKey(name), e.Extensions[name])
	}
	if e.Signature != "" {
		str(HeaderSignature, e.Signature)
	}
	return hs
}

// extensionNames appends the names of e's extensions to dst, sorted. With
// a dst of the caller's array, the names take no allocation.
func (e Event) extensionNames(dst []string) []string {
	for n := range e.Extensions {
		dst = append(dst, n)
	}
	slices.Sort(dst)
	return dst
}

// extensionKeys holds the header key ("ce_" and the name) of extension
// names seen, so that a header key is not built for every event: there
// are a handful of names in use. Bounded: names past the bound are
// built each time.
var extensionKeys struct {
	sync.Map
	n atomic.Int32
}

const maxExtensionKeys = 256

func extensionKey(name string) string {
	if k, ok := extensionKeys.Load(name); ok {
		return k.(string)
	}
	k := extensionPrefix + name
	if extensionKeys.n.Load() < maxExtensionKeys {
		if _, loaded := extensionKeys.LoadOrStore(strings.Clone(name), k); !loaded {
			extensionKeys.n.Add(1)
		}
	}
	return k
}

// ErrNotCloudEvent reports a record without the CloudEvents headers.
var ErrNotCloudEvent = errors.New("event: record has no ce_specversion header")

// FromHeaders rebuilds an event from a record's headers, key and value. It
// rejects records that are not CloudEvents 1.0 or miss a required attribute.
//
// The attributes' strings are cut from one string holding the record's
// text, as every record received is rebuilt here, once per process, and a
// string per attribute was most of what that cost.
func FromHeaders(hs []Header, key, value []byte) (Event, error) {
	var e Event
	n := len(key)
	for _, h := range hs {
		n += len(h.Value)
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.Write(key)
	type span struct{ at, end int }
	type extSpan struct {
		name string
		v    span
	}
	put := func(v []byte) span {
		at := sb.Len()
		sb.Write(v)
		return span{at, sb.Len()}
	}
	var spec []byte // the last ce_specversion's
	var id, typ, source, ts, ct, tenant, sig span
	ctJSON := false
	var extArr [8]extSpan
	exts := extArr[:0]
	for _, h := range hs {
		switch h.Key {
		case HeaderSpecVersion:
			spec = h.Value
		case HeaderID:
			id = put(h.Value)
		case HeaderType:
			typ = put(h.Value)
		case HeaderSource:
			source = put(h.Value)
		case HeaderTime:
			ts = put(h.Value)
		case HeaderContentType:
			if ctJSON = string(h.Value) == ContentTypeJSON; !ctJSON {
				ct = put(h.Value)
			}
		case HeaderTenant:
			tenant = put(h.Value)
		case HeaderSignature:
			sig = put(h.Value)
		default:
			if name, ok := strings.CutPrefix(h.Key, extensionPrefix); ok {
				exts = append(exts, extSpan{name, put(h.Value)})
			}
		}
	}
	if len(spec) == 0 {
		return Event{}, ErrNotCloudEvent
	}
	if string(spec) != SpecVersion {
		return Event{}, &FieldError{HeaderSpecVersion, fmt.Sprintf("%q is not supported (want %s)", spec, SpecVersion)}
	}
	all := sb.String()
	cut := func(s span) string { return all[s.at:s.end] }
	e.Key = all[:len(key)]
	e.ID, e.Type, e.Source, e.Tenant, e.Signature = cut(id), cut(typ), cut(source), cut(tenant), cut(sig)
	if e.ContentType = cut(ct); ctJSON {
		e.ContentType = ContentTypeJSON
	}
	if len(exts) > 0 {
		e.Extensions = make(map[string]string, len(exts))
		for _, x := range exts {
			e.Extensions[x.name] = cut(x.v)
		}
	}
	if ts.end > ts.at {
		t, err := time.Parse(time.RFC3339Nano, cut(ts))
		if err != nil {
			return Event{}, &FieldError{HeaderTime, "must be an RFC 3339 timestamp"}
		}
		e.Time = t.UTC()
	}
	e.Data = value
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// RejectError marks an event that can never be applied (malformed or
// invalid data, an unknown major version). Consumers park such events in a
// dead-letter topic instead of retrying them.
type RejectError struct{ Err error }

func (e *RejectError) Error() string { return "rejected event: " + e.Err.Error() }
func (e *RejectError) Unwrap() error { return e.Err }

// Reject wraps err as a RejectError.
func Reject(err error) error { return &RejectError{Err: err} }

// IsRejected reports whether err, or an error it wraps, is a RejectError or
// an envelope FieldError (a record that is not a valid event at all).
func IsRejected(err error) bool {
	var r *RejectError
	var f *FieldError
	return errors.As(err, &r) || errors.As(err, &f) || errors.Is(err, ErrNotCloudEvent)
}

// Position is where an event sits in its log: the consumer stores it with
// the event's effect so that a restart resumes exactly after it.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
	// Time is the record's timestamp in the log: when its producer wrote
	// it, just before the broker acknowledged it (zero when unknown). It
	// is not part of where the event sits; it dates the write, which an
	// event's own time (for a statement, its stored time) need not.
	Time time.Time
}
