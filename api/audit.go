package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/learnstream/learnstream/domain/privacy"
)

// AccessRecorder records reads of learner data (streams.AccessAuditor):
// Reserve before the read, Record after it.
type AccessRecorder interface {
	// Reserve takes room for one record; false when there is none and
	// the read must be refused.
	Reserve(ctx context.Context) bool
	// Record queues the record of a reserved slot.
	Record(tenant string, r privacy.AccessRecorded)
}

// accessNote collects, during one audited request, who read and whose
// data: requireAuth fills in the credential, handlers the learners.
type accessNote struct {
	mu        sync.Mutex
	reserved  bool
	cred      string
	tenant    string
	learners  []string
	seen      map[string]bool
	truncated bool
}

type accessNoteKey struct{}

// noteLearners adds learner keys whose data the request reads to its
// access record (no effect on a request that is not audited).
func noteLearners(r *http.Request, keys ...string) {
	n, _ := r.Context().Value(accessNoteKey{}).(*accessNote)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		if k == "" || n.seen[k] {
			continue
		}
		if len(n.learners) == privacy.MaxAccessLearners {
			n.truncated = true
			return
		}
		if n.seen == nil {
			n.seen = map[string]bool{}
		}
		n.seen[k] = true
		n.learners = append(n.learners, k)
	}
}

// auditing reports whether r is an audited request.
func auditing(r *http.Request) bool {
	n, _ := r.Context().Value(accessNoteKey{}).(*accessNote)
	return n != nil
}

// NoteLearners is noteLearners for modules outside this package.
func NoteLearners(r *http.Request, keys ...string) { noteLearners(r, keys...) }

// authenticated is called by requireAuth once the credential is known:
// an audited request reserves its record here, before any scope check, so
// that refused attempts are recorded too. false: no room, refuse.
func (n *accessNote) authenticated(ctx context.Context, a AccessRecorder, key, tenant string) bool {
	if !a.Reserve(ctx) {
		return false
	}
	n.reserved, n.cred, n.tenant = true, key, tenant
	return true
}

// audited records every authenticated request of next as an access
// record: the route pattern, the status, and the pseudonyms of the
// learners it read (the {learner} path value, and whatever the handler
// notes). Without an AccessRecorder it is next.
func (s *Server) audited(next http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Audit == nil || s.cfg.Pseudonyms == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now().UTC()
		n := &accessNote{}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), accessNoteKey{}, n))
		if v := r.PathValue("learner"); v != "" {
			noteLearners(r, learnerKey(v))
		}
		// Deferred, so that a handler that panics (an export aborted
		// midway) is recorded too and its slot is not lost.
		defer func() {
			if !n.reserved {
				return // never authenticated: nobody read anything
			}
			status := rec.code
			p := recover()
			if p != nil {
				status = http.StatusInternalServerError
			}
			n.mu.Lock()
			ps := make([]string, 0, len(n.learners))
			for _, k := range n.learners {
				ps = append(ps, s.cfg.Pseudonyms.Pseudonym(n.tenant, k))
			}
			a := privacy.AccessRecorded{Credential: n.cred, Route: r.Pattern, Status: status, Learners: ps,
				Truncated: n.truncated, At: start}
			n.mu.Unlock()
			s.cfg.Audit.Record(n.tenant, a)
			if p != nil {
				panic(p)
			}
		}()
		next(rec, r)
	}
}

// auditedRoute reports whether a route pattern reads learners' data:
// every GET under /v1/learners/{learner}/, the SSE feeds of learner
// events under /v1/streams/ (recorded when the stream ends, with the time
// it began), and a webhook's dead letters (the messages they hold).
func auditedRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "GET /v1/learners/{learner}") || strings.HasPrefix(pattern, "GET /v1/streams/") ||
		pattern == "GET /v1/webhooks/{id}/dead-letters"
}
