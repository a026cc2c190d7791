package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// cmi5 launch: the LMS side of cmi5's launch (section 8). The AU talks to
// an xAPI endpoint of its own launch, /cmi5/{token}/xapi/, with the auth
// token it fetched once. That endpoint is the credential's limit: it
// takes only the launch's actor and registration, enforces the cmi5
// statement rules, and issues satisfied when moveOn is met.

// cmi5FetchTTL bounds how long after the launch the fetch URL works.
const cmi5FetchTTL = 10 * time.Minute

// fetchedSuffix names a launch's cmi5 fetch marker beside its registration.
const fetchedSuffix = ".fetched"

// cmi5Doc is the LMS's record of a cmi5 registration, kept as xAPI state
// on the course (agent: the learner, registration).
type cmi5Doc struct {
	// AUs are the sessions per AU: completed, passed and failed hold for
	// the AU in the whole registration, the rest for its last session.
	AUs       map[string]content.Cmi5Session `json:"aus"`
	Met       map[string]bool                `json:"met"`
	Satisfied map[string]bool                `json:"satisfied"`
	// Session is the AU session being judged (not stored).
	Session content.Cmi5Session `json:"-"`
}

const cmi5StateID = "https://learnstream.dev/cmi5/lms-state"

func (m *PlayerModule) registerCmi5Routes(rr router) {
	rr.HandlePublic("POST /v1/cmi5/fetch/{token}", m.cmi5Fetch)
	rr.HandlePublic("POST /cmi5/{token}/xapi/statements", m.cmi5Statements)
	rr.HandlePublic("PUT /cmi5/{token}/xapi/statements", m.cmi5Statements)
	for _, meth := range []string{"GET", "PUT", "POST", "DELETE"} {
		rr.HandlePublic(meth+" /cmi5/{token}/xapi/activities/state", m.cmi5Documents(stateResource))
	}
	rr.HandlePublic("GET /cmi5/{token}/xapi/agents/profile", m.cmi5Documents(agentProfileResource))
	rr.HandlePublic("GET /cmi5/{token}/xapi/about", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": []string{"1.0.3"}})
	})
}

// launchCmi5 prepares a cmi5 launch: LMS.LaunchData, the launched
// statement, and the launch URL.
func (m *PlayerModule) launchCmi5(ctx context.Context, l *launch, token, source string) (string, error) {
	defer m.lock(l.reg.Tenant, l.reg.ID)()
	k := l.stateKey()
	k.ID = "LMS.LaunchData"
	ld, _ := json.Marshal(content.LaunchData(l.unit, l.reg.ID, l.reg.Session, ""))
	if err := m.publishDoc(ctx, l.reg.Tenant, k, ld); err != nil {
		return "", err
	}
	// The learner preferences agent profile (cmi5 section 11), when the
	// learner has none yet.
	pk := projections.DocumentKey{Resource: projections.DocAgentProfile, Agent: k.Agent, ID: "cmi5LearnerPreferences"}
	if _, err := m.x.be.Documents.Document(ctx, l.reg.Tenant, pk); errors.Is(err, projections.ErrNotFound) {
		if err := m.publishDoc(ctx, l.reg.Tenant, pk, []byte(`{"languagePreference":"en-US","audioPreference":"on"}`)); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	var sts []content.Statement
	// A previous session of this AU that never terminated is abandoned
	// (cmi5 section 9.3.8): the LMS says so before the new launch.
	doc, sk, err := m.cmi5State(ctx, l)
	if err != nil {
		return "", err
	}
	if prev, ok := doc.AUs[l.unit.IRI]; ok && prev.SessionID != l.reg.Session && prev.Initialized && !prev.Terminated {
		sts = append(sts, content.Cmi5LMSStatement(l.reg.Actor, content.Cmi5VerbAbandoned, l.unit, l.info.Course, l.reg.ID, prev.SessionID, time.Now(), nil))
		prev.Terminated = true
		doc.AUs[l.unit.IRI] = prev
		body, _ := json.Marshal(doc)
		if err := m.publishDoc(ctx, l.reg.Tenant, sk, body); err != nil {
			return "", err
		}
	}
	sts = append(sts, content.Cmi5LMSStatement(l.reg.Actor, content.Cmi5VerbLaunched, l.unit, l.info.Course, l.reg.ID, l.reg.Session, time.Now(), nil))
	if err := m.storeStatements(ctx, l, sts); err != nil {
		return "", err
	}
	actor, _ := json.Marshal(l.reg.Actor)
	base, abs := l.contentURL()
	if !abs {
		base = source + base
	}
	q := url.Values{"endpoint": {source + "/cmi5/" + token + "/xapi/"}, "fetch": {source + "/v1/cmi5/fetch/" + token},
		"actor": {string(actor)}, "registration": {l.reg.ID}, "activityId": {l.unit.IRI}}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode(), nil
}

// abandon issues abandoned for the expired launch in the registration
// file name when its cmi5 session initialized and did not terminate (and
// no later launch of the AU took over: that one issued it already). A
// launch that can no longer be loaded (its package or credential gone)
// has nothing to write under and is left to be deleted.
func (m *PlayerModule) abandon(ctx context.Context, name string) error {
	if m.x == nil || m.x.be.Documents == nil {
		return nil
	}
	if _, err := os.Stat(name + fetchedSuffix); err != nil {
		return nil // never fetched: the AU never spoke
	}
	l, err := m.load(ctx, name)
	if err != nil || l.info.Course.Type != content.CMI5 {
		return nil
	}
	defer m.lock(l.reg.Tenant, l.reg.ID)()
	doc, sk, err := m.cmi5State(ctx, l)
	if err != nil {
		return fmt.Errorf("registration %s: %w", l.reg.ID, err)
	}
	s, ok := doc.AUs[l.unit.IRI]
	if !ok || s.SessionID != l.reg.Session || !s.Initialized || s.Terminated {
		return nil
	}
	st := content.Cmi5LMSStatement(l.reg.Actor, content.Cmi5VerbAbandoned, l.unit, l.info.Course, l.reg.ID, s.SessionID, time.Now(), nil)
	if err := m.storeStatements(ctx, l, []content.Statement{st}); err != nil {
		return fmt.Errorf("registration %s: %w", l.reg.ID, err)
	}
	// The session ended: a relaunch of the AU does not abandon it again.
	s.Terminated = true
	doc.AUs[l.unit.IRI] = s
	body, _ := json.Marshal(doc)
	if err := m.publishDoc(ctx, l.reg.Tenant, sk, body); err != nil {
		return fmt.Errorf("registration %s: %w", l.reg.ID, err)
	}
	return nil
}

// publishDoc puts a JSON document through the documents write path,
// keyed by the learner like the LRS's own document writes.
func (m *PlayerModule) publishDoc(ctx context.Context, tenant string, k projections.DocumentKey, body []byte) error {
	wr := projections.DocumentWrite{Resource: k.Resource, ActivityID: k.ActivityID, Agent: k.Agent, Registration: k.Registration,
		ID: k.ID, ContentType: "application/json", Content: body, Updated: time.Now().UTC(), Op: projections.OpPut}
	data, err := json.Marshal(wr)
	if err != nil {
		return err
	}
	e, err := event.New(watermill.NewUUID(), projections.TypeDocument, m.x.cfg.Source, tenant, k.Agent, wr.Updated, data)
	if err != nil {
		return err
	}
	if _, status, msg := m.x.publish(ctx, m.x.be.DocumentsTopic, []event.Event{e}, []string{e.ID}); status != http.StatusOK {
		return errors.New(msg)
	}
	return nil
}

func (m *PlayerModule) storeStatements(ctx context.Context, l *launch, sts []content.Statement) error {
	body, _ := json.Marshal(sts)
	parsed, err := xapi.ParseStatements(body, xapi.Spec1)
	if err != nil {
		return err
	}
	if _, status, msg := m.x.store(ctx, l.credential(), xapi.Spec1, parsed, nil); status != http.StatusOK {
		return errors.New(msg)
	}
	return nil
}

// cmi5Fetch hands out the auth token once (cmi5 section 8.2).
func (m *PlayerModule) cmi5Fetch(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	fail := func(code int, text string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error-code": code, "error-text": text})
	}
	l, err := m.resolve(r.Context(), token)
	if err != nil || l.info.Course.Type != content.CMI5 {
		fail(3, "no such launch")
		return
	}
	if time.Since(l.reg.Created) > m.fetchTTL() {
		fail(2, "the fetch URL expired")
		return
	}
	var sec [24]byte
	_, _ = rand.Read(sec[:])
	secret := hex.EncodeToString(sec[:])
	h := sha256.Sum256([]byte(secret))
	// Of two fetches at once one wins; the marker appears whole (cmi5Auth
	// never reads a part of it) and a crash cannot leave an empty one
	// that would lock the launch out.
	created, err := projections.CreateFileOnce(tokenFile(m.Dir, token)+fetchedSuffix, []byte(hex.EncodeToString(h[:])), 0o600)
	if err != nil {
		m.log().Error("cmi5 fetch", "err", err)
		fail(3, "could not issue a token")
		return
	}
	if !created {
		fail(1, "the fetch URL was already used")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"auth-token": base64.StdEncoding.EncodeToString([]byte("cmi5:" + secret))})
}

// cmi5Auth checks the AU's Basic auth token and returns its launch.
func (m *PlayerModule) cmi5Auth(w http.ResponseWriter, r *http.Request) (*launch, bool) {
	token := r.PathValue("token")
	_, secret, ok := r.BasicAuth()
	want, err := os.ReadFile(tokenFile(m.Dir, token) + fetchedSuffix)
	h := sha256.Sum256([]byte(secret))
	if !ok || err != nil || subtle.ConstantTimeCompare(want, []byte(hex.EncodeToString(h[:]))) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="learnstream cmi5"`)
		writeError(w, http.StatusUnauthorized, "the auth token of this launch is required")
		return nil, false
	}
	l, err := m.resolve(r.Context(), token)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such launch")
		return nil, false
	}
	return l, true
}

func (m *PlayerModule) cmi5State(ctx context.Context, l *launch) (cmi5Doc, projections.DocumentKey, error) {
	doc := cmi5Doc{AUs: map[string]content.Cmi5Session{}, Met: map[string]bool{}, Satisfied: map[string]bool{}}
	k := l.stateKey()
	k.ActivityID, k.ID = l.info.Course.IRI, cmi5StateID
	d, err := m.x.be.Documents.Document(ctx, l.reg.Tenant, k)
	if err != nil && !errors.Is(err, projections.ErrNotFound) {
		return doc, k, err
	}
	if err == nil {
		if err := json.Unmarshal(d.Content, &doc); err != nil {
			return doc, k, err
		}
		for _, m := range []*map[string]bool{&doc.Met, &doc.Satisfied} {
			if *m == nil {
				*m = map[string]bool{}
			}
		}
		if doc.AUs == nil {
			doc.AUs = map[string]content.Cmi5Session{}
		}
	}
	doc.Session = doc.AUs[l.unit.IRI]
	if doc.Session.SessionID != l.reg.Session {
		// A new session of the AU: what the registration reached stays.
		doc.Session = content.Cmi5Session{SessionID: l.reg.Session, Completed: doc.Session.Completed, Passed: doc.Session.Passed, Failed: doc.Session.Failed}
	}
	return doc, k, nil
}

func (m *PlayerModule) cmi5Statements(w http.ResponseWriter, r *http.Request) {
	l, ok := m.cmi5Auth(w, r)
	if !ok {
		return
	}
	raw, ok := m.x.Server.readBody(w, r)
	if !ok {
		return
	}
	if t := strings.TrimSpace(string(raw)); !strings.HasPrefix(t, "[") {
		raw = []byte("[" + t + "]")
	}
	sts, err := xapi.ParseStatements(raw, xapi.Spec1)
	if err != nil {
		writeInputError(w, err)
		return
	}
	defer m.lock(l.reg.Tenant, l.reg.ID)()
	doc, k, err := m.cmi5State(r.Context(), l)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not read the registration's state")
		return
	}
	for i, st := range sts {
		if xapi.ActorKey(st.Actor) != xapi.ActorKey(l.agent) {
			WriteFieldError(w, fmt.Sprintf("statements[%d].actor", i), "must be the launch's actor")
			return
		}
		cs := content.Cmi5Statement{Verb: st.Verb.ID}
		if st.Context != nil {
			cs.Registration = st.Context.Registration
			if v, ok := st.Context.Extensions[content.ExtSessionID]; ok {
				_ = json.Unmarshal(v, &cs.SessionID)
			}
			if st.Context.ContextActivities != nil {
				for _, c := range st.Context.ContextActivities.Category {
					cs.Categories = append(cs.Categories, c.ID)
				}
			}
		}
		if st.Result != nil {
			cs.Success, cs.Completion, cs.Duration = st.Result.Success, st.Result.Completion, st.Result.Duration
			if st.Result.Score != nil {
				cs.Scaled = st.Result.Score.Scaled
			}
		}
		if isCmi5Verb(cs.Verb) && (st.Object.Activity == nil || st.Object.Activity.ID != l.unit.IRI) {
			WriteFieldError(w, fmt.Sprintf("statements[%d].object", i), "a cmi5 defined statement's object must be the AU "+l.unit.IRI)
			return
		}
		if doc.Session, err = content.CheckCmi5(doc.Session, l.unit, l.reg.ID, cs); err != nil {
			WriteFieldError(w, fmt.Sprintf("statements[%d]", i), err.Error())
			return
		}
	}
	ids, status, msg := m.x.store(r.Context(), l.credential(), xapi.Spec1, sts, nil)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	doc.AUs[l.unit.IRI] = doc.Session
	// moveOn: the AU's, then the blocks' and the course's satisfaction.
	if content.MoveOnMet(l.unit.MoveOn, doc.Session.Completed, doc.Session.Passed) {
		doc.Met[l.unit.IRI] = true
	}
	var extra []content.Statement
	newly := l.info.Course.Satisfied(doc.Met, doc.Satisfied)
	for _, n := range newly {
		extra = append(extra, content.Cmi5LMSStatement(l.reg.Actor, content.Cmi5VerbSatisfied, n, l.info.Course, l.reg.ID, l.reg.Session, time.Now(), nil))
	}
	if len(extra) > 0 {
		// The AU's statements are stored and answered; satisfied counts
		// as issued only once stored, so a failure here is retried with
		// the registration's next statement instead of lost.
		if err := m.storeStatements(r.Context(), l, extra); err != nil {
			m.log().Error("cmi5 satisfied", "err", err)
		} else {
			for _, n := range newly {
				doc.Satisfied[n.IRI] = true
			}
		}
	}
	body, _ := json.Marshal(doc)
	if err := m.publishDoc(r.Context(), l.reg.Tenant, k, body); err != nil {
		// Without its state the registration would judge the AU's next
		// statement against the old session (a terminated after an
		// unrecorded initialized is refused): the AU must know to retry.
		m.log().Error("cmi5 state", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the statements are stored, the registration's state is not: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ids)
}

func isCmi5Verb(v string) bool {
	switch v {
	case content.Cmi5VerbInitialized, content.Cmi5VerbCompleted, content.Cmi5VerbPassed, content.Cmi5VerbFailed, content.Cmi5VerbTerminated:
		return true
	}
	return false
}

// cmi5Documents serves the State and Agent Profile resources to the AU,
// limited to the launch's actor (and registration, when given).
func (m *PlayerModule) cmi5Documents(res docResource) http.HandlerFunc {
	h := m.x.documents(res)
	return func(w http.ResponseWriter, r *http.Request) {
		l, ok := m.cmi5Auth(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		a, err := xapi.ParseAgent([]byte(q.Get("agent")))
		if err != nil || xapi.ActorKey(a) != xapi.ActorKey(l.agent) {
			WriteFieldError(w, "agent", "must be the launch's actor")
			return
		}
		if reg := q.Get("registration"); reg != "" && !strings.EqualFold(reg, l.reg.ID) {
			WriteFieldError(w, "registration", "must be the launch's registration")
			return
		}
		cred := l.credential()
		cred.Scopes = []string{"state", "profile"}
		m.x.wrap(func(w http.ResponseWriter, r *http.Request) {
			h(w, r.WithContext(context.WithValue(r.Context(), credentialKey{}, cred)))
		})(w, r)
	}
}

// cmi5 waive reasons (cmi5 section 9.5.4.2 extension reason).
var waiveReasons = []string{"Tested Out", "Equivalent AU", "Equivalent Outside Activity", "Administrative"}

// waive records that a learner need not take an AU (cmi5 section 9.3.9):
// the LMS issues waived, the AU counts as having met its moveOn, and
// blocks and the course that become satisfied get satisfied.
func (m *PlayerModule) waive(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Actor   json.RawMessage `json:"actor"`
		Package string          `json:"package"`
		Unit    string          `json:"unit"`
		Reason  string          `json:"reason"`
	}
	if !decodeBody(w, r, &req, "{actor, package, unit, reason}") {
		return
	}
	regID := strings.ToLower(r.PathValue("registration"))
	if !xapi.IsUUID(regID) {
		WriteFieldError(w, "registration", "must be a UUID")
		return
	}
	if !slices.Contains(waiveReasons, req.Reason) {
		WriteFieldError(w, "reason", "one of "+strings.Join(waiveReasons, ", "))
		return
	}
	tenant := Tenant(r)
	actor, info, ok := m.learnerAndPackage(w, r, req.Actor, req.Package)
	if !ok {
		return
	}
	unit := info.Course.Find(req.Unit)
	if info.Course.Type != content.CMI5 || unit == nil || unit.Kind != content.KindAU {
		WriteFieldError(w, "unit", "must be an AU of a cmi5 package")
		return
	}
	cred := credential(r)
	l, err := newLaunch(Registration{ID: regID, Tenant: tenant, Package: info.ID, Unit: unit.Identifier, Actor: actor,
		CredKey: cred.Key, CredName: cred.Name}, info, unit)
	if err != nil {
		WriteFieldError(w, "actor", err.Error())
		return
	}
	defer m.lock(tenant, regID)()
	doc, k, err := m.cmi5State(r.Context(), l)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "could not read the registration's state")
		return
	}
	if doc.Met[unit.IRI] {
		writeError(w, http.StatusConflict, "the AU already met its moveOn in this registration")
		return
	}
	now := time.Now()
	sts := []content.Statement{content.Cmi5LMSStatement(actor, content.Cmi5VerbWaived, unit, info.Course, regID, "", now,
		map[string]any{"success": true, "completion": true, "extensions": map[string]any{"https://w3id.org/xapi/cmi5/result/extensions/reason": req.Reason}})}
	doc.Met[unit.IRI] = true
	for _, n := range info.Course.Satisfied(doc.Met, doc.Satisfied) {
		doc.Satisfied[n.IRI] = true
		sts = append(sts, content.Cmi5LMSStatement(actor, content.Cmi5VerbSatisfied, n, info.Course, regID, "", now, nil))
	}
	if err := m.storeStatements(r.Context(), l, sts); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	body, _ := json.Marshal(doc)
	if err := m.publishDoc(r.Context(), tenant, k, body); err != nil {
		writeError(w, http.StatusServiceUnavailable, "the statements are stored, the registration's state is not: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"statements": len(sts)})
}
