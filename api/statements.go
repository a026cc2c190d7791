package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/jsonenc"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

var (
	statementsAccepted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_accepted_total",
		Help: "Statements accepted and published to the statements topic.",
	})
	consistencyTimeouts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_consistency_timeouts_total",
		Help: "Writes answered before the statements projection applied them.",
	})
	// writeStages splits a write's time: producing its events until the
	// log acknowledged them, then waiting for this process's statements
	// projection to apply them (read-your-writes).
	writeStages = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "learnstream_statements_write_seconds",
		Help:    "Time of a statement write's stages: publish (until the event log acknowledged it), consistency (then until the statements projection applied it).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"stage"})
	writePublish, writeConsistency = writeStages.WithLabelValues("publish"), writeStages.WithLabelValues("consistency")
	backpressure                   = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_statements_backpressure_total",
		Help: "Writes refused with 503 because the statements projection was too far behind.",
	})
)

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

func (x *lrs) postStatements(w http.ResponseWriter, r *http.Request) {
	x.consistentThrough(w)
	if len(r.URL.Query()) > 0 {
		for k := range r.URL.Query() {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %s: not allowed on POST /statements", k))
			return
		}
	}
	if x.overloaded(w) {
		return
	}
	body, parts, ok := x.readStatementsBody(w, r)
	if !ok {
		return
	}
	spec := requestSpec(r)
	sts, err := xapi.ParseStatements(body, spec)
	if err != nil {
		writeInputError(w, err)
		return
	}
	if len(sts) > x.cfg.MaxBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch of %d statements exceeds the limit of %d", len(sts), x.cfg.MaxBatch))
		return
	}
	if err := checkAttachments(sts, parts); err != nil {
		writeInputError(w, err)
		return
	}
	ids, status, msg := x.store(r.Context(), credential(r), spec, sts, parts)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, ids)
}

func (x *lrs) putStatement(w http.ResponseWriter, r *http.Request) {
	x.consistentThrough(w)
	q := r.URL.Query()
	for k, v := range q {
		if k != "statementId" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %s: not allowed on PUT /statements (only statementId)", k))
			return
		}
		if len(v) > 1 {
			writeError(w, http.StatusBadRequest, "parameter statementId: given more than once")
			return
		}
	}
	if x.overloaded(w) {
		return
	}
	id := q.Get("statementId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "parameter statementId is required for PUT")
		return
	}
	body, parts, ok := x.readStatementsBody(w, r)
	if !ok {
		return
	}
	spec := requestSpec(r)
	st, err := xapi.ParseStatementAs(body, spec)
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
	sts := []*xapi.Statement{st}
	if err := checkAttachments(sts, parts); err != nil {
		writeInputError(w, err)
		return
	}
	if _, status, msg := x.store(r.Context(), credential(r), spec, sts, parts); status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// store validates a batch as a whole, publishes it and waits until it is
// readable. Nothing is published unless every statement is acceptable.
// Attachment payloads go first, on the same keys as their statements, so
// they are stored before the statements that reference them.
func (x *lrs) store(ctx context.Context, cred projections.Credential, spec xapi.Spec, sts []*xapi.Statement, parts map[string]part) ([]string, int, string) {
	ids := make([]string, len(sts))
	// Which statements are new: ids repeated in the batch are refused, and
	// an id already stored is a no-op for the same statement and a
	// conflict for a different one (statements are immutable).
	fresh := make([]bool, len(sts))
	var seen map[string]int
	var lookup []string
	for i, st := range sts {
		fresh[i] = true
		if st.ID == "" {
			continue
		}
		key := strings.ToLower(st.ID)
		if j, dup := seen[key]; dup {
			return nil, http.StatusBadRequest, fmt.Sprintf("statements[%d].id: %s repeats statements[%d].id", i, st.ID, j)
		}
		if seen == nil {
			seen = make(map[string]int, len(sts))
		}
		seen[key] = i
		lookup = append(lookup, st.ID)
	}
	var stored map[string][]byte
	if len(lookup) > 0 {
		var err error
		if stored, err = statementsByID(ctx, x.cfg.Statements, cred.Tenant, lookup); err != nil {
			x.log.Error("read statements", "ids", len(lookup), "err", err)
			return nil, http.StatusInternalServerError, "could not read statements"
		}
	}
	for i, st := range sts {
		old, ok := stored[strings.ToLower(st.ID)]
		if st.ID == "" || !ok {
			continue
		}
		// Validated when it was stored: decoding is enough.
		prev, perr := xapi.DecodeStored(old)
		if perr != nil {
			x.log.Error("stored statement unreadable", "id", st.ID, "err", perr)
			return nil, http.StatusInternalServerError, "stored statement is unreadable"
		}
		if !xapi.Equivalent(prev, st) {
			return nil, http.StatusConflict, fmt.Sprintf("statements[%d].id: %s is already stored with different content", i, st.ID)
		}
		ids[i] = prev.ID
		fresh[i] = false
	}
	var waitFor []string
	for i := range sts {
		if fresh[i] {
			waitFor = append(waitFor, watermill.NewUUID())
		}
	}
	if len(waitFor) == 0 {
		return ids, http.StatusOK, ""
	}
	// The stored time is taken only now, after the lookups, and held at
	// once: until the projection applies these events, reads claim
	// consistency only up to just before it. Taken earlier, a read in
	// between could claim a time these statements carry before they are
	// readable.
	now := nextStored()
	if x.cfg.Waiters != nil {
		for _, id := range waitFor {
			x.cfg.Waiters.Hold(id, now)
		}
	}
	release := func() {
		if x.cfg.Waiters != nil {
			for _, id := range waitFor {
				x.cfg.Waiters.Release(id)
			}
		}
	}
	auth := x.authority(cred)
	evs := make([]event.Event, 0, len(waitFor))
	var payloads []event.Event
	var sent map[string]bool
	for i, st := range sts {
		if !fresh[i] {
			continue
		}
		if st.Version == "" {
			st.Version = spec.StatementVersion()
		}
		st.Prepare(watermill.NewUUID(), now, auth)
		ids[i] = st.ID
		for _, a := range st.Attachments {
			p, ok := parts[strings.ToLower(a.SHA2)]
			if !ok || sent[st.LearnerKey()+"|"+strings.ToLower(a.SHA2)] {
				continue
			}
			if sent == nil {
				sent = map[string]bool{}
			}
			sent[st.LearnerKey()+"|"+strings.ToLower(a.SHA2)] = true
			data, err := json.Marshal(projections.AttachmentData{SHA2: strings.ToLower(a.SHA2), ContentType: p.contentType, Content: p.content})
			if err != nil {
				release()
				return nil, http.StatusInternalServerError, "encoding attachment: " + err.Error()
			}
			e, err := event.New(watermill.NewUUID(), projections.TypeAttachmentStored, x.cfg.Source, cred.Tenant, st.LearnerKey(), now, data)
			if err != nil {
				release()
				return nil, http.StatusInternalServerError, err.Error()
			}
			payloads = append(payloads, e)
		}
		data, err := storedJSON(st)
		if err != nil {
			release()
			return nil, http.StatusInternalServerError, "encoding statement: " + err.Error()
		}
		e, err := event.New(waitFor[len(evs)], event.TypeStatementStored, x.cfg.Source, cred.Tenant, st.LearnerKey(), now, data)
		if err != nil {
			release()
			return nil, http.StatusInternalServerError, err.Error()
		}
		if !cred.Has("define", "all") {
			e.Extensions = map[string]string{projections.ExtDefine: "false"}
		}
		evs = append(evs, e)
	}
	outcomes, status, msg := x.publish(ctx, x.cfg.StatementsTopic, append(payloads, evs...), waitFor)
	if status != http.StatusOK {
		release()
		return nil, status, msg
	}
	statementsAccepted.Add(float64(len(evs)))
	for i, o := range outcomes {
		switch o {
		case projections.Conflict:
			// A concurrent write of the same id with other content won.
			return nil, http.StatusConflict, "a statement id in the batch was stored concurrently with different content"
		case projections.Parked:
			// What the API accepts the projection applies, by design; this
			// answer means that design failed for this statement, and the
			// DLQ holds it with the reason.
			x.log.Error("accepted statement parked by the statements projection", "event", waitFor[i])
			return nil, http.StatusInternalServerError, "the statements projection could not apply an accepted statement; it is parked in the dead-letter queue for an operator (nothing of it is readable)"
		}
	}
	return ids, http.StatusOK, ""
}

// storedJSON is json.Marshal(st), byte for byte, without encoding/json's
// second pass over what Statement.MarshalJSON returns (validating and
// compacting output that is compact already, a third of the cost): only
// its HTML escaping, which that pass adds, is applied, when there is
// anything to escape.
func storedJSON(st *xapi.Statement) ([]byte, error) {
	b, err := st.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if jsonenc.HTMLEscapes(b) {
		var buf bytes.Buffer
		buf.Grow(len(b) + 32)
		json.HTMLEscape(&buf, b)
		return buf.Bytes(), nil
	}
	return b, nil
}

// publish produces evs and waits, bounded by the consistency timeout, until
// this process's projection applied those named in waitFor; it returns
// their outcomes (fewer when the wait timed out: the write is durable and
// still succeeds).
func (x *lrs) publish(ctx context.Context, topic string, evs []event.Event, waitFor []string) ([]projections.Outcome, int, string) {
	if x.cfg.Waiters != nil {
		for _, id := range waitFor {
			x.cfg.Waiters.Register(id)
		}
	}
	start := time.Now()
	if err := x.cfg.Publisher.PublishEvents(ctx, topic, evs...); err != nil {
		if x.cfg.Waiters != nil {
			for _, id := range waitFor {
				x.cfg.Waiters.Forget(id)
			}
		}
		var tooLarge interface{ TooLarge() (size, limit int) }
		if errors.As(err, &tooLarge) {
			// Permanent: retrying the same request can never succeed.
			size, limit := tooLarge.TooLarge()
			x.log.Warn("publish refused: message too large", "topic", topic, "size", size, "limit", limit)
			if size > 0 {
				return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("a statement is %d bytes once stored, over the event log's message limit of %d bytes; nothing was stored", size, limit)
			}
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the event log refused a statement as larger than its message limit (%d bytes); nothing was stored", limit)
		}
		x.log.Error("publish", "topic", topic, "count", len(evs), "err", err)
		return nil, http.StatusServiceUnavailable, "the event log is unavailable; nothing was stored, retry later"
	}
	published := time.Now()
	writePublish.Observe(published.Sub(start).Seconds())
	if x.cfg.Waiters == nil {
		return nil, http.StatusOK, ""
	}
	defer func() { writeConsistency.Observe(time.Since(published).Seconds()) }()
	wctx, cancel := context.WithTimeout(ctx, x.cfg.ConsistencyTimeout)
	defer cancel()
	var outcomes []projections.Outcome
	for i, id := range waitFor {
		o, err := x.cfg.Waiters.Wait(wctx, id)
		if err != nil {
			// Durable in the log, so success; the projection will catch up.
			consistencyTimeouts.Inc()
			x.log.Warn("write accepted before it was projected", "event", id, "err", err)
			for _, rest := range waitFor[i+1:] {
				x.cfg.Waiters.Forget(rest)
			}
			break
		}
		outcomes = append(outcomes, o)
	}
	return outcomes, http.StatusOK, ""
}

// storedClock hands out stored times: millisecond precision (what xAPI
// timestamps customarily carry, and what every client library parses),
// increasing across requests of this process so that statements sent one
// after another sort in the order they were sent. Under more than a
// thousand writes a second the clock would run ahead of real time, so it
// never leads by more than maxStoredLead; beyond that, stored times repeat
// and ties sort by id.
var storedClock struct {
	sync.Mutex
	last time.Time
}

const maxStoredLead = 100 * time.Millisecond

func nextStored() time.Time {
	now := time.Now().UTC().Truncate(time.Millisecond)
	storedClock.Lock()
	defer storedClock.Unlock()
	if !now.After(storedClock.last) {
		if next := storedClock.last.Add(time.Millisecond); next.Sub(now) <= maxStoredLead {
			now = next
		} else {
			now = storedClock.last
		}
	}
	storedClock.last = now
	return now
}
