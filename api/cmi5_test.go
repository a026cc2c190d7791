package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

const oneAUCourse = `<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://example.com/cmi5/one"><title><langstring lang="en-US">One</langstring></title>
    <description><langstring lang="en-US">d</langstring></description></course>
  <au id="https://example.com/cmi5/one/au" moveOn="Completed"><title><langstring lang="en-US">AU</langstring></title>
    <description><langstring lang="en-US">d</langstring></description><url>https://au.example.com/index.html</url></au>
</courseStructure>`

// installCmi5 puts a bare cmi5.xml into a package store as tenant t1's.
func installCmi5(t *testing.T, xml string) (*projections.PackageStore, string) {
	t.Helper()
	store := &projections.PackageStore{Dir: t.TempDir()}
	st, err := store.Stage(strings.NewReader(xml))
	if err != nil {
		t.Fatal(err)
	}
	course, err := content.ParseCMI5([]byte(xml), content.Options{IRIBase: "https://lrs.example/"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	info := projections.PackageInfo{ID: projections.PackageID("t1", course.IRI), Tenant: "t1", Import: projections.NewImportID(now),
		ImportedAt: now, Course: course}
	if _, err := store.Install(st, info); err != nil {
		t.Fatal(err)
	}
	return store, info.ID
}

// playerFixture is a server with the player over store.
func playerFixture(t *testing.T, store *projections.PackageStore) *fixture {
	return newFixture(t, func(c *api.Config) {
		// The launch URL names the LRS by its public URL.
		c.Source = "https://lrs.example"
		c.Modules = append(c.Modules, &api.PlayerModule{Packages: store, Dir: t.TempDir()})
	})
}

// cmi5AU is the AU side of one launch.
type cmi5AU struct {
	f                           *fixture
	registration, session, auth string
	statements                  string
}

// launchCmi5 registers ada on the unit and fetches the launch's auth token.
func launchCmi5(t *testing.T, f *fixture, pkg, unit string) *cmi5AU {
	t.Helper()
	resp, body := f.do(t, req{method: "POST", path: "/v1/registrations",
		body: `{"actor":{"mbox":"mailto:ada@example.com"},"package":"` + pkg + `","unit":"` + unit + `"}`})
	var reg struct{ Launch, Registration, Session string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	launch, err := url.Parse(reg.Launch)
	if err != nil {
		t.Fatal(err)
	}
	fetch, _ := url.Parse(launch.Query().Get("fetch"))
	endpoint, _ := url.Parse(launch.Query().Get("endpoint"))
	resp, body = f.do(t, req{method: "POST", path: fetch.Path, user: "-"})
	var tok struct {
		Auth string `json:"auth-token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.Auth == "" {
		t.Fatalf("fetch: %d %s", resp.StatusCode, body)
	}
	return &cmi5AU{f: f, registration: reg.Registration, session: reg.Session, auth: tok.Auth, statements: endpoint.Path + "statements"}
}

// post sends one cmi5 defined statement about the AU of oneAUCourse.
func (a *cmi5AU) post(t *testing.T, verb, result string, want int) {
	t.Helper()
	if code, body := a.sendBody(t, verb, result); code != want {
		t.Fatalf("%s: %d %s, want %d", verb, code, body, want)
	}
}

// send sends the statement as post does and answers the status; it may
// run on any goroutine.
func (a *cmi5AU) send(t *testing.T, verb, result string) int {
	code, _ := a.sendBody(t, verb, result)
	return code
}

func (a *cmi5AU) sendBody(t *testing.T, verb, result string) (int, []byte) {
	st := `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"` + verb + `"},"object":{"id":"https://example.com/cmi5/one/au"},
	  "context":{"registration":"` + a.registration + `","contextActivities":{"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/cmi5"}]},
	  "extensions":{"https://w3id.org/xapi/cmi5/context/extensions/sessionid":"` + a.session + `"}}` + result + `}`
	resp, body := a.f.do(t, req{method: "POST", path: a.statements, body: st, user: "-",
		headers: map[string]string{"Authorization": "Basic " + a.auth}})
	return resp.StatusCode, body
}

// A satisfied statement whose store fails is not counted as issued: the
// registration's next statement issues it.
func TestCmi5SatisfiedIsRetriedAfterAFailedStore(t *testing.T) {
	store, pkg := installCmi5(t, oneAUCourse)
	f := playerFixture(t, store)
	au := launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
	isSatisfied := func(e event.Event) bool { return strings.Contains(string(e.Data), content.Cmi5VerbSatisfied) }
	satisfied := func() int {
		f.log.mu.Lock()
		defer f.log.mu.Unlock()
		n := 0
		for _, e := range f.log.evs {
			if isSatisfied(e) {
				n++
			}
		}
		return n
	}

	au.post(t, content.Cmi5VerbInitialized, "", http.StatusOK)
	f.log.mu.Lock()
	f.log.failIf = isSatisfied
	f.log.mu.Unlock()
	au.post(t, content.Cmi5VerbCompleted, `,"result":{"completion":true,"duration":"PT1M"}`, http.StatusOK)
	if n := satisfied(); n != 0 {
		t.Fatalf("%d satisfied statements stored while the log refused them", n)
	}
	f.log.mu.Lock()
	f.log.failIf = nil
	f.log.mu.Unlock()
	au.post(t, content.Cmi5VerbTerminated, `,"result":{"duration":"PT2M"}`, http.StatusOK)
	if n := satisfied(); n != 1 {
		t.Errorf("after the next statement: %d satisfied statements, want 1 (the course's)", n)
	}
}

// When the registration's state cannot be written the AU is told (503),
// and its retry is judged against the state that was kept.
func TestCmi5StateWriteFailureIsAnswered(t *testing.T) {
	store, pkg := installCmi5(t, oneAUCourse)
	f := playerFixture(t, store)
	au := launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
	f.log.mu.Lock()
	f.log.failIf = func(e event.Event) bool { return e.Type == projections.TypeDocument }
	f.log.mu.Unlock()
	au.post(t, content.Cmi5VerbInitialized, "", http.StatusServiceUnavailable)
	f.log.mu.Lock()
	f.log.failIf = nil
	f.log.mu.Unlock()
	au.post(t, content.Cmi5VerbInitialized, "", http.StatusOK)
	au.post(t, content.Cmi5VerbTerminated, `,"result":{"duration":"PT2M"}`, http.StatusOK)
}

// A launch lives only as long as the credential that registered it: its
// statements would be written under that credential.
func TestLaunchEndsWithItsCredential(t *testing.T) {
	store, pkg := installCmi5(t, oneAUCourse)
	f := playerFixture(t, store)
	if _, err := f.creds.Put(context.Background(), "launcher", "launcher-secret", "launcher", "t1", []string{"all"}); err != nil {
		t.Fatal(err)
	}
	register := func() string {
		resp, body := f.do(t, req{method: "POST", path: "/v1/registrations", user: "launcher", pass: "launcher-secret",
			body: `{"actor":{"mbox":"mailto:ada@example.com"},"package":"` + pkg + `","unit":"https://example.com/cmi5/one/au"}`})
		var reg struct{ Launch string }
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
			t.Fatalf("register: %d %s", resp.StatusCode, body)
		}
		launch, _ := url.Parse(reg.Launch)
		fetch, _ := url.Parse(launch.Query().Get("fetch"))
		return fetch.Path
	}
	kept, revoked := register(), register()
	if resp, body := f.do(t, req{method: "POST", path: kept, user: "-"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch before the revocation: %d %s", resp.StatusCode, body)
	}
	if err := f.creds.Revoke(context.Background(), "launcher"); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, req{method: "POST", path: revoked, user: "-"})
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "no such launch") {
		t.Fatalf("fetch after the credential was revoked: %d %s", resp.StatusCode, body)
	}
}
