package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams/kafkatest"
)

// Reads of a learner's data through a running server land on the audit
// topic and come back from the learner's access list; consent and
// retention settings survive a restart (they are in the log).
func TestPrivacyThroughServe(t *testing.T) {
	kafkatest.Each(t, privacyThroughServe)
}

func privacyThroughServe(t *testing.T, c kafkatest.Cluster) {
	dir := t.TempDir()
	args := append(append([]string{"--data-dir", dir}, isolate()...), kafkaArgs(c)...)
	p := startServe(t, credEnv(), args...)
	if code, _, body := p.do(t, "POST", "/xapi/statements", statement(1)); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	learner := "learner1@example.com"
	agent := url.QueryEscape(`{"mbox":"mailto:` + learner + `"}`)
	for _, path := range []string{"/xapi/statements?agent=" + agent, "/v1/learners/" + learner + "/progress"} {
		if code, _, body := p.do(t, "GET", path, ""); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
	// The audit is asynchronous: the records arrive within moments.
	var page struct {
		Pseudonym string `json:"pseudonym"`
		Records   []struct {
			Credential, Route string
			Status            int
			Learners          []string
		} `json:"records"`
	}
	routes := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(routes) < 2 && time.Now().Before(deadline) {
		code, _, body := p.do(t, "GET", "/v1/learners/"+learner+"/access", "")
		if code != http.StatusOK {
			t.Fatalf("access: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.Credential == testKey && r.Status == 200 && len(r.Learners) == 1 && r.Learners[0] == page.Pseudonym {
				routes[r.Route] = true
			}
			if strings.Contains(string(body), "example.com/") {
				t.Fatalf("access records hold personal data: %s", body)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !routes["GET /xapi/statements"] || !routes["GET /v1/learners/{learner}/progress"] {
		t.Fatalf("access records of %s: %v, want the statements and progress reads\n%s", learner, routes, p.logs)
	}

	// Progress is applied by its own consumer, moments after the statement
	// was (read-your-writes holds for statements only).
	eventually(t, p, "the progress of "+learner+" showing the course", func() bool {
		code, _, body := p.do(t, "GET", "/v1/learners/"+learner+"/progress", "")
		return code == http.StatusOK && strings.Contains(string(body), "https://example.com/courses/c1")
	})

	// The export, through the CLI: one zip with the learner's statement,
	// progress and the access records so far.
	out := filepath.Join(t.TempDir(), "export.zip")
	if so, se, err := cli(t, "learners", "export", learner, "-o", out, "--server", p.url); err != nil || !strings.Contains(so, "wrote "+out) {
		t.Fatalf("learners export: %v\n%s%s", err, so, se)
	}
	z, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range z.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	z.Close()
	if !strings.Contains(files["statements.json"], "mailto:"+learner) || !strings.Contains(files["progress.json"], "https://example.com/courses/c1") ||
		!strings.Contains(files["access.json"], `"GET /v1/learners/{learner}/progress"`) || !strings.Contains(files["README.txt"], "mbox:mailto:"+learner) ||
		files["role.json"] == "" || files["mastery.json"] == "" || files["consent.json"] == "" {
		t.Errorf("export: %v", files)
	}
	if _, se, err := cli(t, "learners", "export", "nobody@example.com", "-o", out+".2", "--server", p.url); err == nil || !strings.Contains(se, "404") {
		t.Errorf("export of an unknown learner: %v %s", err, se)
	}
	if _, err := os.Stat(out + ".2"); err == nil {
		t.Error("a failed export left a file")
	}

	if code, _, body := p.do(t, "PUT", "/v1/learners/"+learner+"/consent", `{"personalisation":false,"analytics":false}`); code != http.StatusOK {
		t.Fatalf("PUT consent: %d %s", code, body)
	}
	if code, _, body := p.do(t, "PUT", "/v1/admin/retention", `{"days":400}`); code != http.StatusOK {
		t.Fatalf("PUT retention: %d %s", code, body)
	}
	p.stop(t)
	// Rebuilt from nothing but the log: the projections are moved aside.
	if err := os.Rename(filepath.Join(dir, "projections"), filepath.Join(dir, "projections.old")); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, _, c := p.do(t, "GET", "/v1/learners/"+learner+"/consent", "")
		_, _, r := p.do(t, "GET", "/v1/admin/retention", "")
		if strings.Contains(string(c), `"personalisation":false,"analytics":false`) && strings.Contains(string(r), `"days":400`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart: consent %s, retention %s", c, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Withdrawing consent to personalisation through a running server: the
// recommender answers the learner popular items and says so; others keep
// their personal lists.
func TestConsentThroughServe(t *testing.T) {
	kafkatest.Each(t, consentThroughServe)
}

func consentThroughServe(t *testing.T, c kafkatest.Cluster) {
	// One partition: the recommender learns per partition, and the
	// learners' pseudonyms (random per install) would otherwise scatter
	// them over partition models that each know too little to rank (on
	// a shared real broker the topics keep the partitions they have).
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir(), "--partitions", "1"}, isolate()...), kafkaArgs(c)...)...)
	defer p.stop(t)
	for i := range 14 {
		if code, _, body := p.do(t, "POST", "/xapi/statements", statement(i)); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, body)
		}
	}
	if code, _, body := p.do(t, "PUT", "/v1/learners/learner1@example.com/consent", `{"personalisation":false,"analytics":true}`); code != http.StatusOK {
		t.Fatalf("PUT consent: %d %s", code, body)
	}
	if code, _, body := p.do(t, "POST", "/xapi/statements", statement(8)); code != http.StatusOK { // learner1 again
		t.Fatalf("POST: %d %s", code, body)
	}
	type list struct {
		Items []struct{ Reasons []string }
	}
	// personal answers whether learner has a published list, how many
	// items it holds and how many of them are marked not personalised.
	personal := func(learner string) (published bool, items, notPersonal int) {
		code, _, body := p.do(t, "GET", "/v1/learners/"+learner+"/recommendations", "")
		if code != http.StatusOK {
			return false, 0, 0
		}
		var l list
		json.Unmarshal(body, &l)
		for _, it := range l.Items {
			if slices.Contains(it.Reasons, "not_personalised") {
				notPersonal++
			}
		}
		return true, len(l.Items), notPersonal
	}
	eventually(t, p, "learner1's non-personal list", func() bool {
		_, n, np := personal("learner1@example.com")
		return n > 0 && np == n
	})
	// The others gave consent: whoever has a list (it depends on what
	// their partition's model holds) has none of it marked non-personal.
	eventually(t, p, "another learner's list", func() bool {
		lists := 0
		for i := range 7 {
			if i == 1 {
				continue
			}
			published, n, np := personal(fmt.Sprintf("learner%d@example.com", i))
			if np != 0 {
				t.Fatalf("learner%d (consent given): %d of %d items not personalised", i, np, n)
			}
			if published && n > 0 {
				lists++
			}
		}
		return lists > 0
	})
}
