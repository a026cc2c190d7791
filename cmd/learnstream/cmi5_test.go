package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testCmi5 = `<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://example.com/cmi5/safety"><title><langstring lang="en-US">Safety</langstring></title>
    <description><langstring lang="en-US">d</langstring></description></course>
  <block id="https://example.com/cmi5/safety/block"><title><langstring lang="en-US">Block</langstring></title>
    <description><langstring lang="en-US">d</langstring></description>
    <au id="https://example.com/cmi5/safety/intro" moveOn="Completed"><title><langstring lang="en-US">Intro</langstring></title>
      <description><langstring lang="en-US">d</langstring></description><url>intro.html</url></au>
    <au id="https://example.com/cmi5/safety/quiz" moveOn="Passed" masteryScore="0.8"><title><langstring lang="en-US">Quiz</langstring></title>
      <description><langstring lang="en-US">d</langstring></description><url>quiz.html</url></au>
  </block>
</courseStructure>`

// au is the AU side of one cmi5 launch, driven from Go.
type au struct {
	t                                  *testing.T
	endpoint, actor, registration, act string
	session, auth                      string
}

func (a *au) do(method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, a.endpoint+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Basic "+a.auth)
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *au) statement(verb, result string, cmi5 bool) string {
	cat := ""
	if cmi5 {
		cat = `,"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/cmi5"}]`
	}
	if result != "" {
		result = `,"result":` + result
	}
	return `{"actor":` + a.actor + `,"verb":{"id":"` + verb + `"},"object":{"id":"` + a.act + `"},
	  "context":{"registration":"` + a.registration + `","contextActivities":{"grouping":[{"id":"` + a.act + `"}]` + cat + `},
	  "extensions":{"https://w3id.org/xapi/cmi5/context/extensions/sessionid":"` + a.session + `"}}` + result + `}`
}

func launchAU(t *testing.T, p *proc, pkg, unit, registration string) *au {
	t.Helper()
	body := `{"actor":{"mbox":"mailto:ada@example.com","name":"Ada"},"package":"` + pkg + `","unit":"` + unit + `","registration":"` + registration + `"}`
	code, _, b := p.do(t, "POST", "/v1/registrations", body)
	var reg struct{ Launch, Session string }
	if code != http.StatusCreated || json.Unmarshal(b, &reg) != nil {
		t.Fatalf("register: %d %s", code, b)
	}
	u, err := url.Parse(reg.Launch)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	a := &au{t: t, endpoint: q.Get("endpoint"), actor: q.Get("actor"), registration: q.Get("registration"), act: q.Get("activityId"), session: reg.Session}
	if a.endpoint == "" || q.Get("fetch") == "" || a.actor == "" || a.registration == "" || a.act != unit {
		t.Fatalf("launch URL lacks a cmi5 parameter: %s", reg.Launch)
	}
	// Two fetches at once: one gets the token, the other is told the URL
	// was used.
	var answers [2]struct {
		code int
		body map[string]any
	}
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(q.Get("fetch"), "", nil)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			answers[i].code = resp.StatusCode
			json.NewDecoder(resp.Body).Decode(&answers[i].body)
		}()
	}
	wg.Wait()
	if answers[0].code != http.StatusOK {
		answers[0], answers[1] = answers[1], answers[0]
	}
	a.auth, _ = answers[0].body["auth-token"].(string)
	if answers[0].code != http.StatusOK || a.auth == "" || answers[1].body["error-code"] != float64(1) {
		t.Fatalf("two fetches at once: %+v, want one token and one error-code 1", answers)
	}
	var tok map[string]any
	// The fetch URL is one-time.
	resp, _ := http.Post(q.Get("fetch"), "", nil)
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok["error-code"] != float64(1) {
		t.Errorf("second fetch: %d %v, want error-code 1", resp.StatusCode, tok)
	}
	return a
}

func TestCmi5LaunchRulesAndSatisfaction(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data")}, isolate()...)...)
	defer p.stop(t)
	zipPath := writeZip(t, dir, "safety.zip", "cmi5.xml", testCmi5, "intro.html", "<html>intro</html>", "quiz.html", "<html>quiz</html>")
	out, stderr, err := cli(t, "packages", "import", zipPath, "--server", p.url)
	if err != nil {
		t.Fatalf("import: %v %s", err, stderr)
	}
	pkg := out[strings.Index(out, "\npackage ")+9:]
	pkg = pkg[:strings.IndexByte(pkg, ',')]

	quiz := launchAU(t, p, pkg, "https://example.com/cmi5/safety/quiz", "")
	enc := url.QueryEscape
	code, body := quiz.do("GET", "activities/state?stateId=LMS.LaunchData&activityId="+enc(quiz.act)+"&agent="+enc(quiz.actor)+"&registration="+quiz.registration, "")
	if code != http.StatusOK || !strings.Contains(body, `"moveOn":"Passed"`) || !strings.Contains(body, quiz.session) {
		t.Errorf("LMS.LaunchData: %d %s", code, body)
	}
	if code, _ := quiz.do("GET", "activities/state?stateId=LMS.LaunchData&activityId="+enc(quiz.act)+"&agent="+enc(`{"mbox":"mailto:eve@example.com"}`), ""); code != http.StatusBadRequest {
		t.Errorf("state of another agent: %d, want 400", code)
	}
	for _, s := range []struct {
		st   string
		want int
	}{
		{quiz.statement("http://adlnet.gov/expapi/verbs/passed", `{"success":true,"duration":"PT1M","score":{"scaled":0.9}}`, true), 400}, // before initialized
		{quiz.statement("http://adlnet.gov/expapi/verbs/initialized", "", true), 200},
		{quiz.statement("http://adlnet.gov/expapi/verbs/passed", `{"success":true,"duration":"PT1M","score":{"scaled":0.5}}`, true), 400}, // under mastery
		{strings.Replace(quiz.statement("http://adlnet.gov/expapi/verbs/answered", "", false), "ada@", "eve@", 1), 400},                   // another actor
		{strings.Replace(quiz.statement("http://adlnet.gov/expapi/verbs/passed", `{"success":true,"duration":"PT1M","score":{"scaled":0.9}}`, true),
			`"object":{"id":"`+quiz.act, `"object":{"id":"https://example.com/elsewhere`, 1), 400}, // a defined statement about another activity
		{quiz.statement("http://adlnet.gov/expapi/verbs/passed", `{"success":true,"duration":"PT1M","score":{"scaled":0.9}}`, true), 200},
		{quiz.statement("http://adlnet.gov/expapi/verbs/terminated", `{"duration":"PT2M"}`, true), 200},
		{quiz.statement("http://adlnet.gov/expapi/verbs/completed", `{"completion":true,"duration":"PT1M"}`, true), 400}, // after terminated
	} {
		if code, body := quiz.do("POST", "statements", s.st); code != s.want {
			t.Errorf("%s: %d %s, want %d", s.st[:120], code, body, s.want)
		}
	}
	if code, _ := quiz.do("POST", "statements", quiz.statement("http://adlnet.gov/expapi/verbs/initialized", "", true)); code != http.StatusBadRequest {
		t.Errorf("statement after terminated: %d", code)
	}

	// The intro AU in the same registration: a first session closed
	// without terminated is abandoned when the next launches; completing
	// it satisfies the block and the course.
	first := launchAU(t, p, pkg, "https://example.com/cmi5/safety/intro", quiz.registration)
	if code, body := first.do("POST", "statements", first.statement("http://adlnet.gov/expapi/verbs/initialized", "", true)); code != http.StatusOK {
		t.Fatalf("intro, first session: %d %s", code, body)
	}
	code, body = first.do("GET", "agents/profile?profileId=cmi5LearnerPreferences&agent="+enc(first.actor), "")
	if code != http.StatusOK || !strings.Contains(body, "languagePreference") {
		t.Errorf("learner preferences: %d %s", code, body)
	}
	intro := launchAU(t, p, pkg, "https://example.com/cmi5/safety/intro", quiz.registration)
	for _, st := range []string{
		intro.statement("http://adlnet.gov/expapi/verbs/initialized", "", true),
		intro.statement("http://adlnet.gov/expapi/verbs/completed", `{"completion":true,"duration":"PT3M"}`, true),
		// passed is once per AU and registration: the quiz's does not count here.
		intro.statement("http://adlnet.gov/expapi/verbs/passed", `{"success":true,"duration":"PT3M"}`, true),
		intro.statement("http://adlnet.gov/expapi/verbs/terminated", `{"duration":"PT3M"}`, true),
	} {
		if code, body := intro.do("POST", "statements", st); code != http.StatusOK {
			t.Fatalf("intro: %d %s", code, body)
		}
	}
	// Waiving both AUs in a fresh registration satisfies the block and the
	// course without a launch.
	fresh := "0d9b4b7e-9f43-4a8e-9d39-5a3e1f1b2c3d"
	for i, unit := range []string{"intro", "quiz"} {
		code, _, b := p.do(t, "POST", "/v1/registrations/"+fresh+"/waive",
			`{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkg+`","unit":"https://example.com/cmi5/safety/`+unit+`","reason":"Tested Out"}`)
		if want := []string{`"statements":1`, `"statements":3`}[i]; code != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("waive %s: %d %s, want %s", unit, code, b, want)
		}
	}
	if code, _, b := p.do(t, "POST", "/v1/registrations/"+fresh+"/waive",
		`{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkg+`","unit":"https://example.com/cmi5/safety/quiz","reason":"Because"}`); code != http.StatusBadRequest {
		t.Errorf("waive with a bad reason: %d %s", code, b)
	}

	code, _, b := p.do(t, "GET", "/xapi/statements?limit=100&registration="+quiz.registration, "")
	var res struct {
		Statements []struct {
			Verb   struct{ ID string }
			Object struct{ ID string }
		}
	}
	if code != http.StatusOK || json.Unmarshal(b, &res) != nil {
		t.Fatalf("statements: %d %s", code, b)
	}
	count := map[string]int{}
	// launched intro twice: one per session.
	defer func() {
		if count["launched intro"] != 2 {
			t.Errorf("launched intro: %d, want 2", count["launched intro"])
		}
	}()
	for _, s := range res.Statements {
		v := s.Verb.ID[strings.LastIndexByte(s.Verb.ID, '/')+1:]
		count[v+" "+s.Object.ID[strings.LastIndexByte(s.Object.ID, '/')+1:]]++
	}
	for _, want := range []string{"launched quiz", "initialized quiz", "passed quiz", "terminated quiz",
		"completed intro", "satisfied block", "satisfied safety", "abandoned intro"} {
		if count[want] != 1 {
			t.Errorf("%q: %d statements, want 1 (all: %v)", want, count[want], count)
		}
	}
}
