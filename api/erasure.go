package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/learnstream/learnstream/projections"
)

// Erasing is what the erasure endpoints need from the process: the
// orchestrator and the receipts (see docs/privacy.md, Erasure).
type Erasing interface {
	// Known reports whether the tenant holds any data of learner (a
	// learner key).
	Known(ctx context.Context, tenant, learner string) (bool, error)
	// Request records an erasure of learner by the credential by and
	// returns its id.
	Request(ctx context.Context, tenant, learner, by string) (string, error)
	// OfLearner lists the erasures of learner, oldest first, or
	// ErrErasuresBehind while it cannot know them all.
	OfLearner(ctx context.Context, tenant, learner string) ([]string, error)
	// Receipt returns an erasure's receipt (projections.ErrNotFound when
	// the tenant has no such erasure).
	Receipt(ctx context.Context, tenant, id string) (projections.Receipt, error)
}

// ErrErasuresBehind says the erasures are not all known yet (a process
// just started, its receipts still reading): DELETE answers 503 rather
// than risk starting a second erasure beside an open one.
var ErrErasuresBehind = errors.New("the erasure receipts are still catching up")

// ErasureModule serves DELETE /v1/learners/{learner} and GET
// /v1/erasures/{id}, both only to credentials holding the privacy scope
// ("all" does not include it), each bound to the credential's tenant.
type ErasureModule struct {
	Erasing Erasing
	Logger  *slog.Logger
	// MaxWait bounds ?wait= (default 55s, under the server's write
	// timeout).
	MaxWait time.Duration
	// Purge, when set, purges the process's store on demand (POST
	// /v1/admin/purge, operators only) and returns what it did.
	Purge func(ctx context.Context) (any, error)
}

// Register implements Module.
func (m ErasureModule) Register(r Router) {
	r.Handle("DELETE /v1/learners/{learner}", m.erase, projections.ScopePrivacy)
	r.Handle("GET /v1/erasures/{id}", m.receipt, projections.ScopePrivacy)
	if m.Purge != nil {
		// The store is every tenant's: purging it is the operator's.
		r.Handle("POST /v1/admin/purge", m.purge, projections.ScopeOperator)
	}
}

func (m ErasureModule) purge(w http.ResponseWriter, r *http.Request) {
	out, err := m.Purge(r.Context())
	if err != nil {
		m.log().Error("purge", "err", err)
		writeError(w, http.StatusInternalServerError, "purge failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (m ErasureModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// erasureAccepted is the answer of DELETE while the erasure runs.
type erasureAccepted struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Receipt string `json:"receipt"`
}

func (m ErasureModule) erase(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cred := credential(r)
	learner := learnerKey(r.PathValue("learner"))
	if learner == "" {
		WriteFieldError(w, "learner", "is required")
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		maxWait := m.MaxWait
		if maxWait <= 0 {
			maxWait = 55 * time.Second
		}
		if err != nil || d < 0 || d > maxWait {
			WriteFieldError(w, "wait", "must be a duration between 0s and "+maxWait.String()+" (e.g. 30s)")
			return
		}
		wait = d
	}
	id, err := m.idOf(ctx, cred.Tenant, learner, cred.Key)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			if re.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, re.status, re.msg)
			return
		}
		m.log().Error("erase learner", "err", err)
		writeError(w, http.StatusInternalServerError, "could not look the learner up")
		return
	}
	rec, err := m.await(ctx, cred.Tenant, id, wait)
	if err != nil && !errors.Is(err, projections.ErrNotFound) {
		m.log().Error("erase learner: receipt", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the erasure receipt")
		return
	}
	loc := "/v1/erasures/" + id
	w.Header().Set("Location", loc)
	if err == nil && rec.Complete() {
		writeJSON(w, http.StatusOK, rec)
		return
	}
	status := projections.StatusRequested
	if err == nil {
		status = rec.Status
	}
	writeJSON(w, http.StatusAccepted, erasureAccepted{ID: id, Status: status, Receipt: loc})
}

// idOf returns the erasure a DELETE of learner answers with. DELETE is
// idempotent: while an erasure of the learner is still open, it answers
// with that one (a client retrying after a lost answer, or after the
// server crashed mid-erasure, does not start a second); a learner whose
// data is gone answers with the last erasure; a learner the tenant never
// held is not found, whoever else may hold it. Otherwise it starts one.
func (m ErasureModule) idOf(ctx context.Context, tenant, learner, by string) (string, error) {
	ids, err := m.Erasing.OfLearner(ctx, tenant, learner)
	if errors.Is(err, ErrErasuresBehind) {
		return "", &requestError{http.StatusServiceUnavailable, "the server is starting and still reading its erasures; nothing was erased, try again"}
	}
	if err != nil {
		return "", fmt.Errorf("erasures of the learner: %w", err)
	}
	if n := len(ids); n > 0 {
		rec, err := m.Erasing.Receipt(ctx, tenant, ids[n-1])
		if err != nil && !errors.Is(err, projections.ErrNotFound) {
			return "", fmt.Errorf("receipt: %w", err)
		}
		if err != nil || !rec.Complete() {
			return ids[n-1], nil
		}
	}
	known, err := m.Erasing.Known(ctx, tenant, learner)
	if err != nil {
		return "", fmt.Errorf("look up: %w", err)
	}
	if !known {
		if len(ids) == 0 {
			return "", &requestError{http.StatusNotFound, "learner: this tenant holds no data of this learner"}
		}
		return ids[len(ids)-1], nil
	}
	id, err := m.Erasing.Request(ctx, tenant, learner, by)
	if err != nil {
		m.log().Error("erase learner: request", "err", err)
		return "", &requestError{http.StatusServiceUnavailable, "could not record the erasure request; nothing was erased, try again"}
	}
	// The learner key stays out of the log: the erasure id is what the
	// operator keeps.
	m.log().Info("erasure requested", "erasure", id, "tenant", tenant, "by", by)
	return id, nil
}

// await polls the receipt until it is complete or wait has passed.
func (m ErasureModule) await(ctx context.Context, tenant, id string, wait time.Duration) (projections.Receipt, error) {
	deadline := time.Now().Add(wait)
	for {
		rec, err := m.Erasing.Receipt(ctx, tenant, id)
		if (err == nil && rec.Complete()) || time.Now().After(deadline) {
			return rec, err
		}
		if err != nil && !errors.Is(err, projections.ErrNotFound) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (m ErasureModule) receipt(w http.ResponseWriter, r *http.Request) {
	rec, err := m.Erasing.Receipt(r.Context(), credential(r).Tenant, r.PathValue("id"))
	switch {
	case errors.Is(err, projections.ErrNotFound):
		writeError(w, http.StatusNotFound, "id: this tenant has no erasure with this id")
	case err != nil:
		m.log().Error("erasure receipt", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the erasure receipt")
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}
