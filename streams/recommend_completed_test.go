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

// A learner who completed more items than the model remembers of them
// (its history keeps the last Config.History) still gets a full list of
// items they have not completed, without a catalog to fill it from: the
// completed items the model forgot are no candidates, rather than
// candidates the re-ranker drops.
func TestRecommenderLeavesOutForgottenCompletedItems(t *testing.T) {
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sink := &memSink{}
	r := newRecommenderWith(t, store, sink, graph.New(), func(c *streams.RecommenderConfig) {
		c.Model = mf.DefaultConfig()
		c.Model.History = 5
	})
	ctx := context.Background()
	const items, done = 80, 70
	item := func(i int) string { return fmt.Sprintf("https://example.com/c/%d", i) }
	off := 0
	learn := func(learner string, i int, verb string) {
		t.Helper()
		e := stmtEvent(t, off, learner, item(i), verb)
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(off)}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	// Others make every item known, the ones ada will complete most.
	for l := range 20 {
		for i := range items {
			if i < done || l%4 == 0 {
				learn(fmt.Sprintf("l%d@example.com", l), i, "experienced")
			}
		}
	}
	for i := range done {
		learn("ada@example.com", i, "completed")
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var last *projections.RecommendationsUpdated
	for _, e := range sink.recs() {
		var d projections.RecommendationsUpdated
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Learner == "mbox:mailto:ada@example.com" {
			last = &d
		}
	}
	if last == nil {
		t.Fatal("no list for ada")
	}
	var got []string
	for _, it := range last.Items {
		got = append(got, it.Item)
	}
	for i := range done {
		if slices.Contains(got, item(i)) {
			t.Errorf("ada's list %v holds %s, which she completed", got, item(i))
		}
	}
	if len(got) != items-done {
		t.Errorf("ada's list has %d items (%v), want the %d she has not completed", len(got), got, items-done)
	}
}
