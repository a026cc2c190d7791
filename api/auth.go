package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/learnstream/learnstream/projections"
)

// Authenticator checks HTTP Basic credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, key, secret string) (projections.Credential, error)
}

type credentialKey struct{}

// credential returns the authenticated credential of a request.
func credential(r *http.Request) projections.Credential {
	c, _ := r.Context().Value(credentialKey{}).(projections.Credential)
	return c
}

// requireAuth rejects requests without valid credentials holding one of the
// scopes. The realm tells browsers and players what to ask for.
func (s *Server) requireAuth(next http.HandlerFunc, scopes ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, secret, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="learnstream"`)
			writeError(w, http.StatusUnauthorized, "authentication required: HTTP Basic credentials")
			return
		}
		cred, err := s.cfg.Auth.Authenticate(r.Context(), key, secret)
		if err != nil {
			if !errors.Is(err, projections.ErrBadCredentials) {
				s.log.Error("authenticate", "err", err)
				writeError(w, http.StatusInternalServerError, "could not check credentials")
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="learnstream"`)
			writeError(w, http.StatusUnauthorized, "invalid credentials")
			return
		}
		if n, _ := r.Context().Value(accessNoteKey{}).(*accessNote); n != nil && !n.authenticated(r.Context(), s.cfg.Audit, cred.Key, cred.Tenant) {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the access audit cannot record this read now (its queue is full); retry later")
			return
		}
		if !cred.Has(scopes...) {
			writeError(w, http.StatusForbidden, "credential lacks a required scope (one of "+joinScopes(scopes)+")")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), credentialKey{}, cred)))
	}
}

func joinScopes(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
