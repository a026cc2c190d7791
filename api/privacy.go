package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

// Scopes of the privacy endpoints (docs/privacy.md). "privacy" is the
// data protection officer's; it is not part of "all".
var (
	scopesPrivacy = []string{projections.ScopePrivacy}
	// Consent is set by the DPO, or by the tenant's own front end on the
	// learner's behalf (a settings page), which holds "all".
	scopesConsent = []string{"all", projections.ScopePrivacy}
	// Retention is the tenant's DPO's decision; the operator may set it
	// for any tenant (?tenant=).
	scopesRetention     = []string{projections.ScopePrivacy, projections.ScopeOperator}
	scopesRetentionRead = []string{"all", projections.ScopePrivacy, projections.ScopeOperator}
)

// PrivacyModule serves the learner-facing privacy endpoints: the access
// audit, consent, retention settings and the export.
type PrivacyModule struct {
	Access     *projections.AccessAudit
	Consents   *projections.Consents
	Retention  *projections.Retention
	Pseudonyms privacy.Pseudonyms
	Publisher  EventPublisher
	// StatementsTopic carries ConsentSet (in order with the learner's
	// statements); PrivacyTopic carries RetentionSet.
	StatementsTopic string
	PrivacyTopic    string
	// ConsentWaiters and RetentionWaiters let a PUT answer once its
	// setting is readable.
	ConsentWaiters   *projections.Waiters
	RetentionWaiters *projections.Waiters
	Timeout          time.Duration
	Source           string
	// Export serves GET /v1/learners/{learner}/export, reading the read
	// models this server has.
	Export bool
	// ExportPage is how many statements an export reads at a time
	// (default 500).
	ExportPage int
	Logger     *slog.Logger

	sources exportSources
}

func (m *PrivacyModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// Register adds the privacy routes.
func (m *PrivacyModule) Register(r Router) {
	if m.Access != nil {
		r.Handle("GET /v1/learners/{learner}/access", m.access, scopesPrivacy...)
	}
	if m.Consents != nil {
		r.Handle("GET /v1/learners/{learner}/consent", m.getConsent, scopesConsent...)
		r.Handle("PUT /v1/learners/{learner}/consent", m.putConsent, scopesConsent...)
	}
	if m.Retention != nil {
		r.Handle("GET /v1/admin/retention", m.getRetention, scopesRetentionRead...)
		r.Handle("PUT /v1/admin/retention", m.putRetention, scopesRetention...)
	}
	if rr, ok := r.(router); ok && m.Export && m.Pseudonyms != nil {
		if m.sources = rr.s.exportSources(); m.sources.statements != nil {
			r.Handle("GET /v1/learners/{learner}/export", m.export, scopesPrivacy...)
		}
	}
}

// access lists the access records about a learner, oldest first.
func (m *PrivacyModule) access(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writePlainField(w, "limit", "an integer from 1 to 1000")
			return
		}
		limit = n
	}
	tenant := Tenant(r)
	learner := learnerKey(r.PathValue("learner"))
	p := m.Pseudonyms.Pseudonym(tenant, learner)
	page, err := m.Access.Access(r.Context(), tenant, p, r.URL.Query().Get("cursor"), limit)
	if errors.Is(err, projections.ErrBadCursor) {
		writePlainField(w, "cursor", "the next value of an earlier page")
		return
	}
	if err != nil {
		m.log().Error("read access audit", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read the access audit")
		return
	}
	out := map[string]any{"learner": learner, "pseudonym": p, "records": page.Records}
	if page.Next != "" {
		out["next"] = page.Next
	}
	writePlainJSON(w, http.StatusOK, out)
}

type consentOut struct {
	Learner         string     `json:"learner"`
	Personalisation bool       `json:"personalisation"`
	Analytics       bool       `json:"analytics"`
	Set             *time.Time `json:"set,omitempty"`
}

func (m *PrivacyModule) getConsent(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	st, err := m.Consents.Consent(r.Context(), Tenant(r), learner)
	if err != nil {
		m.log().Error("read consent", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read consent")
		return
	}
	out := consentOut{Learner: learner, Personalisation: st.Personalisation, Analytics: st.Analytics}
	if !st.Set.IsZero() {
		out.Set = &st.Set
	}
	writePlainJSON(w, http.StatusOK, out)
}

func (m *PrivacyModule) putConsent(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Personalisation *bool `json:"personalisation"`
		Analytics       *bool `json:"analytics"`
	}
	if !decodeBody(w, r, &body, `{"personalisation": bool, "analytics": bool}`) {
		return
	}
	switch {
	case body.Personalisation == nil:
		writePlainField(w, "personalisation", "is required: true or false")
		return
	case body.Analytics == nil:
		writePlainField(w, "analytics", "is required: true or false")
		return
	}
	learner := learnerKey(r.PathValue("learner"))
	cred := credential(r)
	now := time.Now().UTC()
	c := privacy.ConsentSet{Learner: learner, Personalisation: *body.Personalisation, Analytics: *body.Analytics, By: cred.Key, At: now}
	if !m.commit(w, r, m.StatementsTopic, m.ConsentWaiters, privacy.TypeConsentSet, learner, c) {
		return
	}
	writePlainJSON(w, http.StatusOK, consentOut{Learner: learner, Personalisation: c.Personalisation, Analytics: c.Analytics, Set: &now})
}

// commit publishes one setting event and waits (bounded) until this
// process's read model applied it. On failure it has answered.
func (m *PrivacyModule) commit(w http.ResponseWriter, r *http.Request, topic string, waiters *projections.Waiters, typ, key string, data any) bool {
	b, err := json.Marshal(data)
	if err != nil {
		writePlainError(w, http.StatusInternalServerError, "could not encode the setting")
		return false
	}
	source := m.Source
	if source == "" {
		source = "learnstream"
	}
	e, err := event.New(watermill.NewUUID(), typ, source, Tenant(r), key, time.Now(), b)
	if err != nil {
		writePlainError(w, http.StatusInternalServerError, "could not build the event")
		return false
	}
	if waiters != nil {
		waiters.Register(e.ID)
	}
	if err := m.Publisher.PublishEvents(r.Context(), topic, e); err != nil {
		if waiters != nil {
			waiters.Forget(e.ID)
		}
		m.log().Error("publish privacy setting", "type", typ, "err", err)
		writePlainError(w, http.StatusServiceUnavailable, "the event log is unavailable; nothing was changed, retry later")
		return false
	}
	if waiters != nil {
		timeout := m.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if _, err := waiters.Wait(ctx, e.ID); err != nil {
			m.log().Warn("privacy setting accepted before it was projected", "type", typ, "event", e.ID)
		}
	}
	return true
}

// retentionTenant is the tenant a retention request is about: the
// caller's, or for an operator the one ?tenant= names.
func retentionTenant(r *http.Request) string {
	if t := r.URL.Query().Get("tenant"); t != "" && isOperator(credential(r)) {
		return t
	}
	return Tenant(r)
}

type retentionOut struct {
	Tenant string `json:"tenant"`
	Days   int    `json:"days"`
	// Before is the start of the month before which data is gone once
	// the retention role has run (none when Days is 0).
	Before *time.Time `json:"before,omitempty"`
	Set    *time.Time `json:"set,omitempty"`
	By     string     `json:"by,omitempty"`
}

func retentionAnswer(rs privacy.RetentionSet, now time.Time) retentionOut {
	out := retentionOut{Tenant: rs.Tenant, Days: rs.Days, By: rs.By}
	if !rs.At.IsZero() {
		out.Set = &rs.At
	}
	if c := privacy.RetentionCutoff(now, rs.Days); !c.IsZero() {
		out.Before = &c
	}
	return out
}

func (m *PrivacyModule) getRetention(w http.ResponseWriter, r *http.Request) {
	rs, err := m.Retention.Tenant(r.Context(), retentionTenant(r))
	if err != nil {
		m.log().Error("read retention", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read the retention setting")
		return
	}
	writePlainJSON(w, http.StatusOK, retentionAnswer(rs, time.Now()))
}

func (m *PrivacyModule) putRetention(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Days *int `json:"days"`
	}
	if !decodeBody(w, r, &body, `{"days": int}`) {
		return
	}
	if body.Days == nil {
		writePlainField(w, "days", "is required: 0 (keep until erased) or a period in days")
		return
	}
	tenant := retentionTenant(r)
	rs := privacy.RetentionSet{Tenant: tenant, Days: *body.Days, By: credential(r).Key, At: time.Now().UTC()}
	if err := rs.Validate(); err != nil {
		writePlainField(w, "days", fmt.Sprintf("0 (keep until erased) or from %d to %d, got %d", privacy.MinRetentionDays, privacy.MaxRetentionDays, rs.Days))
		return
	}
	// The event belongs to the tenant it sets, which an operator may name.
	r = r.WithContext(context.WithValue(r.Context(), credentialKey{}, withTenant(credential(r), tenant)))
	if !m.commit(w, r, m.PrivacyTopic, m.RetentionWaiters, privacy.TypeRetentionSet, tenant, rs) {
		return
	}
	writePlainJSON(w, http.StatusOK, retentionAnswer(rs, time.Now()))
}

func withTenant(c projections.Credential, tenant string) projections.Credential {
	c.Tenant = tenant
	return c
}
