package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// tenItems is a list as the recommender publishes it: ranks 1..n, IRIs of
// one catalog, reasons repeated across items.
func tenItems() []Recommendation {
	var items []Recommendation
	for r := range 10 {
		reasons := []string{"mf", "ready_to_learn"}
		if r%3 == 0 {
			reasons = append(reasons, fmt.Sprintf("often_with:https://example.com/activities/%d", 100+r))
		}
		items = append(items, Recommendation{Item: fmt.Sprintf("https://example.com/activities/%d", 37*r+5),
			Score: 1 / float64(r+3), Rank: r + 1, Reasons: reasons})
	}
	return items
}

func TestStoredRecommendationsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name  string
		items []Recommendation
		at    time.Time
		cold  bool
		role  string
	}{
		{name: "ten items", items: tenItems(), at: at, role: "data-analyst"},
		{name: "no items", items: []Recommendation{}, at: at, cold: true},
		{name: "items null", items: nil, at: at},
		{name: "ranks not 1..n", items: []Recommendation{{Item: "a", Rank: 3, Score: -2.5}, {Item: "ab", Rank: 0, Score: 1e-300}, {Item: "b", Rank: -1}}, at: at},
		{name: "reasons null and empty", items: []Recommendation{{Item: "https://x/1", Rank: 1}, {Item: "https://x/2", Rank: 2, Reasons: []string{}}, {Item: "https://x/3", Rank: 3, Reasons: []string{""}}}, at: at},
		{name: "shared prefix ends inside a rune", items: []Recommendation{{Item: "https://x/é", Rank: 1, Reasons: []string{"mf"}}, {Item: "https://x/è", Rank: 2, Reasons: []string{"mf"}}, {Item: "https://x/é/1", Rank: 3}}, at: at},
		{name: "zone offset", items: tenItems()[:2], at: time.Date(2026, 12, 4, 11, 30, 0, 5, time.FixedZone("", 5*3600+1800))},
		{name: "time beyond Unix nanoseconds", items: tenItems()[:1], at: time.Date(3000, 1, 1, 0, 0, 0, 0, time.FixedZone("", -3600))},
		{name: "zero time", items: tenItems()[:1], at: time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := &LearnerRecommendations{
				RecommendationsUpdated: RecommendationsUpdated{Learner: "mbox:mailto:ann@example.com", Items: tc.items,
					ModelVersion: "mf-k16/p3/1200", BasedOn: "0b6ba4b6-2bd0-4e08-9a1b-06b1d1fd0c6a", Role: tc.role, ColdStart: tc.cold},
				EventID: "recommendations-0b6ba4b6", Time: tc.at,
			}
			// Compared as the API shows them: the same items, instants and zones.
			want, _ := json.Marshal(lr)
			b := packRecommendations(lr)
			var got LearnerRecommendations
			if err := got.decodeValue(b); err != nil {
				t.Fatal(err)
			}
			if have, _ := json.Marshal(&got); string(have) != string(want) {
				t.Fatalf("through the store:\n got %s\nwant %s", have, want)
			}
			if !got.Time.Equal(tc.at) {
				t.Errorf("time %v, want %v", got.Time, tc.at)
			}
			if id, err := recEventID(b); err != nil || id != lr.EventID {
				t.Errorf("recEventID = %q, %v", id, err)
			}
			// A value written before the packed form (JSON) reads the same.
			var old LearnerRecommendations
			if err := old.decodeValue(want); err != nil {
				t.Fatal(err)
			}
			if have, _ := json.Marshal(&old); string(have) != string(want) {
				t.Errorf("JSON value read back as %s", have)
			}
			if id, err := recEventID(want); err != nil || id != lr.EventID {
				t.Errorf("recEventID of JSON = %q, %v", id, err)
			}
		})
	}
}

func TestStoredRecommendationsSize(t *testing.T) {
	lr := &LearnerRecommendations{RecommendationsUpdated: RecommendationsUpdated{Learner: "mbox:mailto:ann@example.com",
		Items: tenItems(), ModelVersion: "mf-k16/p3/1200", BasedOn: "0b6ba4b6-2bd0-4e08-9a1b-06b1d1fd0c6a"},
		EventID: "recommendations-0b6ba4b6", Time: time.Now()}
	js, _ := json.Marshal(lr)
	packed := packRecommendations(lr)
	// JSON repeats the member names, the IRIs' common prefix and the
	// reasons on every item; packed, a list of ten is under half as big.
	if len(packed)*2 > len(js) {
		t.Errorf("packed %d bytes, JSON %d: want under half", len(packed), len(js))
	}
	t.Logf("packed %d bytes, JSON %d", len(packed), len(js))
}

func TestStoredRecommendationsDamage(t *testing.T) {
	lr := &LearnerRecommendations{RecommendationsUpdated: RecommendationsUpdated{Learner: "l", Items: tenItems()[:3],
		ModelVersion: "m", BasedOn: "s"}, EventID: "e", Time: time.Date(2026, 12, 4, 0, 0, 0, 0, time.FixedZone("", 3600))}
	b := packRecommendations(lr)
	// Every truncation is refused, never read as a shorter list.
	for n := 1; n < len(b); n++ {
		var got LearnerRecommendations
		if err := got.decodeValue(b[:n]); !errors.Is(err, errRecValue) {
			t.Fatalf("truncated to %d of %d bytes: err %v", n, len(b), err)
		}
	}
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }},
		{"unknown flags", func(b []byte) []byte { b[1+1+len("e")] |= 0x80; return b }},
		{"reason index out of range", func(b []byte) []byte { b[len(b)-1] = 9; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got LearnerRecommendations
			err := got.decodeValue(tc.mod(append([]byte(nil), b...)))
			if !errors.Is(err, errRecValue) {
				t.Fatalf("err %v, want damaged", err)
			}
		})
	}
}

// A read model written before the packed form keeps working: a learner's
// JSON value is read by the API, its event id still tells a re-published
// event, and the next list replaces it packed.
func TestRecommendationsReadOlderValues(t *testing.T) {
	store := openStore(t)
	r, err := NewRecommendations(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const learner = "mbox:mailto:ann@example.com"
	old := LearnerRecommendations{RecommendationsUpdated: RecommendationsUpdated{Learner: learner, Items: tenItems()[:2], ModelVersion: "m1"},
		EventID: "r-1", Time: t0}
	js, _ := json.Marshal(old)
	sp, err := store.currentSpace(RecommendationsName)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.db.Update(func(txn *badger.Txn) error { return txn.Set(sp.Key("l", "t1", learner), js) }); err != nil {
		t.Fatal(err)
	}
	got, err := r.Learner(ctx, "t1", learner)
	if err != nil || got.EventID != "r-1" || len(got.Items) != 2 || got.Items[1].Item != old.Items[1].Item {
		t.Fatalf("older value read as %+v, %v", got, err)
	}
	offset := int64(0)
	publish := func(id string, items []Recommendation) {
		t.Helper()
		data, _ := json.Marshal(RecommendationsUpdated{Learner: learner, Items: items, ModelVersion: "m2"})
		e, err := event.New(id, TypeRecommendationsUpdated, "test", "t1", learner, t0.Add(time.Minute), data)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Handle(ctx, event.Position{Topic: "recs", Offset: offset}, e); err != nil {
			t.Fatal(err)
		}
		offset++
	}
	// The stored event again (a recommender restarted): kept as it is.
	publish("r-1", tenItems())
	if got, err = r.Learner(ctx, "t1", learner); err != nil || len(got.Items) != 2 || got.ModelVersion != "m1" {
		t.Fatalf("after the stored event again: %+v, %v", got, err)
	}
	publish("r-2", tenItems())
	if got, err = r.Learner(ctx, "t1", learner); err != nil || got.EventID != "r-2" || len(got.Items) != 10 || got.ModelVersion != "m2" {
		t.Fatalf("after the new event: %+v, %v", got, err)
	}
	if err := store.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(sp.Key("l", "t1", learner))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if v[0] != recFormat {
				return fmt.Errorf("stored as %q, want packed", v[:1])
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}
