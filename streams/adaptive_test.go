package streams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// adaptiveGraph: a course with items assessing sql, one assessing sql and
// joins, one only teaching joins, and a course-level activity.
func adaptiveGraph(t testing.TB) *graph.Graph {
	t.Helper()
	g := graph.New()
	for _, s := range []string{"sql", "joins"} {
		if err := g.PutSkill(graph.Skill{ID: s}); err != nil {
			t.Fatal(err)
		}
	}
	acts := []graph.Activity{
		{ID: "https://example.com/c", Type: graph.TypeCourse, Teaches: []string{"sql"}},
		{ID: "https://example.com/q1", Type: graph.TypeItem, Assesses: []string{"sql"}, Teaches: []string{"joins"}, Parent: "https://example.com/c"},
		{ID: "https://example.com/q2", Type: graph.TypeItem, Assesses: []string{"sql", "joins"}, Parent: "https://example.com/c"},
		{ID: "https://example.com/q3", Type: graph.TypeItem, Teaches: []string{"joins"}, Parent: "https://example.com/c"},
	}
	for _, a := range acts {
		if err := g.PutActivity(a); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// scoredEvent makes a stored statement event; extra are more top-level
// members of the statement (`"context":{...}`).
func scoredEvent(t testing.TB, i int, learner, item, result string, extra ...string) event.Event {
	t.Helper()
	res := ""
	if result != "" {
		res = `,"result":` + result
	}
	for _, x := range extra {
		res += "," + x
	}
	data := fmt.Sprintf(`{"id":"%08d-0000-4000-8000-000000000000","actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},
	  "object":{"id":"%s"}%s,"timestamp":"2026-11-29T10:%02d:%02d Z","stored":"2026-11-29T10:00:00Z","version":"1.0.0",
	  "authority":{"mbox":"mailto:admin@example.com"}}`, i, learner, item, res, (i/60)%60, i%60)
	data = strings.Replace(data, " Z", "Z", 1)
	e, err := event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "test", "t1", "mbox:mailto:"+learner,
		time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newAdaptive(t testing.TB, store *projections.Store, sink streams.EventSink, g *graph.Graph) *streams.Adaptive {
	t.Helper()
	ck, err := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
	if err != nil {
		t.Fatal(err)
	}
	a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: sink,
		CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1 << 30, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func openStore(t testing.TB) *projections.Store {
	t.Helper()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func (m *memSink) adaptive() []event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]event.Event(nil), m.evs[streams.TopicAdaptive]...)
}

func TestAdaptiveHandleStatements(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, item, result string
		typ                string // default: a statement
		parents, groupings []string
		reject             string // substring of the DLQ reason; "" = accepted
		mastery            []string
		difficulty         int
		score              float64
	}{
		{name: "success true", item: "q1", result: `{"success":true}`, mastery: []string{"sql"}, difficulty: 1, score: 1},
		{name: "success wins over scaled", item: "q1", result: `{"success":false,"score":{"scaled":0.9}}`, mastery: []string{"sql"}, difficulty: 1, score: 0},
		{name: "scaled partial credit", item: "q1", result: `{"score":{"scaled":0.75}}`, mastery: []string{"sql"}, difficulty: 1, score: 0.75},
		{name: "negative scaled is no credit", item: "q1", result: `{"score":{"scaled":-0.5}}`, mastery: []string{"sql"}, difficulty: 1, score: 0},
		{name: "raw with min and max", item: "q1", result: `{"score":{"raw":3,"min":0,"max":4}}`, mastery: []string{"sql"}, difficulty: 1, score: 0.75},
		{name: "raw without max is unscored", item: "q1", result: `{"score":{"raw":3}}`},
		{name: "no result is unscored", item: "q1"},
		{name: "completion only is unscored", item: "q1", result: `{"completion":true}`},
		{name: "two skills", item: "q2", result: `{"success":true}`, mastery: []string{"sql", "joins"}, difficulty: 1, score: 1},
		{name: "teaches when nothing assessed", item: "q3", result: `{"success":true}`, mastery: []string{"joins"}, difficulty: 1, score: 1},
		{name: "item without skills", item: "nowhere", result: `{"success":true}`, difficulty: 1, score: 1},
		// An interaction of a SCO: unknown to the catalog, evidence on
		// the skills of its parent.
		{name: "skills of the parent", item: "q1/interactions/i1", parents: []string{"q1"}, result: `{"success":true}`, mastery: []string{"sql"}, difficulty: 1, score: 1},
		{name: "skills of every parent once", item: "q1/interactions/i1", parents: []string{"q1", "q2", "nowhere"}, result: `{"success":false}`, mastery: []string{"sql", "joins"}, difficulty: 1},
		{name: "parent's teaches", item: "q3/interactions/i1", parents: []string{"q3"}, result: `{"success":true}`, mastery: []string{"joins"}, difficulty: 1, score: 1},
		{name: "own skills win over the parent's", item: "q3", parents: []string{"q2"}, result: `{"success":true}`, mastery: []string{"joins"}, difficulty: 1, score: 1},
		{name: "parent without skills", item: "q1/interactions/i1", parents: []string{"nowhere"}, result: `{"success":true}`, difficulty: 1, score: 1},
		// A cmi5 AU's question: the AU is in grouping (context template).
		{name: "skills of the grouping", item: "q2/question", groupings: []string{"q2"}, result: `{"success":true}`, mastery: []string{"sql", "joins"}, difficulty: 1, score: 1},
		{name: "parent before grouping", item: "q1/interactions/i1", parents: []string{"q3"}, groupings: []string{"q1"}, result: `{"success":true}`, mastery: []string{"joins"}, difficulty: 1, score: 1},
		{name: "grouping when the parent has none", item: "q1/interactions/i1", parents: []string{"nowhere"}, groupings: []string{"q1"}, result: `{"success":true}`, mastery: []string{"sql"}, difficulty: 1, score: 1},
		{name: "scaled out of range", item: "q1", result: `{"score":{"scaled":1.5}}`, reject: "scaled"},
		{name: "raw out of range", item: "q1", result: `{"score":{"raw":5,"min":0,"max":4}}`, reject: "raw"},
		{name: "other event type", typ: "learnstream.catalog.skill.put.v1"},
		{name: "unknown major version", typ: event.TypeStatementStored[:len(event.TypeStatementStored)-1] + "2", reject: "major version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			a := newAdaptive(t, openStore(t), sink, adaptiveGraph(t))
			var extra []string
			if len(tc.parents)+len(tc.groupings) > 0 {
				list := func(ids []string) string {
					var ps []string
					for _, p := range ids {
						ps = append(ps, `{"id":"https://example.com/`+p+`"}`)
					}
					return "[" + strings.Join(ps, ",") + "]"
				}
				extra = append(extra, `"context":{"contextActivities":{"parent":`+list(tc.parents)+`,"grouping":`+list(tc.groupings)+`}}`)
			}
			e := scoredEvent(t, 1, "ada@example.com", "https://example.com/"+tc.item, tc.result, extra...)
			if tc.typ != "" {
				e.Type = tc.typ
			}
			err := a.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Partition: 0, Offset: 0}, e)
			if tc.reject != "" {
				if !event.IsRejected(err) || !strings.Contains(err.Error(), tc.reject) {
					t.Fatalf("Handle = %v, want a rejection naming %q", err, tc.reject)
				}
				if _, ok := a.PartitionSnapshot(0, "t1"); ok {
					t.Error("a rejected statement created model state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var skills []string
			diffs := 0
			for _, out := range sink.adaptive() {
				if out.Key != "mbox:mailto:ada@example.com" || out.Tenant != "t1" {
					t.Errorf("event key %q tenant %q", out.Key, out.Tenant)
				}
				switch out.Type {
				case projections.TypeMasteryUpdated:
					var d projections.MasteryUpdated
					json.Unmarshal(out.Data, &d)
					skills = append(skills, d.Skill)
					if d.Score != tc.score || d.Correct != (tc.score >= 0.5) || d.Statement == "" || d.Item != "https://example.com/"+tc.item {
						t.Errorf("MasteryUpdated = %s, want score %v", out.Data, tc.score)
					}
				case projections.TypeDifficultyAdjusted:
					diffs++
					var d projections.DifficultyAdjusted
					json.Unmarshal(out.Data, &d)
					if d.Score != tc.score || d.Expected <= 0 || d.Expected >= 1 {
						t.Errorf("DifficultyAdjusted = %s", out.Data)
					}
				default:
					t.Errorf("unexpected event type %s", out.Type)
				}
			}
			if strings.Join(skills, ",") != strings.Join(tc.mastery, ",") || diffs != tc.difficulty {
				t.Errorf("published mastery for %v and %d difficulty events, want %v and %d", skills, diffs, tc.mastery, tc.difficulty)
			}
		})
	}
}

func TestAdaptiveMasteryFollowsAnswers(t *testing.T) {
	ctx := context.Background()
	sink := &memSink{}
	a := newAdaptive(t, openStore(t), sink, adaptiveGraph(t))
	answers := []bool{true, true, true, false, false}
	for i, ok := range answers {
		e := scoredEvent(t, i, "ada@example.com", "https://example.com/q1", fmt.Sprintf(`{"success":%v}`, ok))
		if err := a.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
	}
	a.Flush(ctx)
	i := 0
	for _, out := range sink.adaptive() {
		if out.Type != projections.TypeMasteryUpdated {
			continue
		}
		var d projections.MasteryUpdated
		json.Unmarshal(out.Data, &d)
		if up := d.PMastery > d.PPrevious; up != answers[i] {
			t.Errorf("attempt %d (correct %v): mastery %v -> %v", i, answers[i], d.PPrevious, d.PMastery)
		}
		if d.Attempts != i+1 {
			t.Errorf("attempt %d: attempts %d", i, d.Attempts)
		}
		i++
	}
	if i != len(answers) {
		t.Fatalf("%d MasteryUpdated events, want %d", i, len(answers))
	}
}

// After a crash the statements since the checkpoint are re-applied to the
// restored state: same events (ids and content), same final state.
func TestAdaptiveResumesDeterministicallyFromCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	g := adaptiveGraph(t)
	items := []string{"q1", "q2", "q3", "nowhere"}
	var evs []event.Event
	for i := 0; i < 400; i++ {
		res := fmt.Sprintf(`{"success":%v}`, (i*7)%3 != 0)
		if i%5 == 0 {
			res = fmt.Sprintf(`{"score":{"scaled":%.2f}}`, float64(i%10)/10)
		}
		evs = append(evs, scoredEvent(t, i, fmt.Sprintf("l%d@example.com", i%9), "https://example.com/"+items[i%4], res))
	}
	pos := func(i int) streams.Position {
		return streams.Position{Topic: streams.TopicStatements, Partition: i % 2, Offset: int64(i / 2)}
	}
	handle := func(a *streams.Adaptive, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := a.Handle(ctx, pos(i), evs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	sink := &memSink{}
	a := newAdaptive(t, store, sink, g)
	handle(a, 0, 200)
	if err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	atCheckpoint := len(sink.adaptive())
	handle(a, 200, 400)
	a.Flush(ctx)
	want := sink.adaptive()[atCheckpoint:]
	wantState := [2][]byte{}
	for p := range 2 {
		wantState[p], _ = a.PartitionSnapshot(p, "t1")
	}
	// Redelivered offsets are not learned twice.
	handle(a, 300, 400)
	a.Flush(ctx)
	if n := len(sink.adaptive()); n != atCheckpoint+len(want) {
		t.Errorf("redelivery published %d more events", n-atCheckpoint-len(want))
	}

	// "Crash": a new consumer over the same store.
	sink2 := &memSink{}
	b := newAdaptive(t, store, sink2, g)
	for p := range 2 {
		next, ok, err := b.NextOffset(ctx, streams.TopicStatements, p)
		if err != nil || !ok || next != 100 {
			t.Fatalf("partition %d resumes at %d %v %v, want 100", p, next, ok, err)
		}
	}
	handle(b, 200, 400)
	b.Flush(ctx)
	got := sink2.adaptive()
	if len(got) != len(want) {
		t.Fatalf("re-application published %d events, originally %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) || !got[i].Time.Equal(want[i].Time) {
			t.Fatalf("event %d differs after restore:\n%s %s\n%s %s", i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
		}
	}
	for p := range 2 {
		st, _ := b.PartitionSnapshot(p, "t1")
		if !bytes.Equal(st, wantState[p]) {
			t.Errorf("partition %d: state after re-application differs from the original", p)
		}
	}
}

// A failed publish keeps the events; the consumer's retry of the same
// offset publishes them, and a checkpoint never covers unpublished events.
func TestAdaptivePublishFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	sink := &memSink{fail: true}
	a := newAdaptive(t, store, sink, adaptiveGraph(t))
	e := scoredEvent(t, 1, "ada@example.com", "https://example.com/q1", `{"success":true}`)
	p := streams.Position{Topic: streams.TopicStatements, Offset: 0}
	if err := a.Handle(ctx, p, e); err != nil {
		t.Fatal(err) // queued, not yet published
	}
	if err := a.Checkpoint(ctx); err == nil {
		t.Fatal("checkpoint succeeded while the broker refused the events")
	}
	b := newAdaptive(t, store, &memSink{}, adaptiveGraph(t))
	if _, ok, _ := b.NextOffset(ctx, streams.TopicStatements, 0); ok {
		t.Fatal("a checkpoint was written over unpublished events")
	}
	sink.mu.Lock()
	sink.fail = false
	sink.mu.Unlock()
	if err := a.Handle(ctx, p, e); err != nil { // the consumer's retry
		t.Fatal(err)
	}
	if n := len(sink.adaptive()); n != 2 {
		t.Fatalf("after the retry %d events published, want 2", n)
	}
}
