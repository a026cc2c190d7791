package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/kafka-go"

	apiclient "github.com/learnstream/learnstream/api/client"
	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

const adaptiveCourse = "https://example.com/courses/sql-basics"

// A course of four items assessing sql and one assessing joins.
const adaptiveCatalogDoc = `{
  "skills": [{"id": "sql", "name": "SQL"}, {"id": "joins", "requires": ["sql"]}],
  "activities": [
    {"id": "https://example.com/courses/sql-basics", "type": "course", "title": "SQL basics"},
    {"id": "https://example.com/items/q1", "type": "item", "assesses": ["sql"], "parent": "https://example.com/courses/sql-basics"},
    {"id": "https://example.com/items/q2", "type": "item", "assesses": ["sql"], "parent": "https://example.com/courses/sql-basics"},
    {"id": "https://example.com/items/q3", "type": "item", "assesses": ["sql"], "parent": "https://example.com/courses/sql-basics"},
    {"id": "https://example.com/items/q4", "type": "item", "assesses": ["sql"], "parent": "https://example.com/courses/sql-basics"},
    {"id": "https://example.com/items/q5", "type": "item", "assesses": ["joins"], "parent": "https://example.com/courses/sql-basics"}]
}`

func answer(learner string, q int, correct bool) string {
	return fmt.Sprintf(`{"actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},
	  "object":{"id":"https://example.com/items/q%d"},"result":{"success":%v}}`, learner, q, correct)
}

// eventually polls f every 100 ms for up to 30 s.
func eventually(t *testing.T, p *proc, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen in 30 s\n%s", what, p.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api is a client of p's /v1/ API with the test credential.
func (p *proc) api() *apiclient.Client { return apiclient.New(p.url, testKey, testSecret) }

func (p *proc) skillMastery(t *testing.T, learner, skill string) (float64, int) {
	t.Helper()
	m, err := p.api().Mastery(context.Background(), learner)
	if err != nil {
		t.Fatalf("mastery: %v", err)
	}
	for _, s := range m.Skills {
		if s.Skill == skill {
			return s.PMastery, s.Attempts
		}
	}
	return 0, 0
}

// topicRecords reads every record of topic, checks each against the
// schemas of docs/events.md, and counts them by ce_type.
func topicRecords(t *testing.T, ctx context.Context, broker, topic string, schemas map[string]*jsonschema.Schema) map[string]int {
	t.Helper()
	ends, err := streams.EndOffsets(ctx, []string{broker}, topic)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	open := recordOpener(t, ctx, broker)
	for part, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Dialer: streams.Dialer([]string{broker}), Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
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
			if ev, ok := schema.Lookup(headers["ce_type"]); ok && ev.Tombstone {
				if m.Value != nil {
					t.Errorf("%s %s is a tombstone but has a value: %s", headers["ce_type"], headers["ce_id"], m.Value)
				}
			} else if s := schemas[headers["ce_type"]]; s == nil {
				t.Errorf("event type %q is emitted but has no schema in docs/events.md", headers["ce_type"])
			} else {
				if d := open(m); d != nil || m.Value == nil { // nil: a record of an erased learner
					validate(t, s, "data of "+headers["ce_type"]+" "+headers["ce_id"], d)
				}
			}
			counts[headers["ce_type"]]++
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return counts
}

// End to end: a catalog, scored statements in; mastery, next item,
// progress and course effectiveness out; every adaptive record matches its
// schema.
func TestAdaptiveEndToEnd(t *testing.T) {
	schemas := docSchemas(t)
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	var cat apiclient.CatalogImport
	if err := json.Unmarshal([]byte(adaptiveCatalogDoc), &cat); err != nil {
		t.Fatal(err)
	}
	if _, err := p.api().ImportCatalog(context.Background(), cat); err != nil {
		t.Fatalf("import: %v", err)
	}
	post := func(body string) {
		t.Helper()
		if code, _, b := p.do(t, "POST", "/xapi/statements", body); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, b)
		}
	}

	// Mastery rises after correct answers and falls after a wrong one.
	prev := 0.0
	for i, correct := range []bool{true, true, false} {
		post(answer("ada@example.com", i+1, correct))
		var pm float64
		eventually(t, p, fmt.Sprintf("attempt %d in /mastery", i+1), func() bool {
			var n int
			pm, n = p.skillMastery(t, "ada@example.com", "sql")
			return n == i+1
		})
		if i > 0 && (pm > prev) != correct {
			t.Errorf("attempt %d (correct %v): p_mastery %v -> %v", i+1, correct, prev, pm)
		}
		prev = pm
	}
	// bob answers every item right.
	scored := 3
	for q := 1; q <= 5; q++ {
		post(answer("bob@example.com", q, true))
		scored++
	}
	eventually(t, p, "bob's joins attempt in /mastery", func() bool {
		_, n := p.skillMastery(t, "bob@example.com", "joins")
		return n == 1
	})

	// The next item for ada: among q3 and q4 (q1, q2 answered right), the
	// one whose predicted success is closest to the (adjusted) target.
	code, b := p.doCT(t, "GET", "/v1/learners/ada@example.com/next?skill=sql", "", "")
	if code != http.StatusOK {
		t.Fatalf("next: %d %s", code, b)
	}
	var next struct {
		Item             string  `json:"item"`
		Target           float64 `json:"target"`
		PredictedSuccess float64 `json:"predicted_success"`
		Candidates       []struct {
			Item             string  `json:"item"`
			PredictedSuccess float64 `json:"predicted_success"`
		} `json:"candidates"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal(b, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.Candidates) != 2 || len(next.Reasons) == 0 {
		t.Fatalf("next = %s, want two open candidates (q3, q4)", b)
	}
	for _, c := range next.Candidates {
		if math.Abs(c.PredictedSuccess-next.Target) < math.Abs(next.PredictedSuccess-next.Target)-1e-9 {
			t.Errorf("next = %s: %s is closer to the target", b, c.Item)
		}
	}
	var apiErr *apiclient.Error
	if _, err := p.api().Next(context.Background(), "ada@example.com", "", nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Field != "skill" {
		t.Errorf("next without skill: %v, want a 400 naming skill", err)
	}
	if _, err := p.api().Next(context.Background(), "ada@example.com", "cobol", nil); !apiclient.IsNotFound(err) {
		t.Errorf("next for an unknown skill: %v, want 404", err)
	}

	// Progress keeps its activities and adds the effect evaluation.
	var prog struct {
		Activities []json.RawMessage `json:"activities"`
		Skills     []struct {
			Skill     string   `json:"skill"`
			ScoreGain *float64 `json:"score_gain"`
		} `json:"skills"`
		Courses []struct {
			Course         string `json:"course"`
			ItemsCompleted int    `json:"items_completed"`
		} `json:"courses"`
	}
	// The progress projection is eventually consistent, as every read
	// model but the statements'.
	progressed := func() bool {
		code, b = p.doCT(t, "GET", "/v1/learners/ada@example.com/progress", "", "")
		if code != http.StatusOK || json.Unmarshal(b, &prog) != nil {
			t.Fatalf("progress: %d %s", code, b)
		}
		return len(prog.Activities) > 0 && len(prog.Skills) == 1 && prog.Skills[0].ScoreGain != nil &&
			len(prog.Courses) == 1 && prog.Courses[0].Course == adaptiveCourse && prog.Courses[0].ItemsCompleted == 2
	}
	eventually(t, p, "progress with ada's activities, the sql skill's score gain and 2 items of the course", progressed)

	// The course's effectiveness reflects both learners; bob completed it.
	var eff struct {
		Learners       int     `json:"learners"`
		Completed      int     `json:"completed"`
		CompletionRate float64 `json:"completion_rate"`
		PerSkill       []struct {
			Skill    string `json:"skill"`
			Learners int    `json:"learners"`
		} `json:"per_skill"`
	}
	effective := func() bool {
		code, b = p.doCT(t, "GET", "/v1/courses/"+url.PathEscape(adaptiveCourse)+"/effectiveness", "", "")
		if code != http.StatusOK || json.Unmarshal(b, &eff) != nil {
			t.Fatalf("effectiveness: %d %s", code, b)
		}
		return eff.Learners == 2 && eff.Completed == 1 && eff.CompletionRate == 0.5 && len(eff.PerSkill) == 2 && eff.PerSkill[1].Learners == 2
	}
	eventually(t, p, "the course's effectiveness over both learners, bob's completion included", effective)

	// The events are on the topic and match their schemas: one
	// DifficultyAdjusted per scored statement, one MasteryUpdated per
	// skill (every item here has one).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts := topicRecords(t, ctx, p.kafka, streams.TopicAdaptive, schemas)
	if counts[projections.TypeDifficultyAdjusted] < scored || counts[projections.TypeMasteryUpdated] < scored {
		t.Errorf("adaptive topic holds %v, want at least %d of each", counts, scored)
	}
}
