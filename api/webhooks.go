package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
)

// WebhookStore keeps subscriptions (projections.Webhooks).
type WebhookStore interface {
	Put(ctx context.Context, sub webhook.Subscription) error
	Get(ctx context.Context, tenant, id string) (webhook.Subscription, error)
	List(ctx context.Context, tenant string) ([]webhook.Subscription, error)
	Delete(ctx context.Context, tenant, id string) error
}

// WebhookDeadLetters is the delivery state of the webhooks role in this
// process (projections.WebhookQueue).
type WebhookDeadLetters interface {
	DeadLetters(sub string, after uint64, limit int) ([]projections.Delivery, error)
	Redeliver(sub string, ids []uint64) (int, error)
	DeleteDeadLetters(sub string, ids []uint64) (int, error)
	Depth(sub string) (queued, dead int, err error)
}

// WebhookPing sends a subscription's test message once and answers the
// receiver's status.
type WebhookPing func(ctx context.Context, sub *webhook.Subscription) (status int, took time.Duration, err error)

// WebhooksModule serves /v1/webhooks: subscriptions of the caller's
// tenant, their test ping, secret rotation, replay and dead letters.
type WebhooksModule struct {
	Store WebhookStore
	// Deliveries is this process's delivery state; nil when it does not
	// run the webhooks role (dead-letter calls then answer 503).
	Deliveries WebhookDeadLetters
	Ping       WebhookPing
	// AllowHTTP accepts http:// receivers (development only).
	AllowHTTP bool
	// Allow are address ranges receivers may resolve to although they
	// are not public.
	Allow []netip.Prefix
	// Resolve looks a host's addresses up (nil: the system resolver).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Pseudonyms are the install's learner pseudonyms (the key store): a
	// learner filter is turned into pseudonyms before it is stored and
	// answered. Nil (privacy off) keeps learner keys.
	Pseudonyms privacy.Pseudonyms
	Logger     *slog.Logger
	Now        func() time.Time
}

var scopesWebhooks = []string{"all", projections.ScopeWebhooks}

// Register adds the webhook routes.
func (m *WebhooksModule) Register(r Router) {
	r.Handle("POST /v1/webhooks", m.create, scopesWebhooks...)
	r.Handle("GET /v1/webhooks", m.list, scopesWebhooks...)
	r.Handle("GET /v1/webhooks/{id}", m.get, scopesWebhooks...)
	r.Handle("PATCH /v1/webhooks/{id}", m.patch, scopesWebhooks...)
	r.Handle("DELETE /v1/webhooks/{id}", m.remove, scopesWebhooks...)
	r.Handle("POST /v1/webhooks/{id}/ping", m.ping, scopesWebhooks...)
	r.Handle("POST /v1/webhooks/{id}/secret/rotate", m.rotate, scopesWebhooks...)
	r.Handle("POST /v1/webhooks/{id}/replay", m.replay, scopesWebhooks...)
	r.Handle("GET /v1/webhooks/{id}/dead-letters", m.deadLetters, scopesWebhooks...)
	r.Handle("POST /v1/webhooks/{id}/dead-letters/redeliver", m.redeliver, scopesWebhooks...)
	r.Handle("DELETE /v1/webhooks/{id}/dead-letters", m.deleteDeadLetters, scopesWebhooks...)
}

func (m *WebhooksModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

func (m *WebhooksModule) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// webhookView is a subscription as answered: never its secrets (shown
// once, when made or rotated) nor the forwarding password.
type webhookView struct {
	ID          string         `json:"id"`
	Kind        string         `json:"kind"`
	URL         string         `json:"url"`
	Description string         `json:"description,omitempty"`
	Filter      webhook.Filter `json:"filter"`
	Paused      bool           `json:"paused"`
	Created     time.Time      `json:"created"`
	Updated     time.Time      `json:"updated"`
	// Secret is the signing secret, in the answers that make one only.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpires is when a rotated-out secret stops signing.
	PreviousSecretExpires *time.Time `json:"previous_secret_expires,omitempty"`
	Username              string     `json:"username,omitempty"`
	Replay                *replayRef `json:"replay,omitempty"`
	// Queued and DeadLetters are what this process holds for the
	// subscription, when it runs the webhooks role.
	Queued      *int `json:"queued,omitempty"`
	DeadLetters *int `json:"dead_letters,omitempty"`
}

type replayRef struct {
	ID    string    `json:"id"`
	Since time.Time `json:"since"`
}

func (m *WebhooksModule) view(s webhook.Subscription, withSecret bool) webhookView {
	v := webhookView{ID: s.ID, Kind: s.Kind, URL: s.URL, Description: s.Description, Filter: s.Filter, Paused: s.Paused,
		Created: s.Created, Updated: s.Updated, Username: s.Username}
	if v.Filter.Types == nil {
		v.Filter.Types = []string{}
	}
	if withSecret && len(s.Secrets) > 0 {
		v.Secret = s.Secrets[0].Value
	}
	now := m.now()
	for _, sec := range s.Secrets[min(1, len(s.Secrets)):] {
		if sec.Expires != nil && now.Before(*sec.Expires) && (v.PreviousSecretExpires == nil || sec.Expires.After(*v.PreviousSecretExpires)) {
			v.PreviousSecretExpires = sec.Expires
		}
	}
	if s.ReplayID != "" {
		v.Replay = &replayRef{ID: s.ReplayID, Since: s.ReplaySince}
	}
	if m.Deliveries != nil {
		if q, d, err := m.Deliveries.Depth(s.ID); err == nil {
			v.Queued, v.DeadLetters = &q, &d
		}
	}
	return v
}

// webhookRequest is the body of POST and PATCH /v1/webhooks.
type webhookRequest struct {
	Kind        *string         `json:"kind"`
	URL         *string         `json:"url"`
	Description *string         `json:"description"`
	Filter      *webhook.Filter `json:"filter"`
	Paused      *bool           `json:"paused"`
	Secret      *string         `json:"secret"`
	Auth        *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auth"`
}

var (
	webhookFields = []string{"kind", "url", "description", "filter", "paused", "secret", "auth"}
	filterFields  = []string{"types", "learners", "activities", "verbs"}
	authFields    = []string{"username", "password"}
)

// decodeWebhookRequest reads a request body, naming an unknown field (at
// any level) rather than ignoring it.
func decodeWebhookRequest(r *http.Request) (webhookRequest, error) {
	var req webhookRequest
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(r.Body); err != nil {
		return req, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw.Bytes(), &top); err != nil {
		return req, &webhook.FieldError{Field: "body", Rule: "must be a JSON object: " + err.Error()}
	}
	if err := knownFields(top, webhookFields, ""); err != nil {
		return req, err
	}
	for name, allowed := range map[string][]string{"filter": filterFields, "auth": authFields} {
		if v, ok := top[name]; ok && string(v) != "null" {
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(v, &sub); err != nil {
				return req, &webhook.FieldError{Field: name, Rule: "must be an object"}
			}
			if err := knownFields(sub, allowed, name+"."); err != nil {
				return req, err
			}
		}
	}
	for name, v := range top {
		if err := json.Unmarshal(v, fieldTarget(&req, name)); err != nil {
			return req, &webhook.FieldError{Field: name, Rule: "has the wrong type: " + jsonTypeRule(err)}
		}
	}
	return req, nil
}

func fieldTarget(req *webhookRequest, name string) any {
	switch name {
	case "kind":
		return &req.Kind
	case "url":
		return &req.URL
	case "description":
		return &req.Description
	case "filter":
		return &req.Filter
	case "paused":
		return &req.Paused
	case "secret":
		return &req.Secret
	}
	return &req.Auth
}

func jsonTypeRule(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s where %s is expected", te.Value, te.Type)
	}
	return err.Error()
}

func knownFields(m map[string]json.RawMessage, allowed []string, prefix string) error {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			return &webhook.FieldError{Field: prefix + k, Rule: "is not a field (known: " + strings.Join(allowed, ", ") + ")"}
		}
	}
	return nil
}

func writeWebhookError(w http.ResponseWriter, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", tooLarge.Limit))
		return
	}
	var fe *webhook.FieldError
	if errors.As(err, &fe) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fe.Error(), Field: fe.Field, Rule: fe.Rule})
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// apply puts the fields of req onto s.
func (req webhookRequest) apply(s *webhook.Subscription) {
	if req.Kind != nil {
		s.Kind = *req.Kind
	}
	if req.URL != nil {
		s.URL = *req.URL
	}
	if req.Description != nil {
		s.Description = *req.Description
	}
	if req.Filter != nil {
		s.Filter = *req.Filter
	}
	if req.Paused != nil {
		s.Paused = *req.Paused
	}
	if req.Auth != nil {
		s.Username, s.Password = req.Auth.Username, req.Auth.Password
	}
}

// check validates s and resolves its host: every address it resolves to
// must be public (or in the operator's allowed ranges).
func (m *WebhooksModule) check(ctx context.Context, s *webhook.Subscription) error {
	if err := s.Validate(m.AllowHTTP); err != nil {
		return err
	}
	if m.Pseudonyms != nil {
		s.Filter.Pseudonymize(s.Tenant, m.Pseudonyms)
	}
	u, _ := webhook.CheckURL(s.URL, m.AllowHTTP)
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resolve := m.Resolve
		if resolve == nil {
			resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		addrs, err = resolve(rctx, host)
		if err != nil || len(addrs) == 0 {
			return &webhook.FieldError{Field: "url", Rule: fmt.Sprintf("host %q does not resolve", host)}
		}
	}
	for _, a := range addrs {
		if err := webhook.CheckAddr(a, m.Allow); err != nil {
			return &webhook.FieldError{Field: "url", Rule: fmt.Sprintf("host %q resolves to %v", host, err)}
		}
	}
	return nil
}

func (m *WebhooksModule) create(w http.ResponseWriter, r *http.Request) {
	req, err := decodeWebhookRequest(r)
	if err != nil {
		writeWebhookError(w, err)
		return
	}
	now := m.now()
	s := webhook.Subscription{ID: webhook.NewID(), Tenant: Tenant(r), Created: now, Updated: now}
	req.apply(&s)
	if s.Kind == "" {
		s.Kind = webhook.KindWebhook
	}
	if s.Kind == webhook.KindWebhook {
		secret := webhook.NewSecret()
		if req.Secret != nil {
			secret = *req.Secret
		}
		s.Secrets = []webhook.Secret{{Value: secret}}
	} else if req.Secret != nil {
		writeWebhookError(w, &webhook.FieldError{Field: "secret", Rule: "only webhook subscriptions are signed"})
		return
	}
	if err := m.check(r.Context(), &s); err != nil {
		writeWebhookError(w, err)
		return
	}
	if err := m.Store.Put(r.Context(), s); err != nil {
		m.fail(w, "store the subscription", err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+s.ID)
	writeJSON(w, http.StatusCreated, m.view(s, true))
}

func (m *WebhooksModule) fail(w http.ResponseWriter, what string, err error) {
	m.log().Error("webhooks api: "+what, "err", err)
	writeError(w, http.StatusServiceUnavailable, "could not "+what+"; try again")
}

// load answers 404 for a subscription that is not the caller tenant's.
func (m *WebhooksModule) load(w http.ResponseWriter, r *http.Request) (webhook.Subscription, bool) {
	s, err := m.Store.Get(r.Context(), Tenant(r), r.PathValue("id"))
	if errors.Is(err, projections.ErrUnknownWebhook) {
		writeError(w, http.StatusNotFound, "no webhook subscription "+r.PathValue("id"))
		return s, false
	}
	if err != nil {
		m.fail(w, "read the subscription", err)
		return s, false
	}
	return s, true
}

func (m *WebhooksModule) list(w http.ResponseWriter, r *http.Request) {
	subs, err := m.Store.List(r.Context(), Tenant(r))
	if err != nil {
		m.fail(w, "list subscriptions", err)
		return
	}
	out := make([]webhookView, len(subs))
	for i, s := range subs {
		out[i] = m.view(s, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (m *WebhooksModule) get(w http.ResponseWriter, r *http.Request) {
	if s, ok := m.load(w, r); ok {
		writeJSON(w, http.StatusOK, m.view(s, false))
	}
}

func (m *WebhooksModule) patch(w http.ResponseWriter, r *http.Request) {
	s, ok := m.load(w, r)
	if !ok {
		return
	}
	req, err := decodeWebhookRequest(r)
	if err != nil {
		writeWebhookError(w, err)
		return
	}
	if req.Kind != nil && *req.Kind != s.Kind {
		writeWebhookError(w, &webhook.FieldError{Field: "kind", Rule: "cannot change; make a new subscription"})
		return
	}
	if req.Secret != nil {
		writeWebhookError(w, &webhook.FieldError{Field: "secret", Rule: "is changed with POST /v1/webhooks/{id}/secret/rotate"})
		return
	}
	req.apply(&s)
	s.Updated = m.now()
	if err := m.check(r.Context(), &s); err != nil {
		writeWebhookError(w, err)
		return
	}
	if err := m.Store.Put(r.Context(), s); err != nil {
		m.fail(w, "store the subscription", err)
		return
	}
	writeJSON(w, http.StatusOK, m.view(s, false))
}

func (m *WebhooksModule) remove(w http.ResponseWriter, r *http.Request) {
	if _, ok := m.load(w, r); !ok {
		return
	}
	if err := m.Store.Delete(r.Context(), Tenant(r), r.PathValue("id")); err != nil {
		m.fail(w, "delete the subscription", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *WebhooksModule) ping(w http.ResponseWriter, r *http.Request) {
	s, ok := m.load(w, r)
	if !ok {
		return
	}
	if m.Ping == nil {
		writeError(w, http.StatusServiceUnavailable, "this process cannot send webhooks")
		return
	}
	status, took, err := m.Ping(r.Context(), &s)
	out := map[string]any{"delivered": err == nil, "status": status, "duration_ms": took.Milliseconds()}
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func (m *WebhooksModule) rotate(w http.ResponseWriter, r *http.Request) {
	s, ok := m.load(w, r)
	if !ok {
		return
	}
	var req struct {
		Overlap *string `json:"overlap"`
		Secret  *string `json:"secret"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeWebhookError(w, &webhook.FieldError{Field: "body", Rule: "must be {\"overlap\": duration, \"secret\": whsec_...}: " + err.Error()})
			return
		}
	}
	if s.Kind != webhook.KindWebhook {
		writeWebhookError(w, &webhook.FieldError{Field: "kind", Rule: "only webhook subscriptions are signed"})
		return
	}
	overlap := webhook.DefaultOverlap
	if req.Overlap != nil {
		d, err := time.ParseDuration(*req.Overlap)
		if err != nil || d < 0 || d > webhook.MaxOverlap {
			writeWebhookError(w, &webhook.FieldError{Field: "overlap", Rule: fmt.Sprintf("a Go duration from 0s to %s, e.g. 24h", webhook.MaxOverlap)})
			return
		}
		overlap = d
	}
	secret := webhook.NewSecret()
	if req.Secret != nil {
		secret = *req.Secret
	}
	now := m.now()
	s.Rotate(secret, overlap, now)
	s.Updated = now
	if err := s.Validate(m.AllowHTTP); err != nil {
		writeWebhookError(w, err)
		return
	}
	if err := m.Store.Put(r.Context(), s); err != nil {
		m.fail(w, "store the subscription", err)
		return
	}
	writeJSON(w, http.StatusOK, m.view(s, true))
}

func (m *WebhooksModule) replay(w http.ResponseWriter, r *http.Request) {
	s, ok := m.load(w, r)
	if !ok {
		return
	}
	var req struct {
		Since time.Time `json:"since"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeWebhookError(w, &webhook.FieldError{Field: "since", Rule: "the body is {\"since\": RFC 3339 time}: " + err.Error()})
		return
	}
	now := m.now()
	if req.Since.IsZero() || req.Since.After(now) {
		writeWebhookError(w, &webhook.FieldError{Field: "since", Rule: "an RFC 3339 time in the past"})
		return
	}
	s.ReplayID = "rp_" + strconv.FormatInt(now.UnixNano(), 36)
	s.ReplaySince = req.Since.UTC()
	s.Updated = now
	if err := m.Store.Put(r.Context(), s); err != nil {
		m.fail(w, "store the replay", err)
		return
	}
	writeJSON(w, http.StatusAccepted, replayRef{ID: s.ReplayID, Since: s.ReplaySince})
}

type deadLetterView struct {
	ID         string          `json:"id"`
	Message    string          `json:"message"`
	Event      string          `json:"event"`
	Type       string          `json:"type"`
	Time       time.Time       `json:"time"`
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	Dead       time.Time       `json:"dead"`
	Body       json.RawMessage `json:"body"`
}

func (m *WebhooksModule) deliveries(w http.ResponseWriter, r *http.Request) (webhook.Subscription, bool) {
	s, ok := m.load(w, r)
	if !ok {
		return s, false
	}
	if m.Deliveries == nil {
		writeError(w, http.StatusServiceUnavailable, "dead letters are kept by processes running the webhooks role; ask one of them")
		return s, false
	}
	return s, true
}

func (m *WebhooksModule) deadLetters(w http.ResponseWriter, r *http.Request) {
	s, ok := m.deliveries(w, r)
	if !ok {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			WriteFieldError(w, "limit", "an integer from 1 to 1000")
			return
		}
		limit = n
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			WriteFieldError(w, "after", "the id of a dead letter")
			return
		}
		after = n
	}
	ds, err := m.Deliveries.DeadLetters(s.ID, after, limit)
	if err != nil {
		m.fail(w, "read the dead letters", err)
		return
	}
	out := make([]deadLetterView, len(ds))
	for i, d := range ds {
		noteLearners(r, d.Learner)
		out[i] = deadLetterView{ID: d.ID(), Message: d.Message, Event: d.Event, Type: d.Type, Time: d.Time, Attempts: d.Attempts,
			LastStatus: d.LastStatus, LastError: d.LastError, Dead: d.Dead, Body: d.Body}
	}
	body := map[string]any{"dead_letters": out}
	if len(ds) == limit {
		body["next"] = "/v1/webhooks/" + s.ID + "/dead-letters?limit=" + strconv.Itoa(limit) + "&after=" + ds[len(ds)-1].ID()
	}
	writeJSON(w, http.StatusOK, body)
}

// deadLetterIDs reads {"ids": [...]} (absent or empty body: every dead
// letter).
func deadLetterIDs(w http.ResponseWriter, r *http.Request) ([]uint64, bool) {
	var req struct {
		IDs []string `json:"ids"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			WriteFieldError(w, "ids", "the body is {\"ids\": [dead letter ids]}, or empty for all: "+err.Error())
			return nil, false
		}
	}
	if req.IDs == nil {
		return nil, true
	}
	out := make([]uint64, 0, len(req.IDs))
	for i, v := range req.IDs {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			WriteFieldError(w, fmt.Sprintf("ids[%d]", i), "the id of a dead letter")
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func (m *WebhooksModule) redeliver(w http.ResponseWriter, r *http.Request) {
	m.onDeadLetters(w, r, "redeliver", m.Deliveries.Redeliver, http.StatusAccepted, "redelivering")
}

func (m *WebhooksModule) deleteDeadLetters(w http.ResponseWriter, r *http.Request) {
	m.onDeadLetters(w, r, "delete dead letters", m.Deliveries.DeleteDeadLetters, http.StatusOK, "deleted")
}

// onDeadLetters runs op on the dead letters the request names and answers
// status with how many it took, under field.
func (m *WebhooksModule) onDeadLetters(w http.ResponseWriter, r *http.Request, what string,
	op func(sub string, ids []uint64) (int, error), status int, field string) {
	s, ok := m.deliveries(w, r)
	if !ok {
		return
	}
	ids, ok := deadLetterIDs(w, r)
	if !ok {
		return
	}
	n, err := op(s.ID, ids)
	if err != nil {
		m.fail(w, what, err)
		return
	}
	writeJSON(w, status, map[string]int{field: n})
}
