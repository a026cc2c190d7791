package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// liveCatalog is a catalog whose graph a test replaces, as the catalog
// projection does on every change.
type liveCatalog struct {
	mu sync.Mutex
	g  *graph.Graph
}

func (c *liveCatalog) Graph(string) (*graph.Graph, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.g, nil
}
func (c *liveCatalog) LearnerRole(string, string) (string, error) { return "", nil }

func (c *liveCatalog) put(t *testing.T, a graph.Activity) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.g.Clone()
	if err := g.PutActivity(a); err != nil {
		t.Fatal(err)
	}
	c.g = g
}

func definedStmt(t *testing.T, i int, learner, item, name string) event.Event {
	t.Helper()
	data := fmt.Sprintf(`{"id":"%08d-0000-4000-8000-000000000000","actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
	  "object":{"id":"%s","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":%q}}},
	  "timestamp":"2026-11-29T10:00:00Z","stored":"2026-11-29T10:00:00Z","version":"1.0.0",
	  "authority":{"mbox":"mailto:admin@example.com"}}`, i, learner, item, name)
	e, err := event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "test", "t1", "mbox:mailto:"+learner,
		time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lastList is the latest published list of a learner.
func lastList(t *testing.T, sink *memSink, learner string) []projections.Recommendation {
	t.Helper()
	recs := sink.recs()
	for i := len(recs) - 1; i >= 0; i-- {
		var d projections.RecommendationsUpdated
		if err := json.Unmarshal(recs[i].Data, &d); err == nil && d.Learner == "mbox:mailto:"+learner {
			return d.Items
		}
	}
	return nil
}

func rankOf(list []projections.Recommendation, item string) int {
	for _, r := range list {
		if r.Item == item {
			return r.Rank
		}
	}
	return 0
}

func reasonsOf(list []projections.Recommendation, item string) []string {
	for _, r := range list {
		if r.Item == item {
			return r.Reasons
		}
	}
	return nil
}

// A brand-new catalog activity nobody used is in the list of a learner
// whose history shares its skills, on the next statement after the
// catalog put, with content reasons; a restarted recommender keeps the
// features a statement announced (checkpointed).
func TestRecommenderContentBasedNewItem(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	g := graph.New()
	for _, s := range []string{"sql", "poetry"} {
		if err := g.PutSkill(graph.Skill{ID: s}); err != nil {
			t.Fatal(err)
		}
	}
	cat := &liveCatalog{g: g}
	item := func(skill string, n int) string { return fmt.Sprintf("https://example.com/%s/%d", skill, n) }
	for _, s := range []string{"sql", "poetry"} {
		for n := range 12 {
			cat.put(t, graph.Activity{ID: item(s, n), Type: graph.TypeModule, Title: fmt.Sprintf("%s part %d", s, n), Teaches: []string{s}})
		}
	}
	ck, err := projections.NewRecommenderCheckpoints(store)
	if err != nil {
		t.Fatal(err)
	}
	newRec := func(sink *memSink) *streams.Recommender {
		r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: cat, Checkpoints: ck, Publisher: sink,
			CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sink := &memSink{}
	r := newRec(sink)
	ctx := context.Background()
	off := 0
	handle := func(r *streams.Recommender, e event.Event) {
		t.Helper()
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(off)}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	// 30 learners per skill, each with 8 of its 12 modules.
	for round := range 8 {
		for u := range 30 {
			for _, s := range []string{"sql", "poetry"} {
				handle(r, stmtEvent(t, off, fmt.Sprintf("%s%d@example.com", s, u), item(s, (u+round)%12), "attempted"))
			}
		}
	}
	// The catalog gets a new SQL module; nobody has used it.
	fresh := "https://example.com/sql/window-functions"
	cat.put(t, graph.Activity{ID: fresh, Type: graph.TypeModule, Title: "Window functions", Teaches: []string{"sql"}})
	handle(r, stmtEvent(t, off, "sql3@example.com", item("sql", 11), "attempted"))
	handle(r, stmtEvent(t, off, "poetry3@example.com", item("poetry", 11), "attempted"))
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sqlList := lastList(t, sink, "sql3@example.com")
	if got := reasonsOf(sqlList, fresh); !slices.Equal(got, []string{"content", "similar_skills:sql", "ready_to_learn"}) {
		t.Fatalf("the new SQL module's reasons in an SQL learner's list = %q, want content, similar_skills:sql, ready_to_learn; list %+v", got, sqlList)
	}
	// For a poetry learner it shares only its type: it comes after every
	// poetry module they have not used, if at all.
	poetList := lastList(t, sink, "poetry3@example.com")
	at := rankOf(poetList, fresh)
	for _, rc := range poetList {
		if at > 0 && rc.Rank > at && slices.Contains(rc.Reasons, "mf") && len(rc.Item) > len("https://example.com/poetry/") && rc.Item[:27] == "https://example.com/poetry/" {
			t.Fatalf("the new SQL module ranks %d in a poetry learner's list, before poetry module %s: %+v", at, rc.Item, poetList)
		}
	}
	if got := reasonsOf(poetList, fresh); slices.Contains(got, "similar_skills:sql") {
		t.Fatalf("a poetry learner is told the new SQL module has similar skills: %q", got)
	}

	// An activity the catalog does not hold, announced by a statement's
	// definition: its features (title terms) reach learners whose history
	// shares them, and survive a restart from the checkpoint.
	lesson := "https://example.com/lessons/sonnet-forms"
	handle(r, definedStmt(t, off, "poetry7@example.com", lesson, "Sonnet forms"))
	for n := range 12 {
		handle(r, definedStmt(t, off, "newpoet@example.com", fmt.Sprintf("https://example.com/lessons/%d", n), fmt.Sprintf("Sonnet %d", n)))
	}
	if err := r.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	sink2 := &memSink{}
	r2 := newRec(sink2)
	if _, _, err := r2.NextOffset(ctx, streams.TopicStatements, 0); err != nil {
		t.Fatal(err)
	}
	handle(r2, definedStmt(t, off, "newpoet@example.com", "https://example.com/lessons/12", "Sonnet 12"))
	if err := r2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := reasonsOf(lastList(t, sink2, "newpoet@example.com"), lesson)
	if len(got) < 2 || got[0] != "content" || got[1] != "similar:term:sonnet" {
		t.Fatalf("after a restart, the announced lesson's reasons = %q, want content, similar:term:sonnet; list %+v", got, lastList(t, sink2, "newpoet@example.com"))
	}
}
