package streams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// roleCatalog is a catalog whose learner roles are given.
type roleCatalog struct {
	g     *graph.Graph
	roles map[string]string
}

func (c roleCatalog) Graph(string) (*graph.Graph, error) { return c.g, nil }
func (c roleCatalog) LearnerRole(_, learner string) (string, error) {
	return c.roles[learner], nil
}

const careersCSV = `kind,id,type,teaches,requires
skill,sql,,,
skill,joins,,,sql
skill,windows,,,joins
skill,viz,,,
skill,python,,,
skill,pandas,,,python
skill,stats,,,
skill,ml,,,pandas;stats
skill,cooking,,,
activity,https://example.com/c/sql,course,sql,
activity,https://example.com/c/joins,course,joins,
activity,https://example.com/c/windows,course,windows,
activity,https://example.com/c/viz,course,viz,
activity,https://example.com/c/python,course,python,
activity,https://example.com/c/pandas,course,pandas,
activity,https://example.com/c/stats,course,stats,
activity,https://example.com/c/ml,course,ml,
activity,https://example.com/c/cooking,course,cooking,
activity,https://example.com/c/baking,course,,
role,analyst,,,windows=0.8;viz=0.6
role,ml_engineer,,,ml=0.8
`

func roleSetEvent(t testing.TB, id, learner, role string) event.Event {
	t.Helper()
	data, _ := json.Marshal(projections.LearnerRole{Learner: learner, Role: role})
	e, err := event.New(id, projections.TypeLearnerRoleSet, "test", "t1", learner, time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC), data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The recommender side of the career-goal scenario: two learners with the
// same history; a learner.role.set on the statements topic re-ranks and
// re-publishes each one's list for their role, the role survives a restart
// from the checkpoint (kept with the offsets), and removing it gives the
// list without a role again.
func TestRecommenderRanksForTheLearnersRole(t *testing.T) {
	g := graph.New()
	if _, err := g.ImportCSV(strings.NewReader(careersCSV)); err != nil {
		t.Fatal(err)
	}
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cat := roleCatalog{g: g, roles: map[string]string{}}
	open := func(sink *memSink) *streams.Recommender {
		ck, err := projections.NewRecommenderCheckpoints(store)
		if err != nil {
			t.Fatal(err)
		}
		r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: cat, Checkpoints: ck, Publisher: sink,
			CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx := context.Background()
	sink := &memSink{}
	r := open(sink)
	off := 0
	feed := func(r *streams.Recommender, e event.Event) {
		t.Helper()
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(off)}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	c := func(s string) string { return "https://example.com/c/" + s }
	paths := [][]string{{"sql", "python", "cooking", "baking"}, {"sql", "joins", "windows", "viz"}, {"python", "pandas", "stats", "ml"}}
	for round := 0; round < 4; round++ {
		for u := 0; u < 30; u++ {
			p := paths[0]
			if u%5 == 3 {
				p = paths[1]
			} else if u%5 == 4 {
				p = paths[2]
			}
			feed(r, stmtEvent(t, off, fmt.Sprintf("l%d@example.com", u), c(p[round]), "completed"))
		}
	}
	for _, it := range []string{"sql", "python"} {
		feed(r, stmtEvent(t, off, "ann@example.com", c(it), "completed"))
		feed(r, stmtEvent(t, off, "bob@example.com", c(it), "completed"))
	}
	const ann, bob = "mbox:mailto:ann@example.com", "mbox:mailto:bob@example.com"
	latest := func(sink *memSink, learner string) (projections.RecommendationsUpdated, int) {
		t.Helper()
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var d projections.RecommendationsUpdated
		n := 0
		for _, e := range sink.recs() {
			var x projections.RecommendationsUpdated
			if err := json.Unmarshal(e.Data, &x); err != nil {
				t.Fatal(err)
			}
			if x.Learner == learner {
				d, n = x, n+1
			}
		}
		return d, n
	}
	items := func(d projections.RecommendationsUpdated) []string {
		var out []string
		for _, it := range d.Items {
			out = append(out, it.Item)
		}
		return out
	}
	reasons := func(d projections.RecommendationsUpdated, prefix string) []string {
		var out []string
		for _, it := range d.Items {
			for _, why := range it.Reasons {
				if strings.HasPrefix(why, prefix) {
					out = append(out, it.Item+" "+why)
				}
			}
		}
		return out
	}
	plainAnn, _ := latest(sink, ann)
	plainBob, _ := latest(sink, bob)
	// The same items (in an order that may differ where the two
	// learners' factors, solved at different moments, score items nearly
	// alike), and no role reason.
	sorted := func(l []string) []string { l = slices.Clone(l); slices.Sort(l); return l }
	if !slices.Equal(sorted(items(plainAnn)), sorted(items(plainBob))) || len(reasons(plainAnn, "role_")) > 0 {
		t.Fatalf("without roles: ann %v, bob %v", plainAnn.Items, plainBob.Items)
	}

	feed(r, roleSetEvent(t, "role-ann", ann, "analyst"))
	feed(r, roleSetEvent(t, "role-bob", bob, "ml_engineer"))
	gotAnn, _ := latest(sink, ann)
	gotBob, _ := latest(sink, bob)
	if gotAnn.Role != "analyst" || gotBob.Role != "ml_engineer" || gotAnn.BasedOn != "role-ann" {
		t.Fatalf("roles in the updates: %q %q, based on %q", gotAnn.Role, gotBob.Role, gotAnn.BasedOn)
	}
	if slices.Equal(items(gotAnn), items(gotBob)) {
		t.Fatalf("different roles, same list %v", items(gotAnn))
	}
	for _, tc := range []struct {
		d          projections.RecommendationsUpdated
		want, none []string
	}{
		{gotAnn, []string{c("joins") + " role_gap:analyst:windows=0/0.8", c("joins") + " role_path:joins>windows", c("viz") + " role_gap:analyst:viz=0/0.6"}, []string{"role_gap:ml_engineer"}},
		{gotBob, []string{c("pandas") + " role_gap:ml_engineer:ml=0/0.8", c("pandas") + " role_path:pandas>ml", c("stats") + " role_gap:ml_engineer:ml=0/0.8"}, []string{"role_gap:analyst"}},
	} {
		got := reasons(tc.d, "role_")
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: role reasons %v lack %q", tc.d.Learner, got, w)
			}
		}
		for _, n := range tc.none {
			if len(reasons(tc.d, n)) > 0 {
				t.Errorf("%s: reasons of the other role %v", tc.d.Learner, reasons(tc.d, n))
			}
		}
	}

	// The role is state kept with the offsets: a new instance resuming
	// from the checkpoint still ranks ann for it, though this catalog
	// never heard of her role.
	if err := r.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	sink2 := &memSink{}
	r = open(sink2)
	if next, ok, err := r.NextOffset(ctx, streams.TopicStatements, 0); err != nil || !ok || next != int64(off) {
		t.Fatalf("resume at %d %v %v, want %d", next, ok, err, off)
	}
	feed(r, stmtEvent(t, off, "ann@example.com", c("baking"), "completed"))
	after, _ := latest(sink2, ann)
	if after.Role != "analyst" || len(reasons(after, "role_gap:analyst:")) == 0 || slices.Contains(items(after), c("baking")) {
		t.Fatalf("after restart: role %q, items %+v", after.Role, after.Items)
	}

	// Setting the same role again publishes the list again (its id is
	// the new event's); removing it gives a list without role reasons.
	feed(r, roleSetEvent(t, "role-ann-2", ann, "analyst"))
	again, _ := latest(sink2, ann)
	if again.BasedOn != "role-ann-2" {
		t.Fatalf("a role set again was not published: based on %q", again.BasedOn)
	}
	feed(r, roleSetEvent(t, "role-ann-3", ann, ""))
	gone, _ := latest(sink2, ann)
	if gone.Role != "" || len(reasons(gone, "role_")) > 0 || gone.BasedOn != "role-ann-3" {
		t.Fatalf("role removed: role %q, items %+v", gone.Role, gone.Items)
	}
}

// Without a learner.role.set, the catalog's role of the learner applies.
func TestRecommenderUsesTheCatalogRoleWithoutAnEvent(t *testing.T) {
	g := graph.New()
	if _, err := g.ImportCSV(strings.NewReader(careersCSV)); err != nil {
		t.Fatal(err)
	}
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ck, _ := projections.NewRecommenderCheckpoints(store)
	sink := &memSink{}
	r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: roleCatalog{g: g, roles: map[string]string{"mbox:mailto:cy@example.com": "ml_engineer"}},
		Checkpoints: ck, Publisher: sink, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements}, stmtEvent(t, 0, "cy@example.com", "https://example.com/c/python", "completed")); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := sink.recs()
	if len(recs) != 1 {
		t.Fatalf("%d updates", len(recs))
	}
	var d projections.RecommendationsUpdated
	json.Unmarshal(recs[0].Data, &d)
	if d.Role != "ml_engineer" || len(d.Items) == 0 || !slices.Contains(d.Items[0].Reasons, "role_gap:ml_engineer:ml=0/0.8") {
		t.Fatalf("cold learner with a catalog role: %+v", d)
	}
}

func TestRecommenderRejectsBadRoleEvents(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sink := &memSink{}
	r := newRecommender(t, store, sink, graph.New())
	for _, tc := range []struct{ name, typ, data string }{
		{"not json", projections.TypeLearnerRoleSet, `{`},
		{"no learner", projections.TypeLearnerRoleSet, `{"learner":"","role":"analyst"}`},
		{"unknown field", projections.TypeLearnerRoleSet, `{"learner":"x","role":"analyst","extra":1}`},
		{"unknown major", "learnstream.learner.role.set.v2", `{"learner":"x","role":"analyst"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := event.New("x", tc.typ, "test", "t1", "k", time.Now(), []byte(tc.data))
			if err := r.Handle(context.Background(), streams.Position{}, e); !event.IsRejected(err) {
				t.Errorf("err = %v, want a rejection (DLQ)", err)
			}
		})
	}
	if err := r.Flush(context.Background()); err != nil || len(sink.recs()) != 0 {
		t.Fatalf("a rejected role event published %d lists (%v)", len(sink.recs()), err)
	}
}

// A role is the learner's data: retention forgets it with the learner,
// also for a learner who has no statement yet.
func TestRecommenderRetentionForgetsRoles(t *testing.T) {
	store := openStore(t)
	ck, _ := projections.NewRecommenderCheckpoints(store)
	g := graph.New()
	if _, err := g.ImportCSV(strings.NewReader(careersCSV)); err != nil {
		t.Fatal(err)
	}
	r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: roleCatalog{g: g}, Checkpoints: ck, Publisher: &memSink{},
		CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	handle := func(off int64, e event.Event) {
		t.Helper()
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: off}, e); err != nil {
			t.Fatal(err)
		}
	}
	handle(0, roleSetEvent(t, "role-dee", "mbox:mailto:dee@example.com", "analyst")) // 2026-11-29
	late := roleSetEvent(t, "role-eve", "mbox:mailto:eve@example.com", "ml_engineer")
	late.Time = late.Time.Add(72 * time.Hour)
	handle(1, late)
	b, _ := json.Marshal(privacy.RetentionApplied{Tenant: "t1", Before: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)})
	ret, err := event.New("ret1", privacy.TypeRetentionApplied, "test", "t1", "t1", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), b)
	if err != nil {
		t.Fatal(err)
	}
	handle(2, ret)
	snap := checkpointBytes(t, store, projections.RecommenderName)
	if bytes.Contains(snap, []byte("dee@example.com")) || !bytes.Contains(snap, []byte("eve@example.com")) {
		t.Fatalf("after retention: dee kept %v (want false), eve kept %v (want true)",
			bytes.Contains(snap, []byte("dee@example.com")), bytes.Contains(snap, []byte("eve@example.com")))
	}
}
