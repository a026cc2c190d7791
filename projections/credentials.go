package projections

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// CredentialsName is the credentials projection's name.
const CredentialsName = "credentials"

// DefaultCredentialsTopic is the compacted topic credential events live on
// (streams.TopicCredentials), keyed by credential key.
const DefaultCredentialsTopic = "learnstream.credentials.v1"

// Credential event types. A put carries the whole credential with its
// secret hashed, never the secret; a revocation is a tombstone (no value)
// under the credential's key, so compaction eventually drops both.
const (
	TypeCredentialPut     = "learnstream.credential.put.v1"
	TypeCredentialRevoked = "learnstream.credential.revoked.v1"
)

// ScopeOperator is learnstream's own scope, beyond xAPI's: the cluster's
// operator (projection status and replays, credentials of any tenant).
// Only the bootstrap credential and credentials an operator creates with
// it hold it; a tenant's "all" does not include it.
const ScopeOperator = "operator"

// ScopePrivacy is the data protection officer's scope: erase, export and
// read the access audit of a tenant's learners, and set their consent.
// Like ScopeOperator it is not part of "all": a content player's
// credential must not be able to export or erase people.
const ScopePrivacy = "privacy"

// ScopeWebhooks manages the tenant's webhook subscriptions (/v1/webhooks)
// and nothing else: a credential for the integration team that cannot
// read or write learning records through the API.
const ScopeWebhooks = "webhooks"

// Scopes a credential may hold: the xAPI 1.0.3 scopes (Communication,
// section 4.2), ScopeOperator and ScopePrivacy.
var Scopes = []string{
	"all", "all/read", "statements/write", "statements/read", "statements/read/mine",
	"state", "define", "profile", ScopeOperator, ScopePrivacy, ScopeWebhooks,
}

// Credential is an HTTP Basic key/secret pair. Only a salted PBKDF2 hash of
// the secret is stored, on the log as in the projection.
type Credential struct {
	Key        string    `json:"key"`
	Name       string    `json:"name"`
	Tenant     string    `json:"tenant"`
	Scopes     []string  `json:"scopes"`
	Salt       []byte    `json:"salt"`
	Hash       []byte    `json:"hash"`
	Iterations int       `json:"iterations"`
	Created    time.Time `json:"created"`
}

// Has reports whether c holds any of the scopes.
func (c Credential) Has(scopes ...string) bool {
	for _, s := range scopes {
		if slices.Contains(c.Scopes, s) {
			return true
		}
	}
	return false
}

// validate checks a credential as read from an event.
func (c Credential) validate() error {
	switch {
	case c.Key == "":
		return errors.New("data.key: must not be empty")
	case c.Tenant == "":
		return errors.New("data.tenant: must not be empty")
	case len(c.Scopes) == 0:
		return errors.New("data.scopes: at least one scope is required")
	case len(c.Salt) < 8:
		return errors.New("data.salt: at least 8 bytes")
	case len(c.Hash) < 16:
		return errors.New("data.hash: at least 16 bytes")
	case c.Iterations < minIterations:
		return fmt.Errorf("data.iterations: at least %d", minIterations)
	}
	for _, s := range c.Scopes {
		if !slices.Contains(Scopes, s) {
			return fmt.Errorf("data.scopes: %q is not a scope (one of %v)", s, Scopes)
		}
	}
	return nil
}

// pbkdf2Iterations is the cost of hashing a new secret; minIterations the
// least a stored credential may have.
const (
	pbkdf2Iterations = 200_000
	minIterations    = 1000
)

// legacyCredentialKey is where releases before the credentials topic kept
// credentials; ImportLegacy moves them onto the topic.
func legacyCredentialKey(key string) []byte { return append([]byte{prefixCredential, 0}, key...) }

// CredentialPublisher puts credential events on the log.
type CredentialPublisher interface {
	PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
}

// Credentials is the credentials projection: the read model of the
// credentials topic, which checks HTTP Basic credentials. Changes go
// through the topic (Put, Revoke publish and wait until this process has
// applied them), so a rebuilt projections directory rebuilds them too.
type Credentials struct {
	*Projection
	waiters *Waiters
	pub     CredentialPublisher
	topic   string
	source  string
	// iterations is the PBKDF2 cost of the secrets Put hashes.
	iterations int

	// verified caches SHA-256(key, secret) of pairs that passed PBKDF2, so
	// that each request does not pay the deliberate cost of the KDF. An
	// applied change of the key drops its entry.
	mu       sync.Mutex
	verified map[string][32]byte
	// read keeps what Get read, with the version of the space it was read
	// at: only applied events change a credential, and each moves the
	// version, so an entry read at the current version is what the store
	// holds. Every request authenticates, and the read was a transaction
	// and a lookup through every level of the store. Only credentials
	// that exist are kept: keys an attacker makes up are not.
	read map[string]readCredential
}

// readCredential is a credential as Get read it at version at.
type readCredential struct {
	cred Credential
	at   spaceVersion
}

// CredentialsConfig configures the credentials projection.
type CredentialsConfig struct {
	// Publisher puts the events on Topic; required.
	Publisher CredentialPublisher
	// Topic defaults to DefaultCredentialsTopic.
	Topic string
	// Source is the CloudEvents source of the events (the API's URL).
	Source string
	// Iterations is the PBKDF2 cost of the secrets Put hashes: 0 means
	// the production default (200 000); tests lower it (at least 1000,
	// what the projection accepts) so that each credential does not cost
	// them a deliberately slow hash. Every credential keeps its own
	// count, so changing it never invalidates stored secrets.
	Iterations int
}

// NewCredentials returns the credentials projection over store.
func NewCredentials(store *Store, waiters *Waiters, cfg CredentialsConfig) (*Credentials, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("credentials: a publisher is required")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultCredentialsTopic
	}
	if cfg.Source == "" {
		cfg.Source = "learnstream"
	}
	switch {
	case cfg.Iterations == 0:
		cfg.Iterations = pbkdf2Iterations
	case cfg.Iterations < minIterations:
		return nil, fmt.Errorf("credentials: Iterations must be at least %d, got %d", minIterations, cfg.Iterations)
	}
	c := &Credentials{waiters: waiters, pub: cfg.Publisher, topic: cfg.Topic, source: cfg.Source,
		iterations: cfg.Iterations, verified: make(map[string][32]byte),
		read: make(map[string]readCredential)}
	p, err := NewProjection(store, credentialsModel{c}, waiters)
	if err != nil {
		return nil, err
	}
	c.Projection = p
	return c, nil
}

// Topic is the topic the projection reads.
func (c *Credentials) Topic() string { return c.topic }

// ErrBadCredentials is returned for an unknown key or a wrong secret alike.
var ErrBadCredentials = errors.New("invalid credentials")

// ErrUnknownCredential is returned by Get and Revoke for a key that does not
// exist.
var ErrUnknownCredential = errors.New("unknown credential")

// CredentialError names the field of a new credential at fault and the
// rule it broke.
type CredentialError struct{ Field, Rule string }

func (e *CredentialError) Error() string { return "credential " + e.Field + ": " + e.Rule }

// NewCredential checks the fields of a new credential and hashes its
// secret. Scopes are checked against Scopes.
func NewCredential(key, secret, name, tenant string, scopes []string, now time.Time) (Credential, error) {
	return newCredential(key, secret, name, tenant, scopes, now, pbkdf2Iterations)
}

func newCredential(key, secret, name, tenant string, scopes []string, now time.Time, iterations int) (Credential, error) {
	switch {
	case key == "":
		return Credential{}, &CredentialError{"key", "must not be empty"}
	case strings.ContainsAny(key, ":\x00"):
		return Credential{}, &CredentialError{"key", "must not contain ':' (HTTP Basic) or NUL"}
	case len(secret) < 8:
		return Credential{}, &CredentialError{"secret", "must be at least 8 characters"}
	case tenant == "":
		return Credential{}, &CredentialError{"tenant", "must not be empty"}
	case len(scopes) == 0:
		return Credential{}, &CredentialError{"scopes", "at least one scope is required"}
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return Credential{}, &CredentialError{"scopes", fmt.Sprintf("%q is not a scope (one of %v)", s, Scopes)}
		}
	}
	if name == "" {
		name = key
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	hash, err := pbkdf2.Key(sha256.New, secret, salt, iterations, 32)
	if err != nil {
		return Credential{}, fmt.Errorf("hash secret: %w", err)
	}
	return Credential{Key: key, Name: name, Tenant: tenant, Scopes: slices.Clone(scopes), Salt: salt, Hash: hash,
		Iterations: iterations, Created: now.UTC()}, nil
}

// CredentialEvent is the put event of cred.
func CredentialEvent(cred Credential, source string, now time.Time) (event.Event, error) {
	b, err := json.Marshal(cred)
	if err != nil {
		return event.Event{}, err
	}
	return event.New(GenerateSecret()[:32], TypeCredentialPut, source, cred.Tenant, cred.Key, now, b)
}

// Put creates or replaces the credential key with secret and returns once
// this process's projection has applied it.
func (c *Credentials) Put(ctx context.Context, key, secret, name, tenant string, scopes []string) (Credential, error) {
	now := time.Now()
	cred, err := newCredential(key, secret, name, tenant, scopes, now, c.iterations)
	if err != nil {
		return Credential{}, err
	}
	e, err := CredentialEvent(cred, c.source, now)
	if err != nil {
		return Credential{}, err
	}
	if err := c.publish(ctx, e); err != nil {
		return Credential{}, fmt.Errorf("store credential %s: %w", key, err)
	}
	return cred, nil
}

// Ensure makes key authenticate with secret, holding exactly tenant and
// scopes: the bootstrap credential at start. It publishes only when the
// projection does not already hold that.
func (c *Credentials) Ensure(ctx context.Context, key, secret, name, tenant string, scopes []string) error {
	if got, err := c.Authenticate(ctx, key, secret); err == nil &&
		got.Tenant == tenant && got.Name == name && slices.Equal(got.Scopes, scopes) {
		return nil
	}
	_, err := c.Put(ctx, key, secret, name, tenant, scopes)
	return err
}

// Revoke removes the credential key; requests with it fail from the moment
// Revoke returns (in this process; others as they apply the event).
func (c *Credentials) Revoke(ctx context.Context, key string) error {
	cred, err := c.Get(ctx, key)
	if err != nil {
		return err
	}
	e, err := event.New(GenerateSecret()[:32], TypeCredentialRevoked, c.source, cred.Tenant, key, time.Now(), nil)
	if err != nil {
		return err
	}
	if err := c.publish(ctx, e); err != nil {
		return fmt.Errorf("revoke credential %s: %w", key, err)
	}
	return nil
}

func (c *Credentials) publish(ctx context.Context, e event.Event) error {
	c.waiters.Register(e.ID)
	if err := c.pub.PublishEvents(ctx, c.topic, e); err != nil {
		c.waiters.Forget(e.ID)
		return err
	}
	if _, err := c.waiters.Wait(ctx, e.ID); err != nil {
		return fmt.Errorf("published, not yet applied: %w", err)
	}
	return nil
}

// Get returns the credential key (its hash included).
func (c *Credentials) Get(_ context.Context, key string) (Credential, error) {
	// The version is taken before the read: a change applied during it
	// moves the version again, and the next Get reads once more.
	at := c.version()
	c.mu.Lock()
	r, ok := c.read[key]
	c.mu.Unlock()
	if ok && r.at == at {
		return r.cred.clone(), nil
	}
	var cred Credential
	err := c.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(credKey(sp, key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownCredential
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &cred) })
	})
	c.mu.Lock()
	if err == nil {
		c.read[key] = readCredential{cred: cred.clone(), at: at}
	} else {
		delete(c.read, key)
	}
	c.mu.Unlock()
	return cred, err
}

// clone returns c with slices of its own: what Get returns is the
// caller's to change.
func (c Credential) clone() Credential {
	c.Scopes, c.Salt, c.Hash = slices.Clone(c.Scopes), slices.Clone(c.Salt), slices.Clone(c.Hash)
	return c
}

// List returns the credentials of tenant ("" for every tenant), by key.
func (c *Credentials) List(_ context.Context, tenant string) ([]Credential, error) {
	var out []Credential
	err := c.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("k")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var cred Credential
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &cred) }); err != nil {
				return fmt.Errorf("credential %q: %w", it.Item().Key(), err)
			}
			if tenant == "" || cred.Tenant == tenant {
				out = append(out, cred)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// credKey is where the projection keeps a credential (k\x00<key>, apart
// from the space's offsets).
func credKey(sp Space, key string) []byte { return sp.Key("k", key) }

// Authenticate returns the credential of key if secret matches.
func (c *Credentials) Authenticate(ctx context.Context, key, secret string) (Credential, error) {
	cred, err := c.Get(ctx, key)
	if errors.Is(err, ErrUnknownCredential) {
		return Credential{}, ErrBadCredentials
	}
	if err != nil {
		return Credential{}, err
	}
	fast := sha256.Sum256([]byte(key + "\x00" + secret))
	c.mu.Lock()
	known, ok := c.verified[key]
	c.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(known[:], fast[:]) == 1 {
		return cred, nil
	}
	hash, err := pbkdf2.Key(sha256.New, secret, cred.Salt, cred.Iterations, len(cred.Hash))
	if err != nil || subtle.ConstantTimeCompare(hash, cred.Hash) != 1 {
		return Credential{}, ErrBadCredentials
	}
	c.mu.Lock()
	c.verified[key] = fast
	c.mu.Unlock()
	return cred, nil
}

func (c *Credentials) forget(key string) {
	c.mu.Lock()
	delete(c.verified, key)
	c.mu.Unlock()
}

// ImportLegacy moves credentials an earlier release kept only in the store
// onto the topic (hashes as they are), then deletes the old copies. It
// returns how many it moved.
func (c *Credentials) ImportLegacy(ctx context.Context) (int, error) {
	var legacy []Credential
	prefix := []byte{prefixCredential, 0}
	err := c.store.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var cred Credential
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &cred) }); err != nil {
				return fmt.Errorf("legacy credential %q: %w", it.Item().Key(), err)
			}
			legacy = append(legacy, cred)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, cred := range legacy {
		if _, err := c.Get(ctx, cred.Key); err == nil {
			// The topic already has a newer word on this key.
		} else if !errors.Is(err, ErrUnknownCredential) {
			return i, err
		} else {
			e, err := CredentialEvent(cred, c.source, time.Now())
			if err != nil {
				return i, err
			}
			if err := c.publish(ctx, e); err != nil {
				return i, fmt.Errorf("import credential %s: %w", cred.Key, err)
			}
		}
		if err := c.store.update(func(txn *badger.Txn) error { return txn.Delete(legacyCredentialKey(cred.Key)) }); err != nil {
			return i, err
		}
	}
	return len(legacy), nil
}

type credentialsModel struct{ c *Credentials }

func (credentialsModel) Name() string { return CredentialsName }

func (m credentialsModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	switch e.Type {
	case TypeCredentialPut:
		var cred Credential
		d := json.NewDecoder(strings.NewReader(string(e.Data)))
		d.DisallowUnknownFields()
		if err := d.Decode(&cred); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		if err := cred.validate(); err != nil {
			return 0, event.Reject(err)
		}
		if cred.Key != e.Key || cred.Tenant != e.Tenant {
			return 0, event.Reject(errors.New("data: key and tenant must match the record's key and tenant header"))
		}
		b, err := json.Marshal(cred)
		if err != nil {
			return 0, err
		}
		m.c.forget(cred.Key)
		return Stored, txn.Set(credKey(sp, cred.Key), b)
	case TypeCredentialRevoked:
		if e.Key == "" {
			return 0, event.Reject(errors.New("key: a revocation names the credential in the record key"))
		}
		m.c.forget(e.Key)
		return Stored, txn.Delete(credKey(sp, e.Key))
	}
	return 0, event.Reject(fmt.Errorf("ce_type: %q is not a credential event type", e.Type))
}

// GenerateSecret returns a random secret for a new credential.
func GenerateSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
