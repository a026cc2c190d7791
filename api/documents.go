package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// docResource describes one of the three document resources
// (Communication 2.3, 2.6, 2.7).
type docResource struct {
	kind     string // projections.DocState, ...
	idParam  string // stateId or profileId
	activity bool   // takes activityId
	agent    bool   // takes agent
	// concurrency: a PUT to an existing document needs If-Match or
	// If-None-Match (409 otherwise) under every version. The State
	// resource asks it only of xAPI 2.0 requests (see needsPrecondition).
	concurrency bool
}

// needsPrecondition reports whether a PUT over an existing document must
// carry If-Match or If-None-Match. xAPI 1.0.3 asks it of the two profile
// resources only, and 1.0.3 content players write state without either
// header, so their State writes keep working; xAPI 2.0 (Communication 3.1)
// asks it of the State resource as well.
func (d docResource) needsPrecondition(spec xapi.Spec) bool {
	return d.concurrency || spec == xapi.Spec2
}

var (
	stateResource           = docResource{kind: projections.DocState, idParam: "stateId", activity: true, agent: true}
	activityProfileResource = docResource{kind: projections.DocActivityProfile, idParam: "profileId", activity: true, concurrency: true}
	agentProfileResource    = docResource{kind: projections.DocAgentProfile, idParam: "profileId", agent: true, concurrency: true}
)

func (d docResource) params(method string) []string {
	p := []string{d.idParam}
	if d.activity {
		p = append(p, "activityId")
	}
	if d.agent {
		p = append(p, "agent")
	}
	if d.kind == projections.DocState {
		p = append(p, "registration")
	}
	if method == http.MethodGet || method == http.MethodHead {
		p = append(p, "since")
	}
	return p
}

// docRequest is a parsed document request.
type docRequest struct {
	key   projections.DocumentKey
	since time.Time
	// agentKey routes the event: the agent for state and agent profiles,
	// the activity for activity profiles.
	eventKey string
}

func (d docResource) parse(r *http.Request) (docRequest, error) {
	q := r.URL.Query()
	if err := checkParams(q, d.params(r.Method)...); err != nil {
		return docRequest{}, err
	}
	out := docRequest{key: projections.DocumentKey{Resource: d.kind, ID: q.Get(d.idParam)}}
	if d.activity {
		out.key.ActivityID = q.Get("activityId")
		if out.key.ActivityID == "" {
			return out, badRequest("parameter activityId: is required")
		}
		if !xapi.IsIRI(out.key.ActivityID) {
			return out, badRequest("parameter activityId: %q is not an IRI", out.key.ActivityID)
		}
		out.eventKey = out.key.ActivityID
	}
	if d.agent {
		if !q.Has("agent") {
			return out, badRequest("parameter agent: is required")
		}
		a, err := xapi.ParseAgent([]byte(q.Get("agent")))
		if err != nil {
			return out, badRequest("parameter agent: %v", err)
		}
		out.key.Agent = xapi.ActorKey(a)
		out.eventKey = out.key.Agent
		noteLearners(r, out.key.Agent)
	}
	if q.Has("registration") {
		if out.key.Registration = q.Get("registration"); !xapi.IsUUID(out.key.Registration) {
			return out, badRequest("parameter registration: %q is not a UUID", out.key.Registration)
		}
		out.key.Registration = strings.ToLower(out.key.Registration)
	}
	if q.Has("since") {
		if q.Has(d.idParam) {
			return out, badRequest("parameter since: only when listing (without %s)", d.idParam)
		}
		t, err := xapi.ParseTimestamp(q.Get("since"))
		if err != nil {
			return out, badRequest("parameter since: %v", err)
		}
		out.since = t
	}
	return out, nil
}

// documents returns the handler of one document resource.
func (x *lrs) documents(d docResource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if x.be.Documents == nil {
			writeError(w, http.StatusNotImplemented, "document resources are not configured in this process")
			return
		}
		req, err := d.parse(r)
		if err != nil {
			writeRequestError(w, err)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			x.getDocument(w, r, req)
		case http.MethodDelete:
			if req.key.ID == "" && d.kind != projections.DocState {
				writeError(w, http.StatusBadRequest, "parameter "+d.idParam+": is required for DELETE")
				return
			}
			x.writeDocument(w, r, d, req, nil, "")
		default:
			if req.key.ID == "" {
				writeError(w, http.StatusBadRequest, "parameter "+d.idParam+": is required for "+r.Method)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, x.be.MaxAttachmentBytes+1))
			if err != nil {
				writeRequestError(w, err)
				return
			}
			if int64(len(body)) > x.be.MaxAttachmentBytes {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("document exceeds the limit of %d bytes", x.be.MaxAttachmentBytes))
				return
			}
			ct := r.Header.Get("Content-Type")
			if ct == "" {
				ct = "application/octet-stream"
			}
			x.writeDocument(w, r, d, req, body, ct)
		}
	}
}

func (x *lrs) getDocument(w http.ResponseWriter, r *http.Request, req docRequest) {
	tenant := credential(r).Tenant
	if req.key.ID == "" {
		ids, err := x.be.Documents.DocumentIDs(r.Context(), tenant, req.key, req.since)
		if err != nil {
			x.log.Error("list documents", "err", err)
			writeError(w, http.StatusInternalServerError, "could not list documents")
			return
		}
		writeJSON(w, http.StatusOK, ids)
		return
	}
	doc, err := x.be.Documents.Document(r.Context(), tenant, req.key)
	if errors.Is(err, projections.ErrNotFound) {
		writeError(w, http.StatusNotFound, "document not found")
		return
	}
	if err != nil {
		x.log.Error("read document", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read document")
		return
	}
	w.Header().Set("Content-Type", doc.ContentType)
	w.Header().Set("ETag", doc.ETag)
	w.Header().Set("Last-Modified", httpTime(doc.Updated))
	w.WriteHeader(http.StatusOK)
	w.Write(doc.Content)
}

// writeDocument checks a write against the current document, publishes it
// and waits until the documents projection applied it. The projection
// checks the preconditions again, so a write that lost a race changes
// nothing and answers 412 (or 409 for a PUT without preconditions).
func (x *lrs) writeDocument(w http.ResponseWriter, r *http.Request, d docResource, req docRequest, body []byte, contentType string) {
	tenant := credential(r).Tenant
	ifMatch, ifNoneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	wr := projections.DocumentWrite{Resource: d.kind, ActivityID: req.key.ActivityID, Agent: req.key.Agent,
		Registration: req.key.Registration, ID: req.key.ID, ContentType: contentType, Content: body,
		Updated: time.Now().UTC(), IfMatch: ifMatch, IfNoneMatch: ifNoneMatch}
	switch {
	case r.Method == http.MethodDelete && req.key.ID == "":
		wr.Op = projections.OpDeleteAll
	case r.Method == http.MethodDelete:
		wr.Op = projections.OpDelete
	case r.Method == http.MethodPut:
		wr.Op = projections.OpPut
	default:
		wr.Op = projections.OpPost
	}
	if wr.Op != projections.OpDeleteAll {
		cur, err := x.be.Documents.Document(r.Context(), tenant, req.key)
		found := err == nil
		if err != nil && !errors.Is(err, projections.ErrNotFound) {
			x.log.Error("read document", "err", err)
			writeError(w, http.StatusInternalServerError, "could not read document")
			return
		}
		if !projections.PreconditionHolds(cur, found, ifMatch, ifNoneMatch) {
			writeError(w, http.StatusPreconditionFailed, "precondition failed: the document's ETag is "+etagOrNone(cur, found))
			return
		}
		if wr.Op == projections.OpPut && d.needsPrecondition(requestSpec(r)) && ifMatch == "" && ifNoneMatch == "" {
			// Communication 3.1: 409 over an existing document. Over none,
			// ADL's conformance suite requires 400 of a profile: a profile
			// PUT states what it expects to replace. A 2.0 State PUT over
			// none creates, unless a concurrent write created it first.
			switch {
			case found:
				writeConflict(w)
				return
			case d.concurrency:
				writeError(w, http.StatusBadRequest, "PUT to a profile needs If-Match with the document's ETag, or If-None-Match: * to create it")
				return
			}
			wr.MustNotExist = true
		}
		// A POST that says it sends JSON must send a JSON object, as a
		// merge needs one (Communication 2.3.4, 2.7.s4).
		if wr.Op == projections.OpPost && projections.IsJSONType(contentType) && !projections.IsJSONObject(contentType, body) {
			writeError(w, http.StatusBadRequest, "POST body: Content-Type is application/json but the body is not a JSON object")
			return
		}
		// POST creates like PUT when there is no document, whatever the
		// body; over a document it merges, which needs two JSON objects.
		if wr.Op == projections.OpPost && found &&
			(!projections.IsJSONObject(contentType, body) || !projections.IsJSONObject(cur.ContentType, cur.Content)) {
			writeError(w, http.StatusBadRequest, "POST to an existing document merges JSON objects: both the stored document and the body must be application/json objects; use PUT to replace it")
			return
		}
	}
	data, err := json.Marshal(wr)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding document: "+err.Error())
		return
	}
	e, err := event.New(watermill.NewUUID(), projections.TypeDocument, x.cfg.Source, tenant, req.eventKey, wr.Updated, data)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	outcomes, status, msg := x.publish(r.Context(), x.be.DocumentsTopic, []event.Event{e}, []string{e.ID})
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	if len(outcomes) == 1 && outcomes[0] == projections.Conflict {
		if ifMatch != "" || ifNoneMatch != "" {
			writeError(w, http.StatusPreconditionFailed, "precondition failed: the document changed concurrently")
			return
		}
		writeConflict(w)
		return
	}
	if body != nil && wr.Op == projections.OpPut {
		w.Header().Set("ETag", projections.ETag(body))
	}
	w.WriteHeader(http.StatusNoContent)
}

func etagOrNone(d projections.Document, found bool) string {
	if !found {
		return "none (no document)"
	}
	return d.ETag
}

func writeConflict(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, "the document exists: check its current state, then PUT with If-Match set to its ETag (or If-None-Match: * to create only)")
}

// activity serves GET /activities: the canonical definition of an
// activity, or just its id when no statement defined it.
func (x *lrs) activity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, "activityId"); err != nil {
		writeRequestError(w, err)
		return
	}
	id := q.Get("activityId")
	if !xapi.IsIRI(id) {
		writeError(w, http.StatusBadRequest, "parameter activityId: is required and must be an IRI")
		return
	}
	a, err := x.be.Statements.Activity(r.Context(), credential(r).Tenant, id)
	if err != nil {
		x.log.Error("read activity", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read activity")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// agents serves GET /agents: the Person object of an agent.
func (x *lrs) agents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, "agent"); err != nil {
		writeRequestError(w, err)
		return
	}
	a, err := xapi.ParseAgent([]byte(q.Get("agent")))
	if err != nil {
		writeError(w, http.StatusBadRequest, "parameter agent: "+err.Error())
		return
	}
	noteLearners(r, xapi.ActorKey(a))
	names, err := x.be.Statements.AgentNames(r.Context(), credential(r).Tenant, xapi.ActorKey(a))
	if err != nil {
		x.log.Error("read agent", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read agent")
		return
	}
	if a.Name != "" && !containsString(names, a.Name) {
		names = append(names, a.Name)
	}
	writeJSON(w, http.StatusOK, xapi.PersonOf(a, names))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
