package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// MaxStatementsPage is the most statements one GET /statements answers
// with; limit=0 (or none) asks for it.
const MaxStatementsPage = 200

// statementQueryParams are the parameters of GET /statements.
var statementQueryParams = []string{"statementId", "voidedStatementId", "agent", "verb", "activity", "registration",
	"related_activities", "related_agents", "since", "until", "limit", "format", "attachments", "ascending"}

// statementQuery is a parsed GET /statements request.
type statementQuery struct {
	q           projections.StatementQuery
	format      string
	attachments bool
	// params are the query's own parameters, kept for the more cursor.
	params url.Values
}

// cursor is what "more" carries: the query and where its last page ended.
// It names the tenant so it cannot be replayed against another one.
type cursor struct {
	Tenant string              `json:"t"`
	Params map[string][]string `json:"q"`
	After  string              `json:"a"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, badRequest("parameter more: not a cursor this LRS issued")
	}
	return c, nil
}

// parseStatementQuery validates the filter parameters of GET /statements.
func parseStatementQuery(q url.Values) (statementQuery, error) {
	out := statementQuery{format: xapi.FormatExact, params: q}
	var err error
	if v := q.Get("agent"); v != "" || q.Has("agent") {
		a, err := xapi.ParseAgent([]byte(v))
		if err != nil {
			return out, badRequest("parameter agent: %v", err)
		}
		out.q.Agent = xapi.ActorKey(a)
	}
	if q.Has("verb") {
		if out.q.Verb = q.Get("verb"); !xapi.IsIRI(out.q.Verb) {
			return out, badRequest("parameter verb: %q is not an IRI", out.q.Verb)
		}
	}
	if q.Has("activity") {
		if out.q.Activity = q.Get("activity"); !xapi.IsIRI(out.q.Activity) {
			return out, badRequest("parameter activity: %q is not an IRI", out.q.Activity)
		}
	}
	if q.Has("registration") {
		if out.q.Registration = q.Get("registration"); !xapi.IsUUID(out.q.Registration) {
			return out, badRequest("parameter registration: %q is not a UUID", out.q.Registration)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &out.q.Since}, {"until", &out.q.Until}} {
		if q.Has(p.name) {
			if *p.dst, err = xapi.ParseTimestamp(q.Get(p.name)); err != nil {
				return out, badRequest("parameter %s: %v", p.name, err)
			}
		}
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 0 {
			return out, badRequest("parameter limit: %q is not a non-negative integer", q.Get("limit"))
		}
		out.q.Limit = n
	}
	if out.q.Limit == 0 || out.q.Limit > MaxStatementsPage {
		out.q.Limit = MaxStatementsPage
	}
	if q.Has("format") {
		switch out.format = q.Get("format"); out.format {
		case xapi.FormatExact, xapi.FormatIDs, xapi.FormatCanonical:
		default:
			return out, badRequest("parameter format: %q is not ids, exact or canonical", out.format)
		}
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"related_activities", &out.q.RelatedActivities}, {"related_agents", &out.q.RelatedAgents},
		{"attachments", &out.attachments}, {"ascending", &out.q.Ascending}} {
		if *p.dst, err = parseBool(q, p.name); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (x *lrs) getStatements(w http.ResponseWriter, r *http.Request) {
	x.consistentThrough(w)
	q := r.URL.Query()
	tenant := credential(r).Tenant
	if q.Has("more") {
		if len(q) != 1 || len(q["more"]) != 1 {
			writeError(w, http.StatusBadRequest, "parameter more: must be the only parameter")
			return
		}
		c, err := decodeCursor(q.Get("more"))
		if err == nil && c.Tenant != tenant {
			err = badRequest("parameter more: the cursor belongs to another tenant")
		}
		if err != nil {
			writeRequestError(w, err)
			return
		}
		after, err := projections.ParsePosition(c.After)
		if err != nil {
			writeRequestError(w, badRequest("parameter more: %v", err))
			return
		}
		sq, err := parseStatementQuery(url.Values(c.Params))
		if err != nil {
			writeRequestError(w, err)
			return
		}
		sq.q.After = &after
		x.queryStatements(w, r, sq)
		return
	}
	if err := checkParams(q, statementQueryParams...); err != nil {
		writeRequestError(w, err)
		return
	}
	if q.Has("statementId") || q.Has("voidedStatementId") {
		for k := range q {
			if k != "statementId" && k != "voidedStatementId" && k != "format" && k != "attachments" {
				writeError(w, http.StatusBadRequest, "parameter "+k+": not allowed with statementId or voidedStatementId")
				return
			}
		}
		if q.Has("statementId") && q.Has("voidedStatementId") {
			writeError(w, http.StatusBadRequest, "parameters statementId and voidedStatementId: give one")
			return
		}
	}
	sq, err := parseStatementQuery(q)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if q.Has("statementId") || q.Has("voidedStatementId") {
		x.getStatement(w, r, sq)
		return
	}
	x.queryStatements(w, r, sq)
}

// getStatement serves statementId (a statement that is not voided) and
// voidedStatementId (one that is).
func (x *lrs) getStatement(w http.ResponseWriter, r *http.Request, sq statementQuery) {
	ctx, tenant := r.Context(), credential(r).Tenant
	id, wantVoided := sq.params.Get("statementId"), false
	if id == "" {
		id, wantVoided = sq.params.Get("voidedStatementId"), true
	}
	if !xapi.IsUUID(id) {
		writeError(w, http.StatusBadRequest, "parameter statementId/voidedStatementId: "+strconv.Quote(id)+" is not a UUID")
		return
	}
	raw, err := x.be.Statements.Statement(ctx, tenant, id)
	var voided bool
	if err == nil {
		voided, err = x.be.Statements.Voided(ctx, tenant, id)
	}
	if errors.Is(err, projections.ErrNotFound) || (err == nil && voided != wantVoided) {
		writeError(w, http.StatusNotFound, "statement "+id+" not found")
		return
	}
	if err != nil {
		x.log.Error("read statement", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "could not read statement")
		return
	}
	// Stored statements were validated on the way in: decoding them is a
	// third of the cost, and keeps them readable should the rules grow
	// stricter.
	st, err := xapi.DecodeStored(raw)
	if err != nil {
		x.log.Error("stored statement unreadable", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "stored statement is unreadable")
		return
	}
	if onlyMine(r) && (st.Authority == nil || xapi.ActorKey(*st.Authority) != xapi.ActorKey(x.authority(credential(r)))) {
		writeError(w, http.StatusNotFound, "statement "+id+" not found")
		return
	}
	noteLearners(r, st.LearnerKey())
	out, err := x.shape(ctx, tenant, raw, st, sq.format, xapi.ParseAcceptLanguage(r.Header.Get("Accept-Language")))
	if err != nil {
		x.log.Error("format statement", "id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "could not format statement")
		return
	}
	if st.Stored != nil {
		w.Header().Set("Last-Modified", httpTime(*st.Stored))
	}
	x.answer(w, r, out, []*xapi.Statement{st}, sq.attachments)
}

func (x *lrs) queryStatements(w http.ResponseWriter, r *http.Request, sq statementQuery) {
	ctx, tenant := r.Context(), credential(r).Tenant
	if onlyMine(r) {
		sq.q.Authority = xapi.ActorKey(x.authority(credential(r)))
	}
	page, err := x.be.Statements.Query(ctx, tenant, sq.q)
	if err != nil {
		x.log.Error("query statements", "err", err)
		writeError(w, http.StatusInternalServerError, "could not query statements")
		return
	}
	noteLearners(r, sq.q.Agent)
	audit := auditing(r)
	langs := xapi.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	var buf bytes.Buffer
	// Room for the page as stored (exact, the usual format), written once.
	n := 256 + len(page.Statements)
	for _, raw := range page.Statements {
		n += len(raw)
	}
	buf.Grow(n)
	buf.WriteString(`{"statements":[`)
	sts := make([]*xapi.Statement, 0, len(page.Statements))
	for i, raw := range page.Statements {
		var st *xapi.Statement
		if sq.format != xapi.FormatExact || sq.attachments {
			if st, err = xapi.DecodeStored(raw); err != nil {
				x.log.Error("stored statement unreadable", "err", err)
				writeError(w, http.StatusInternalServerError, "stored statement is unreadable")
				return
			}
			sts = append(sts, st)
			noteLearners(r, st.LearnerKey())
		} else if audit {
			noteLearners(r, xapi.StoredActorKey(raw))
		}
		out, err := x.shape(ctx, tenant, raw, st, sq.format, langs)
		if err != nil {
			x.log.Error("format statement", "err", err)
			writeError(w, http.StatusInternalServerError, "could not format statement")
			return
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(out)
	}
	buf.WriteString(`],"more":`)
	more := ""
	if page.Next != nil {
		params := map[string][]string{}
		for k, v := range sq.params {
			params[k] = v
		}
		more = "/xapi/statements?more=" + encodeCursor(cursor{Tenant: tenant, Params: params, After: page.Next.String()})
	}
	mb, _ := json.Marshal(more)
	buf.Write(mb)
	buf.WriteByte('}')
	last := page.Latest
	if last.IsZero() {
		last = time.Now()
	}
	w.Header().Set("Last-Modified", httpTime(last))
	x.answer(w, r, buf.Bytes(), sts, sq.attachments)
}

// answer writes a statements answer, as JSON or, with attachments, as
// multipart/mixed with the payloads the statements reference.
func (x *lrs) answer(w http.ResponseWriter, r *http.Request, body []byte, sts []*xapi.Statement, attachments bool) {
	if !attachments {
		w.Header().Set("Content-Type", "application/json")
		// Sized, the answer goes out unchunked, in as few writes as its
		// length allows.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		return
	}
	var payloads []attachmentOut
	seen := map[string]bool{}
	for _, st := range sts {
		for _, a := range st.Attachments {
			sha := strings.ToLower(a.SHA2)
			if seen[sha] {
				continue
			}
			content, err := x.be.Statements.Attachment(r.Context(), credential(r).Tenant, sha)
			if errors.Is(err, projections.ErrNotFound) {
				continue // a fileUrl attachment: no payload here
			}
			if err != nil {
				x.log.Error("read attachment", "sha2", sha, "err", err)
				writeError(w, http.StatusInternalServerError, "could not read attachments")
				return
			}
			seen[sha] = true
			payloads = append(payloads, attachmentOut{sha2: sha, contentType: a.ContentType, content: content})
		}
	}
	writeMultipart(w, http.StatusOK, body, payloads)
}

// shape returns a stored statement in the asked format. exact is the
// stored JSON itself; canonical replaces activity definitions with the
// LRS's own and keeps one language per map (Accept-Language); ids keeps
// identifiers only.
func (x *lrs) shape(ctx context.Context, tenant string, raw []byte, st *xapi.Statement, format string, langs []string) ([]byte, error) {
	switch format {
	case xapi.FormatIDs:
		return json.Marshal(st.Format(xapi.FormatIDs, nil))
	case xapi.FormatCanonical:
		c := st.Clone()
		for _, a := range c.ActivityRefs() {
			known, err := x.be.Statements.Activity(ctx, tenant, a.ID)
			if err != nil {
				return nil, err
			}
			if known.Definition != nil {
				a.Definition = known.Definition
			}
		}
		return json.Marshal(c.Format(xapi.FormatCanonical, langs))
	}
	return raw, nil
}

// consistencyReporter is the statements store's side of
// X-Experience-API-Consistent-Through (projections.Statements).
type consistencyReporter interface {
	ConsistentThrough(ctx context.Context, now time.Time, topic string, ends map[int]int64, known bool) time.Time
}

// consistentThrough sets X-Experience-API-Consistent-Through: never more
// than the statements projection holds on every partition, so a write in
// flight, answered or not, and a partition behind its log end hold it
// back (projections.Statements.ConsistentThrough).
func (x *lrs) consistentThrough(w http.ResponseWriter) {
	through := time.Now()
	if c, ok := x.be.Statements.(consistencyReporter); ok {
		var ends map[int]int64
		known := true
		if x.cfg.StatementEnds != nil {
			ends, known = x.cfg.StatementEnds()
		}
		through = c.ConsistentThrough(context.Background(), through, x.cfg.StatementsTopic, ends, known)
	}
	w.Header().Set("X-Experience-API-Consistent-Through", through.UTC().Format(time.RFC3339Nano))
}
