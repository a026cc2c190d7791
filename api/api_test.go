package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

// memLog is an in-memory event log that applies each published event to the
// statements projection, as the Kafka consumer would, with offsets.
type memLog struct {
	mu   sync.Mutex
	proj *projections.Statements
	// docs, when set, applies the events published on api.DefaultDocumentsTopic.
	docs *projections.Documents
	next int64
	fail error
	// failIf, when set, fails a publish holding an event it holds for.
	failIf func(event.Event) bool
	evs    []event.Event
	// applied closes when the last published event has been applied.
	applied chan struct{}
	// gate, when set, holds back applying the events published from now
	// on until it is closed (a projection that has not got to them).
	gate chan struct{}
}

func (l *memLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	for _, e := range evs {
		if l.failIf != nil && l.failIf(e) {
			return errors.New("memLog: publish refused by failIf")
		}
	}
	for _, e := range evs {
		l.evs = append(l.evs, e)
		pos := event.Position{Topic: topic, Partition: 0, Offset: l.next}
		l.next++
		// Apply asynchronously and in log order, as a consumer would.
		prev := l.applied
		done := make(chan struct{})
		l.applied = done
		gate := l.gate
		go func() {
			defer close(done)
			if prev != nil {
				<-prev
			}
			if gate != nil {
				<-gate
			}
			h := l.proj.Projection
			if topic == api.DefaultDocumentsTopic && l.docs != nil {
				h = l.docs.Projection
			}
			if err := h.Handle(context.Background(), pos, e); err != nil {
				panic(err)
			}
		}()
	}
	return nil
}

// credLog is the credentials topic of the tests: it applies each event to
// the credentials projection at once, at the next offset.
type credLog struct {
	mu    sync.Mutex
	next  int64
	creds *projections.Credentials
}

func (l *credLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		if err := l.creds.Handle(ctx, event.Position{Topic: topic, Offset: l.next}, e); err != nil {
			return err
		}
		l.next++
	}
	return nil
}

// newCredentials returns a credentials projection over store fed by a
// credLog.
func newCredentials(t testing.TB, store *projections.Store) *projections.Credentials {
	t.Helper()
	l := &credLog{}
	creds, err := projections.NewCredentials(store, projections.NewWaiters(), projections.CredentialsConfig{Publisher: l, Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l.creds = creds
	return creds
}

type fixture struct {
	srv   *httptest.Server
	log   *memLog
	creds *projections.Credentials
}

func newFixture(t testing.TB, mod func(*api.Config)) *fixture {
	t.Helper()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	waiters := projections.NewWaiters()
	proj, err := projections.NewStatements(store, waiters)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := projections.NewDocuments(store, waiters)
	if err != nil {
		t.Fatal(err)
	}
	log := &memLog{proj: proj, docs: docs}
	creds := newCredentials(t, store)
	ctx := context.Background()
	if _, err := creds.Put(ctx, "op", "op-secret", "op", "t1", []string{"all", projections.ScopeOperator}); err != nil {
		t.Fatal(err)
	}
	if _, err := creds.Put(ctx, "admin", "admin-secret", "admin", "t1", []string{"all"}); err != nil {
		t.Fatal(err)
	}
	if _, err := creds.Put(ctx, "reader", "reader-secret", "reader", "t1", []string{"statements/read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := creds.Put(ctx, "other", "other-secret", "other", "t2", []string{"all"}); err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{
		Auth: creds, Publisher: log, StatementsTopic: "statements", Waiters: waiters,
		Statements:    &api.XAPI{Statements: proj, Documents: docs, MaxAttachmentBytes: 4 << 10},
		AuthorityHome: "http://lrs.example/", MaxBodyBytes: 64 << 10, MaxBatch: 5,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv := httptest.NewServer(api.New(cfg).Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, log: log, creds: creds}
}

type req struct {
	method, path, body string
	user, pass         string
	noVersion          bool
	contentType        string
	headers            map[string]string
}

func (f *fixture) do(t testing.TB, r req) (*http.Response, []byte) {
	t.Helper()
	hr, _ := http.NewRequest(r.method, f.srv.URL+r.path, strings.NewReader(r.body))
	if r.user == "" {
		r.user, r.pass = "admin", "admin-secret"
	}
	if r.user != "-" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	if !r.noVersion {
		hr.Header.Set("X-Experience-API-Version", "1.0.3")
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	} else if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const good = `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`

func TestStatementsHTTP(t *testing.T) {
	f := newFixture(t, nil)
	id := "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"
	stmtWithID := strings.Replace(good, `{"actor"`, `{"id":"`+id+`","actor"`, 1)
	differentWithID := strings.Replace(stmtWithID, "/a\"", "/b\"", 1)
	for _, tc := range []struct {
		name      string
		r         req
		want      int
		wantInErr string
	}{
		{"post one", req{method: "POST", path: "/xapi/statements", body: good}, 200, ""},
		{"post array", req{method: "POST", path: "/xapi/statements", body: "[" + good + "," + good + "]"}, 200, ""},
		{"put", req{method: "PUT", path: "/xapi/statements?statementId=" + id, body: good}, 204, ""},
		{"put same again is a no-op", req{method: "PUT", path: "/xapi/statements?statementId=" + id, body: good}, 204, ""},
		{"post same id same content", req{method: "POST", path: "/xapi/statements", body: stmtWithID}, 200, ""},
		{"post same id other content", req{method: "POST", path: "/xapi/statements", body: differentWithID}, 409, id},
		{"post a batch with it stored and a new one", req{method: "POST", path: "/xapi/statements", body: "[" + good + "," + stmtWithID + "]"}, 200, ""},
		{"post a batch with it changed second", req{method: "POST", path: "/xapi/statements", body: "[" + good + "," + differentWithID + "]"}, 409, "statements[1].id"},
		{"post a batch with an id twice", req{method: "POST", path: "/xapi/statements", body: "[" + stmtWithID + "," + good + "," + stmtWithID + "]"}, 400, "statements[2].id"},
		{"put id mismatch", req{method: "PUT", path: "/xapi/statements?statementId=" + strings.Replace(id, "3e", "4e", 1), body: stmtWithID}, 400, "statementId"},
		{"put without statementId", req{method: "PUT", path: "/xapi/statements", body: good}, 400, "statementId"},
		{"no version header", req{method: "POST", path: "/xapi/statements", body: good, noVersion: true}, 400, "X-Experience-API-Version"},
		{"no credentials", req{method: "POST", path: "/xapi/statements", body: good, user: "-"}, 401, "authentication"},
		{"wrong secret", req{method: "POST", path: "/xapi/statements", body: good, user: "admin", pass: "nope-nope"}, 401, "invalid"},
		{"read-only credential cannot write", req{method: "POST", path: "/xapi/statements", body: good, user: "reader", pass: "reader-secret"}, 403, "scope"},
		{"missing verb", req{method: "POST", path: "/xapi/statements", body: `{"actor":{"mbox":"mailto:a@b.c"},"object":{"id":"https://x.y/z"}}`}, 400, "verb"},
		{"two IFIs", req{method: "POST", path: "/xapi/statements", body: strings.Replace(good, `"mbox":"mailto:ada@example.com"`, `"mbox":"mailto:ada@example.com","openid":"https://ada.example.com"`, 1)}, 400, "actor"},
		{"not JSON", req{method: "POST", path: "/xapi/statements", body: "{nope"}, 400, ""},
		{"empty array", req{method: "POST", path: "/xapi/statements", body: "[]"}, 400, ""},
		{"wrong content type", req{method: "POST", path: "/xapi/statements", body: good, contentType: "text/plain"}, 400, "Content-Type"},
		{"batch over the limit", req{method: "POST", path: "/xapi/statements", body: "[" + strings.Repeat(good+",", 5) + good + "]"}, 413, "limit"},
		{"body over the limit", req{method: "POST", path: "/xapi/statements", body: "[" + strings.Repeat(" ", 70<<10) + good + "]"}, 413, "limit"},
		{"get unknown", req{method: "GET", path: "/xapi/statements?statementId=00000000-0000-4000-8000-000000000000"}, 404, "not found"},
		{"get with a wrongly cased parameter", req{method: "GET", path: "/xapi/statements?statementid=" + id}, 400, "statementId"},
		{"get other tenant's statement", req{method: "GET", path: "/xapi/statements?statementId=" + id, user: "other", pass: "other-secret"}, 404, ""},
		{"get own tenant's statement", req{method: "GET", path: "/xapi/statements?statementId=" + id, user: "reader", pass: "reader-secret"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, tc.r)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if resp.Header.Get("X-Experience-API-Version") != "1.0.3" && resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("response lacks X-Experience-API-Version")
			}
			if tc.want >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not JSON with an error", body)
				}
				if !strings.Contains(string(body), tc.wantInErr) {
					t.Errorf("error %s does not mention %q", body, tc.wantInErr)
				}
			}
		})
	}
}

func TestPostIsAllOrNothing(t *testing.T) {
	f := newFixture(t, nil)
	bad := `{"actor":{"mbox":"not-a-mailto"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`
	resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: "[" + good + "," + bad + "]"})
	if resp.StatusCode != 400 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "statements[1]") && !strings.Contains(string(body), "[1]") {
		t.Errorf("error %s does not point at the second statement", body)
	}
	if n := len(f.log.evs); n != 0 {
		t.Fatalf("%d events published for a rejected batch", n)
	}
}

func TestPostAnswersAfterProjection(t *testing.T) {
	f := newFixture(t, nil)
	resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: good})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var ids []string
	json.Unmarshal(body, &ids)
	// No polling: the write answered after the projection applied it.
	resp, body = f.do(t, req{method: "GET", path: "/xapi/statements?statementId=" + ids[0]})
	if resp.StatusCode != 200 {
		t.Fatalf("GET right after POST: %d %s", resp.StatusCode, body)
	}
	var st map[string]any
	json.Unmarshal(body, &st)
	for _, k := range []string{"id", "stored", "timestamp", "authority", "version"} {
		if st[k] == nil {
			t.Errorf("stored statement lacks %s: %s", k, body)
		}
	}
}

func TestPublishFailureIs503(t *testing.T) {
	f := newFixture(t, nil)
	f.log.fail = errors.New("broker down")
	resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: good})
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
}

func TestAboutAndHealth(t *testing.T) {
	ready := errors.New("kafka: unreachable")
	f := newFixture(t, func(c *api.Config) {
		c.Ready = func(context.Context) error { return ready }
	})
	resp, body := f.do(t, req{method: "GET", path: "/xapi/about", noVersion: true, user: "-"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), "1.0.3") {
		t.Errorf("about: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, req{method: "GET", path: "/healthz", user: "-"}); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	if resp, body := f.do(t, req{method: "GET", path: "/readyz", user: "-"}); resp.StatusCode != 503 || !strings.Contains(string(body), "unreachable") {
		t.Errorf("readyz while not ready: %d %s", resp.StatusCode, body)
	}
	ready = nil
	if resp, _ := f.do(t, req{method: "GET", path: "/readyz", user: "-"}); resp.StatusCode != 200 {
		t.Errorf("readyz when ready: %d", resp.StatusCode)
	}
	f.do(t, req{method: "POST", path: "/xapi/statements", body: good})
	resp, body = f.do(t, req{method: "GET", path: "/metrics", user: "-"})
	for _, m := range []string{"learnstream_http_requests_total", "learnstream_statements_accepted_total", "learnstream_projection_events_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	_ = fmt.Sprint(resp.StatusCode)
}

func TestBackpressure(t *testing.T) {
	var backlog int64 = 50
	f := newFixture(t, func(c *api.Config) {
		c.Backlog = func() int64 { return backlog }
		c.MaxBacklog = 10
	})
	resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: good})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with a backlog of 50 over a limit of 10: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if len(f.log.evs) != 0 {
		t.Fatal("a refused write was published")
	}
	backlog = 3
	if resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: good}); resp.StatusCode != 200 {
		t.Fatalf("with the backlog under the limit: %d %s", resp.StatusCode, body)
	}
}
