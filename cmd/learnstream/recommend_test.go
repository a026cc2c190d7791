package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/streams"
)

// doCT is proc.do with a chosen content type.
func (p *proc) doCT(t testing.TB, method, path, ct, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testKey, testSecret)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const catalogDoc = `{
  "skills": [{"id": "sql", "name": "SQL"}, {"id": "joins", "requires": ["sql"]}, {"id": "windows", "requires": ["joins"]},
             {"id": "python"}],
  "activities": [
    {"id": "https://example.com/courses/sql", "type": "course", "title": "SQL", "duration": "PT2H", "teaches": ["sql"]},
    {"id": "https://example.com/courses/joins", "type": "course", "duration": "PT1H", "teaches": ["joins"]},
    {"id": "https://example.com/courses/windows", "type": "course", "duration": "PT1H", "teaches": ["windows"]},
    {"id": "https://example.com/courses/python", "type": "course", "duration": "PT3H", "teaches": ["python"]}],
  "roles": [{"id": "analyst", "name": "Analyst", "requires": [{"skill": "windows", "level": 0.8}]}]
}`

func TestCatalogCRUDImportAndPaths(t *testing.T) {
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	if code, b := p.doCT(t, "POST", "/v1/catalog/import", "application/json", catalogDoc); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, b)
	}
	// Read-your-writes: the import is visible at once.
	code, b := p.doCT(t, "GET", "/v1/skills/joins", "", "")
	if code != http.StatusOK || !strings.Contains(string(b), `"prerequisites":["sql"]`) {
		t.Fatalf("GET skill: %d %s", code, b)
	}
	act := "/v1/activities/" + url.PathEscape("https://example.com/courses/joins")
	if code, b := p.doCT(t, "GET", act, "", ""); code != http.StatusOK || !strings.Contains(string(b), `"duration":"PT1H"`) {
		t.Fatalf("GET activity: %d %s", code, b)
	}

	for _, tc := range []struct {
		name, method, path, ct, body string
		code                         int
		want                         []string
	}{
		{"put skill", "PUT", "/v1/skills/stats", "application/json", `{"name": "Statistics"}`, 200, []string{`"id":"stats"`}},
		{"self-loop", "PUT", "/v1/prerequisites/sql/sql", "", "", 400, []string{"self-loop", "sql -> sql"}},
		{"cycle", "PUT", "/v1/prerequisites/windows/sql", "", "", 400, []string{"cycle", "windows -> sql -> joins -> windows", `"field":"prerequisites"`}},
		{"edge to unknown skill", "PUT", "/v1/prerequisites/sql/nope", "", "", 400, []string{`nope`}},
		{"activity unknown skill", "PUT", "/v1/activities/" + url.PathEscape("https://example.com/x"), "application/json",
			`{"type": "course", "teaches": ["nope"]}`, 400, []string{`unknown skill \"nope\"`, `"field":"teaches[0]"`}},
		{"activity bad type", "PUT", "/v1/activities/" + url.PathEscape("https://example.com/x"), "application/json",
			`{"type": "video"}`, 400, []string{"video", `"field":"type"`}},
		{"activity unknown field", "PUT", "/v1/activities/" + url.PathEscape("https://example.com/x"), "application/json",
			`{"type": "course", "colour": "red"}`, 400, []string{"colour"}},
		{"activity id mismatch", "PUT", "/v1/activities/" + url.PathEscape("https://example.com/x"), "application/json",
			`{"id": "https://example.com/y", "type": "course"}`, 400, []string{`"field":"id"`}},
		{"not an object", "PUT", "/v1/skills/a", "application/json", `[1]`, 400, []string{`"field":"body"`}},
		{"role level out of range", "PUT", "/v1/roles/r", "application/json", `{"requires": [{"skill": "sql", "level": 2}]}`, 400, []string{"level"}},
		{"role unknown skill", "PUT", "/v1/roles/r", "application/json", `{"requires": [{"skill": "cobol", "level": 0.5}]}`, 400, []string{"cobol"}},
		{"delete skill in use", "DELETE", "/v1/skills/sql", "", "", 409, []string{"sql", "https://example.com/courses/sql"}},
		{"delete missing role", "DELETE", "/v1/roles/nobody", "", "", 404, []string{"nobody"}},
		{"delete missing edge", "DELETE", "/v1/prerequisites/python/sql", "", "", 404, []string{"python -> sql"}},
		{"import with cycle applies nothing", "POST", "/v1/catalog/import", "text/csv",
			"kind,id,from,to\nskill,zz,,\nprerequisite,,windows,zz\nprerequisite,,zz,sql\n", 400,
			[]string{"cycle", "zz -> sql -> joins -> windows -> zz", `"line":4`}},
		{"import bad csv column", "POST", "/v1/catalog/import", "text/csv", "kind,id,colour\nskill,a,red\n", 400, []string{"colour"}},
		{"import unknown format", "POST", "/v1/catalog/import?format=xml", "", "<x/>", 400, []string{`"field":"format"`}},
		{"import unsupported content type", "POST", "/v1/catalog/import", "text/plain", "x", 400, []string{"Content-Type"}},
		{"path needs a target", "GET", "/v1/learners/ada@example.com/path", "", "", 400, []string{"role"}},
		{"path unknown role", "GET", "/v1/learners/ada@example.com/path?role=astronaut", "", "", 404, []string{"astronaut"}},
		{"learner role unknown", "PUT", "/v1/learners/ada@example.com/role", "application/json", `{"role": "astronaut"}`, 400, []string{`"field":"role"`}},
		{"learner role", "PUT", "/v1/learners/ada@example.com/role", "application/json", `{"role": "analyst"}`, 200, []string{`"role":"analyst"`}},
		{"delete edge", "DELETE", "/v1/prerequisites/joins/windows", "", "", 204, nil},
		{"put edge back", "PUT", "/v1/prerequisites/joins/windows", "", "", 200, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := p.doCT(t, tc.method, tc.path, tc.ct, tc.body)
			if code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, b, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s %s answered %s, which does not mention %s", tc.method, tc.path, b, w)
				}
			}
		})
	}
	// The rejected import left nothing behind.
	if code, _ := p.doCT(t, "GET", "/v1/skills/zz", "", ""); code != http.StatusNotFound {
		t.Errorf("skill zz of a rejected import exists (%d)", code)
	}

	// Learning path: nothing mastered, then sql completed.
	var plan struct {
		Missing []string `json:"missing"`
		Steps   []struct {
			Activity string   `json:"activity"`
			Reasons  []string `json:"reasons"`
		} `json:"steps"`
	}
	getPlan := func() {
		t.Helper()
		code, b := p.doCT(t, "GET", "/v1/learners/ada@example.com/path?role=analyst", "", "")
		if code != http.StatusOK {
			t.Fatalf("path: %d %s", code, b)
		}
		plan.Missing, plan.Steps = nil, nil
		if err := json.Unmarshal(b, &plan); err != nil {
			t.Fatal(err)
		}
	}
	getPlan()
	if strings.Join(plan.Missing, ",") != "sql,joins,windows" || len(plan.Steps) != 3 ||
		plan.Steps[0].Activity != "https://example.com/courses/sql" {
		t.Fatalf("path with nothing mastered = %+v", plan)
	}
	st := `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},
	        "object":{"id":"https://example.com/courses/sql"}}`
	if code, _, b := p.do(t, "POST", "/xapi/statements", st); code != http.StatusOK {
		t.Fatalf("POST statement: %d %s", code, b)
	}
	// Progress is eventually consistent (read-your-writes covers the
	// statements only): the path follows once it has applied the
	// completion.
	eventually(t, p, "the path after completing sql leaving only joins and windows", func() bool {
		getPlan()
		return strings.Join(plan.Missing, ",") == "joins,windows"
	})
}

// junyiFile finds ../shared/data/junyi_exercise_prereq from the repo root.
func junyiFile(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "data", "junyi_exercise_prereq")
	f := filepath.Join(dir, "junyi_Exercise_table.csv.gz")
	if _, err := os.Stat(f); err != nil {
		t.Skipf("Junyi exercise table not found at %s (%v): skipping the real-data import", dir, err)
	}
	return f
}

func TestCatalogImportJunyiReportsSelfLoopsAndCycle(t *testing.T) {
	path := junyiFile(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	code, b := p.doCT(t, "POST", "/v1/catalog/import?format=junyi", "text/csv", string(data))
	if code != http.StatusBadRequest {
		t.Fatalf("Junyi import: %d %.500s, want 400", code, b)
	}
	for _, want := range []string{
		"prerequisite self-loop: proportions_1 -> proportions_1",
		"prerequisite self-loop: number_sense_length_l1 -> number_sense_length_l1",
		"simplifying_radicals", "adding_and_subtracting_radicals", "radical_multiplication_and_division",
		"matrix_mul_two", "matrix_app_fruit_oil",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Junyi import answer does not name %q:\n%.2000s", want, b)
		}
	}
	var body struct {
		Problems []struct {
			Message string   `json:"message"`
			Cycle   []string `json:"cycle"`
		} `json:"problems"`
	}
	json.Unmarshal(b, &body)
	if len(body.Problems) != 5 {
		t.Errorf("%d problems, want 5: %+v", len(body.Problems), body.Problems)
	}
	if code, b := p.doCT(t, "GET", "/v1/catalog", "", ""); code != 200 || !strings.Contains(string(b), `"skills":0`) {
		t.Errorf("rejected import left data behind: %d %s", code, b)
	}
	// Partial import keeps the rest.
	code, b = p.doCT(t, "POST", "/v1/catalog/import?format=junyi&partial=true", "text/csv", string(data))
	if code != http.StatusOK || !strings.Contains(string(b), `"skills":835`) {
		t.Fatalf("partial Junyi import: %d %.500s", code, b)
	}
	code, b = p.doCT(t, "GET", "/v1/learners/ada@example.com/path?skill=radical_multiplication_and_division", "", "")
	if code != http.StatusOK || !strings.Contains(string(b), "urn:junyi:exercise:") {
		t.Fatalf("path on Junyi: %d %.500s", code, b)
	}
}

// End to end: statements in, RecommendationsUpdated on the topic, through
// GET and over SSE (with Last-Event-ID resume); every emitted catalog and
// recommendation event matches its schema.
func TestRecommendationsEndToEnd(t *testing.T) {
	schemas := docSchemas(t)
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	if code, b := p.doCT(t, "POST", "/v1/catalog/import", "application/json", catalogDoc); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, b)
	}

	// SSE from the beginning, in the background.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type sse struct{ id, data string }
	events := make(chan sse, 100)
	openSSE := func(lastID string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/v1/streams/recommendations?from=beginning", nil)
		req.SetBasicAuth(testKey, testSecret)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("SSE: %d %v", resp.StatusCode, resp.Header)
		}
		return resp
	}
	read := func(resp *http.Response, out chan<- sse) {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			case line == "" && cur.data != "":
				out <- cur
				cur = sse{}
			}
		}
	}
	resp := openSSE("")
	go read(resp, events)

	courses := []string{"sql", "joins", "windows", "python"}
	for i := 0; i < 12; i++ {
		st := fmt.Sprintf(`{"actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},
		  "object":{"id":"https://example.com/courses/%s"}}`, i%4, courses[(i/4+i)%4])
		if code, _, b := p.do(t, "POST", "/xapi/statements", st); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, b)
		}
	}
	// A statement about an activity the catalog lacks registers it.
	st := `{"actor":{"mbox":"mailto:l0@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
	        "object":{"id":"https://example.com/videos/intro","definition":{"name":{"en-US":"Intro video"}}}}`
	if code, _, b := p.do(t, "POST", "/xapi/statements", st); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, b)
	}

	var got struct {
		Learner string `json:"learner"`
		Items   []struct {
			Item    string   `json:"item"`
			Rank    int      `json:"rank"`
			Reasons []string `json:"reasons"`
		} `json:"items"`
		BasedOn string `json:"based_on"`
		EventID string `json:"event_id"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := p.doCT(t, "GET", "/v1/learners/l1@example.com/recommendations", "", "")
		if code == http.StatusOK {
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recommendations for l1: %d %s\n%s", code, b, p.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Learner != "mbox:mailto:l1@example.com" || len(got.Items) == 0 || got.Items[0].Rank != 1 || len(got.Items[0].Reasons) == 0 || got.BasedOn == "" {
		t.Fatalf("recommendations = %+v", got)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, b := p.doCT(t, "GET", "/v1/activities/"+url.PathEscape("https://example.com/videos/intro"), "", "")
		if code == http.StatusOK && strings.Contains(string(b), `"type":"item"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activity seen in a statement was not registered: %d %s", code, b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// SSE delivered the same events; resume after the first one.
	var first sse
	select {
	case first = <-events:
	case <-ctx.Done():
		t.Fatal("no SSE event")
	}
	if !strings.Contains(first.data, `"learner":"mbox:mailto:`) || !strings.Contains(first.id, ":") {
		t.Fatalf("SSE event = %+v", first)
	}
	resp.Body.Close()
	resumed := make(chan sse, 100)
	resp2 := openSSE(first.id)
	defer resp2.Body.Close()
	go read(resp2, resumed)
	select {
	case e := <-resumed:
		if e.data == first.data {
			t.Errorf("resume after %s delivered the same event again", first.id)
		}
	case <-ctx.Done():
		t.Fatal("no SSE event after resume")
	}

	// Every recommendation and catalog record matches its schema.
	open := recordOpener(t, ctx, p.kafka)
	for _, topic := range []string{streams.TopicRecommendations, streams.TopicCatalog} {
		ends, err := streams.EndOffsets(ctx, []string{p.kafka}, topic)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for part, end := range ends {
			if end == 0 {
				continue
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{p.kafka}, Dialer: streams.Dialer([]string{p.kafka}), Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				headers := map[string]string{}
				for _, h := range m.Headers {
					headers[h.Key] = string(h.Value)
				}
				hj, _ := json.Marshal(headers)
				validate(t, schemas["envelope"], "headers of "+headers["ce_id"], hj)
				if s := schemas[headers["ce_type"]]; s == nil {
					t.Errorf("event type %q is emitted but has no schema in docs/events.md", headers["ce_type"])
				} else {
					validate(t, s, "data of "+headers["ce_type"], open(m))
				}
				n++
				if m.Offset+1 >= end {
					break
				}
			}
			r.Close()
		}
		if n == 0 {
			t.Errorf("no records on %s", topic)
		}
	}
}
