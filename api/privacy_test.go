package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

var testNames = privacy.Secret("0123456789abcdef0123456789abcdef")

// recorder is the access audit of the tests: it keeps the records, and
// refuses reservations while full is set.
type recorder struct {
	mu   sync.Mutex
	full bool
	recs []privacy.AccessRecorded
}

func (r *recorder) Reserve(context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.full
}

func (r *recorder) Record(tenant string, a privacy.AccessRecorded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, a)
}

func (r *recorder) take() []privacy.AccessRecorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

// privLog applies the privacy module's events to its read models at once.
type privLog struct {
	mu        sync.Mutex
	next      int64
	consents  *projections.Consents
	retention *projections.Retention
	evs       []event.Event
}

func (l *privLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		p := l.consents.Projection
		if topic == "privacy" {
			p = l.retention.Projection
		}
		if err := p.Handle(ctx, event.Position{Topic: topic, Offset: l.next}, e); err != nil {
			return err
		}
		l.next++
		l.evs = append(l.evs, e)
	}
	return nil
}

func privacyFixture(t *testing.T) (*fixture, *recorder, *privLog) {
	t.Helper()
	rec := &recorder{}
	plog := &privLog{}
	f := newFixture(t, func(c *api.Config) {
		store, err := projections.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		access, _ := projections.NewAccessAudit(store)
		plog.consents, _ = projections.NewConsents(store, testNames, nil)
		plog.retention, _ = projections.NewRetention(store, nil)
		c.Audit, c.Pseudonyms = rec, testNames
		c.Modules = append(c.Modules, &api.PrivacyModule{Access: access, Consents: plog.consents, Retention: plog.retention,
			Pseudonyms: testNames, Publisher: plog, StatementsTopic: "statements", PrivacyTopic: "privacy", Export: true, ExportPage: 2})
	})
	ctx := context.Background()
	if _, err := f.creds.Put(ctx, "dpo", "dpo-secret", "dpo", "t1", []string{projections.ScopePrivacy}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.creds.Put(ctx, "dpo2", "dpo2-secret", "dpo2", "t2", []string{projections.ScopePrivacy}); err != nil {
		t.Fatal(err)
	}
	return f, rec, plog
}

func TestAccessAuditRecordsReads(t *testing.T) {
	f, rec, _ := privacyFixture(t)
	ada, bob := "mbox:mailto:ada@example.com", "mbox:mailto:bob@example.com"
	bobSt := strings.Replace(good, "ada@", "bob@", 1)
	for _, b := range []string{good, bobSt} {
		if resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: b}); resp.StatusCode != 200 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := f.do(t, req{method: "PUT", path: "/xapi/activities/state?activityId=https://example.com/a&stateId=s&agent=" +
		url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`), body: `{"x":1}`}); resp.StatusCode != 204 {
		t.Fatalf("PUT state: %d %s", resp.StatusCode, body)
	}
	<-f.log.applied
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("writes recorded as reads: %+v", got)
	}
	p := func(k string) string { return testNames.Pseudonym("t1", k) }
	tests := []struct {
		name     string
		r        req
		status   int
		route    string
		learners []string // nil: no record
	}{
		{"statements of one agent", req{method: "GET", path: "/xapi/statements?agent=" + url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`)},
			200, "GET /xapi/statements", []string{p(ada)}},
		{"every statement: each actor", req{method: "GET", path: "/xapi/statements"}, 200, "GET /xapi/statements", []string{p(ada), p(bob)}},
		{"canonical format decodes: same learners", req{method: "GET", path: "/xapi/statements?format=canonical"}, 200, "GET /xapi/statements", []string{p(ada), p(bob)}},
		{"alternate syntax is audited as the GET", req{method: "POST", path: "/xapi/statements?method=GET", contentType: "application/x-www-form-urlencoded",
			body: "agent=" + url.QueryEscape(`{"mbox":"mailto:bob@example.com"}`)}, 200, "GET /xapi/statements", []string{p(bob)}},
		{"state document of an agent", req{method: "GET", path: "/xapi/activities/state?activityId=https://example.com/a&stateId=s&agent=" +
			url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`)}, 200, "GET /xapi/activities/state", []string{p(ada)}},
		{"agent's person object", req{method: "GET", path: "/xapi/agents?agent=" + url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`)},
			200, "GET /xapi/agents", []string{p(ada)}},
		{"consent of a learner", req{method: "GET", path: "/v1/learners/ada@example.com/consent"}, 200, "GET /v1/learners/{learner}/consent", []string{p(ada)}},
		{"refused for scope: recorded", req{method: "GET", path: "/v1/learners/ada@example.com/access"}, 403, "GET /v1/learners/{learner}/access", []string{p(ada)}},
		{"unauthenticated: nobody read", req{method: "GET", path: "/xapi/statements", user: "admin", pass: "wrong"}, 401, "", nil},
		{"activity profile: not personal", req{method: "GET", path: "/xapi/activities/profile?activityId=https://example.com/a"}, 200, "", nil},
	}
	for _, tt := range tests {
		resp, body := f.do(t, tt.r)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		got := rec.take()
		if tt.learners == nil {
			if len(got) != 0 {
				t.Errorf("%s: recorded %+v, want nothing", tt.name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d records, want 1", tt.name, len(got))
			continue
		}
		a := got[0]
		slices.Sort(a.Learners)
		want := slices.Sorted(slices.Values(tt.learners))
		if a.Route != tt.route || a.Status != tt.status || a.Credential != "admin" || !slices.Equal(a.Learners, want) {
			t.Errorf("%s: recorded %+v, want route %s status %d learners %v", tt.name, a, tt.route, tt.status, want)
		}
		// No personal data in the record itself.
		b, _ := json.Marshal(a)
		if strings.Contains(string(b), "example.com") {
			t.Errorf("%s: record holds personal data: %s", tt.name, b)
		}
	}

	// A full audit queue refuses the read before it reads anything.
	rec.mu.Lock()
	rec.full = true
	rec.mu.Unlock()
	resp, body := f.do(t, req{method: "GET", path: "/xapi/statements"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || strings.Contains(string(body), "statements\"") {
		t.Errorf("full audit queue: %d %s, want 503 with Retry-After and no statements", resp.StatusCode, body)
	}
}

func TestConsentAndRetentionEndpoints(t *testing.T) {
	f, rec, plog := privacyFixture(t)
	tests := []struct {
		name   string
		r      req
		status int
		want   string // in the body
	}{
		{"defaults", req{method: "GET", path: "/v1/learners/ada@example.com/consent"}, 200, `"personalisation":true,"analytics":true`},
		{"missing field", req{method: "PUT", path: "/v1/learners/ada@example.com/consent", body: `{"personalisation":false}`}, 400, `"field":"analytics"`},
		{"unknown field", req{method: "PUT", path: "/v1/learners/ada@example.com/consent", body: `{"personalisation":false,"analytics":true,"x":1}`}, 400, `unknown field`},
		{"withdraw personalisation", req{method: "PUT", path: "/v1/learners/ada@example.com/consent", body: `{"personalisation":false,"analytics":true}`}, 200, `"personalisation":false`},
		{"read back", req{method: "GET", path: "/v1/learners/mbox:mailto:ada@example.com/consent"}, 200, `"personalisation":false,"analytics":true,"set"`},
		{"other tenant unaffected", req{method: "GET", path: "/v1/learners/ada@example.com/consent", user: "other", pass: "other-secret"}, 200, `"personalisation":true`},
		{"DPO may set consent", req{method: "PUT", path: "/v1/learners/bob@example.com/consent", user: "dpo", pass: "dpo-secret", body: `{"personalisation":true,"analytics":false}`}, 200, `"analytics":false`},
		{"reader may not", req{method: "GET", path: "/v1/learners/ada@example.com/consent", user: "reader", pass: "reader-secret"}, 403, "scope"},
		{"retention unset", req{method: "GET", path: "/v1/admin/retention"}, 200, `"days":0`},
		{"tenant admin may not set retention", req{method: "PUT", path: "/v1/admin/retention", body: `{"days":365}`}, 403, "scope"},
		{"too short", req{method: "PUT", path: "/v1/admin/retention", user: "dpo", pass: "dpo-secret", body: `{"days":7}`}, 400, `"field":"days"`},
		{"DPO sets a year", req{method: "PUT", path: "/v1/admin/retention", user: "dpo", pass: "dpo-secret", body: `{"days":365}`}, 200, `"days":365`},
		{"tenant admin reads it", req{method: "GET", path: "/v1/admin/retention"}, 200, `"before"`},
		{"operator sets another tenant's", req{method: "PUT", path: "/v1/admin/retention?tenant=t2", user: "op", pass: "op-secret", body: `{"days":400}`}, 200, `"tenant":"t2","days":400`},
		{"that tenant sees it", req{method: "GET", path: "/v1/admin/retention", user: "other", pass: "other-secret"}, 200, `"days":400`},
		{"a tenant's ?tenant= is ignored", req{method: "GET", path: "/v1/admin/retention?tenant=t2"}, 200, `"tenant":"t1","days":365`},
		{"access list needs privacy", req{method: "GET", path: "/v1/learners/ada@example.com/access", user: "dpo", pass: "dpo-secret"}, 200, `"records":[]`},
		{"bad limit", req{method: "GET", path: "/v1/learners/ada@example.com/access?limit=0", user: "dpo", pass: "dpo-secret"}, 400, `"field":"limit"`},
		{"bad cursor", req{method: "GET", path: "/v1/learners/ada@example.com/access?cursor=x", user: "dpo", pass: "dpo-secret"}, 400, `"field":"cursor"`},
	}
	for _, tt := range tests {
		resp, body := f.do(t, tt.r)
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, resp.StatusCode, body, tt.status, tt.want)
		}
	}
	rec.take()
	// The consent events are keyed by the learner (in order with their
	// statements) and carry the credential that set them.
	var types []string
	for _, e := range plog.evs {
		types = append(types, e.Type+" "+e.Key)
	}
	want := []string{privacy.TypeConsentSet + " mbox:mailto:ada@example.com", privacy.TypeConsentSet + " mbox:mailto:bob@example.com",
		privacy.TypeRetentionSet + " t1", privacy.TypeRetentionSet + " t2"}
	if !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	if plog.evs[3].Tenant != "t2" {
		t.Errorf("operator's retention event for t2 has tenant %q", plog.evs[3].Tenant)
	}
}

func TestExport(t *testing.T) {
	f, _, _ := privacyFixture(t)
	ada := `{"mbox":"mailto:ada@example.com","name":"Ada"}`
	bodies := []string{
		`{"actor":` + ada + `,"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},"object":{"id":"https://example.com/a","definition":{"name":{"en-US":"Course A"}}},"result":{"score":{"scaled":0.8},"success":true}}`,
		`{"actor":` + ada + `,"verb":{"id":"http://adlnet.gov/expapi/verbs/attempted"},"object":{"id":"https://example.com/b"}}`,
		// Bob's statement naming Ada as its object: hers too.
		`{"actor":{"mbox":"mailto:bob@example.com"},"verb":{"id":"http://example.com/verbs/mentored"},"object":{"objectType":"Agent","mbox":"mailto:ada@example.com"}}`,
		`{"actor":{"mbox":"mailto:bob@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attempted"},"object":{"id":"https://example.com/b"}}`,
		`{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},"object":{"id":"https://example.com/c"}}`,
	}
	for _, b := range bodies {
		if resp, body := f.do(t, req{method: "POST", path: "/xapi/statements", body: b}); resp.StatusCode != 200 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
	}
	agent := url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`)
	for _, d := range []struct{ path, body string }{
		{"/xapi/activities/state?activityId=https://example.com/a&stateId=bookmark&agent=" + agent, `{"page":7}`},
		{"/xapi/agents/profile?profileId=prefs&agent=" + agent, `{"lang":"fr"}`},
		{"/xapi/activities/state?activityId=https://example.com/a&stateId=bookmark&agent=" + url.QueryEscape(`{"mbox":"mailto:bob@example.com"}`), `{"page":1}`},
	} {
		if resp, body := f.do(t, req{method: "PUT", path: d.path, body: d.body, headers: map[string]string{"If-None-Match": "*"}}); resp.StatusCode != 204 {
			t.Fatalf("PUT %s: %d %s", d.path, resp.StatusCode, body)
		}
	}
	<-f.log.applied
	f.do(t, req{method: "PUT", path: "/v1/learners/ada@example.com/consent", body: `{"personalisation":false,"analytics":true}`})

	for _, tt := range []struct {
		name   string
		r      req
		status int
	}{
		{"unknown learner", req{method: "GET", path: "/v1/learners/nobody@example.com/export", user: "dpo", pass: "dpo-secret"}, 404},
		{"another tenant's learner", req{method: "GET", path: "/v1/learners/ada@example.com/export", user: "dpo2", pass: "dpo2-secret"}, 404},
		{"all is not privacy", req{method: "GET", path: "/v1/learners/ada@example.com/export"}, 403},
	} {
		if resp, body := f.do(t, tt.r); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}

	resp, body := f.do(t, req{method: "GET", path: "/v1/learners/ada@example.com/export", user: "dpo", pass: "dpo-secret"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	z, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	files := map[string]string{}
	for _, zf := range z.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[zf.Name] = string(b)
	}
	var sts []struct {
		Actor struct{ Mbox string }
	}
	if err := json.Unmarshal([]byte(files["statements.json"]), &sts); err != nil {
		t.Fatalf("statements.json: %v\n%s", err, files["statements.json"])
	}
	if len(sts) != 4 {
		t.Errorf("statements.json holds %d statements, want Ada's 3 and Bob's naming her (read 2 at a time)", len(sts))
	}
	lines := strings.Split(strings.TrimSpace(files["statements.txt"]), "\n")
	if len(lines) != 4 || !strings.Contains(files["statements.txt"], "Ada completed Course A (https://example.com/a) — score 80%, passed") {
		t.Errorf("statements.txt:\n%s", files["statements.txt"])
	}
	var index []struct{ Resource, ID, File string }
	json.Unmarshal([]byte(files["documents/index.json"]), &index)
	if len(index) != 2 {
		t.Fatalf("documents/index.json: %s, want Ada's state and profile (not Bob's)", files["documents/index.json"])
	}
	for _, d := range index {
		want := map[string]string{"bookmark": `{"page":7}`, "prefs": `{"lang":"fr"}`}[d.ID]
		if files[d.File] != want {
			t.Errorf("%s (%s): %q, want %q as stored", d.File, d.ID, files[d.File], want)
		}
	}
	if !strings.Contains(files["consent.json"], `"personalisation": false`) {
		t.Errorf("consent.json: %s", files["consent.json"])
	}
	for _, name := range []string{"README.txt", "progress.json", "access.json"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s in the archive: %v", name, slices.Sorted(maps.Keys(files)))
		}
	}
	for _, want := range []string{"mbox:mailto:ada@example.com", "statements.json", "every xAPI statement by or about you, as stored: 4", "documents/", ": 2"} {
		if !strings.Contains(files["README.txt"], want) {
			t.Errorf("README.txt lacks %q:\n%s", want, files["README.txt"])
		}
	}
}

// The recommendations endpoint never answers a personalised list for a
// learner who withdrew consent to personalisation (the recommender's
// non-personal list replaces it in order; until then the list is empty).
func TestRecommendationsHonourConsent(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	recs, _ := projections.NewRecommendations(store, nil)
	ada, bob := "mbox:mailto:ada@example.com", "mbox:mailto:bob@example.com"
	for i, lr := range []projections.RecommendationsUpdated{
		{Learner: ada, Items: []projections.Recommendation{{Item: "https://example.com/a", Rank: 1, Reasons: []string{"mf"}}}},
		{Learner: bob, Items: []projections.Recommendation{{Item: "https://example.com/a", Rank: 1, Reasons: []string{"popular", projections.ReasonNotPersonalised}}}},
	} {
		b, _ := json.Marshal(lr)
		e, _ := event.New(fmt.Sprintf("r%d", i), projections.TypeRecommendationsUpdated, "test", "t1", lr.Learner, time.Now(), b)
		if err := recs.Handle(context.Background(), event.Position{Topic: "recs", Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, func(c *api.Config) {
		c.Modules = append(c.Modules, &api.RecommendModule{Recommendations: recs,
			Consents: consentsOf{ada: {Analytics: true}, bob: {Analytics: true}}})
	})
	for _, tc := range []struct{ learner, want string }{
		{"ada@example.com", `"items":[]`},
		{"bob@example.com", `"not_personalised"`},
	} {
		resp, b := f.do(t, req{method: "GET", path: "/v1/learners/" + tc.learner + "/recommendations"})
		if resp.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %s", tc.learner, resp.StatusCode, b, tc.want)
		}
	}
}

// The SSE feed of recommendations is a read of learners' data: recorded
// when the stream ends, naming the learner of its filter.
func TestAccessAuditRecordsTheFeed(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, func(c *api.Config) {
		c.Audit, c.Pseudonyms = rec, testNames
		c.Modules = append(c.Modules, &api.RecommendModule{Feed: nopFeed{}})
	})
	for _, tc := range []struct {
		query    string
		learners []string
	}{
		{"?learner=ada@example.com", []string{testNames.Pseudonym("t1", "mbox:mailto:ada@example.com")}},
		{"", []string{}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		hr, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/streams/recommendations"+tc.query, nil)
		hr.SetBasicAuth("admin", "admin-secret")
		if resp, err := http.DefaultClient.Do(hr); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		var got []privacy.AccessRecorded
		for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			got = rec.take()
		}
		if len(got) != 1 || got[0].Route != "GET /v1/streams/recommendations" || !slices.Equal(got[0].Learners, tc.learners) {
			t.Errorf("feed%s: records %+v, want one naming %v", tc.query, got, tc.learners)
		}
	}
}

type panicModule struct{}

func (panicModule) Register(r api.Router) {
	r.Handle("GET /v1/learners/{learner}/boom", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, "all")
}

// A read that fails midway (a handler that panics, as an export aborted
// after its answer began) is recorded, and its slot in the queue is not
// lost.
func TestAccessAuditRecordsAbortedReads(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, func(c *api.Config) {
		c.Audit, c.Pseudonyms = rec, testNames
		c.Modules = append(c.Modules, panicModule{})
	})
	hr, _ := http.NewRequest("GET", f.srv.URL+"/v1/learners/ada@example.com/boom", nil)
	hr.SetBasicAuth("admin", "admin-secret")
	if resp, err := http.DefaultClient.Do(hr); err == nil {
		resp.Body.Close()
		t.Fatalf("an aborted read answered %d", resp.StatusCode)
	}
	got := rec.take()
	if len(got) != 1 || got[0].Status != http.StatusInternalServerError || got[0].Route != "GET /v1/learners/{learner}/boom" {
		t.Errorf("records %+v, want one with status 500", got)
	}
}
