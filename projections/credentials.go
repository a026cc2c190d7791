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
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Scopes a credential may hold (xAPI 1.0.3 Communication, section 4.2).
var Scopes = []string{
	"all", "all/read", "statements/write", "statements/read", "statements/read/mine",
	"state", "define", "profile",
}

// Credential is an HTTP Basic key/secret pair. Only a salted PBKDF2 hash of
// the secret is stored.
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

const pbkdf2Iterations = 200_000

func credentialKey(key string) []byte { return append([]byte{prefixCredential, 0}, key...) }

// Credentials stores and checks credentials.
type Credentials struct {
	store *Store
	// verified caches SHA-256(key, secret) of pairs that passed PBKDF2, so
	// that each request does not pay the deliberate cost of the KDF.
	mu       sync.Mutex
	verified map[string][32]byte
}

// NewCredentials returns the credential store over store.
func NewCredentials(store *Store) *Credentials {
	return &Credentials{store: store, verified: make(map[string][32]byte)}
}

// ErrBadCredentials is returned for an unknown key or a wrong secret alike.
var ErrBadCredentials = errors.New("invalid credentials")

// Put creates or replaces the credential key with secret. Scopes are checked
// against the xAPI scope list.
func (c *Credentials) Put(_ context.Context, key, secret, name, tenant string, scopes []string) (Credential, error) {
	switch {
	case key == "":
		return Credential{}, errors.New("credential key: must not be empty")
	case len(secret) < 8:
		return Credential{}, errors.New("credential secret: must be at least 8 characters")
	case tenant == "":
		return Credential{}, errors.New("credential tenant: must not be empty")
	case len(scopes) == 0:
		return Credential{}, errors.New("credential scopes: at least one scope is required")
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return Credential{}, fmt.Errorf("credential scopes: %q is not an xAPI scope (one of %v)", s, Scopes)
		}
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	hash, err := pbkdf2.Key(sha256.New, secret, salt, pbkdf2Iterations, 32)
	if err != nil {
		return Credential{}, fmt.Errorf("hash secret: %w", err)
	}
	cred := Credential{Key: key, Name: name, Tenant: tenant, Scopes: scopes, Salt: salt, Hash: hash,
		Iterations: pbkdf2Iterations, Created: time.Now().UTC()}
	b, err := json.Marshal(cred)
	if err != nil {
		return Credential{}, err
	}
	if err := c.store.db.Update(func(txn *badger.Txn) error { return txn.Set(credentialKey(key), b) }); err != nil {
		return Credential{}, fmt.Errorf("store credential %s: %w", key, err)
	}
	c.mu.Lock()
	delete(c.verified, key)
	c.mu.Unlock()
	return cred, nil
}

// Authenticate returns the credential of key if secret matches.
func (c *Credentials) Authenticate(_ context.Context, key, secret string) (Credential, error) {
	var cred Credential
	err := c.store.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(credentialKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrBadCredentials
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &cred) })
	})
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

// GenerateSecret returns a random secret for a new credential.
func GenerateSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
