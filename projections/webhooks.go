package projections

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
)

// WebhooksName is the webhook subscriptions projection's name.
const WebhooksName = "webhooks"

// DefaultWebhooksTopic is the compacted topic subscriptions live on,
// keyed by subscription id.
const DefaultWebhooksTopic = "learnstream.webhooks.v1"

// Subscription event types: a put carries the whole subscription with its
// secrets sealed; a deletion is a tombstone under the subscription's id.
const (
	TypeWebhookPut     = "learnstream.webhook.subscription.put.v1"
	TypeWebhookDeleted = "learnstream.webhook.subscription.deleted.v1"
)

// ErrUnknownWebhook is answered for a subscription that does not exist in
// the caller's tenant.
var ErrUnknownWebhook = errors.New("unknown webhook subscription")

// sealedPrefix marks a sealed value in a stored subscription.
const sealedPrefix = "sealed:v1:"

// Webhooks is the read model of the subscriptions topic. Every process
// keeps all of it: the API answers from it and every delivery instance
// delivers from it. Signing secrets and forwarding passwords are sealed
// (AES-256-GCM under a key derived from the install's signing key) on the
// log and in the store, and opened only when read. Learner filters are
// kept as the learners' pseudonyms (when the install has them), so that
// nothing here names a learner once they are erased.
type Webhooks struct {
	*Projection
	waiters *Waiters
	pub     CredentialPublisher
	topic   string
	source  string
	aead    cipher.AEAD
	ps      privacy.Pseudonyms

	mu      sync.Mutex
	changed []chan struct{}
	// legacy are the subscriptions (tenant NUL id) whose latest record
	// on the log still names learners by key: converted in the store,
	// to be published again pseudonymised (RepublishLegacy).
	legacy map[string]bool

	filtersMu sync.Mutex
	filters   *cachedFilters
}

// WebhooksConfig configures the subscriptions projection.
type WebhooksConfig struct {
	Publisher CredentialPublisher
	// Topic defaults to DefaultWebhooksTopic.
	Topic  string
	Source string
	// SealKey is the install's signing key; the sealing key derives from
	// it, so every process of the install opens what another sealed.
	SealKey []byte
	// Pseudonyms are the install's learner pseudonyms (the key store):
	// learner filters are stored and published as pseudonyms, and those
	// found with learner keys (stored before) are converted. Nil (privacy
	// off) keeps learner keys.
	Pseudonyms privacy.Pseudonyms
}

// NewWebhooks returns the subscriptions projection over store.
func NewWebhooks(store *Store, waiters *Waiters, cfg WebhooksConfig) (*Webhooks, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("webhooks: a publisher is required")
	}
	if len(cfg.SealKey) < 16 {
		return nil, errors.New("webhooks: a sealing key of at least 16 bytes is required")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultWebhooksTopic
	}
	if cfg.Source == "" {
		cfg.Source = "learnstream"
	}
	m := hmac.New(sha256.New, cfg.SealKey)
	m.Write([]byte("learnstream webhook secrets v1"))
	aead, err := newAEAD(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	w := &Webhooks{waiters: waiters, pub: cfg.Publisher, topic: cfg.Topic, source: cfg.Source, aead: aead, ps: cfg.Pseudonyms,
		legacy: map[string]bool{}}
	p, err := NewProjection(store, webhooksModel{w}, waiters)
	if err != nil {
		return nil, err
	}
	w.Projection = p
	if err := w.convertStored(); err != nil {
		return nil, fmt.Errorf("webhooks: pseudonymise stored learner filters: %w", err)
	}
	return w, nil
}

// convertStored rewrites the subscriptions this store kept with learner
// keys (before learner filters were pseudonymised, or while privacy was
// off) with pseudonyms, and notes them to be published again.
func (w *Webhooks) convertStored() error {
	if w.ps == nil {
		return nil
	}
	return w.Update(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("s")
		it := txn.NewIterator(opts)
		defer it.Close()
		var keys, vals [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			var sub webhook.Subscription
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &sub) }); err != nil {
				return fmt.Errorf("subscription %q: %w", it.Item().Key(), err)
			}
			if !sub.Filter.Pseudonymize(sub.Tenant, w.ps) {
				continue
			}
			b, err := json.Marshal(sub)
			if err != nil {
				return err
			}
			keys, vals = append(keys, it.Item().KeyCopy(nil)), append(vals, b)
			w.noteLegacy(sub.Tenant, sub.ID, true)
		}
		for i := range keys {
			if err := txn.Set(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// pseudonymized returns sub with its learner filter as pseudonyms (when
// the install has them).
func (w *Webhooks) pseudonymized(sub webhook.Subscription) webhook.Subscription {
	if w.ps != nil && len(sub.Filter.Learners) > 0 {
		sub.Filter.Learners = slices.Clone(sub.Filter.Learners)
		sub.Filter.Pseudonymize(sub.Tenant, w.ps)
	}
	return sub
}

func (w *Webhooks) noteLegacy(tenant, id string, legacy bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if legacy {
		w.legacy[tenant+"\x00"+id] = true
	} else {
		delete(w.legacy, tenant+"\x00"+id)
	}
}

// HasLegacy reports whether a subscription waits to be published again
// with its learners as pseudonyms.
func (w *Webhooks) HasLegacy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.legacy) > 0
}

// RepublishLegacy publishes again, pseudonymised, each subscription whose
// latest record on the log names learners by key, so that the compacted
// topic drops that record. The caller runs it once the projection caught
// up with the topic: a record published since (a change, or another
// process's republication) then already took the subscription off the
// list, and it is not published twice. It answers how many it published.
func (w *Webhooks) RepublishLegacy(ctx context.Context) (int, error) {
	w.mu.Lock()
	ids := slices.Collect(maps.Keys(w.legacy))
	w.mu.Unlock()
	slices.Sort(ids)
	n := 0
	for _, k := range ids {
		tenant, id, _ := strings.Cut(k, "\x00")
		w.mu.Lock()
		still := w.legacy[k]
		w.mu.Unlock()
		if !still {
			continue
		}
		sub, err := w.Get(ctx, tenant, id)
		if errors.Is(err, ErrUnknownWebhook) {
			w.noteLegacy(tenant, id, false)
			continue
		}
		if err != nil {
			return n, err
		}
		// Applying it takes it off the list.
		if err := w.Put(ctx, sub); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Topic is the topic the projection reads.
func (w *Webhooks) Topic() string { return w.topic }

// Changed returns a channel that receives (without blocking the
// projection) after each applied change.
func (w *Webhooks) Changed() <-chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.changed = append(w.changed, ch)
	w.mu.Unlock()
	return ch
}

func (w *Webhooks) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.changed {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *Webhooks) seal(s, aad string) string {
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(sealValue(w.aead, []byte(s), []byte(aad)))
}

func (w *Webhooks) open(s, aad string) (string, error) {
	if !strings.HasPrefix(s, sealedPrefix) {
		return "", errors.New("value is not sealed")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, sealedPrefix))
	if err != nil {
		return "", errors.New("sealed value is not base64url of nonce and ciphertext")
	}
	plain, err := openValue(w.aead, b, []byte(aad))
	switch {
	case errors.Is(err, errSealedShort):
		return "", errors.New("sealed value is not base64url of nonce and ciphertext")
	case err != nil:
		return "", errors.New("sealed value does not open under this install's key")
	}
	return string(plain), nil
}

func sealAAD(sub *webhook.Subscription, field string) string {
	return sub.Tenant + "\x00" + sub.ID + "\x00" + field
}

// sealed returns sub as it is stored: secrets and password sealed.
func (w *Webhooks) sealed(sub webhook.Subscription) webhook.Subscription {
	out := sub
	out.Secrets = make([]webhook.Secret, len(sub.Secrets))
	for i, s := range sub.Secrets {
		out.Secrets[i] = webhook.Secret{Value: w.seal(s.Value, sealAAD(&sub, "secret")), Expires: s.Expires}
	}
	if sub.Password != "" {
		out.Password = w.seal(sub.Password, sealAAD(&sub, "password"))
	}
	return out
}

// opened returns a stored subscription with its secrets in clear.
func (w *Webhooks) opened(sub webhook.Subscription) (webhook.Subscription, error) {
	out := sub
	out.Secrets = make([]webhook.Secret, len(sub.Secrets))
	for i, s := range sub.Secrets {
		v, err := w.open(s.Value, sealAAD(&sub, "secret"))
		if err != nil {
			return out, fmt.Errorf("subscription %s: secrets[%d]: %w", sub.ID, i, err)
		}
		out.Secrets[i] = webhook.Secret{Value: v, Expires: s.Expires}
	}
	if sub.Password != "" {
		v, err := w.open(sub.Password, sealAAD(&sub, "password"))
		if err != nil {
			return out, fmt.Errorf("subscription %s: password: %w", sub.ID, err)
		}
		out.Password = v
	}
	return out, nil
}

// Put stores sub (validated by the caller), its learner filter as
// pseudonyms, and returns once this process's projection has applied it.
func (w *Webhooks) Put(ctx context.Context, sub webhook.Subscription) error {
	b, err := json.Marshal(w.sealed(w.pseudonymized(sub)))
	if err != nil {
		return err
	}
	e, err := event.New(GenerateSecret()[:32], TypeWebhookPut, w.source, sub.Tenant, sub.ID, time.Now(), b)
	if err != nil {
		return err
	}
	return w.publish(ctx, e)
}

// Delete removes the subscription id of tenant.
func (w *Webhooks) Delete(ctx context.Context, tenant, id string) error {
	if _, err := w.Get(ctx, tenant, id); err != nil {
		return err
	}
	e, err := event.New(GenerateSecret()[:32], TypeWebhookDeleted, w.source, tenant, id, time.Now(), nil)
	if err != nil {
		return err
	}
	return w.publish(ctx, e)
}

func (w *Webhooks) publish(ctx context.Context, e event.Event) error {
	w.waiters.Register(e.ID)
	if err := w.pub.PublishEvents(ctx, w.topic, e); err != nil {
		w.waiters.Forget(e.ID)
		return fmt.Errorf("webhook subscription %s: %w", e.Key, err)
	}
	if _, err := w.waiters.Wait(ctx, e.ID); err != nil {
		return fmt.Errorf("webhook subscription %s: published, not yet applied: %w", e.Key, err)
	}
	return nil
}

func webhookKey(sp Space, tenant, id string) []byte { return sp.Key("s", tenant, id) }

// Get returns the subscription id of tenant, secrets opened.
func (w *Webhooks) Get(_ context.Context, tenant, id string) (webhook.Subscription, error) {
	var sub webhook.Subscription
	err := w.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(webhookKey(sp, tenant, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownWebhook
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &sub) })
	})
	if err != nil {
		return sub, err
	}
	return w.opened(sub)
}

// List returns the subscriptions of tenant ("" for every tenant), by id,
// secrets opened.
func (w *Webhooks) List(ctx context.Context, tenant string) ([]webhook.Subscription, error) {
	out, err := w.sealedList(tenant)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i], err = w.opened(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Filters returns every subscription as stored, secrets still sealed: what
// matching events needs, without the cost of opening them. The delivery
// queue asks before every batch of every topic it matches, so the list
// is kept while the space's version holds: only applied events change
// the subscriptions once the projection is open, and each moves the
// version after it commits. The list is shared between callers; they only
// read it.
func (w *Webhooks) Filters() ([]webhook.Subscription, error) {
	w.filtersMu.Lock()
	defer w.filtersMu.Unlock()
	if f := w.filters; f != nil && f.at == w.version() {
		return f.list, nil
	}
	// Before the read: a commit while it reads moves the version past
	// this, and the next call reads again.
	at := w.version()
	list, err := w.sealedList("")
	if err != nil {
		return nil, err
	}
	w.filters = &cachedFilters{at: at, list: slices.Clip(list)}
	return w.filters.list, nil
}

// cachedFilters is what Filters read, and as of which version.
type cachedFilters struct {
	at   spaceVersion
	list []webhook.Subscription
}

func (w *Webhooks) sealedList(tenant string) ([]webhook.Subscription, error) {
	var out []webhook.Subscription
	err := w.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("s")
		if tenant != "" {
			opts.Prefix = sp.Prefix("s", tenant)
		}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var sub webhook.Subscription
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &sub) }); err != nil {
				return fmt.Errorf("subscription %q: %w", it.Item().Key(), err)
			}
			out = append(out, sub)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Counts are the subscriptions of tenant, for the admin status.
func (w *Webhooks) Counts(ctx context.Context, tenant string) (map[string]int64, error) {
	l, err := w.List(ctx, tenant)
	return map[string]int64{"subscriptions": int64(len(l))}, err
}

type webhooksModel struct{ w *Webhooks }

func (webhooksModel) Name() string { return WebhooksName }

func (m webhooksModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	switch e.Type {
	case TypeWebhookPut:
		var sub webhook.Subscription
		d := json.NewDecoder(strings.NewReader(string(e.Data)))
		d.DisallowUnknownFields()
		if err := d.Decode(&sub); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		switch {
		case sub.ID == "" || sub.ID != e.Key:
			return 0, event.Reject(errors.New("data.id: must be the record key"))
		case sub.Tenant != e.Tenant:
			return 0, event.Reject(errors.New("data.tenant: must be the tenant header"))
		case sub.Kind != webhook.KindWebhook && sub.Kind != webhook.KindXAPIForward:
			return 0, event.Reject(fmt.Errorf("data.kind: %q is not a subscription kind", sub.Kind))
		}
		if _, err := m.w.opened(sub); err != nil {
			return 0, event.Reject(err)
		}
		// A record written before learner filters were pseudonymised
		// (or with privacy off) is stored converted, and noted to be
		// published again so that the log forgets its learner keys too.
		legacy := m.w.ps != nil && sub.Filter.ClearLearners()
		sub = m.w.pseudonymized(sub)
		b, err := json.Marshal(sub)
		if err != nil {
			return 0, err
		}
		m.w.noteLegacy(sub.Tenant, sub.ID, legacy)
		defer m.w.notify()
		return Stored, txn.Set(webhookKey(sp, sub.Tenant, sub.ID), b)
	case TypeWebhookDeleted:
		if e.Key == "" {
			return 0, event.Reject(errors.New("key: a deletion names the subscription in the record key"))
		}
		m.w.noteLegacy(e.Tenant, e.Key, false)
		defer m.w.notify()
		return Stored, txn.Delete(webhookKey(sp, e.Tenant, e.Key))
	}
	return 0, event.Reject(fmt.Errorf("ce_type: %q is not a webhook subscription event type", e.Type))
}
