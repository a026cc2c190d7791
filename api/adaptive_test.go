package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

type graphOf struct{ g *graph.Graph }

func (f graphOf) Graph(string) (*graph.Graph, error) { return f.g, nil }

type progressOf map[string][]projections.ActivityProgress

func (p progressOf) Learner(_ context.Context, _, learner string) ([]projections.ActivityProgress, error) {
	return p[learner], nil
}

const course = "https://example.com/c"

func item(n int) string { return fmt.Sprintf("https://example.com/q%d", n) }

func adaptiveCatalog(t *testing.T) *graph.Graph {
	t.Helper()
	g := graph.New()
	for _, s := range []string{"sql", "joins", "python"} {
		if err := g.PutSkill(graph.Skill{ID: s}); err != nil {
			t.Fatal(err)
		}
	}
	acts := []graph.Activity{
		{ID: course, Type: graph.TypeCourse, Title: "SQL"},
		{ID: item(1), Type: graph.TypeItem, Assesses: []string{"sql"}, Parent: course},
		{ID: item(2), Type: graph.TypeItem, Assesses: []string{"sql"}, Parent: course},
		{ID: item(3), Type: graph.TypeItem, Title: "Q3", Assesses: []string{"sql"}, Parent: course},
		{ID: item(4), Type: graph.TypeItem, Assesses: []string{"joins"}, Parent: course},
	}
	for _, a := range acts {
		if err := g.PutActivity(a); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// adaptiveFixture: ada answered q1 right and q2 wrong (sql 0.5 -> 0.8 ->
// 0.6); bob answered everything right and mastered sql and joins.
// consentsOf answers the consent of the learners it names; others have
// the defaults.
type consentsOf map[string]privacy.Consent

func (c consentsOf) Consent(_ context.Context, _, learner string) (projections.ConsentState, error) {
	if v, ok := c[learner]; ok {
		return projections.ConsentState{Consent: v}, nil
	}
	return projections.ConsentState{Consent: privacy.DefaultConsent}, nil
}

func adaptiveFixture(t *testing.T, consents ...consentsOf) (*fixture, *projections.Adaptive) {
	t.Helper()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a, err := projections.NewAdaptive(store, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	off := int64(0)
	publish := func(typ, learner string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		e, err := event.New(fmt.Sprintf("e%d", off), typ, "test", "t1", learner, t0, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Handle(context.Background(), event.Position{Topic: "adaptive", Offset: off}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	type attempt struct {
		learner string
		item    int
		skill   string
		correct bool
		p, prev float64
		ability float64
		diff    float64
		minute  int
	}
	for i, at := range []attempt{
		{"ada", 1, "sql", true, 0.8, 0.5, 0.8, -0.5, 0},
		{"ada", 2, "sql", false, 0.6, 0.8, 0.8, 1.0, 1},
		{"bob", 1, "sql", true, 0.9, 0.3, 1.0, -0.6, 0},
		{"bob", 2, "sql", true, 0.96, 0.9, 1.2, 0.9, 2},
		{"bob", 3, "sql", true, 0.99, 0.96, 1.4, 0.2, 3},
		{"bob", 4, "joins", true, 0.97, 0.3, 1.0, 0.1, 4},
	} {
		score := 0.0
		if at.correct {
			score = 1
		}
		when := t0.Add(time.Duration(at.minute) * time.Minute)
		publish(projections.TypeMasteryUpdated, at.learner, projections.MasteryUpdated{Learner: at.learner, Skill: at.skill,
			PMastery: at.p, PPrevious: at.prev, Item: item(at.item), Correct: at.correct, At: when, Score: score, Ability: at.ability,
			InputPartition: 0, InputOffset: int64(i)})
		publish(projections.TypeDifficultyAdjusted, at.learner, projections.DifficultyAdjusted{Item: item(at.item), Skill: at.skill,
			Difficulty: at.diff, Learner: at.learner, Ability: at.ability, Correct: at.correct, At: when, Score: score,
			ItemAttempts: 1, InputPartition: 0, InputOffset: int64(i)})
	}
	mod := &api.AdaptiveModule{Adaptive: a, Catalog: graphOf{adaptiveCatalog(t)}, Progress: progressOf{
		"ada": {{Activity: item(1), Completed: true}, {Activity: item(2)}},
	}}
	if len(consents) > 0 {
		mod.Consents = consents[0]
	}
	f := newFixture(t, func(c *api.Config) {
		c.Progress = progressOf{"ada": {{Activity: item(1), Completed: true}, {Activity: item(2)}}}
		c.Modules = append(c.Modules, mod)
	})
	return f, a
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func TestAdaptiveMasteryEndpoint(t *testing.T) {
	f, _ := adaptiveFixture(t)
	resp, b := f.do(t, req{method: "GET", path: "/v1/learners/bob/mastery"})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	type skill struct {
		Skill      string     `json:"skill"`
		PMastery   float64    `json:"p_mastery"`
		Attempts   int        `json:"attempts"`
		Mastered   bool       `json:"mastered"`
		MasteredAt *time.Time `json:"mastered_at"`
		Trajectory []struct {
			PMastery float64 `json:"p_mastery"`
		} `json:"trajectory"`
	}
	got := decode[struct {
		Skills []skill `json:"skills"`
	}](t, b)
	if len(got.Skills) != 2 {
		t.Fatalf("skills = %+v", got.Skills)
	}
	sql := got.Skills[1]
	if sql.Skill != "sql" || sql.Attempts != 3 || !sql.Mastered || sql.MasteredAt == nil || len(sql.Trajectory) != 3 || sql.PMastery != 0.99 {
		t.Errorf("bob on sql = %+v", sql)
	}
	for _, tc := range []struct {
		name, user, pass, path string
		code                   int
		want                   string
	}{
		{"no such learner", "", "", "/v1/learners/nobody/mastery", 200, `"skills":[]`},
		{"other tenant", "other", "other-secret", "/v1/learners/bob/mastery", 200, `"skills":[]`},
		{"no credentials", "-", "", "/v1/learners/bob/mastery", 401, ""},
		{"scope lacking", "reader", "reader-secret", "/v1/learners/bob/mastery", 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: "GET", path: tc.path, user: tc.user, pass: tc.pass})
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Errorf("%d %s, want %d with %s", resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
}

func TestAdaptiveNextEndpoint(t *testing.T) {
	f, _ := adaptiveFixture(t)
	type cand struct {
		Item             string  `json:"item"`
		PredictedSuccess float64 `json:"predicted_success"`
	}
	type next struct {
		Item             *string  `json:"item"`
		Target           float64  `json:"target"`
		PredictedSuccess float64  `json:"predicted_success"`
		Candidates       []cand   `json:"candidates"`
		Reasons          []string `json:"reasons"`
	}
	for _, tc := range []struct {
		name, path string
		code       int
		want       string // substring of the body
		item       string // expected pick
	}{
		{"missing skill", "/v1/learners/ada/next", 400, `"field":"skill"`, ""},
		{"unknown skill", "/v1/learners/ada/next?skill=cobol", 404, "cobol", ""},
		{"bad target", "/v1/learners/ada/next?skill=sql&target=1.2", 400, `"field":"target"`, ""},
		{"bad target text", "/v1/learners/ada/next?skill=sql&target=hard", 400, `"field":"target"`, ""},
		// ada's sql ability 0.8: q2 (d 1.0) predicts 0.45, q3 (new, d 0)
		// 0.69; q1 is completed.
		{"default target", "/v1/learners/ada/next?skill=sql", 200, "", item(3)},
		{"low target", "/v1/learners/ada/next?skill=sql&target=0.4", 200, "", item(2)},
		{"new learner", "/v1/learners/cyd/next?skill=joins", 200, `"ability_source":"prior"`, item(4)},
		{"all completed", "/v1/learners/bob/next?skill=sql", 200, "completed every activity", ""},
		{"nothing assesses", "/v1/learners/ada/next?skill=python", 200, "no catalog activity", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: "GET", path: tc.path})
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s, want %d with %s", resp.StatusCode, b, tc.code, tc.want)
			}
			if tc.code != 200 {
				return
			}
			n := decode[next](t, b)
			if tc.item == "" {
				if n.Item != nil {
					t.Errorf("item %s, want none", *n.Item)
				}
				return
			}
			if n.Item == nil || *n.Item != tc.item || len(n.Reasons) == 0 {
				t.Fatalf("next = %s, want %s", b, tc.item)
			}
			for _, c := range n.Candidates {
				if c.Item == item(1) {
					t.Errorf("completed item q1 offered")
				}
				if math.Abs(c.PredictedSuccess-n.Target) < math.Abs(n.PredictedSuccess-n.Target)-1e-9 {
					t.Errorf("candidate %s (%.4f) is closer to the target %.4f than the pick (%.4f)", c.Item, c.PredictedSuccess, n.Target, n.PredictedSuccess)
				}
			}
		})
	}
}

// A learner who withdrew consent to personalisation gets the next item of
// a new learner, and is told so.
func TestAdaptiveNextWithoutConsent(t *testing.T) {
	f, _ := adaptiveFixture(t, consentsOf{"ada": {Personalisation: false, Analytics: true}})
	for _, tc := range []struct {
		learner string
		want    []string
		not     []string
	}{
		{"ada", []string{`"ability_source":"prior"`, "not personalised", `"ability":0,`}, []string{`"ability_source":"skill"`}},
		{"bob", []string{`"ability_source":"skill"`}, []string{"not personalised"}},
	} {
		resp, b := f.do(t, req{method: "GET", path: "/v1/learners/" + tc.learner + "/next?skill=joins"})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.learner, resp.StatusCode, b)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s lacks %s", tc.learner, b, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(string(b), w) {
				t.Errorf("%s: %s has %s", tc.learner, b, w)
			}
		}
	}
}

func TestAdaptiveProgressAndEffectiveness(t *testing.T) {
	f, _ := adaptiveFixture(t)
	resp, b := f.do(t, req{method: "GET", path: "/v1/learners/ada/progress"})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	type courseEff struct {
		Course         string   `json:"course"`
		Items          int      `json:"items"`
		ItemsCompleted int      `json:"items_completed"`
		Completed      bool     `json:"completed"`
		ScoreGain      *float64 `json:"score_gain"`
		MasteryGain    *float64 `json:"mastery_gain"`
		TimeToMastery  *float64 `json:"time_to_mastery_seconds"`
	}
	p := decode[struct {
		Learner    string `json:"learner"`
		Activities []struct {
			Activity string `json:"activity"`
		} `json:"activities"`
		Skills []struct {
			Skill     string   `json:"skill"`
			Pre       *float64 `json:"pre"`
			Post      *float64 `json:"post"`
			ScoreGain *float64 `json:"score_gain"`
		} `json:"skills"`
		Courses []courseEff `json:"courses"`
	}](t, b)
	// What the endpoint returned before stays.
	if p.Learner != "ada" || len(p.Activities) != 2 {
		t.Errorf("progress lost its activities: %s", b)
	}
	if len(p.Skills) != 1 || p.Skills[0].ScoreGain == nil || *p.Skills[0].Pre != 1 || *p.Skills[0].Post != 0 || *p.Skills[0].ScoreGain != -1 {
		t.Errorf("skills = %s", b)
	}
	if len(p.Courses) != 1 || p.Courses[0].Course != course || p.Courses[0].Items != 4 || p.Courses[0].ItemsCompleted != 1 ||
		p.Courses[0].Completed || p.Courses[0].TimeToMastery != nil || p.Courses[0].MasteryGain == nil {
		t.Errorf("courses = %+v", p.Courses)
	}

	resp, b = f.do(t, req{method: "GET", path: "/v1/courses/" + url.PathEscape(course) + "/effectiveness"})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	e := decode[struct {
		Learners       int      `json:"learners"`
		Completed      int      `json:"completed"`
		CompletionRate float64  `json:"completion_rate"`
		MeanScoreGain  *float64 `json:"mean_score_gain"`
		MeanTTM        *float64 `json:"mean_time_to_mastery_seconds"`
		PerSkill       []struct {
			Skill    string `json:"skill"`
			Learners int    `json:"learners"`
			Mastered int    `json:"mastered"`
		} `json:"per_skill"`
	}](t, b)
	if e.Learners != 2 || e.Completed != 1 || e.CompletionRate != 0.5 || e.MeanScoreGain == nil {
		t.Errorf("effectiveness = %s", b)
	}
	// bob mastered sql at minute 2 and joins at minute 4, first attempt at 0.
	if e.MeanTTM == nil || *e.MeanTTM != 240 {
		t.Errorf("mean time to mastery = %v, want 240 s", e.MeanTTM)
	}
	if len(e.PerSkill) != 2 || e.PerSkill[1].Skill != "sql" || e.PerSkill[1].Learners != 2 || e.PerSkill[1].Mastered != 1 {
		t.Errorf("per skill = %+v", e.PerSkill)
	}
	resp, b = f.do(t, req{method: "GET", path: "/v1/courses/" + url.PathEscape("https://example.com/none") + "/effectiveness"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown course: %d %s", resp.StatusCode, b)
	}
}
