package analytics

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/learnstream/learnstream/domain/privacy"
)

// Pseudonymizer replaces learner keys by HMAC-SHA256(salt of the tenant,
// learner key), hex encoded. The salt of a tenant is the one set with
// WithTenantSalt, or else derived from the secret as
// HMAC-SHA256(secret, "learnstream/analytics/tenant-salt/" + tenant), so one
// secret gives every tenant its own pseudonym space. The same learner always
// gets the same pseudonym within a tenant (joins across tables work), while
// pseudonyms of different tenants are unrelated.
//
// A nil *Pseudonymizer, or one without a secret and without a salt for the
// tenant, refuses to encode: pseudonymisation is on by default and is
// never silently weakened. NoPseudonymization turns it off explicitly.
type Pseudonymizer struct {
	off     bool
	privacy privacy.Pseudonyms
	secret  []byte
	salts   map[string][]byte
	derived sync.Map // tenant -> []byte
}

// NewPseudonymizer pseudonymises with per-tenant salts derived from secret.
func NewPseudonymizer(secret []byte) *Pseudonymizer {
	return &Pseudonymizer{secret: append([]byte(nil), secret...), salts: map[string][]byte{}}
}

// NewPrivacyPseudonymizer pseudonymises with the privacy pseudonyms (the
// key store's, docs/privacy.md): the learner's pseudonym in ClickHouse is
// the one a LearnerErased names, so the sink finds the rows to delete. It
// also keeps free-text responses out of every column (Private).
func NewPrivacyPseudonymizer(ps privacy.Pseudonyms) *Pseudonymizer {
	return &Pseudonymizer{privacy: ps, salts: map[string][]byte{}}
}

// Private reports whether p uses the privacy pseudonyms.
func (p *Pseudonymizer) Private() bool { return p != nil && p.privacy != nil }

// NoPseudonymization stores learner keys and names as they are.
func NoPseudonymization() *Pseudonymizer { return &Pseudonymizer{off: true} }

// WithTenantSalt returns a copy of p that uses salt for tenant.
func (p *Pseudonymizer) WithTenantSalt(tenant string, salt []byte) *Pseudonymizer {
	q := &Pseudonymizer{salts: map[string][]byte{}}
	if p != nil {
		q.off = p.off
		q.secret = p.secret
		for k, v := range p.salts {
			q.salts[k] = v
		}
	}
	q.salts[tenant] = append([]byte(nil), salt...)
	return q
}

// Enabled reports whether learner keys are pseudonymised.
func (p *Pseudonymizer) Enabled() bool { return p == nil || !p.off }

// ConfigError reports a configuration problem: not the event's fault, so it
// must stop the sink rather than send the event to a dead-letter topic.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return "analytics: " + e.Msg }

func (p *Pseudonymizer) salt(tenant string) ([]byte, error) {
	if s, ok := p.salts[tenant]; ok {
		return s, nil
	}
	if v, ok := p.derived.Load(tenant); ok {
		return v.([]byte), nil
	}
	if len(p.secret) == 0 {
		return nil, &ConfigError{fmt.Sprintf("pseudonymisation is on but tenant %q has no salt and no secret is configured (configure a secret or a tenant salt, or disable pseudonymisation explicitly)", tenant)}
	}
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("learnstream/analytics/tenant-salt/"))
	m.Write([]byte(tenant))
	s := m.Sum(nil)
	p.derived.Store(tenant, s)
	return s, nil
}

// Pseudonym returns the pseudonym of key within tenant, or key itself when
// pseudonymisation is off.
func (p *Pseudonymizer) Pseudonym(tenant, key string) (string, error) {
	if !p.Enabled() {
		return key, nil
	}
	if p == nil {
		return "", &ConfigError{"pseudonymisation is on but no Pseudonymizer is configured"}
	}
	if p.privacy != nil {
		return p.privacy.Pseudonym(tenant, key), nil
	}
	s, err := p.salt(tenant)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, s)
	m.Write([]byte(key))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])), nil
}

// learner returns the (raw key, pseudonym) pair stored for a learner: the
// raw key is kept only when pseudonymisation is off.
func (p *Pseudonymizer) learner(tenant, key string) (raw, pseudo string, err error) {
	pseudo, err = p.Pseudonym(tenant, key)
	if err != nil {
		return "", "", err
	}
	if p.Enabled() {
		return "", pseudo, nil
	}
	return key, pseudo, nil
}
