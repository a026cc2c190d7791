package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/learnstream/learnstream/projections"
)

// scopesAdmin administer a tenant (its credentials, its share of the
// projections); projections.ScopeOperator administers the cluster and
// every tenant.
var scopesAdmin = []string{"all", projections.ScopeOperator}

// isOperator reports whether a credential administers the cluster rather
// than one tenant.
func isOperator(c projections.Credential) bool { return c.Has(projections.ScopeOperator) }

// queryTenant returns the tenant a read is about: the caller's own, or the
// one ?tenant= names when the caller is an operator. Anyone else naming
// another tenant is answered 403, with what says what they may not read.
func queryTenant(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	caller := credential(r)
	q := r.URL.Query().Get("tenant")
	if q == "" || q == caller.Tenant {
		return caller.Tenant, true
	}
	if !isOperator(caller) {
		writeError(w, http.StatusForbidden, "tenant: only operator credentials may "+what)
		return "", false
	}
	return q, true
}

// credentialRequest is the body of POST /v1/admin/credentials.
type credentialRequest struct {
	Key    string   `json:"key"`
	Secret string   `json:"secret"`
	Name   string   `json:"name"`
	Tenant string   `json:"tenant"`
	Scopes []string `json:"scopes"`
}

// credentialInfo is a credential as listed: never its hash.
type credentialInfo struct {
	Key     string    `json:"key"`
	Name    string    `json:"name"`
	Tenant  string    `json:"tenant"`
	Scopes  []string  `json:"scopes"`
	Created time.Time `json:"created"`
}

// createCredential serves POST /v1/admin/credentials: a new key/secret for
// the caller's tenant (or, for operators, any tenant, with any scope). The
// secret is shown in this answer only; the log and the store keep a hash.
func (x *lrs) createCredential(w http.ResponseWriter, r *http.Request) {
	var req credentialRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeRequestError(w, badRequest("body: %v", err))
		return
	}
	caller := credential(r)
	if req.Tenant == "" {
		req.Tenant = caller.Tenant
	}
	if !isOperator(caller) {
		if req.Tenant != caller.Tenant {
			writeError(w, http.StatusForbidden, "tenant: only operator credentials may create credentials for another tenant")
			return
		}
		if slices.Contains(req.Scopes, projections.ScopeOperator) {
			writeError(w, http.StatusForbidden, "scopes: only operator credentials may grant the operator scope")
			return
		}
		// Erasure is destructive: a tenant administrator does not hand
		// it out unless it holds it.
		if slices.Contains(req.Scopes, projections.ScopePrivacy) && !caller.Has(projections.ScopePrivacy) {
			writeError(w, http.StatusForbidden, "scopes: only operator or privacy credentials may grant the privacy scope")
			return
		}
	}
	if req.Key == "" {
		req.Key = projections.GenerateSecret()[:16]
	}
	if req.Secret == "" {
		req.Secret = projections.GenerateSecret()
	}
	if req.Name == "" {
		req.Name = req.Key
	}
	if old, err := x.be.Credentials.Get(r.Context(), req.Key); err == nil && !isOperator(caller) {
		switch {
		case old.Tenant != caller.Tenant:
			// Replacing another tenant's key would take it over.
			writeError(w, http.StatusConflict, "key: "+req.Key+" is taken")
			return
		case isOperator(old):
			// Replacing it would take the operator scope from the install.
			writeError(w, http.StatusForbidden, "key: "+req.Key+" is an operator credential; only operator credentials may replace it")
			return
		}
	}
	if _, err := x.be.Credentials.Put(r.Context(), req.Key, req.Secret, req.Name, req.Tenant, req.Scopes); err != nil {
		var invalid *projections.CredentialError
		if errors.As(err, &invalid) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		x.log.Error("create credential", "key", req.Key, "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not store the credential, retry later: "+err.Error())
		return
	}
	x.log.Info("credential created", "key", req.Key, "tenant", req.Tenant, "scopes", strings.Join(req.Scopes, ","), "by", caller.Key)
	writeJSON(w, http.StatusCreated, req)
}

// listCredentials serves GET /v1/admin/credentials: the caller's tenant's
// credentials; an operator's ?tenant= names another tenant, or "*" all.
func (x *lrs) listCredentials(w http.ResponseWriter, r *http.Request) {
	tenant, ok := queryTenant(w, r, "list another tenant's credentials")
	if !ok {
		return
	}
	if tenant == "*" && tenant != credential(r).Tenant {
		tenant = "" // all tenants
	}
	creds, err := x.be.Credentials.List(r.Context(), tenant)
	if err != nil {
		x.log.Error("list credentials", "err", err)
		writeError(w, http.StatusInternalServerError, "could not list credentials")
		return
	}
	out := make([]credentialInfo, 0, len(creds))
	for _, c := range creds {
		out = append(out, credentialInfo{Key: c.Key, Name: c.Name, Tenant: c.Tenant, Scopes: c.Scopes, Created: c.Created})
	}
	writeJSON(w, http.StatusOK, out)
}

// revokeCredential serves DELETE /v1/admin/credentials/{key}. A tenant
// administrator revokes only its tenant's credentials; another tenant's
// key answers 404, as an unknown one does, so keys do not leak.
func (x *lrs) revokeCredential(w http.ResponseWriter, r *http.Request) {
	caller := credential(r)
	key := r.PathValue("key")
	c, err := x.be.Credentials.Get(r.Context(), key)
	if errors.Is(err, projections.ErrUnknownCredential) || err == nil && c.Tenant != caller.Tenant && !isOperator(caller) {
		writeError(w, http.StatusNotFound, "credential "+key+" does not exist")
		return
	}
	if err == nil && isOperator(c) && !isOperator(caller) {
		writeError(w, http.StatusForbidden, "credential "+key+" is an operator credential; only operator credentials may revoke it")
		return
	}
	if err == nil {
		err = x.be.Credentials.Revoke(r.Context(), key)
	}
	if err != nil {
		x.log.Error("revoke credential", "key", key, "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not revoke the credential, retry later: "+err.Error())
		return
	}
	x.log.Info("credential revoked", "key", key, "tenant", c.Tenant, "by", caller.Key)
	w.WriteHeader(http.StatusNoContent)
}
