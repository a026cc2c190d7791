package api

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

// lrs serves the xAPI resources under /xapi/.
type lrs struct {
	*Server
	be     *XAPI
	spoken spokenVersions
}

// Scope sets of the resources (xAPI Communication 4.2).
var (
	scopesStatementsWrite = []string{"all", "statements/write"}
	scopesStatementsRead  = []string{"all", "all/read", "statements/read", "statements/read/mine"}
	scopesStateRead       = []string{"all", "all/read", "state"}
	scopesStateWrite      = []string{"all", "state"}
	scopesProfileRead     = []string{"all", "all/read", "profile"}
	scopesProfileWrite    = []string{"all", "profile"}
	// Activities and Agents describe what statements taught the LRS;
	// every credential may read them.
	scopesDescribe = []string{"all", "all/read", "statements/read", "statements/read/mine", "statements/write", "define", "state", "profile"}
)

// onlyMine reports whether a credential may read only the statements it
// stored itself (statements/read/mine without a broader read scope).
func onlyMine(r *http.Request) bool {
	c := credential(r)
	return !c.Has("all", "all/read", "statements/read")
}

// wrap adds what every /xapi/ resource but About has: CORS, the alternate
// request syntax, and the version rule (the request names 1.0.x or 2.0.x,
// and the answer names the version it is given in: 1.0.3 or 2.0.0).
func (x *lrs) wrap(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x.cors(w, r)
		w.Header().Set("X-Experience-API-Version", xapi.Latest.Header())
		if r.Method == http.MethodPost && r.URL.Query().Has("method") {
			x.alternate(w, r)
			return
		}
		r, ok := x.negotiate(w, r)
		if !ok {
			return
		}
		next(w, r)
	}
}

// cors lets browser content call the LRS from another origin with
// credentials, as content players do.
func (x *lrs) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Add("Vary", "Origin")
	if len(x.be.AllowedOrigins) > 0 && !slices.Contains(x.be.AllowedOrigins, origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "ETag, Last-Modified, Content-Type, X-Experience-API-Version, X-Experience-API-Consistent-Through")
}

// preflight answers CORS preflight requests, which carry no credentials.
func (x *lrs) preflight(w http.ResponseWriter, r *http.Request) {
	x.cors(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		w.Header().Set("Access-Control-Allow-Methods", "HEAD, GET, POST, PUT, DELETE, OPTIONS")
		allow := r.Header.Get("Access-Control-Request-Headers")
		if allow == "" {
			allow = "Authorization, Content-Type, X-Experience-API-Version, If-Match, If-None-Match, Accept-Language"
		}
		w.Header().Set("Access-Control-Allow-Headers", allow)
		w.Header().Set("Access-Control-Max-Age", "86400")
	}
	w.Header().Set("X-Experience-API-Version", aboutSpec(r).Header())
	w.WriteHeader(http.StatusNoContent)
}

// alternateHeaders are the form fields of the alternate request syntax
// that are headers rather than parameters (Communication 1.3).
var alternateHeaders = []string{"Authorization", "X-Experience-API-Version", "Content-Type", "Content-Length", "If-Match", "If-None-Match", "Accept-Language"}

// alternate serves a POST with method= in the query and the headers,
// parameters and content in a form body, for clients that can send
// neither PUT nor custom headers (browsers across origins): it rebuilds
// the request they meant and serves that.
func (x *lrs) alternate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q) != 1 || len(q["method"]) != 1 {
		writeError(w, http.StatusBadRequest, "alternate request syntax: the query may hold only method; put every other parameter in the form body")
		return
	}
	method := q.Get("method")
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter method: %q is not GET, HEAD, PUT, POST or DELETE", method))
		return
	}
	if mt := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]); !strings.EqualFold(mt, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, "alternate request syntax: Content-Type must be application/x-www-form-urlencoded")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "alternate request syntax: form body: "+err.Error())
		return
	}
	// xAPI 2.0 dropped the alternate request syntax (Communication 1.3):
	// a request naming 2.0, as a header or as a form field, is refused.
	v := r.Header.Get("X-Experience-API-Version")
	for k, vs := range form {
		if v == "" && strings.EqualFold(k, "X-Experience-API-Version") {
			v = vs[0]
		}
	}
	if s, ok := xapi.SpecOf(v); ok && s == xapi.Spec2 {
		w.Header().Set("X-Experience-API-Version", s.Header())
		writeError(w, http.StatusBadRequest, "alternate request syntax (method= in the query) is not part of xAPI 2.0: send "+method+" with real headers, or name X-Experience-API-Version 1.0.3")
		return
	}
	r2 := r.Clone(r.Context())
	r2.Method = method
	r2.Header = r.Header.Clone()
	// The form's header fields replace the request's own; the request's
	// Authorization stays unless the form brings one (Communication 1.3).
	r2.Header.Del("Content-Type")
	r2.Header.Del("Content-Length")
	params := url.Values{}
	content := ""
	for k, vs := range form {
		switch {
		case k == "content":
			content = vs[0]
		case k == "method":
			writeError(w, http.StatusBadRequest, "alternate request syntax: method must not be repeated in the form body")
			return
		case slices.ContainsFunc(alternateHeaders, func(h string) bool { return strings.EqualFold(h, k) }):
			r2.Header.Set(k, vs[0])
		default:
			params[k] = vs
		}
	}
	r2.Header.Del("Content-Length")
	r2.URL.RawQuery = params.Encode()
	r2.Body = io.NopCloser(strings.NewReader(content))
	r2.ContentLength = int64(len(content))
	x.mux.ServeHTTP(w, r2)
}

// noMethod answers POSTs to resources that take none (unless they use the
// alternate syntax, which wrap serves first).
func (x *lrs) noMethod(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not a resource method", r.Method, r.URL.Path))
}

// about lists every version the LRS speaks. It needs no version header;
// when the request names one it is answered in that version.
func (x *lrs) about(w http.ResponseWriter, r *http.Request) {
	x.cors(w, r)
	w.Header().Set("X-Experience-API-Version", aboutSpec(r).Header())
	writeJSON(w, http.StatusOK, map[string]any{
		"version":    []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"},
		"extensions": map[string]any{},
	})
}

// aboutSpec is the version of an answer that needs no version header.
func aboutSpec(r *http.Request) xapi.Spec {
	if s, ok := xapi.SpecOf(r.Header.Get("X-Experience-API-Version")); ok {
		return s
	}
	return xapi.Latest
}

// checkParams rejects parameters a resource does not know, repeated ones,
// and wrongly cased ones (the specification's names are case-sensitive).
func checkParams(q url.Values, allowed ...string) error {
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			for _, a := range allowed {
				if strings.EqualFold(a, k) {
					return badRequest("parameter %s: unknown (parameter names are case-sensitive: %s)", k, a)
				}
			}
			return badRequest("parameter %s: unknown here (allowed: %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return badRequest("parameter %s: given more than once", k)
		}
	}
	return nil
}

func parseBool(q url.Values, name string) (bool, error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil || (v[0] != "true" && v[0] != "false") {
		return false, badRequest("parameter %s: %q is not true or false", name, v[0])
	}
	return b, nil
}

func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
