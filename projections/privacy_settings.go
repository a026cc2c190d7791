package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// Names of the privacy read models.
const (
	AccessAuditName = "access-audit"
	ConsentName     = "consent"
	RetentionName   = "retention"
)

// typeIs reports whether e is of type want, rejecting an unknown major
// version of it (never guessed at).
func typeIs(e event.Event, want string) (bool, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return false, event.Reject(err)
	}
	wantName, wantMajor, _ := event.SplitType(want)
	if name != wantName {
		return false, nil
	}
	if major != wantMajor {
		return false, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	return true, nil
}

// AccessAudit keeps the access records of learnstream.audit.v1 per
// learner: under ("a", tenant, pseudonym, time, id) for each pseudonym a
// record names, so one learner's records are listed in time order (the
// record itself, or empty when it names several learners and is kept
// once under ("ar", tenant, time, id)).
type AccessAudit struct {
	*Projection
}

// NewAccessAudit returns the access-audit projection.
func NewAccessAudit(store *Store) (*AccessAudit, error) {
	p, err := NewProjection(store, accessModel{}, nil)
	if err != nil {
		return nil, err
	}
	if err := p.keepCounts(); err != nil {
		return nil, fmt.Errorf("access-audit projection: %w", err)
	}
	return &AccessAudit{p}, nil
}

// accessModel is staged for its counter alone: the memo lock runs its
// transactions one at a time, so the counter's writes do not conflict.
type accessModel struct{}

func (accessModel) Name() string { return AccessAuditName }

// countedAccess names the counter of a tenant's access-audit entries.
const countedAccess = "entries"

func (accessModel) countedKinds() []countedKind {
	return []countedKind{{name: countedAccess, kind: "a"}}
}

// accessTime orders records: Unix nanoseconds, zero-padded to 20 digits.
func accessTime(t time.Time) string {
	return fmt.Sprintf("%020d", t.UnixNano())
}

func (m accessModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	return applyAlone(nil, txn, sp, m, e)
}

func (accessModel) applyStaged(ts *txnState, e event.Event) (Outcome, error) {
	ok, err := typeIs(e, privacy.TypeAccessRecorded)
	if !ok || err != nil {
		return Unchanged, err
	}
	var a privacy.AccessRecorded
	if err := json.Unmarshal(e.Data, &a); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if err := a.Validate(); err != nil {
		return 0, event.Reject(err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return 0, err
	}
	// The keys hold time and id: a redelivered record lands on its own
	// keys, and is not counted again.
	learners := a.Learners
	if len(learners) > 1 { // a learner named twice has one entry
		seen := make(map[string]bool, len(learners))
		learners = slices.DeleteFunc(slices.Clone(learners), func(p string) bool {
			dup := seen[p]
			seen[p] = true
			return dup
		})
	}
	if len(learners) == 0 {
		return Stored, nil
	}
	at := accessTime(a.At)
	// A record of one learner is that learner's entry. A record of more
	// is stored once, under ("ar", tenant, time, id), and each learner's
	// entry is an empty value that points to it: a read of ten learners'
	// statements wrote its record ten times, more bytes than a statement.
	// Entries are never deleted (no erasure or retention reaches the
	// audit) and a record's are written in one transaction, so its first
	// learner's entry tells whether the record was applied before, also
	// by a release that wrote the whole record under each learner: one
	// lookup a record (a miss through every level of the store for a new
	// one), not one an entry.
	known, err := keyExists(ts.txn, ts.sp.Key("a", e.Tenant, learners[0], at, a.ID))
	if err != nil {
		return 0, err
	}
	value := b
	if len(learners) > 1 {
		if err := ts.txn.Set(ts.sp.Key("ar", e.Tenant, at, a.ID), b); err != nil {
			return 0, err
		}
		value = nil
	}
	for _, p := range learners {
		if err := ts.txn.Set(ts.sp.Key("a", e.Tenant, p, at, a.ID), value); err != nil {
			return 0, err
		}
	}
	if !known {
		ts.count(e.Tenant, countedAccess, int64(len(learners)))
	}
	return Stored, nil
}

// AccessPage is one page of a learner's access records, oldest first.
type AccessPage struct {
	Records []privacy.AccessRecorded `json:"records"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// ErrBadCursor is a cursor this projection did not hand out.
var ErrBadCursor = errors.New("cursor: not one this server returned")

// Access lists the access records naming the learner with pseudonym p,
// oldest first, limit at a time, from after cursor ("" for the first page).
func (a *AccessAudit) Access(_ context.Context, tenant, p, cursor string, limit int) (AccessPage, error) {
	var after string
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, ".")
		if _, err := strconv.ParseUint(at, 10, 64); !ok || err != nil || len(at) != 20 || id == "" {
			return AccessPage{}, ErrBadCursor
		}
		after = at + "\x00" + id
	}
	page := AccessPage{Records: []privacy.AccessRecorded{}}
	err := a.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("a", tenant, p)
		it := txn.NewIterator(opts)
		defer it.Close()
		start := opts.Prefix
		if after != "" {
			// Just past the cursor's key.
			start = append(append([]byte{}, opts.Prefix...), after...)
			start = append(start, 0)
		}
		for it.Seek(start); it.Valid(); it.Next() {
			if len(page.Records) == limit {
				last := page.Records[len(page.Records)-1]
				page.Next = accessTime(last.At) + "." + last.ID
				return nil
			}
			r, err := accessRecord(txn, sp, tenant, it.Item(), len(opts.Prefix))
			if err != nil {
				return err
			}
			page.Records = append(page.Records, r)
		}
		return nil
	})
	return page, err
}

// accessRecord decodes the record of a learner's entry: its value, or
// the record it points to when empty (a record of several learners).
func accessRecord(txn *badger.Txn, sp Space, tenant string, item *badger.Item, prefixLen int) (privacy.AccessRecorded, error) {
	var r privacy.AccessRecorded
	v, err := item.ValueCopy(nil)
	if err != nil {
		return r, err
	}
	if len(v) == 0 {
		at, id, _ := strings.Cut(string(item.Key()[prefixLen:]), "\x00")
		ok := false
		v, ok, err = getValue(txn, sp.Key("ar", tenant, at, id))
		switch {
		case err != nil:
			return r, err
		case !ok:
			return r, fmt.Errorf("access entry %q: its record is missing", item.Key())
		}
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("access entry %q: %w", item.Key(), err)
	}
	return r, nil
}

// Count returns the number of (learner, record) entries of tenant.
func (a *AccessAudit) Count(_ context.Context, tenant string) (map[string]int64, error) {
	n, err := a.Counted(tenant, countedAccess)
	return map[string]int64{countedAccess: n}, err
}

// ConsentState is a learner's consent as the consent read model keeps it.
type ConsentState struct {
	privacy.Consent
	// Learner is the learner key, for the retention role to set the
	// consent again before the month it was set in is destroyed.
	Learner string `json:"learner,omitempty"`
	// Set is when the learner last set it; zero when never (defaults).
	Set time.Time `json:"set,omitempty"`
	By  string    `json:"by,omitempty"`
}

// Consents keeps every learner's latest consent settings, from the
// ConsentSet events on the statements topic, under ("c", tenant,
// pseudonym): the read model holds no learner key, and an erasure finds a
// learner's row by its pseudonym.
type Consents struct {
	*Projection
	names privacy.Pseudonyms
}

// NewConsents returns the consent projection.
func NewConsents(store *Store, names privacy.Pseudonyms, waiters *Waiters) (*Consents, error) {
	p, err := NewProjection(store, consentModel{names, store}, waiters)
	if err != nil {
		return nil, err
	}
	return &Consents{p, names}, nil
}

type consentModel struct {
	names privacy.Pseudonyms
	store *Store
}

func (consentModel) Name() string { return ConsentName }

func (m consentModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	if ok, err := typeIs(e, privacy.TypeLearnerErased); err != nil || ok {
		if err != nil {
			return 0, err
		}
		var le privacy.LearnerErased
		if err := json.Unmarshal(e.Data, &le); err != nil {
			return 0, event.Reject(fmt.Errorf("data: %w", err))
		}
		if !privacy.IsPseudonym(le.Pseudonym) {
			return 0, event.Reject(errors.New("data.pseudonym: must be a pseudonym"))
		}
		n, err := deleteKey(txn, sp.Key("c", e.Tenant, le.Pseudonym))
		if err != nil {
			return 0, err
		}
		if err := m.store.noteErasure(txn, ConsentName, e, le, map[string]int64{"consent": int64(n)}); err != nil {
			return 0, err
		}
		return Stored, nil
	}
	ok, err := typeIs(e, privacy.TypeConsentSet)
	if !ok || err != nil {
		return Unchanged, err
	}
	var c privacy.ConsentSet
	if err := json.Unmarshal(e.Data, &c); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if err := c.Validate(); err != nil {
		return 0, event.Reject(err)
	}
	b, err := json.Marshal(ConsentState{Consent: c.Consent(), Learner: c.Learner, Set: c.At, By: c.By})
	if err != nil {
		return 0, err
	}
	return Stored, txn.Set(sp.Key("c", e.Tenant, m.names.Pseudonym(e.Tenant, c.Learner)), b)
}

// Consent returns a learner's consent: DefaultConsent (and a zero Set)
// when the learner never set any.
func (c *Consents) Consent(_ context.Context, tenant, learner string) (ConsentState, error) {
	st := ConsentState{Consent: privacy.DefaultConsent}
	err := c.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(sp.Key("c", tenant, c.names.Pseudonym(tenant, learner)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &st) })
	})
	return st, err
}

// SetBefore returns the consent settings of tenant's learners that differ
// from the defaults and were set before t: what the retention role must
// set again before it destroys the keys they were sealed with.
func (c *Consents) SetBefore(_ context.Context, tenant string, t time.Time) ([]ConsentState, error) {
	var out []ConsentState
	err := c.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("c", tenant)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var st ConsentState
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &st) }); err != nil {
				return err
			}
			if st.Consent != privacy.DefaultConsent && st.Set.Before(t) && st.Learner != "" {
				out = append(out, st)
			}
		}
		return nil
	})
	return out, err
}

// TenantLearner is a learner of a tenant.
type TenantLearner struct{ Tenant, Learner string }

// AnalyticsWithdrawn lists every learner, in every tenant, whose consent
// to analytics is withdrawn: what the analytics sink seeds its opt-outs
// from when its own were lost (a deleted projections directory).
func (c *Consents) AnalyticsWithdrawn(_ context.Context) ([]TenantLearner, error) {
	var out []TenantLearner
	err := c.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("c")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var st ConsentState
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &st) }); err != nil {
				return err
			}
			tenant, _, _ := strings.Cut(string(it.Item().Key()[len(opts.Prefix):]), "\x00")
			if !st.Analytics && st.Learner != "" {
				out = append(out, TenantLearner{tenant, st.Learner})
			}
		}
		return nil
	})
	return out, err
}

// Count returns the number of learners who set their consent.
func (c *Consents) Count(_ context.Context, tenant string) (map[string]int64, error) {
	n, err := c.CountKeys("c", tenant)
	return map[string]int64{"learners": int64(n)}, err
}

// Retention keeps every tenant's retention setting, from the RetentionSet
// events on learnstream.privacy.v1, under ("r", tenant).
type Retention struct {
	*Projection
}

// NewRetention returns the retention projection.
func NewRetention(store *Store, waiters *Waiters) (*Retention, error) {
	p, err := NewProjection(store, retentionModel{}, waiters)
	if err != nil {
		return nil, err
	}
	return &Retention{p}, nil
}

type retentionModel struct{}

func (retentionModel) Name() string { return RetentionName }

func (retentionModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	ok, err := typeIs(e, privacy.TypeRetentionSet)
	if !ok || err != nil {
		return Unchanged, err
	}
	var r privacy.RetentionSet
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if err := r.Validate(); err != nil {
		return 0, event.Reject(err)
	}
	if r.Tenant != e.Tenant {
		return 0, event.Reject(fmt.Errorf("data.tenant: %q is not the event's tenant %q", r.Tenant, e.Tenant))
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	return Stored, txn.Set(sp.Key("r", e.Tenant), b)
}

// Tenant returns a tenant's retention setting (Days 0 when never set).
func (r *Retention) Tenant(_ context.Context, tenant string) (privacy.RetentionSet, error) {
	rs := privacy.RetentionSet{Tenant: tenant}
	err := r.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(sp.Key("r", tenant))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &rs) })
	})
	return rs, err
}

// All returns every tenant's retention setting with a period (Days > 0).
func (r *Retention) All(_ context.Context) ([]privacy.RetentionSet, error) {
	var out []privacy.RetentionSet
	err := r.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("r")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rs privacy.RetentionSet
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rs) }); err != nil {
				return err
			}
			if rs.Days > 0 {
				out = append(out, rs)
			}
		}
		return nil
	})
	return out, err
}

// Count returns 1 when the tenant has a retention setting.
func (r *Retention) Count(ctx context.Context, tenant string) (map[string]int64, error) {
	n, err := r.CountKeys("r", tenant)
	return map[string]int64{"settings": int64(n)}, err
}

// AnalyticsOptOutsName names the analytics sink's consent space.
const AnalyticsOptOutsName = "analytics-optouts"

// AnalyticsOptOuts keeps, for the analytics sink, the learners who
// withdrew consent to analytics, by the pseudonym their rows carry: the
// sink's offsets live in Kafka, so what it learned from a ConsentSet it
// has committed past must be kept here, written before the offset is.
type AnalyticsOptOuts struct {
	store *Store
	sp    Space
}

// NewAnalyticsOptOuts opens the analytics sink's consent space.
func NewAnalyticsOptOuts(store *Store) (*AnalyticsOptOuts, error) {
	sp, err := store.currentSpace(AnalyticsOptOutsName)
	if err != nil {
		return nil, err
	}
	return &AnalyticsOptOuts{store: store, sp: sp}, nil
}

// All returns every opted-out (tenant, pseudonym), as tenant NUL pseudonym.
func (o *AnalyticsOptOuts) All() (map[string]bool, error) {
	out := map[string]bool{}
	err := o.store.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = o.sp.Prefix("o")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out[string(it.Item().Key()[len(opts.Prefix):])] = true
		}
		return nil
	})
	return out, err
}

// Set records (out true) or clears a learner's opt-out, durably.
func (o *AnalyticsOptOuts) Set(tenant, pseudonym string, out bool) error {
	return o.store.update(func(txn *badger.Txn) error {
		k := o.sp.Key("o", tenant, pseudonym)
		if out {
			return txn.Set(k, nil)
		}
		return txn.Delete(k)
	})
}
