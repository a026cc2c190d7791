package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// XAPIVersion is the version this LRS speaks.
const XAPIVersion = "1.0.3"

var (
	statementsAccepted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_accepted_total",
		Help: "Statements accepted and published to the statements topic.",
	})
	consistencyTimeouts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_consistency_timeouts_total",
		Help: "Writes answered before the statements projection applied them.",
	})
	backpressure = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_backpressure_total",
		Help: "Writes refused with 503 because the statements projection was too far behind.",
	})
)

// xapi adds the xAPI version handling every /xapi/ resource but About has:
// the request must name a 1.0.x version, and every answer names ours.
func (s *Server) xapi(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Experience-API-Version", XAPIVersion)
		v := r.Header.Get("X-Experience-API-Version")
		if v == "" {
			writeError(w, http.StatusBadRequest, "header X-Experience-API-Version is required (1.0.x)")
			return
		}
		if v != "1.0" && !strings.HasPrefix(v, "1.0.") {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("header X-Experience-API-Version: %q is not supported (1.0.x)", v))
			return
		}
		next(w, r)
	}
}

func (s *Server) about(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Experience-API-Version", XAPIVersion)
	writeJSON(w, http.StatusOK, map[string]any{"version": []string{XAPIVersion}})
}

// readBody reads a JSON request body, answering 413 or 400 itself.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("header Content-Type: %q is not supported here (application/json)", ct))
			return nil, false
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) authority(cred projections.Credential) xapi.Agent {
	return xapi.Agent{ObjectType: "Agent", Name: cred.Name,
		Account: &xapi.Account{HomePage: s.cfg.AuthorityHome, Name: cred.Key}}
}

// overloaded answers 503 when the statements projection is too far behind.
func (s *Server) overloaded(w http.ResponseWriter) bool {
	if s.cfg.Backlog == nil || s.cfg.MaxBacklog <= 0 {
		return false
	}
	if n := s.cfg.Backlog(); n > s.cfg.MaxBacklog {
		backpressure.Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable,
			fmt.Sprintf("ingest paused: the statements projection is %d events behind (limit %d); retry shortly", n, s.cfg.MaxBacklog))
		return true
	}
	return false
}

func (s *Server) postStatements(w http.ResponseWriter, r *http.Request) {
	if s.overloaded(w) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	sts, err := xapi.ParseStatements(body)
	if err != nil {
		writeInputError(w, err)
		return
	}
	if len(sts) > s.cfg.MaxBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch of %d statements exceeds the limit of %d", len(sts), s.cfg.MaxBatch))
		return
	}
	ids, status, msg := s.store(r.Context(), credential(r), sts)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	s.consistentThrough(w)
	writeJSON(w, http.StatusOK, ids)
}

func (s *Server) putStatement(w http.ResponseWriter, r *http.Request) {
	if s.overloaded(w) {
		return
	}
	id := r.URL.Query().Get("statementId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "parameter statementId is required for PUT")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	st, err := xapi.ParseStatement(body)
	if err != nil {
		writeInputError(w, err)
		return
	}
	if !xapi.IsUUID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter statementId: %q is not a UUID", id))
		return
	}
	if st.ID != "" && !strings.EqualFold(st.ID, id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("statement id %q does not match parameter statementId %q", st.ID, id))
		return
	}
	st.ID = id
	if _, status, msg := s.store(r.Context(), credential(r), []*xapi.Statement{st}); status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	s.consistentThrough(w)
	w.WriteHeader(http.StatusNoContent)
}

// store validates a batch as a whole, publishes it and waits until it is
// readable. Nothing is published unless every statement is acceptable.
func (s *Server) store(ctx context.Context, cred projections.Credential, sts []*xapi.Statement) ([]string, int, string) {
	// Millisecond precision: what xAPI timestamps customarily carry, and
	// what every client library parses.
	now := time.Now().UTC().Truncate(time.Millisecond)
	auth := s.authority(cred)
	ids := make([]string, len(sts))
	seen := make(map[string]int, len(sts))
	var evs []event.Event
	for i, st := range sts {
		if st.ID != "" {
			key := strings.ToLower(st.ID)
			if j, dup := seen[key]; dup {
				return nil, http.StatusBadRequest, fmt.Sprintf("statements[%d].id: %s repeats statements[%d].id", i, st.ID, j)
			}
			seen[key] = i
			// An id that is already stored: the same statement again is a
			// no-op; a different one is a conflict (statements are immutable).
			old, err := s.cfg.Statements.Statement(ctx, cred.Tenant, st.ID)
			switch {
			case err == nil:
				prev, perr := xapi.ParseStatement(old)
				if perr != nil {
					s.log.Error("stored statement unreadable", "id", st.ID, "err", perr)
					return nil, http.StatusInternalServerError, "stored statement is unreadable"
				}
				if !xapi.Equivalent(prev, st) {
					return nil, http.StatusConflict, fmt.Sprintf("statements[%d].id: %s is already stored with different content", i, st.ID)
				}
				ids[i] = prev.ID
				continue
			case !errors.Is(err, projections.ErrNotFound):
				s.log.Error("read statement", "id", st.ID, "err", err)
				return nil, http.StatusInternalServerError, "could not read statements"
			}
		}
		st.Prepare(watermill.NewUUID(), now, auth)
		ids[i] = st.ID
		data, err := json.Marshal(st)
		if err != nil {
			return nil, http.StatusInternalServerError, "encoding statement: " + err.Error()
		}
		e, err := event.New(watermill.NewUUID(), event.TypeStatementStored, s.cfg.Source, cred.Tenant, st.LearnerKey(), now, data)
		if err != nil {
			return nil, http.StatusInternalServerError, err.Error()
		}
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		return ids, http.StatusOK, ""
	}
	if s.cfg.Waiters != nil {
		for _, e := range evs {
			s.cfg.Waiters.Register(e.ID)
		}
	}
	if err := s.cfg.Publisher.PublishEvents(ctx, s.cfg.StatementsTopic, evs...); err != nil {
		for _, e := range evs {
			s.cfg.Waiters.Forget(e.ID)
		}
		s.log.Error("publish statements", "count", len(evs), "err", err)
		return nil, http.StatusServiceUnavailable, "the event log is unavailable; nothing was stored, retry later"
	}
	statementsAccepted.Add(float64(len(evs)))
	if s.cfg.Waiters == nil {
		return ids, http.StatusOK, ""
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ConsistencyTimeout)
	defer cancel()
	for i, e := range evs {
		o, err := s.cfg.Waiters.Wait(wctx, e.ID)
		if err != nil {
			// Durable in the log, so success; the projection will catch up.
			consistencyTimeouts.Inc()
			s.log.Warn("statement accepted before it was projected", "event", e.ID, "err", err)
			for _, rest := range evs[i+1:] {
				s.cfg.Waiters.Forget(rest.ID)
			}
			break
		}
		if o == projections.Conflict {
			// A concurrent write of the same id with other content won.
			return nil, http.StatusConflict, "a statement id in the batch was stored concurrently with different content"
		}
	}
	return ids, http.StatusOK, ""
}

func (s *Server) getStatements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("statementId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "parameter statementId is required (statement queries are not supported yet)")
		return
	}
	for k := range q {
		if k != "statementId" && k != "format" && k != "attachments" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %s: not allowed with statementId", k))
			return
		}
	}
	b, err := s.cfg.Statements.Statement(r.Context(), credential(r).Tenant, id)
	if errors.Is(err, projections.ErrNotFound) {
		s.consistentThrough(w)
		writeError(w, http.StatusNotFound, fmt.Sprintf("statement %s not found", id))
		return
	}
	if err != nil {
		s.log.Error("read statement", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "could not read statement")
		return
	}
	s.consistentThrough(w)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// consistentThrough sets X-Experience-API-Consistent-Through. Writes answer
// only after they are projected, so everything acknowledged before now is
// visible.
func (s *Server) consistentThrough(w http.ResponseWriter) {
	w.Header().Set("X-Experience-API-Consistent-Through", time.Now().UTC().Format(time.RFC3339Nano))
}
