package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// runtimeCall posts one run-time call as the player page does.
func runtimeCall(t testing.TB, p *proc, launch, body string) map[string]any {
	t.Helper()
	token := strings.TrimPrefix(launch, "/player/")
	resp, err := http.Post(p.url+"/v1/runtime/"+token, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ans) != nil {
		t.Fatalf("runtime %s: %d %s", body, resp.StatusCode, b)
	}
	return ans
}

func TestSCORMRuntimeStatementsBookmarkAndResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"--data-dir", filepath.Join(dir, "data"), "--content-iri-base", "https://lrs.example.com/"}, isolate()...)
	p := startServe(t, credEnv(), args...)
	zipPath := writeZip(t, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "<html>intro</html>", "quiz/index.html", "<html>quiz</html>")
	pkgID := p.importPackage(t, zipPath)

	code, _, body := p.do(t, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com","name":"Ada"},"package":"`+pkgID+`","unit":"quiz"}`)
	var reg struct{ Registration, Launch, Activity string }
	if code != http.StatusCreated || json.Unmarshal(body, &reg) != nil || !strings.HasPrefix(reg.Launch, "/player/") {
		t.Fatalf("register: %d %s", code, body)
	}
	if code, _, body := p.do(t, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com"},"package":"00000000000000000000000000000000"}`); code != http.StatusNotFound {
		t.Errorf("unknown package: %d %s", code, body)
	}

	// A credential of another tenant does not see the package.
	if _, stderr, err := cli(t, "credentials", "create", "--server", p.url, "--tenant", "other-tenant", "--scopes", "all",
		"--key-id", "other-key", "--new-secret", "other-secret-123"); err != nil {
		t.Fatalf("credentials create: %v %s", err, stderr)
	}
	oreq, _ := http.NewRequest("POST", p.url+"/v1/registrations",
		strings.NewReader(`{"actor":{"mbox":"mailto:eve@example.com"},"package":"`+pkgID+`"}`))
	oreq.SetBasicAuth("other-key", "other-secret-123")
	if resp, err := http.DefaultClient.Do(oreq); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("registration by another tenant: %v %v, want 404", resp, err)
	}

	page := func(p *proc) string {
		resp, err := http.Get(p.url + reg.Launch)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if _, err := os.Stat("../../api/player/assets/scorm-again.min.js"); err != nil {
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "make player-assets") {
				t.Errorf("player without bundle: %d %s", resp.StatusCode, b)
			}
			t.Log("the SCORM run-time bundle is not built (make player-assets): the player page answers 503, its checks are skipped")
			return ""
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("player: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	html := page(p)
	if html != "" && (!strings.Contains(html, "/player/assets/scorm-again.min.js") || !strings.Contains(html, `"cmi.core.entry":"ab-initio"`) ||
		!strings.Contains(html, "quiz/index.html")) {
		t.Errorf("player page lacks the bundle, entry or launch URL:\n%s", html)
	}

	steps := []struct{ body, want string }{
		{`{"event":"commit","session":"s1","data":{}}`, `"error":301`}, // before LMSInitialize
		{`{"event":"initialize","session":"s1"}`, `"statements":1`},
		{`{"event":"commit","session":"s1","data":{"cmi.core.student_id":"eve"}}`, `"error":403`},
		{`{"event":"commit","session":"s1","data":{"cmi.core.score.raw":"101"}}`, `"error":405`},
		{`{"event":"commit","session":"s1","data":{"cmi.interactions.0.id":"q1","cmi.interactions.0.type":"choice",
		  "cmi.interactions.0.student_response":"b","cmi.interactions.0.result":"correct",
		  "cmi.interactions.1.id":"q2","cmi.interactions.1.type":"numeric","cmi.interactions.1.student_response":"7","cmi.interactions.1.result":"wrong",
		  "cmi.core.lesson_location":"q3","cmi.suspend_data":"answers=b,7"}}`, `"statements":2`},
		{`{"event":"terminate","session":"s1","data":{"cmi.interactions.0.id":"q1","cmi.interactions.0.type":"choice",
		  "cmi.interactions.0.student_response":"b","cmi.interactions.0.result":"correct",
		  "cmi.interactions.1.id":"q2","cmi.interactions.1.type":"numeric","cmi.interactions.1.student_response":"7","cmi.interactions.1.result":"wrong",
		  "cmi.core.lesson_location":"q3","cmi.suspend_data":"answers=b,7","cmi.core.exit":"suspend","cmi.core.session_time":"00:05:30"}}`, `"statements":1`},
	}
	for _, s := range steps {
		ans := runtimeCall(t, p, reg.Launch, s.body)
		if b, _ := json.Marshal(ans); !strings.Contains(string(b), s.want) {
			t.Errorf("%s: %s, want %s", s.body, b, s.want)
		}
	}

	// Restart: the bookmark is xAPI state in the log, so the relaunch resumes.
	p.stop(t)
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	html = page(p)
	for _, want := range []string{`"cmi.core.entry":"resume"`, `"cmi.core.lesson_location":"q3"`, `"cmi.suspend_data":"answers=b,7"`} {
		if html != "" && !strings.Contains(html, want) {
			t.Errorf("relaunch page lacks %s", want)
		}
	}
	for _, s := range []string{
		`{"event":"initialize","session":"s2"}`,
		`{"event":"commit","session":"s2","data":{"cmi.interactions.2.id":"q3","cmi.interactions.2.student_response":"1/2","cmi.interactions.2.result":"correct","cmi.core.score.raw":"85","cmi.core.lesson_status":"completed"}}`,
		`{"event":"terminate","session":"s2","data":{"cmi.core.exit":"","cmi.core.session_time":"00:02:00"}}`,
	} {
		if ans := runtimeCall(t, p, reg.Launch, s); ans["error"] != float64(0) {
			t.Fatalf("%s: %v", s, ans)
		}
	}

	code, _, body = p.do(t, "GET", "/xapi/statements?ascending=true&registration="+url.QueryEscape(reg.Registration), "")
	var res struct {
		Statements []struct {
			Verb   struct{ ID string }
			Object struct{ ID string }
			Result struct {
				Success  *bool
				Duration string
				Response string
				Score    struct{ Scaled float64 }
			}
			Context struct {
				Registration      string
				ContextActivities struct{ Grouping []struct{ ID string } }
			}
		}
	}
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil {
		t.Fatalf("statements: %d %s", code, body)
	}
	var got []string
	for _, s := range res.Statements {
		v := s.Verb.ID[strings.LastIndexByte(s.Verb.ID, '/')+1:]
		got = append(got, v)
		if s.Context.Registration != reg.Registration || len(s.Context.ContextActivities.Grouping) != 1 ||
			s.Context.ContextActivities.Grouping[0].ID != "https://lrs.example.com/scorm/org.example.fractions" {
			t.Errorf("%s: context %+v", v, s.Context)
		}
		switch v {
		case "passed":
			if s.Result.Score.Scaled != 0.85 || s.Result.Success == nil || !*s.Result.Success {
				t.Errorf("passed: %+v", s.Result)
			}
		case "suspended":
			if s.Result.Duration != "PT5M30S" {
				t.Errorf("suspended duration %q", s.Result.Duration)
			}
		case "answered":
			if !strings.HasPrefix(s.Object.ID, reg.Activity+"/interactions/q") {
				t.Errorf("answered object %q", s.Object.ID)
			}
		}
	}
	// Statements of one call share their stored time, so only the calls'
	// order is fixed: compare per call.
	// The statements reach the progress projection like any client's.
	var prog struct {
		Activities []struct {
			Activity          string
			Completed, Passed bool
			BestScore         *float64 `json:"best_score"`
		}
	}
	eventually(t, p, "progress showing the SCO completed and passed with 0.85", func() bool {
		_, _, pb := p.do(t, "GET", "/v1/learners/ada@example.com/progress", "")
		json.Unmarshal(pb, &prog)
		for _, a := range prog.Activities {
			if a.Activity == reg.Activity && a.Completed && a.Passed && a.BestScore != nil && *a.BestScore == 0.85 {
				return true
			}
		}
		return false
	})

	// And the adaptive model: the passed SCO and each answered
	// interaction (q1 correct, q2 wrong, q3 correct; parent the SCO) are
	// scored attempts at the skill the SCO assesses (here its own, made
	// for the prerequisite edge).
	eventually(t, p, "mastery showing 4 attempts, 3 correct, at the quiz's skill", func() bool {
		_, _, mb := p.do(t, "GET", "/v1/learners/ada@example.com/mastery", "")
		var mastery struct {
			Skills []struct {
				Skill             string
				Attempts, Correct int
			}
		}
		json.Unmarshal(mb, &mastery)
		for _, sk := range mastery.Skills {
			if sk.Skill == reg.Activity && sk.Attempts == 4 && sk.Correct == 3 {
				return true
			}
		}
		return false
	})
	want := "initialized | answered answered | suspended | resumed | answered completed passed | terminated"
	calls := []int{1, 2, 1, 1, 3, 1}
	var grouped []string
	for _, n := range calls {
		if len(got) < n {
			break
		}
		g := slices.Clone(got[:n])
		got = got[n:]
		slices.Sort(g)
		grouped = append(grouped, strings.Join(g, " "))
	}
	got = append(grouped, got...)
	if strings.Join(got, " | ") != want {
		t.Errorf("verbs:\n%s\nwant\n%s", strings.Join(got, " | "), want)
	}
}

// A launch has a lifetime (--launch-ttl): unused past it, its URL is gone
// and serve's sweeper deletes its registration file; a version of a
// package replaced longer ago than the lifetime is deleted too, the
// current one stays served.
func TestLaunchExpiresAndServeSweeps(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p := startServe(t, credEnv(), append([]string{"--data-dir", data, "--launch-ttl", "2s"}, isolate()...)...)
	defer p.stop(t)
	zipPath := writeZip(t, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "<html>intro v1</html>", "quiz/index.html", "<html>quiz</html>")
	pkgID := p.importPackage(t, zipPath)
	var first struct{ URL string }
	_, _, b := p.do(t, "GET", "/v1/packages/"+pkgID, "")
	json.Unmarshal(b, &first)
	// A new version replaces the first.
	zipPath = writeZip(t, dir, "fractions2.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "<html>intro v2</html>", "quiz/index.html", "<html>quiz</html>")
	p.importPackage(t, zipPath)
	var second struct{ URL string }
	_, _, b = p.do(t, "GET", "/v1/packages/"+pkgID, "")
	json.Unmarshal(b, &second)
	if first.URL == "" || first.URL == second.URL {
		t.Fatalf("import URLs %q, %q", first.URL, second.URL)
	}

	code, _, body := p.do(t, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:ada@example.com"},"package":"`+pkgID+`","unit":"quiz"}`)
	var reg struct{ Launch string }
	if code != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", code, body)
	}
	regs := func() int {
		ents, _ := os.ReadDir(filepath.Join(data, "registrations"))
		return len(ents)
	}
	if n := regs(); n != 1 {
		t.Fatalf("%d registration files, want 1", n)
	}
	status := func(path string) int {
		resp, err := http.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, p, "the sweeper deleting the unused launch and the replaced version", func() bool {
		return regs() == 0 && status(first.URL+"intro.html") == http.StatusNotFound
	})
	if code := status(reg.Launch); code != http.StatusNotFound {
		t.Errorf("expired launch page: %d, want 404", code)
	}
	if code := runtimeStatus(t, p, reg.Launch); code != http.StatusNotFound {
		t.Errorf("expired launch's run-time: %d, want 404", code)
	}
	if code := status(second.URL + "intro.html"); code != http.StatusOK {
		t.Errorf("current version after the sweep: %d, want 200", code)
	}
}

func runtimeStatus(t *testing.T, p *proc, launch string) int {
	t.Helper()
	resp, err := http.Post(p.url+"/v1/runtime/"+strings.TrimPrefix(launch, "/player/"), "application/json",
		strings.NewReader(`{"event":"initialize","session":"s1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Run-time calls of one registration at once (two windows of one launch,
// a player retrying) are applied in turn: each interaction is answered
// once, however many commits carry it.
func TestSCORMConcurrentCommitsAnswerOnce(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), append([]string{"--data-dir", filepath.Join(dir, "data")}, isolate()...)...)
	defer p.stop(t)
	pkgID := p.importPackage(t, writeZip(t, dir, "fractions.zip", "imsmanifest.xml", testSCORM12Manifest,
		"intro.html", "x", "quiz/index.html", "x"))
	code, _, body := p.do(t, "POST", "/v1/registrations", `{"actor":{"mbox":"mailto:bo@example.com"},"package":"`+pkgID+`","unit":"quiz"}`)
	var reg struct{ Registration, Launch string }
	if code != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", code, body)
	}
	runtimeCall(t, p, reg.Launch, `{"event":"initialize","session":"s1"}`)
	commit := `{"event":"commit","session":"s1","data":{"cmi.interactions.0.id":"q1","cmi.interactions.0.type":"choice",
	  "cmi.interactions.0.student_response":"b","cmi.interactions.0.result":"correct"}}`
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(p.url+"/v1/runtime/"+strings.TrimPrefix(reg.Launch, "/player/"), "application/json", strings.NewReader(commit))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	_, _, body = p.do(t, "GET", "/xapi/statements?verb="+url.QueryEscape("http://adlnet.gov/expapi/verbs/answered")+"&registration="+reg.Registration, "")
	var res struct{ Statements []json.RawMessage }
	if json.Unmarshal(body, &res) != nil || len(res.Statements) != 1 {
		t.Errorf("%d answered statements after concurrent commits, want 1: %.300s", len(res.Statements), body)
	}
}
