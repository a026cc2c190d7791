package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// ProjectionStatus describes one projection. Operators see all of it; a
// tenant's administrator sees the name and its own tenant's counts, since
// offsets and lag of shared topics tell of every tenant's traffic.
type ProjectionStatus struct {
	Name       string `json:"name"`
	Generation uint32 `json:"generation,omitempty"`
	Topic      string `json:"topic,omitempty"`
	Lag        int64  `json:"lag,omitempty"`
	// Counts are the projection's record counts for one tenant: the
	// caller's, or the one an operator names with ?tenant=.
	Counts     map[string]int64 `json:"counts,omitempty"`
	Partitions []PartitionInfo  `json:"partitions,omitempty"`
	Replay     *ReplayStatus    `json:"replay,omitempty"`
}

// PartitionInfo is a projection's position in one partition.
type PartitionInfo struct {
	Partition int   `json:"partition"`
	Next      int64 `json:"next_offset"`
	End       int64 `json:"end_offset"`
	Lag       int64 `json:"lag"`
}

// ReplayStatus is the state of the latest replay of a projection.
type ReplayStatus struct {
	State    string `json:"state"` // running, done, failed
	Done     int64  `json:"done"`
	Total    int64  `json:"total"`
	Started  string `json:"started"`
	Finished string `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Admin is what the operator endpoints need from the process.
type Admin interface {
	// Projections lists the read models, with tenant's counts when counts
	// is set: some counts walk read models the size of the population,
	// so a caller that only wants positions (the projections and replay
	// commands) asks without.
	Projections(ctx context.Context, tenant string, counts bool) ([]ProjectionStatus, error)
	// Replay starts rebuilding a projection from offset 0 and returns at
	// once; Projections reports its progress.
	Replay(ctx context.Context, name string) (ProjectionStatus, error)
}

// Errors an Admin returns for the HTTP layer to map.
var (
	ErrUnknownProjection = errors.New("unknown projection")
	ErrReplayRunning     = errors.New("a replay of this projection is already running")
)

// ProgressReader reads learner progress.
type ProgressReader interface {
	Learner(ctx context.Context, tenant, learner string) ([]projections.ActivityProgress, error)
}

// Module is a set of /v1/ endpoints a role contributes (catalog,
// recommendations, mastery...). Roles live outside this package's core, so
// they register through a Router instead of editing the server.
type Module interface {
	Register(r Router)
}

// ProgressExtension is implemented by a Module that adds fields to the
// answer of GET /v1/learners/{learner}/progress (the adaptive module adds
// effect evaluation). There is one progress endpoint; modules extend it
// rather than register a second one. The returned fields are merged into
// the answer; "learner" and "activities" stay the server's.
type ProgressExtension interface {
	ExtendProgress(ctx context.Context, tenant, learner string, activities []projections.ActivityProgress) (map[string]any, error)
}

// Router registers authenticated endpoints.
type Router interface {
	// Handle serves pattern (a net/http pattern with method, e.g.
	// "GET /v1/learners/{learner}/mastery") to callers holding any scope.
	Handle(pattern string, h http.HandlerFunc, scopes ...string)
}

type router struct{ s *Server }

func (r router) Handle(pattern string, h http.HandlerFunc, scopes ...string) {
	h = r.s.requireAuth(h, scopes...)
	if auditedRoute(pattern) {
		h = r.s.audited(h)
	}
	r.s.handle(pattern, h)
}

// Tenant is the tenant of an authenticated request.
func Tenant(r *http.Request) string { return credential(r).Tenant }

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteError answers status with a JSON error body.
func WriteError(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }

// WriteFieldError answers 400 naming the field and the rule it broke.
func WriteFieldError(w http.ResponseWriter, field, rule string) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + rule, Field: field, Rule: rule})
}

// LearnerKey turns a {learner} path value into a learner key.
func LearnerKey(v string) string { return learnerKey(v) }

// v1Routes are the REST routes under /v1/ that this process can serve.
func (s *Server) v1Routes() {
	for _, m := range s.cfg.Modules {
		m.Register(router{s})
	}
	if s.cfg.Admin != nil {
		s.handle("GET /v1/admin/projections", s.requireAuth(s.listProjections, scopesAdmin...))
		// Projections are shared by every tenant: rebuilding one is the
		// cluster operator's decision.
		s.handle("POST /v1/admin/projections/{name}/replay", s.requireAuth(s.replayProjection, projections.ScopeOperator))
	}
	if s.cfg.Progress != nil || len(s.progressExtensions()) > 0 {
		s.handle("GET /v1/learners/{learner}/progress", s.audited(s.requireAuth(s.learnerProgress, "all", "all/read")))
	}
}

func (s *Server) progressExtensions() []ProgressExtension {
	var out []ProgressExtension
	for _, m := range s.cfg.Modules {
		if x, ok := m.(ProgressExtension); ok {
			out = append(out, x)
		}
	}
	return out
}

// learnerKey turns the {learner} path value into a learner key: a learner
// key as in events (mbox:mailto:..., account:<home>|<name>, ...), or for
// convenience an mbox IRI (mailto:...) or a bare e-mail address, which are
// normalised the way statements' actors are.
func learnerKey(v string) string {
	switch {
	case strings.HasPrefix(v, "mailto:"):
		return xapi.ActorKey(xapi.Agent{Mbox: v})
	case strings.Contains(v, "@") && !strings.Contains(v, ":"):
		return xapi.ActorKey(xapi.Agent{Mbox: "mailto:" + v})
	}
	return v
}

func (s *Server) learnerProgress(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	var ps []projections.ActivityProgress
	if s.cfg.Progress != nil {
		var err error
		if ps, err = s.cfg.Progress.Learner(r.Context(), credential(r).Tenant, learner); err != nil {
			s.log.Error("learner progress", "err", err)
			writeError(w, http.StatusInternalServerError, "could not read progress")
			return
		}
	}
	if ps == nil {
		ps = []projections.ActivityProgress{}
	}
	out := map[string]any{}
	for _, x := range s.progressExtensions() {
		more, err := x.ExtendProgress(r.Context(), credential(r).Tenant, learner, ps)
		if err != nil {
			s.log.Error("learner progress", "err", err)
			writeError(w, http.StatusInternalServerError, "could not read progress")
			return
		}
		for k, v := range more {
			out[k] = v
		}
	}
	out["learner"], out["activities"] = learner, ps
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listProjections(w http.ResponseWriter, r *http.Request) {
	tenant, ok := queryTenant(w, r, "read another tenant's counts")
	if !ok {
		return
	}
	counts := true
	if q := r.URL.Query(); q.Has("counts") {
		var err error
		if counts, err = parseBool(q, "counts"); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	ps, err := s.cfg.Admin.Projections(r.Context(), tenant, counts)
	if err != nil {
		s.log.Error("list projections", "err", err)
		writeError(w, http.StatusInternalServerError, "could not list projections: "+err.Error())
		return
	}
	if !isOperator(credential(r)) {
		for i, p := range ps {
			ps[i] = ProjectionStatus{Name: p.Name, Counts: p.Counts}
		}
	}
	writeJSON(w, http.StatusOK, ps)
}

func (s *Server) replayProjection(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Admin.Replay(r.Context(), r.PathValue("name"))
	switch {
	case errors.Is(err, ErrUnknownProjection):
		writeError(w, http.StatusNotFound, "projection "+r.PathValue("name")+" does not exist")
	case errors.Is(err, ErrReplayRunning):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		s.log.Error("start replay", "projection", r.PathValue("name"), "err", err)
		writeError(w, http.StatusInternalServerError, "could not start replay: "+err.Error())
	default:
		writeJSON(w, http.StatusAccepted, st)
	}
}
