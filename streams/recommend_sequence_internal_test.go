package streams

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
	"unsafe"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
)

type nopCatalog struct{}

func (nopCatalog) Graph(string) (*graph.Graph, error)         { return graph.New(), nil }
func (nopCatalog) LearnerRole(string, string) (string, error) { return "", nil }

type nopCheckpoints struct{}

func (nopCheckpoints) Load(string, int) (projections.PartitionCheckpoint, bool, error) {
	return projections.PartitionCheckpoint{}, false, nil
}
func (nopCheckpoints) Save(string, map[int]projections.PartitionCheckpoint, ...projections.PendingAnswer) error {
	return nil
}

// A tenant model's checkpoint holds the sequence rules; a checkpoint
// written before them (model, then the aux JSON) still restores, with the
// rules rebuilt from the histories the model remembers; a damaged sequence
// section is rejected.
func TestRecommenderSnapshotSequenceSection(t *testing.T) {
	r, err := NewRecommender(RecommenderConfig{Catalog: nopCatalog{}, Checkpoints: nopCheckpoints{}, Publisher: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	tm := r.newTenantModel()
	for _, ev := range [][2]string{{"x", "a"}, {"y", "a"}, {"x", "b"}, {"y", "b"}, {"x", "c"}, {"z", "a"}} {
		tm.m.Observe(ev[0], ev[1], 1)
		tm.seq.Add(ev[0], tm.m.AddItem(ev[1]))
	}
	tm.aux.Completed["x"] = []string{"a"}
	// Ids of more than one byte: Go keeps one copy of each 1-byte string.
	tm.m.Observe("learner-w", "course-w", 1)
	tm.aux.Completed["learner-w"] = []string{"course-w"}
	snap, err := r.snapshot(tm)
	if err != nil {
		t.Fatal(err)
	}
	wantSeq, _ := tm.seq.MarshalBinary()

	got, err := r.restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := got.seq.MarshalBinary(); !bytes.Equal(b, wantSeq) {
		t.Fatal("the sequence rules changed through a checkpoint")
	}
	if !slices.Equal(got.aux.Completed["x"], []string{"a"}) {
		t.Fatalf("aux after restore: %+v", got.aux)
	}
	// The restored lists share the restored model's ids, not copies of
	// their own per learner.
	for l, items := range got.aux.Completed {
		u, _ := got.m.LookupUser(l)
		i, _ := got.m.LookupItem(items[0])
		if unsafe.StringData(l) != unsafe.StringData(got.m.UserID(u)) || unsafe.StringData(items[0]) != unsafe.StringData(got.m.ItemID(i)) {
			t.Errorf("completed %s: %v, a copy of the model's ids", l, items)
		}
	}

	// The format before the sequence rules: model length, model, aux JSON.
	n := int(binary.BigEndian.Uint32(snap))
	aux, _ := json.Marshal(tm.aux)
	old := append(bytes.Clone(snap[:4+n]), aux...)
	got, err = r.restore(old)
	if err != nil {
		t.Fatalf("old checkpoint: %v", err)
	}
	a, _ := got.m.LookupItem("a")
	b, _ := got.m.LookupItem("b")
	if last := got.seq.Last("x"); !slices.Equal(last, []int32{a, b, mustItem(t, got, "c")}) {
		t.Fatalf("x's recent items rebuilt as %v", last)
	}
	if from, next, ok := got.seq.Explain("z", b); !ok || from != a || !next {
		t.Fatalf("the rule a -> b was not rebuilt: %d %v %v", from, next, ok)
	}
	if !slices.Equal(got.aux.Completed["x"], []string{"a"}) {
		t.Fatalf("aux after an old restore: %+v", got.aux)
	}

	// A damaged sequence section.
	bad := bytes.Clone(snap)
	bad[4+n+4+8] ^= 0x20
	if _, err := r.restore(bad); err == nil {
		t.Fatal("a damaged sequence section was restored")
	}
	if _, err := r.restore(snap[:4+n+6]); err == nil {
		t.Fatal("a truncated sequence section was restored")
	}
}

// A learner's completed items are kept sorted (rank looks them up by
// binary search). Checkpoints written before that hold them in the order
// of completion: restored, they are sorted, and a completed item is never
// recommended again either way.
func TestRecommenderCompletedItemsStaySorted(t *testing.T) {
	r, err := NewRecommender(RecommenderConfig{Catalog: nopCatalog{}, Checkpoints: nopCheckpoints{}, Publisher: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		completed []string
	}{
		{"sorted", []string{"a", "c", "e"}},
		{"in completion order", []string{"e", "a", "c"}},
		{"with a repeat", []string{"c", "e", "a", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := r.newTenantModel()
			// y and z learned every item; the model has only b of x
			// (the rest of x's history gone from it, the completions
			// kept), so the rest are x's candidates.
			for _, u := range []string{"y", "z"} {
				for _, it := range []string{"a", "b", "c", "d", "e", "f"} {
					tm.m.Observe(u, it, 1)
				}
			}
			tm.m.Observe("x", "b", 1)
			tm.aux.Completed["x"] = slices.Clone(tc.completed)
			snap, err := r.snapshot(tm)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.restore(snap)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"a", "c", "e"}; !slices.Equal(got.aux.Completed["x"], want) {
				t.Fatalf("completed after restore: %v, want %v", got.aux.Completed["x"], want)
			}
			recs := r.rank(context.Background(), "t1", got, graph.New(), "x", "", learnerMastery{}, nil)
			if len(recs) == 0 {
				t.Fatal("nothing recommended")
			}
			for _, rec := range recs {
				if slices.Contains(tc.completed, rec.Item) {
					t.Errorf("completed item %s recommended: %+v", rec.Item, recs)
				}
			}
		})
	}
}

func mustItem(t *testing.T, tm *tenantModel, id string) int32 {
	t.Helper()
	i, ok := tm.m.LookupItem(id)
	if !ok {
		t.Fatalf("no item %s", id)
	}
	return i
}

type nopSink struct{}

func (nopSink) PublishEvents(context.Context, string, ...event.Event) error { return nil }
