package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"sync"

	"github.com/learnstream/learnstream/domain/xapi"
)

// The LRS serves xAPI 1.0.3 and xAPI 2.0.0 side by side: each request's
// X-Experience-API-Version header chooses the rules it is checked by and
// the version every answer names. See docs/xapi.md, "xAPI 1.0.3 and 2.0.0".

type specKey struct{}

// requestSpec returns the xAPI version a request named; requests that
// reached a resource always named one (wrap refuses the others).
func requestSpec(r *http.Request) xapi.Spec {
	if s, ok := r.Context().Value(specKey{}).(xapi.Spec); ok {
		return s
	}
	return xapi.Latest
}

func withSpec(r *http.Request, s xapi.Spec) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), specKey{}, s))
}

// spokenVersions remembers, per credential key, the xAPI version its last
// authenticated request named. A request that names no version (or one the
// LRS does not serve) is refused with 400, and that answer must name a
// version: the one this client has been speaking tells it what to fix
// better than the newest one would (a 1.0.3 content player cannot act on
// "2.0.0"). Without history, the answer names the newest version. Keys
// enter only after authentication, so the map holds at most one entry per
// credential; an entry answers only a request that carries the same key
// and secret, so a guessed key learns nothing.
type spokenVersions struct {
	m sync.Map // credential key → spoken
}

type spoken struct {
	auth [sha256.Size]byte // of the key and secret that named spec
	spec xapi.Spec
}

func basicAuthDigest(key, secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(key + "\x00" + secret))
}

func (v *spokenVersions) remember(r *http.Request, key string, s xapi.Spec) {
	k, secret, ok := r.BasicAuth()
	if !ok || k != key {
		return
	}
	e := spoken{auth: basicAuthDigest(k, secret), spec: s}
	if old, ok := v.m.Load(key); !ok || old.(spoken) != e {
		v.m.Store(key, e)
	}
}

// guess names the version for a request that named none usable.
func (v *spokenVersions) guess(r *http.Request) xapi.Spec {
	if key, secret, ok := r.BasicAuth(); ok {
		if e, ok := v.m.Load(key); ok {
			d := basicAuthDigest(key, secret)
			if got := e.(spoken); subtle.ConstantTimeCompare(got.auth[:], d[:]) == 1 {
				return got.spec
			}
		}
	}
	return xapi.Latest
}

// negotiate reads the version header of a request to a resource other
// than About. It sets the answer's X-Experience-API-Version and returns the
// request carrying the chosen version, or answers 400 itself.
func (x *lrs) negotiate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	v := r.Header.Get("X-Experience-API-Version")
	s, ok := xapi.SpecOf(v)
	if !ok {
		g := x.spoken.guess(r)
		w.Header().Set("X-Experience-API-Version", g.Header())
		if v == "" {
			writeError(w, http.StatusBadRequest, "header X-Experience-API-Version is required (2.0.0 or 1.0.3)")
		} else {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("header X-Experience-API-Version: %q is not supported (2.0.x or 1.0.x)", v))
		}
		return r, false
	}
	w.Header().Set("X-Experience-API-Version", s.Header())
	return withSpec(r, s), true
}

// rememberVersion records the version an authenticated request named.
func (x *lrs) rememberVersion(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c := credential(r); c.Key != "" {
			x.spoken.remember(r, c.Key, requestSpec(r))
		}
		next(w, r)
	}
}
