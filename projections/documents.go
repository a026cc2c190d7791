package projections

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// DocumentsName is the documents projection's name.
const DocumentsName = "documents"

// TypeDocument is the event of one write to the State, Activity Profile or
// Agent Profile resource (topic learnstream.documents.v1).
const TypeDocument = "learnstream.xapi.document.v1"

// Document resources.
const (
	DocState           = "state"
	DocActivityProfile = "activityProfile"
	DocAgentProfile    = "agentProfile"
)

// Document operations.
const (
	OpPut       = "put"       // replace
	OpPost      = "post"      // merge JSON objects, or create
	OpDelete    = "delete"    // one document
	OpDeleteAll = "deleteAll" // every state document of activity+agent(+registration)
)

// DocumentWrite is the data of a TypeDocument event. The preconditions the
// API checked are carried along and checked again when the event is
// applied, so a write that raced another one never overwrites it: it is
// applied as a Conflict and changes nothing.
type DocumentWrite struct {
	Resource     string    `json:"resource"`
	Op           string    `json:"op"`
	ActivityID   string    `json:"activityId,omitempty"`
	Agent        string    `json:"agent,omitempty"` // ActorKey
	Registration string    `json:"registration,omitempty"`
	ID           string    `json:"id,omitempty"` // stateId or profileId
	ContentType  string    `json:"contentType,omitempty"`
	Content      []byte    `json:"content,omitempty"`
	Updated      time.Time `json:"updated"`
	// IfMatch is a quoted ETag (or "*") the current document must match.
	IfMatch string `json:"ifMatch,omitempty"`
	// IfNoneMatch "*" requires that no document exists.
	IfNoneMatch string `json:"ifNoneMatch,omitempty"`
	// MustNotExist: the write may create, never overwrite (409 otherwise).
	// Earlier versions set it on a profile PUT without either header; the
	// API now refuses those, and records in the log still carry it.
	MustNotExist bool `json:"mustNotExist,omitempty"`
}

// Document is a stored document.
type Document struct {
	ContentType string    `json:"contentType"`
	Content     []byte    `json:"content"`
	ETag        string    `json:"etag"`
	Updated     time.Time `json:"updated"`
}

// ETag returns the ETag of content: its SHA-1 in hex, quoted (xAPI
// Communication 3.1).
func ETag(content []byte) string {
	sum := sha1.Sum(content)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// Documents is the read model of State, Activity Profile and Agent Profile
// documents.
type Documents struct {
	*Projection
}

// NewDocuments returns the documents projection over store.
func NewDocuments(store *Store, waiters *Waiters) (*Documents, error) {
	p, err := NewProjection(store, documentsModel{store: store}, waiters)
	if err != nil {
		return nil, err
	}
	return &Documents{p}, nil
}

type documentsModel struct{ store *Store }

func (documentsModel) Name() string { return DocumentsName }

// DocumentKey addresses a document, or with ID empty the set of documents
// of one context.
type DocumentKey struct {
	Resource     string
	ActivityID   string
	Agent        string // ActorKey
	Registration string
	ID           string
}

// Key layout: d tenant resource context... id -> Document JSON, where the
// context is activity, agent, registration for state; activity for
// activity profiles; agent for agent profiles. Registration "" is the
// state outside any registration.
func (k DocumentKey) parts(tenant string) []string {
	switch k.Resource {
	case DocState:
		return []string{"d", tenant, k.Resource, k.ActivityID, k.Agent, strings.ToLower(k.Registration)}
	case DocActivityProfile:
		return []string{"d", tenant, k.Resource, k.ActivityID}
	default:
		return []string{"d", tenant, k.Resource, k.Agent}
	}
}

func (k DocumentKey) key(sp Space, tenant string) []byte {
	return sp.Key(append(k.parts(tenant), k.ID)...)
}

func (m documentsModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		return m.forget(txn, sp, e, pe)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(TypeDocument)
	if name != want {
		return Unchanged, nil
	}
	if major != wantMajor {
		return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	var w DocumentWrite
	if err := json.Unmarshal(e.Data, &w); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if err := w.validate(); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	dk := DocumentKey{Resource: w.Resource, ActivityID: w.ActivityID, Agent: w.Agent, Registration: w.Registration, ID: w.ID}
	if w.Op == OpDeleteAll {
		return deleteAll(txn, sp, e.Tenant, dk)
	}
	key := dk.key(sp, e.Tenant)
	cur, found, err := readDocument(txn, key)
	if err != nil {
		return 0, err
	}
	if !PreconditionHolds(cur, found, w.IfMatch, w.IfNoneMatch) || (w.MustNotExist && found) {
		return Conflict, nil
	}
	switch w.Op {
	case OpDelete:
		if !found {
			return Unchanged, nil
		}
		return Stored, txn.Delete(key)
	case OpPost:
		if found {
			merged, err := MergeJSON(cur, w.ContentType, w.Content)
			if err != nil {
				// The document changed into something that cannot be
				// merged since the API checked it.
				return Conflict, nil
			}
			w.Content, w.ContentType = merged, cur.ContentType
		}
	}
	doc := Document{ContentType: w.ContentType, Content: w.Content, ETag: ETag(w.Content), Updated: w.Updated.UTC()}
	b, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	return Stored, txn.Set(key, b)
}

func (w DocumentWrite) validate() error {
	switch w.Resource {
	case DocState:
		if w.ActivityID == "" || w.Agent == "" {
			return errors.New("state: activityId and agent are required")
		}
	case DocActivityProfile:
		if w.ActivityID == "" {
			return errors.New("activityProfile: activityId is required")
		}
	case DocAgentProfile:
		if w.Agent == "" {
			return errors.New("agentProfile: agent is required")
		}
	default:
		return fmt.Errorf("resource: %q is not state, activityProfile or agentProfile", w.Resource)
	}
	switch w.Op {
	case OpPut, OpPost, OpDelete:
		if w.ID == "" {
			return fmt.Errorf("id: is required for %s", w.Op)
		}
	case OpDeleteAll:
		if w.Resource != DocState {
			return errors.New("op: deleteAll is only for state")
		}
	default:
		return fmt.Errorf("op: %q is not put, post, delete or deleteAll", w.Op)
	}
	return nil
}

// PreconditionHolds evaluates If-Match and If-None-Match against the
// current document (RFC 2616 14.24, 14.26).
func PreconditionHolds(cur Document, found bool, ifMatch, ifNoneMatch string) bool {
	if ifMatch != "" {
		if !found || !etagListed(ifMatch, cur.ETag) {
			return false
		}
	}
	if ifNoneMatch != "" && found && etagListed(ifNoneMatch, cur.ETag) {
		return false
	}
	return true
}

// etagListed reports whether header ("*" or a list of quoted ETags)
// matches etag.
func etagListed(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == etag || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// IsJSONObject reports whether a document is JSON and an object, the only
// documents POST may merge.
func IsJSONObject(contentType string, content []byte) bool {
	if !IsJSONType(contentType) {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(content, &m) == nil && m != nil
}

// IsJSONType reports whether a Content-Type names JSON.
func IsJSONType(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/json")
}

// MergeJSON merges a posted JSON object into the current document (xAPI
// Communication 2.3.4: top-level properties of the new object replace
// those of the old one).
func MergeJSON(cur Document, contentType string, content []byte) ([]byte, error) {
	if !IsJSONObject(cur.ContentType, cur.Content) || !IsJSONObject(contentType, content) {
		return nil, errors.New("both documents must be JSON objects to merge")
	}
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(cur.Content, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(content, &b); err != nil {
		return nil, err
	}
	for k, v := range b {
		a[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func deleteAll(txn *badger.Txn, sp Space, tenant string, dk DocumentKey) (Outcome, error) {
	parts := dk.parts(tenant)
	if dk.Registration == "" {
		// Without a registration, every registration's state goes.
		parts = parts[:len(parts)-1]
	}
	keys, err := keysUnder(txn, sp.Prefix(parts...))
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return 0, err
		}
	}
	return Stored, nil
}

func readDocument(txn *badger.Txn, key []byte) (Document, bool, error) {
	var d Document
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &d) })
	return d, err == nil, err
}

// Document returns one document.
func (p *Documents) Document(_ context.Context, tenant string, k DocumentKey) (Document, error) {
	var d Document
	err := p.View(func(txn *badger.Txn, sp Space) error {
		var found bool
		var err error
		d, found, err = readDocument(txn, k.key(sp, tenant))
		if err == nil && !found {
			return ErrNotFound
		}
		return err
	})
	return d, err
}

// DocumentIDs lists the ids of a context's documents updated after since
// (zero: all), sorted. For state without a registration it covers every
// registration.
func (p *Documents) DocumentIDs(_ context.Context, tenant string, k DocumentKey, since time.Time) ([]string, error) {
	ids := []string{}
	err := p.View(func(txn *badger.Txn, sp Space) error {
		parts := k.parts(tenant)
		anyRegistration := k.Resource == DocState && k.Registration == ""
		if anyRegistration {
			parts = parts[:len(parts)-1]
		}
		prefix := sp.Prefix(parts...)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		seen := map[string]bool{}
		for it.Rewind(); it.Valid(); it.Next() {
			rest := string(it.Item().Key()[len(prefix):])
			if anyRegistration {
				_, rest, _ = strings.Cut(rest, "\x00")
			}
			if seen[rest] {
				continue
			}
			if !since.IsZero() {
				var d Document
				if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &d) }); err != nil {
					return err
				}
				if !d.Updated.After(since) {
					continue
				}
			}
			seen[rest] = true
			ids = append(ids, rest)
		}
		return nil
	})
	slices.Sort(ids)
	return ids, err
}

// Count returns how many documents tenant has.
func (p *Documents) Count(_ context.Context, tenant string) (int, error) {
	return p.CountKeys("d", tenant)
}

// AgentDocumentKeys lists the keys of every State and Agent Profile
// document of agent (an ActorKey), for a learner's export. State is keyed
// by activity first, so this scans the tenant's state keys (without their
// values); an export is rare, the index a faster answer would need would
// cost a write on every state write.
func (p *Documents) AgentDocumentKeys(_ context.Context, tenant, agent string) ([]DocumentKey, error) {
	var out []DocumentKey
	err := p.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = sp.Prefix("d", tenant, DocState)
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			parts := strings.Split(string(it.Item().Key()[len(opts.Prefix):]), "\x00")
			if len(parts) == 4 && parts[1] == agent {
				out = append(out, DocumentKey{Resource: DocState, ActivityID: parts[0], Agent: agent, Registration: parts[2], ID: parts[3]})
			}
		}
		it.Close()
		opts.Prefix = sp.Prefix("d", tenant, DocAgentProfile, agent)
		it = txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, DocumentKey{Resource: DocAgentProfile, Agent: agent, ID: string(it.Item().Key()[len(opts.Prefix):])})
		}
		return nil
	})
	return out, err
}
