package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

//go:embed player/player.html
var playerHTML string

//go:embed player/assets
var playerAssets embed.FS

var playerPage = template.Must(template.New("player").Parse(playerHTML))

// runtimeBundle is the SCORM run-time the player page loads (scorm-again,
// built into api/player/assets by `make player-assets`).
const runtimeBundle = "scorm-again.min.js"

// PlayerModule launches SCORM content: POST /v1/registrations makes a
// registration of a learner on a package's unit and answers its launch
// URL; the player page hosts the SCO with the run-time API; every
// Initialize, Commit and Terminate reaches /v1/runtime/{token}, which turns
// the run-time data into xAPI statements through the statements write
// path and keeps the bookmark as xAPI state.
type PlayerModule struct {
	Packages *projections.PackageStore
	// Dir keeps the registrations (one JSON file per launch token hash).
	Dir string
	// LaunchTTL is how long a launch lives unused (0: DefaultLaunchTTL).
	// Every use renews it, so a learner mid-session is never cut off; an
	// expired launch answers like one that never was, and Sweep deletes
	// its files.
	LaunchTTL time.Duration
	Logger    *slog.Logger
	x         *lrs
	// locks serialise what reads a registration's LMS state, judges a
	// request against it and writes it back (cmi5 statements, launch,
	// waive, abandon; SCORM run-time calls): two requests at once would
	// both be judged against the same state, and the later write would
	// drop the earlier's. Striped by registration, so memory stays
	// bounded; two registrations on one stripe merely wait for each
	// other. They hold within one API process.
	locks [256]sync.Mutex
}

// lock takes the registration's lock and returns its release.
func (m *PlayerModule) lock(tenant, registration string) func() {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(strings.ToLower(registration)))
	mu := &m.locks[h.Sum32()%uint32(len(m.locks))]
	mu.Lock()
	return mu.Unlock
}

// DefaultLaunchTTL keeps a launch URL working for a day without use: a
// long session with pauses, not a URL kept forever. A learner coming back
// later gets a new launch of the same registration, which resumes at the
// bookmark.
const DefaultLaunchTTL = 24 * time.Hour

func (m *PlayerModule) ttl() time.Duration {
	if m.LaunchTTL <= 0 {
		return DefaultLaunchTTL
	}
	return m.LaunchTTL
}

// Registration is one learner's registration on a package unit.
type Registration struct {
	ID      string         `json:"registration"`
	Tenant  string         `json:"tenant"`
	Package string         `json:"package"`
	Unit    string         `json:"unit"`
	Actor   map[string]any `json:"actor"`
	// Credential names the credential that registered, the statements'
	// authority.
	CredKey  string    `json:"credentialKey"`
	CredName string    `json:"credentialName"`
	Created  time.Time `json:"created"`
	// Session is the cmi5 session id of the launch.
	Session string `json:"session,omitempty"`
}

func (m *PlayerModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// Register adds the registration, player and run-time routes.
func (m *PlayerModule) Register(r Router) {
	rr, ok := r.(router)
	if !ok {
		return
	}
	m.x = &lrs{Server: rr.s, be: rr.s.backend()}
	if m.x.be.Documents == nil {
		m.log().Warn("SCORM player off: the xAPI state resource is not wired")
		return
	}
	r.Handle("POST /v1/registrations", m.register, "all")
	r.Handle("POST /v1/registrations/{registration}/waive", m.waive, "all")
	rr.HandlePublic("GET /player/{token}", m.page)
	rr.HandlePublic("GET /player/assets/{file}", m.asset)
	rr.HandlePublic("POST /v1/runtime/{token}", m.runtime)
	m.registerCmi5Routes(rr)
}

func tokenFile(dir, token string) string {
	h := sha256.Sum256([]byte(token))
	return filepath.Join(dir, hex.EncodeToString(h[:])+".json")
}

// decodeBody decodes a JSON request body that must have exactly the
// fields of v; on failure it answers 400 naming the expected shape.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteFieldError(w, "body", "a JSON object "+shape+": "+err.Error())
		return false
	}
	return true
}

// learnerAndPackage checks a request's learner (an Agent, not a Group)
// and finds its package in the caller's tenant. Another tenant's package
// is not found: tenants do not see each other. On failure it has answered.
func (m *PlayerModule) learnerAndPackage(w http.ResponseWriter, r *http.Request, rawActor json.RawMessage, pkg string) (map[string]any, projections.PackageInfo, bool) {
	agent, err := xapi.ParseAgent(rawActor)
	if err != nil || agent.IsGroup() {
		WriteFieldError(w, "actor", fmt.Sprintf("an xAPI Agent identifying the learner: %v", err))
		return nil, projections.PackageInfo{}, false
	}
	var actor map[string]any
	if err := json.Unmarshal(rawActor, &actor); err != nil {
		WriteFieldError(w, "actor", err.Error())
		return nil, projections.PackageInfo{}, false
	}
	info, err := m.Packages.Get(Tenant(r), pkg)
	if errors.Is(err, projections.ErrNoPackage) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "package: no package " + pkg, Field: "package", Rule: "the id of an imported package"})
		return nil, projections.PackageInfo{}, false
	}
	if err != nil {
		m.log().Error("read package", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the package")
		return nil, projections.PackageInfo{}, false
	}
	return actor, info, true
}

func (m *PlayerModule) register(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Actor   json.RawMessage `json:"actor"`
		Package string          `json:"package"`
		Unit    string          `json:"unit"`
		// Registration continues a registration (the next AU of a cmi5
		// course); empty starts one.
		Registration string `json:"registration"`
	}
	if !decodeBody(w, r, &req, "{actor, package, unit}") {
		return
	}
	tenant := Tenant(r)
	actor, info, ok := m.learnerAndPackage(w, r, req.Actor, req.Package)
	if !ok {
		return
	}
	units := info.Course.Units()
	unit := units[0]
	if req.Unit != "" {
		if unit = info.Course.Find(req.Unit); unit == nil || unit.Kind != content.KindSCO && unit.Kind != content.KindAU {
			WriteFieldError(w, "unit", fmt.Sprintf("%q is not a launchable item of the package", req.Unit))
			return
		}
	}
	cred := credential(r)
	reg := Registration{ID: watermill.NewUUID(), Tenant: tenant, Package: info.ID, Unit: unit.Identifier, Actor: actor,
		CredKey: cred.Key, CredName: cred.Name, Created: time.Now().UTC()}
	if req.Registration != "" {
		if !xapi.IsUUID(req.Registration) {
			WriteFieldError(w, "registration", "a UUID of an earlier registration")
			return
		}
		reg.ID = strings.ToLower(req.Registration)
	}
	if info.Course.Type == content.CMI5 {
		reg.Session = watermill.NewUUID()
	}
	var tok [24]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	data, _ := json.Marshal(reg)
	if err := os.MkdirAll(m.Dir, 0o750); err != nil {
		m.log().Error("registrations directory", "err", err)
		writeError(w, http.StatusInternalServerError, "could not store the registration")
		return
	}
	if err := projections.WriteFileAtomic(tokenFile(m.Dir, token), data, 0o600); err != nil {
		m.log().Error("store registration", "err", err)
		writeError(w, http.StatusInternalServerError, "could not store the registration")
		return
	}
	launchURL := "/player/" + token
	if info.Course.Type == content.CMI5 {
		l, err := newLaunch(reg, info, unit)
		if err == nil {
			launchURL, err = m.launchCmi5(r.Context(), l, token, strings.TrimRight(m.x.cfg.Source, "/"))
		}
		if err != nil {
			os.Remove(tokenFile(m.Dir, token))
			m.log().Error("cmi5 launch", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not prepare the cmi5 launch: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"registration": reg.ID, "package": info.ID, "unit": unit.Identifier,
		"activity": unit.IRI, "launch": launchURL, "session": reg.Session})
}

// launch is what a token resolves to.
type launch struct {
	reg  Registration
	info projections.PackageInfo
	unit *content.Node
	// agent is reg.Actor parsed, once per request rather than per use.
	agent xapi.Agent
}

func newLaunch(reg Registration, info projections.PackageInfo, unit *content.Node) (*launch, error) {
	raw, err := json.Marshal(reg.Actor)
	if err != nil {
		return nil, err
	}
	agent, err := xapi.ParseAgent(raw)
	if err != nil {
		return nil, fmt.Errorf("registration %s: actor: %w", reg.ID, err)
	}
	return &launch{reg: reg, info: info, unit: unit, agent: agent}, nil
}

// contentURL is the unit's launch URL: an absolute one as the package
// gives it, else the path of the file among the package's served files.
func (l *launch) contentURL() (u string, abs bool) {
	if p, err := url.Parse(l.unit.Launch); err == nil && p.IsAbs() {
		return l.unit.Launch, true
	}
	return packageURL(l.info) + l.unit.Launch, false
}

// credential is the credential that registered: the authority of the
// launch's statements and documents.
func (l *launch) credential() projections.Credential {
	return projections.Credential{Key: l.reg.CredKey, Name: l.reg.CredName, Tenant: l.reg.Tenant}
}

// resolve finds a launch by its token. A launch lives only as long as the
// credential that registered it: its statements and documents are written
// under that credential, so a revoked one ends its launches too.
func (m *PlayerModule) resolve(ctx context.Context, token string) (*launch, error) {
	if len(token) != 48 {
		return nil, projections.ErrNoPackage
	}
	name := tokenFile(m.Dir, token)
	fi, err := os.Stat(name)
	if err != nil {
		return nil, projections.ErrNoPackage
	}
	now := time.Now()
	if now.Sub(fi.ModTime()) > m.ttl() {
		// Expired. The sweep deletes it (and says a cmi5 session that
		// did not terminate was abandoned).
		return nil, projections.ErrNoPackage
	}
	// A use renews the launch; once a minute is precise enough for a
	// lifetime of hours and spares a write per run-time call.
	if now.Sub(fi.ModTime()) > time.Minute {
		if err := os.Chtimes(name, now, now); err != nil {
			m.log().Warn("renew launch", "err", err)
		}
	}
	return m.load(ctx, name)
}

// load reads a launch's registration file and finds its package and unit.
func (m *PlayerModule) load(ctx context.Context, name string) (*launch, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, projections.ErrNoPackage
	}
	var reg Registration
	if err := json.Unmarshal(data, &reg); err != nil {
		return nil, err
	}
	if creds := m.x.be.Credentials; creds != nil {
		c, err := creds.Get(ctx, reg.CredKey)
		if err != nil {
			return nil, fmt.Errorf("registration %s: its credential: %w", reg.ID, err)
		}
		if c.Tenant != reg.Tenant {
			return nil, fmt.Errorf("registration %s: its credential now belongs to another tenant", reg.ID)
		}
	}
	info, err := m.Packages.Get(reg.Tenant, reg.Package)
	if err != nil {
		return nil, err
	}
	unit := info.Course.Find(reg.Unit)
	if unit == nil {
		return nil, fmt.Errorf("unit %q is no longer in the package", reg.Unit)
	}
	return newLaunch(reg, info, unit)
}

// removeLaunch deletes a launch's registration file and its cmi5 fetch
// marker; files already gone are fine.
func removeLaunch(name string) {
	os.Remove(name)
	os.Remove(name + fetchedSuffix)
}

// Sweep deletes what no request can use any more: launches unused for
// longer than the launch lifetime (with their cmi5 fetch marker), cmi5
// launches whose fetch window closed without a fetch, fetch markers
// without their launch, and temporary files a crash left. An expired cmi5
// launch whose session initialized and never terminated is abandoned
// first (cmi5 section 9.3.8: the LMS decides a session ended abnormally);
// when that cannot be stored, the launch is kept for the next sweep. It
// answers how many launches it removed. now is the sweep's clock.
func (m *PlayerModule) Sweep(ctx context.Context, now time.Time) (int, error) {
	ents, err := os.ReadDir(m.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep launches: %w", err)
	}
	removed := 0
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		name := filepath.Join(m.Dir, e.Name())
		age := now.Sub(fi.ModTime())
		switch {
		case strings.HasPrefix(e.Name(), "."):
			// WriteFileAtomic's temporary files: a live one is seconds old.
			if strings.HasSuffix(e.Name(), ".tmp") && age > time.Hour {
				os.Remove(name)
			}
		case strings.HasSuffix(e.Name(), fetchedSuffix):
			if _, err := os.Stat(strings.TrimSuffix(name, fetchedSuffix)); errors.Is(err, fs.ErrNotExist) {
				os.Remove(name)
			}
		case strings.HasSuffix(e.Name(), ".json"):
			if age > m.ttl() {
				if err := m.abandon(ctx, name); err != nil {
					m.log().Warn("cmi5 abandoned: kept for the next sweep", "err", err)
					continue
				}
			}
			if age > m.ttl() || m.unfetched(name, now) {
				removeLaunch(name)
				removed++
			}
		}
	}
	return removed, nil
}

// unfetched reports a cmi5 launch whose fetch window closed without a
// fetch: its token can never be handed out, so the launch is dead.
func (m *PlayerModule) unfetched(name string, now time.Time) bool {
	if _, err := os.Stat(name + fetchedSuffix); err == nil {
		return false
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return false
	}
	var reg Registration
	if json.Unmarshal(data, &reg) != nil {
		return false
	}
	return reg.Session != "" && now.Sub(reg.Created) > m.fetchTTL()
}

// fetchTTL is how long after the launch its cmi5 fetch URL works: at most
// cmi5FetchTTL, and never beyond the launch's own lifetime.
func (m *PlayerModule) fetchTTL() time.Duration { return min(cmi5FetchTTL, m.ttl()) }

// attemptDoc is the xAPI state document of a registration's unit.
type attemptDoc struct {
	Bookmark content.Bookmark `json:"bookmark"`
	Attempt  content.Attempt  `json:"attempt"`
	Session  string           `json:"session"`
}

// stateKey is the key of the unit's attempt state; the learner's actor key
// is also the key of the document events.
func (l *launch) stateKey() projections.DocumentKey {
	return projections.DocumentKey{Resource: projections.DocState, ActivityID: l.unit.IRI, Agent: xapi.ActorKey(l.agent),
		Registration: strings.ToLower(l.reg.ID), ID: content.AttemptStateID}
}

func (m *PlayerModule) readState(ctx context.Context, l *launch) (attemptDoc, error) {
	var doc attemptDoc
	d, err := m.x.be.Documents.Document(ctx, l.reg.Tenant, l.stateKey())
	if errors.Is(err, projections.ErrNotFound) {
		return doc, nil
	}
	if err != nil {
		return doc, err
	}
	return doc, json.Unmarshal(d.Content, &doc)
}

// writeState puts the attempt-state document through the documents write path.
func (m *PlayerModule) writeState(ctx context.Context, l *launch, doc attemptDoc) error {
	k := l.stateKey()
	body, _ := json.Marshal(doc)
	return m.publishDoc(ctx, l.reg.Tenant, k, body)
}

func (m *PlayerModule) page(w http.ResponseWriter, r *http.Request) {
	l, err := m.resolve(r.Context(), r.PathValue("token"))
	if err != nil || l.info.Course.Type == content.CMI5 {
		http.Error(w, "no such launch", http.StatusNotFound)
		return
	}
	if _, err := fs.Stat(playerAssets, "player/assets/"+runtimeBundle); err != nil {
		http.Error(w, "the SCORM run-time bundle is not built into this binary: run `make player-assets` and rebuild", http.StatusServiceUnavailable)
		return
	}
	doc, err := m.readState(r.Context(), l)
	if err != nil {
		m.log().Error("read SCORM state", "err", err)
		http.Error(w, "could not read the learner's state", http.StatusInternalServerError)
		return
	}
	name, _ := l.reg.Actor["name"].(string)
	id := learnerID(l.reg.Actor)
	bm := doc.Bookmark
	v := "1.2"
	initial := map[string]string{"cmi.core.student_id": id, "cmi.core.student_name": name, "cmi.core.lesson_location": bm.Location,
		"cmi.suspend_data": bm.SuspendData, "cmi.core.entry": bm.Entry, "cmi.launch_data": l.unit.LaunchData}
	if bm.Entry != "resume" {
		initial["cmi.core.entry"] = "ab-initio"
		initial["cmi.core.lesson_location"], initial["cmi.suspend_data"] = "", ""
	}
	if l.unit.MasteryScore != nil {
		initial["cmi.student_data.mastery_score"] = fmt.Sprint(*l.unit.MasteryScore * 100)
	}
	if l.info.Course.Type.IsSCORM2004() {
		v = "2004"
		initial = map[string]string{"cmi.learner_id": id, "cmi.learner_name": name, "cmi.location": initial["cmi.core.lesson_location"],
			"cmi.suspend_data": initial["cmi.suspend_data"], "cmi.entry": initial["cmi.core.entry"], "cmi.launch_data": l.unit.LaunchData}
		if l.unit.MasteryScore != nil {
			initial["cmi.scaled_passing_score"] = fmt.Sprint(*l.unit.MasteryScore)
		}
	}
	for k, val := range initial {
		if val == "" {
			delete(initial, k)
		}
	}
	launchURL, _ := l.contentURL()
	var session [8]byte
	_, _ = rand.Read(session[:])
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err = playerPage.Execute(w, map[string]any{"Title": l.unit.Title, "Assets": "/player/assets/",
		"Config": map[string]any{"version": v, "runtime": "/v1/runtime/" + r.PathValue("token"), "launch": launchURL,
			"initial": initial, "session": hex.EncodeToString(session[:])}})
	if err != nil {
		m.log().Warn("render player", "err", err)
	}
}

func learnerID(actor map[string]any) string {
	if mb, ok := actor["mbox"].(string); ok {
		return strings.TrimPrefix(mb, "mailto:")
	}
	if acc, ok := actor["account"].(map[string]any); ok {
		if n, ok := acc["name"].(string); ok {
			return n
		}
	}
	if s, ok := actor["mbox_sha1sum"].(string); ok {
		return s
	}
	s, _ := actor["openid"].(string)
	return s
}

func (m *PlayerModule) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := playerAssets.ReadFile("player/assets/" + name)
	if err != nil || name == "README" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(data)
}

// runtime takes one run-time call of a SCO. SCORM errors answer 200 with
// the version's error code (the SCO reads it with GetLastError), never a
// server error.
func (m *PlayerModule) runtime(w http.ResponseWriter, r *http.Request) {
	l, err := m.resolve(r.Context(), r.PathValue("token"))
	if err != nil || l.info.Course.Type == content.CMI5 {
		writeError(w, http.StatusNotFound, "no such launch")
		return
	}
	var req struct {
		Event   string            `json:"event"`
		Session string            `json:"session"`
		Data    map[string]string `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		WriteFieldError(w, "body", "a JSON object {event, session, data}: "+err.Error())
		return
	}
	defer m.lock(l.reg.Tenant, l.reg.ID)()
	doc, err := m.readState(r.Context(), l)
	if err != nil {
		m.log().Error("read SCORM state", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not read the learner's state")
		return
	}
	prev := doc.Attempt
	entry := ""
	if req.Event == "initialize" && req.Session != doc.Session {
		// A new launch. After a suspend it resumes the attempt; otherwise
		// (a normal exit, or a window closed without Terminate) a new
		// attempt starts.
		if doc.Bookmark.Entry == "resume" {
			entry = "resume"
			prev.Initialized, prev.Terminated = false, false
		} else {
			prev = content.Attempt{}
		}
		doc.Session = req.Session
	}
	if req.Session != doc.Session && req.Event != "initialize" {
		prev = content.Attempt{Initialized: doc.Attempt.Initialized && doc.Session == req.Session}
	}
	s := content.Session{Type: l.info.Course.Type, Actor: l.reg.Actor, Registration: l.reg.ID, SessionID: req.Session, Entry: entry,
		SCO: l.unit, Course: l.info.Course, Now: time.Now()}
	res, err := content.Apply(s, prev, content.Commit{Event: req.Event, Data: req.Data})
	var re *content.RuntimeError
	if errors.As(err, &re) {
		writeJSON(w, http.StatusOK, map[string]any{"error": re.Code, "message": re.Error()})
		return
	}
	if err != nil {
		WriteFieldError(w, "event", err.Error())
		return
	}
	if len(res.Statements) > 0 {
		body, _ := json.Marshal(res.Statements)
		sts, err := xapi.ParseStatements(body, xapi.Spec1)
		if err != nil {
			m.log().Error("SCORM statements invalid", "err", err)
			writeJSON(w, http.StatusOK, map[string]any{"error": 101, "message": "the run-time data made an invalid statement: " + err.Error()})
			return
		}
		if _, status, msg := m.x.store(r.Context(), l.credential(), xapi.Spec1, sts, nil); status != http.StatusOK {
			writeError(w, status, msg)
			return
		}
	}
	doc.Attempt, doc.Bookmark = res.Attempt, res.Bookmark
	if req.Event == "initialize" {
		// The entry was consumed by this launch; a later suspend sets it again.
		doc.Bookmark.Entry = ""
	}
	if err := m.writeState(r.Context(), l, doc); err != nil {
		m.log().Error("write SCORM state", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the statements are stored, the bookmark is not: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"error": 0, "statements": len(res.Statements)})
}
