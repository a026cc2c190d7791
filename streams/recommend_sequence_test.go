package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// A learner's list follows their last item through the consumer: after
// each statement the first recommendation is what other learners did
// next after that item, with the reason naming it; the rules survive a
// restart from the checkpoint.
func TestRecommenderFollowsTheLearnersLastItem(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	c := func(s string) string { return "https://example.com/c/" + s }
	// Two courses in order; learners take one, from its start, starting
	// at different times (so that every item is as recent as the others).
	paths := [][]string{{"a1", "a2", "a3", "a4", "a5", "a6"}, {"b1", "b2", "b3", "b4", "b5", "b6"}}
	off := 0
	var evs []struct {
		learner, item string
	}
	for round := range 12 {
		for u := range 60 {
			if step := round - u%6; step >= 0 && step < 6 {
				evs = append(evs, struct{ learner, item string }{fmt.Sprintf("l%d@example.com", u), paths[u%2][step]})
			}
		}
	}
	sink := &memSink{}
	r := newRecommender(t, store, sink, graph.New())
	handle := func(r *streams.Recommender, learner, item string) {
		t.Helper()
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(off)}, stmtEvent(t, off, learner, c(item), "completed")); err != nil {
			t.Fatal(err)
		}
		off++
	}
	for _, e := range evs {
		handle(r, e.learner, e.item)
	}
	latest := func(r *streams.Recommender, sink *memSink, learner string) projections.RecommendationsUpdated {
		t.Helper()
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var d projections.RecommendationsUpdated
		for _, e := range sink.recs() {
			var x projections.RecommendationsUpdated
			if err := json.Unmarshal(e.Data, &x); err != nil {
				t.Fatal(err)
			}
			if x.Learner == "mbox:mailto:"+learner {
				d = x
			}
		}
		return d
	}
	const probe = "probe@example.com"
	for _, tc := range []struct {
		do, want string
	}{
		{"a2", "a3"},
		{"a3", "a4"},
		{"b4", "b5"}, // switched course: follows the last item
		{"b5", "b6"},
	} {
		handle(r, probe, tc.do)
		d := latest(r, sink, probe)
		if len(d.Items) == 0 || d.Items[0].Item != c(tc.want) {
			t.Fatalf("after %s: list %+v, want %s first", tc.do, d.Items, tc.want)
		}
		if why := d.Items[0].Reasons; len(why) == 0 || why[0] != mf.ReasonNextAfter+":"+c(tc.do) {
			t.Fatalf("after %s: reasons %v, want %s:%s first", tc.do, why, mf.ReasonNextAfter, c(tc.do))
		}
	}
	if err := r.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// A new instance restores the rules and the learner's recent items.
	sink2 := &memSink{}
	r2 := newRecommender(t, store, sink2, graph.New())
	if _, _, err := r2.NextOffset(ctx, streams.TopicStatements, 0); err != nil {
		t.Fatal(err)
	}
	handle(r2, probe, "b2")
	d := latest(r2, sink2, probe)
	if len(d.Items) == 0 || d.Items[0].Item != c("b3") || !slices.Contains(d.Items[0].Reasons, mf.ReasonNextAfter+":"+c("b2")) {
		t.Fatalf("after a restart and b2: %+v, want b3 first, next_after b2", d.Items)
	}
}
