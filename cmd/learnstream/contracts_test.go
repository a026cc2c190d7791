package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	apiclient "github.com/learnstream/learnstream/api/client"
	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/streams"
)

// contractTransport checks every request it sends and every answer it
// gets against the server's own /openapi.json (kin-openapi's
// openapi3filter), and counts the operations it saw.
type contractTransport struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]int
}

func init() {
	// Bodies the document allows as */* (documents, package files, the
	// player page and assets) are checked for status and content type;
	// their bytes are opaque.
	for _, ct := range []string{"text/html", "text/javascript", "application/javascript", "text/css", "multipart/mixed",
		"text/event-stream", "application/zip"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

func newContractTransport(t *testing.T, baseURL string) *contractTransport {
	t.Helper()
	resp, err := http.Get(baseURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load /openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: baseURL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contractTransport{t: t, doc: doc, router: router, seen: map[string]int{}}
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.t.Helper()
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s matches no operation of /openapi.json: %v", req.Method, req.URL.Path, err)
		return http.DefaultTransport.RoundTrip(req)
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		c.t.Errorf("request %s %s does not match /openapi.json: %v", req.Method, req.URL, err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID]++
	c.mu.Unlock()
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream does not end; its status and content type are checked,
		// its events by the caller.
		out.Options.ExcludeResponseBody = true
		out.Body = io.NopCloser(strings.NewReader(""))
		if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
			c.t.Errorf("answer to %s %s does not match /openapi.json: %v", req.Method, req.URL, err)
		}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		c.t.Errorf("answer to %s %s (%d) does not match /openapi.json: %v\n%.400s", req.Method, req.URL, resp.StatusCode, err, body)
	}
	return resp, nil
}

// raw sends a request through the transport and answers status and body.
func (c *contractTransport) raw(method, u, body string, header ...string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: c}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// The server's answers match its own /openapi.json: one request to every
// operation (most through package client), each request and answer
// checked by kin-openapi's validator, and every operation of the
// document called at least once.
func TestServerAnswersMatchItsOpenAPI(t *testing.T) {
	dir := t.TempDir()
	// One partition: one recommender model sees every learner, so ada's
	// list (what bob and cy completed) does not depend on partitioning.
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", filepath.Join(dir, "data"), "--content-iri-base", "https://lrs.example.com/",
		"--partitions", "1", "--retention-every", "1s"}, isolate()...), hookArgs("--webhooks-max-attempts", "1")...)...)
	defer p.stop(t)
	ct := newContractTransport(t, p.url)
	c := apiclient.New(p.url, testKey, testSecret)
	c.HTTP = &http.Client{Transport: ct}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, p.logs)
		}
	}
	basic := func(key, secret string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(key, secret)
		return req.Header.Get("Authorization")
	}
	auth := basic(testKey, testSecret)
	xapi := []string{"Authorization", auth, "X-Experience-API-Version", "1.0.3", "Content-Type", "application/json"}
	expect := func(what string, code int, want ...int) {
		t.Helper()
		if !slices.Contains(want, code) {
			t.Errorf("%s: %d, want %v", what, code, want)
		}
	}

	// Operations.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/xapi/about"} {
		code, _, _ := ct.raw("GET", p.url+path, "")
		expect(path, code, http.StatusOK)
	}
	code, _, _ := ct.raw("OPTIONS", p.url+"/xapi/", "", "Origin", "https://player.example", "Access-Control-Request-Method", "POST")
	expect("OPTIONS /xapi/", code, http.StatusOK, http.StatusNoContent)
	code, _, _ = ct.raw("POST", p.url+"/xapi/", "", xapi...)
	expect("POST /xapi/", code, http.StatusMethodNotAllowed)

	// Catalog, through the apiclient.
	var cat apiclient.CatalogImport
	must("catalog doc", json.Unmarshal([]byte(adaptiveCatalogDoc), &cat))
	_, err := c.ImportCatalog(ctx, cat)
	must("import", err)
	sum, err := c.Catalog(ctx)
	must("catalog", err)
	if sum.Skills != 2 || sum.Activities != 6 {
		t.Errorf("catalog after import: %+v, want 2 skills and 6 activities", sum)
	}
	if joins, err := c.Skill(ctx, "joins"); err != nil || !slices.Equal(joins.Prerequisites, []string{"sql"}) {
		t.Errorf("joins after the import: %+v %v, want sql as its prerequisite", joins, err)
	}
	_, err = c.PutSkill(ctx, apiclient.Skill{ID: "windows", Name: "Window functions"})
	must("put skill", err)
	of, err := c.PutPrerequisite(ctx, "joins", "windows")
	must("put prerequisite", err)
	if !slices.Contains(of, "joins") {
		t.Errorf("prerequisites of windows: %v", of)
	}
	sk, err := c.Skill(ctx, "windows")
	must("skill", err)
	if !slices.Contains(sk.Prerequisites, "joins") {
		t.Errorf("skill windows: %+v, want joins among its prerequisites", sk)
	}
	skills, err := c.Skills(ctx)
	must("skills", err)
	edges, err := c.Prerequisites(ctx)
	must("prerequisites", err)
	if len(skills) != 3 || !slices.Contains(edges, apiclient.Prerequisite{From: "joins", To: "windows"}) {
		t.Errorf("skills %v, edges %v", skills, edges)
	}
	must("delete prerequisite", c.DeletePrerequisite(ctx, "joins", "windows"))
	must("delete skill", c.DeleteSkill(ctx, "windows"))
	if _, err := c.Skill(ctx, "windows"); !apiclient.IsNotFound(err) {
		t.Errorf("deleted skill: %v, want 404", err)
	}
	act := apiclient.Activity{ID: "https://example.com/items/q6", Type: "item", Title: "Q6", Assesses: []string{"joins"}}
	_, err = c.PutActivity(ctx, act)
	must("put activity", err)
	got, err := c.Activity(ctx, act.ID)
	must("activity", err)
	if got.Title != "Q6" {
		t.Errorf("activity: %+v", got)
	}
	_, err = c.PutActivity(ctx, apiclient.Activity{ID: "https://example.com/courses/joins-101", Type: "course", Title: "Joins", Teaches: []string{"joins"}})
	must("put course", err)
	acts, err := c.Activities(ctx)
	must("activities", err)
	if len(acts) != 8 {
		t.Errorf("%d activities, want 8", len(acts))
	}
	must("delete activity", c.DeleteActivity(ctx, act.ID))
	_, err = c.PutRole(ctx, apiclient.Role{ID: "analyst", Name: "Analyst", Requires: []apiclient.RoleRequirement{{Skill: "joins", Level: 0.8}}})
	must("put role", err)
	role, err := c.Role(ctx, "analyst")
	must("role", err)
	roles, err := c.Roles(ctx)
	must("roles", err)
	if role.Name != "Analyst" || len(roles) != 1 {
		t.Errorf("role %+v, roles %v", role, roles)
	}
	const ada = "ada@example.com"
	lr, err := c.SetLearnerRole(ctx, ada, "analyst")
	must("set learner role", err)
	if lr.Role != "analyst" || lr.Learner != "mbox:mailto:ada@example.com" {
		t.Errorf("learner role: %+v", lr)
	}
	_, err = c.LearnerRole(ctx, ada)
	must("learner role", err)
	_, err = c.PutRole(ctx, apiclient.Role{ID: "intern", Requires: []apiclient.RoleRequirement{}})
	must("put role", err)
	must("delete role", c.DeleteRole(ctx, "intern"))
	path, err := c.Path(ctx, ada, "analyst", "")
	must("path", err)
	if path.Learner != "mbox:mailto:ada@example.com" || !slices.Equal(path.Missing, []string{"sql", "joins"}) || len(path.Steps) == 0 {
		t.Errorf("path to analyst: %+v, want sql and joins missing and steps to learn them", path)
	}

	// xAPI: completions feed the recommender, scored answers the
	// adaptive models.
	for _, st := range []struct{ who, course string }{{"bob", "sql-basics"}, {"bob", "joins-101"}, {"cy", "sql-basics"}, {"cy", "joins-101"}, {"ada", "sql-basics"}} {
		body := fmt.Sprintf(`{"actor":{"mbox":"mailto:%s@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/courses/%s"}}`, st.who, st.course)
		code, _, _ := ct.raw("POST", p.url+"/xapi/statements", body, xapi...)
		expect("POST completion", code, http.StatusOK)
	}
	for i, correct := range []bool{true, true, false} {
		code, _, b := ct.raw("POST", p.url+"/xapi/statements", answer(ada, i+1, correct), xapi...)
		expect("POST statements", code, http.StatusOK)
		if i == 0 {
			var ids []string
			json.Unmarshal(b, &ids)
			if len(ids) != 1 {
				t.Fatalf("POST statements: %s", b)
			}
			code, _, _ = ct.raw("GET", p.url+"/xapi/statements?statementId="+ids[0], "", xapi...)
			expect("GET statement", code, http.StatusOK)
		}
	}
	code, _, _ = ct.raw("PUT", p.url+"/xapi/statements?statementId=6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f", answer(ada, 4, true), xapi...)
	expect("PUT statement", code, http.StatusNoContent)
	code, _, _ = ct.raw("GET", p.url+"/xapi/statements?limit=2&agent="+url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`), "", xapi...)
	expect("GET statements", code, http.StatusOK)
	code, _, _ = ct.raw("GET", p.url+"/xapi/activities?activityId="+url.QueryEscape("https://example.com/items/q1"), "", xapi...)
	expect("GET activities", code, http.StatusOK)
	code, _, _ = ct.raw("GET", p.url+"/xapi/agents?agent="+url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`), "", xapi...)
	expect("GET agents", code, http.StatusOK)
	agent := url.QueryEscape(`{"mbox":"mailto:ada@example.com"}`)
	for _, d := range []struct{ path, query string }{
		{"/xapi/activities/state", "activityId=" + url.QueryEscape("https://example.com/items/q1") + "&agent=" + agent + "&stateId=bookmark"},
		{"/xapi/activities/profile", "activityId=" + url.QueryEscape("https://example.com/items/q1") + "&profileId=notes"},
		{"/xapi/agents/profile", "agent=" + agent + "&profileId=prefs"},
	} {
		u := p.url + d.path + "?" + d.query
		// A profile may be created without preconditions only when it
		// says so (If-None-Match: *).
		code, _, _ = ct.raw("PUT", u, `{"a":1}`, append(slices.Clone(xapi), "If-None-Match", "*")...)
		expect("PUT "+d.path, code, http.StatusNoContent)
		code, _, _ = ct.raw("POST", u, `{"b":2}`, xapi...)
		expect("POST "+d.path, code, http.StatusNoContent)
		code, h, b := ct.raw("GET", u, "", xapi...)
		expect("GET "+d.path, code, http.StatusOK)
		var doc map[string]int
		if json.Unmarshal(b, &doc) != nil || doc["a"] != 1 || doc["b"] != 2 {
			t.Errorf("GET %s: %s, want the merged document", d.path, b)
		}
		code, _, _ = ct.raw("DELETE", u, "", append(slices.Clone(xapi), "If-Match", h.Get("ETag"))...)
		expect("DELETE "+d.path, code, http.StatusNoContent)
	}

	// The models' answers.
	var recs apiclient.LearnerRecommendations
	eventually(t, p, "recommendations for ada", func() bool {
		recs, err = c.Recommendations(ctx, ada)
		return err == nil
	})
	if recs.Learner != "mbox:mailto:ada@example.com" || recs.EventID == "" {
		t.Errorf("recommendations: %+v", recs)
	}
	var m apiclient.Mastery
	// Four scored answers on sql items (q1-q3 posted, q4 put).
	eventually(t, p, "ada's four sql attempts in /mastery", func() bool {
		m, err = c.Mastery(ctx, ada)
		return err == nil && len(m.Skills) == 1 && m.Skills[0].Skill == "sql" && m.Skills[0].Attempts == 4
	})
	next, err := c.Next(ctx, ada, "sql", nil)
	must("next", err)
	if next.Item != "https://example.com/items/q3" || len(next.Candidates) != 1 {
		t.Errorf("next on sql: %+v, want q3, the one sql item ada has not answered right", next)
	}
	prog, err := c.Progress(ctx, ada)
	must("progress", err)
	if prog.Learner != "mbox:mailto:ada@example.com" {
		t.Errorf("progress: %+v", prog)
	}
	_, err = c.CourseEffectiveness(ctx, "https://example.com/courses/sql-basics")
	must("effectiveness", err)
	sctx, stop := context.WithCancel(ctx)
	var first apiclient.StreamEvent
	err = c.StreamRecommendations(sctx, apiclient.StreamOptions{Position: apiclient.FromBeginning, Learner: ada}, func(ev apiclient.StreamEvent) error {
		first = ev
		stop()
		return nil
	})
	stop()
	must("stream", err)
	var upd apiclient.RecommendationsUpdated
	if first.Type != apiclient.TypeRecommendationsUpdated || first.Position == "" || json.Unmarshal(first.Data, &upd) != nil || upd.Learner != "mbox:mailto:ada@example.com" {
		t.Errorf("first event of the stream: %+v", first)
	}

	// Administration.
	nc, err := c.CreateCredential(ctx, apiclient.NewCredential{Key: "reader-1", Secret: "reader-secret-123", Scopes: []string{"all/read"}})
	must("create credential", err)
	creds, err := c.Credentials(ctx)
	must("credentials", err)
	if nc.Key != "reader-1" || !slices.ContainsFunc(creds, func(c apiclient.Credential) bool { return c.Key == "reader-1" }) {
		t.Errorf("credential %+v not among %+v", nc, creds)
	}
	reader := apiclient.New(p.url, "reader-1", "reader-secret-123")
	reader.HTTP = c.HTTP
	var ce *apiclient.Error
	if _, err := reader.PutSkill(ctx, apiclient.Skill{ID: "x"}); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Errorf("a read-only credential writes a skill: %v, want 403", err)
	}
	must("revoke credential", c.RevokeCredential(ctx, "reader-1"))
	projs, err := c.Projections(ctx)
	must("projections", err)
	if len(projs) == 0 {
		t.Error("no projections listed")
	}
	_, err = c.ReplayProjection(ctx, "recommendations")
	if err != nil && !strings.Contains(err.Error(), "409") {
		must("replay", err)
	}

	// Webhooks: a receiver on loopback (allowed by the test's flags).
	hooks := newReceiver(t)
	hooks.setAnswer(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	hook, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{URL: hooks.url(), Filter: &apiclient.WebhookFilter{Types: []string{typeStatement}}})
	must("create webhook", err)
	_, err = c.Webhooks(ctx)
	must("webhooks", err)
	desc := "contract"
	_, err = c.UpdateWebhook(ctx, hook.ID, apiclient.WebhookRequest{Description: &desc})
	must("update webhook", err)
	_, err = c.PingWebhook(ctx, hook.ID)
	must("ping webhook", err)
	_, err = c.RotateWebhookSecret(ctx, hook.ID, time.Minute)
	must("rotate webhook secret", err)
	code, _, _ = ct.raw("POST", p.url+"/xapi/statements", answer(ada, 9, true), xapi...)
	expect("POST for the webhook", code, http.StatusOK)
	var dead []apiclient.DeadLetter
	eventually(t, p, "a dead letter", func() bool {
		dead, err = c.DeadLetters(ctx, hook.ID, "", 10)
		return err == nil && len(dead) > 0
	})
	_, err = c.RedeliverDeadLetters(ctx, hook.ID, []string{dead[0].ID})
	must("redeliver", err)
	_, err = c.DeleteDeadLetters(ctx, hook.ID, nil)
	must("delete dead letters", err)
	_, err = c.ReplayWebhook(ctx, hook.ID, time.Now().Add(-time.Minute))
	must("replay webhook", err)
	_, err = c.Webhook(ctx, hook.ID)
	must("webhook", err)
	must("delete webhook", c.DeleteWebhook(ctx, hook.ID))

	// Content: a SCORM package and its player, a cmi5 package and an AU.
	scorm, err := os.Open(writeZip(t, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "<html>intro</html>", "quiz/index.html", "<html>quiz</html>"))
	must("zip", err)
	pkg, err := c.ImportPackage(ctx, scorm)
	scorm.Close()
	must("import package", err)
	pkgs, err := c.Packages(ctx)
	must("packages", err)
	_, err = c.Package(ctx, pkg.ID)
	must("package", err)
	if len(pkgs) != 1 || pkg.URL == "" {
		t.Errorf("package %+v, packages %v", pkg, pkgs)
	}
	code, _, b := ct.raw("GET", p.url+pkg.URL+"intro.html", "")
	expect("package file", code, http.StatusOK)
	if string(b) != "<html>intro</html>" {
		t.Errorf("package file: %q", b)
	}
	reg, err := c.Launch(ctx, map[string]string{"mbox": "mailto:ada@example.com"}, pkg.ID, "quiz")
	must("launch", err)
	code, _, _ = ct.raw("GET", p.url+reg.Launch, "")
	expect("player page", code, http.StatusOK, http.StatusServiceUnavailable) // 503 without make player-assets
	code, _, _ = ct.raw("GET", p.url+"/player/assets/scorm-again.min.js", "")
	expect("player asset", code, http.StatusOK, http.StatusNotFound) // built by make player-assets
	token := strings.TrimPrefix(reg.Launch, "/player/")
	code, _, b = ct.raw("POST", p.url+"/v1/runtime/"+token, `{"event":"initialize","session":"s1"}`, "Content-Type", "application/json")
	expect("runtime", code, http.StatusOK)
	if !strings.Contains(string(b), `"statements":1`) {
		t.Errorf("runtime initialize: %s, want one statement", b)
	}

	cmi5, err := os.Open(writeZip(t, dir, "safety.zip", "cmi5.xml", testCmi5, "intro.html", "<html>i</html>", "quiz.html", "<html>q</html>"))
	must("zip", err)
	cpkg, err := c.ImportPackage(ctx, cmi5)
	cmi5.Close()
	must("import cmi5", err)
	const intro = "https://example.com/cmi5/safety/intro"
	creg, err := c.Launch(ctx, map[string]string{"mbox": "mailto:ada@example.com", "name": "Ada"}, cpkg.ID, intro)
	must("launch cmi5", err)
	lu, err := url.Parse(creg.Launch)
	must("launch URL", err)
	q := lu.Query()
	code, _, b = ct.raw("POST", q.Get("fetch"), "")
	var tok struct {
		Auth string `json:"auth-token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.Auth == "" {
		t.Fatalf("cmi5 fetch: %d %s", code, b)
	}
	code, _, _ = ct.raw("POST", q.Get("fetch"), "")
	expect("second cmi5 fetch", code, http.StatusOK, http.StatusBadRequest)
	endpoint := strings.TrimRight(q.Get("endpoint"), "/")
	au := []string{"Authorization", "Basic " + tok.Auth, "X-Experience-API-Version", "1.0.3", "Content-Type", "application/json"}
	code, _, _ = ct.raw("GET", endpoint+"/about", "")
	expect("cmi5 about", code, http.StatusOK)
	actorQ := url.QueryEscape(q.Get("actor"))
	stateURL := endpoint + "/activities/state?activityId=" + url.QueryEscape(intro) + "&agent=" + actorQ + "&registration=" + q.Get("registration") + "&stateId=LMS.LaunchData"
	code, _, _ = ct.raw("GET", stateURL, "", au...)
	expect("cmi5 launch data", code, http.StatusOK)
	own := endpoint + "/activities/state?activityId=" + url.QueryEscape(intro) + "&agent=" + actorQ + "&registration=" + q.Get("registration") + "&stateId=mine"
	for _, m := range []string{"PUT", "POST", "DELETE"} {
		code, _, _ = ct.raw(m, own, `{"x":1}`, au...)
		expect("cmi5 state "+m, code, http.StatusNoContent, http.StatusOK)
	}
	code, _, _ = ct.raw("GET", endpoint+"/agents/profile?agent="+actorQ+"&profileId=cmi5LearnerPreferences", "", au...)
	expect("cmi5 learner preferences", code, http.StatusOK, http.StatusNotFound)
	initialized := fmt.Sprintf(`{"actor":%s,"verb":{"id":"http://adlnet.gov/expapi/verbs/initialized"},"object":{"id":%q},
	  "context":{"registration":%q,"contextActivities":{"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/cmi5"}]},
	  "extensions":{"https://w3id.org/xapi/cmi5/context/extensions/sessionid":%q}}}`, q.Get("actor"), intro, q.Get("registration"), creg.Session)
	code, _, _ = ct.raw("POST", endpoint+"/statements", initialized, au...)
	expect("cmi5 POST statement", code, http.StatusOK)
	code, _, _ = ct.raw("PUT", endpoint+"/statements?statementId=0b7f8c2e-3a41-4c55-9d2e-6f1a2b3c4d5e", strings.Replace(initialized, "initialized", "terminated", 1), au...)
	expect("cmi5 PUT statement", code, http.StatusOK, http.StatusNoContent, http.StatusBadRequest)
	waive := fmt.Sprintf(`{"actor":{"mbox":"mailto:ada@example.com"},"package":%q,"unit":"https://example.com/cmi5/safety/quiz","reason":"Tested Out"}`, cpkg.ID)
	code, _, _ = ct.raw("POST", p.url+"/v1/registrations/"+q.Get("registration")+"/waive", waive, "Authorization", auth, "Content-Type", "application/json")
	expect("waive", code, http.StatusOK, http.StatusCreated, http.StatusNoContent)

	// Privacy: consent (kept on: the recommendations above stay
	// personal), retention, the access audit of ada.
	cons, err := c.SetConsent(ctx, "ada@example.com", true, true)
	must("set consent", err)
	if got, err := c.Consent(ctx, "ada@example.com"); err != nil || got.Set == nil || !got.Personalisation || got.Learner != cons.Learner {
		t.Errorf("consent: %+v %v", got, err)
	}
	if _, err := c.SetRetention(ctx, 3650); err != nil {
		t.Errorf("set retention: %v", err)
	}
	if ret, err := c.Retention(ctx); err != nil || ret.Days != 3650 || ret.Before == nil {
		t.Errorf("retention: %+v %v", ret, err)
	}
	var zipped bytes.Buffer
	if n, err := c.Export(ctx, "ada@example.com", &zipped); err != nil || n == 0 {
		t.Errorf("export: %d bytes, %v", n, err)
	} else if _, err := zip.NewReader(bytes.NewReader(zipped.Bytes()), int64(zipped.Len())); err != nil {
		t.Errorf("export is not a zip: %v", err)
	}
	if _, err := c.Export(ctx, "nobody@example.com", io.Discard); !apiclient.IsNotFound(err) {
		t.Errorf("export of an unknown learner: %v, want not found", err)
	}
	eventually(t, p, "retention applied", func() bool {
		return len(topicRecords(t, ctx, p.kafka, streams.TopicPrivacy, docSchemas(t))) > 1
	})
	eventually(t, p, "an access record of ada", func() bool {
		page, err := c.Access(ctx, "ada@example.com", "", 5)
		return err == nil && len(page.Records) > 0 && page.Records[0].Route != ""
	})

	// Erasure: a learner with one statement is erased, every consumer
	// answers, the receipt names no one, and the store is purged.
	eve := `{"actor":{"mbox":"mailto:eve@example.com","name":"Eve Erasable"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
	  "object":{"id":"https://example.com/courses/safety"}}`
	code, _, _ = ct.raw("POST", p.url+"/xapi/statements", eve, xapi...)
	expect("POST eve's statement", code, http.StatusOK)
	var receipt apiclient.ErasureReceipt
	eventually(t, p, "eve erased", func() bool {
		var err error
		receipt, err = c.EraseLearner(ctx, "eve@example.com", 20*time.Second)
		return err == nil && receipt.ID != ""
	})
	eventually(t, p, "eve's receipt complete", func() bool {
		r, err := c.Erasure(ctx, receipt.ID)
		receipt = r
		return err == nil && r.Complete()
	})
	if receipt.KeysDestroyed == 0 || len(receipt.Consumers) == 0 {
		t.Errorf("receipt of eve: %+v", receipt)
	}
	if b, _ := json.Marshal(receipt); strings.Contains(string(b), "eve@") || strings.Contains(string(b), "Erasable") {
		t.Errorf("the receipt names the learner: %s", b)
	}
	if _, err := c.EraseLearner(ctx, "nobody-at-all@example.com", 0); !apiclient.IsNotFound(err) {
		t.Errorf("erasing an unknown learner: %v, want not found", err)
	}
	must("purge", c.Purge(ctx))

	// A statement about an activity the catalog lacks registers it
	// (activity.seen).
	seen := `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
	  "object":{"id":"https://example.com/videos/intro","definition":{"name":{"en-US":"Intro video"}}}}`
	code, _, _ = ct.raw("POST", p.url+"/xapi/statements", seen, xapi...)
	expect("POST unknown activity", code, http.StatusOK)

	// Every record the server wrote matches the schemas of /asyncapi.json,
	// and the calls above made every event type integrators may consume
	// (attachments aside: no statement here has one).
	schemas := docSchemas(t)
	counts := map[string]int{}
	eventually(t, p, "the activity.seen event", func() bool {
		clear(counts)
		for _, tp := range schema.Topics {
			if tp.Name != streams.TopicItemFactors { // created by the recommender when it exchanges factors
				maps.Copy(counts, topicRecords(t, ctx, p.kafka, tp.Name, schemas))
			}
		}
		return counts[apiclient.TypeActivitySeen] > 0
	})
	for _, ev := range schema.Events {
		if counts[ev.Type] == 0 && ev.Type != apiclient.TypeAttachmentStored && ev.Topic != streams.TopicItemFactors {
			t.Errorf("no %s event was written", ev.Type)
		}
	}
	t.Logf("events written: %v", counts)

	// Every operation of the document was called.
	var missing []string
	for path, item := range ct.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if ct.seen[op.OperationID] == 0 {
				missing = append(missing, method+" "+path)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d operations of /openapi.json were not called (call each here): %v", len(missing), missing)
	}
	t.Logf("%d operations called, %d requests checked", len(ct.seen), sumValues(ct.seen))
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
