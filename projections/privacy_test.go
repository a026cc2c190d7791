package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

var testSecret = privacy.Secret("0123456789abcdef0123456789abcdef")

func erasedEvent(t testing.TB, id, tenant, pseudonym string) event.Event {
	t.Helper()
	b, _ := json.Marshal(privacy.LearnerErased{Erasure: "er-" + id, Pseudonym: pseudonym, At: t0})
	e, err := event.New(id, privacy.TypeLearnerErased, "test", tenant, pseudonym, t0, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func retentionEvent(t testing.TB, id, tenant string, before time.Time) event.Event {
	t.Helper()
	b, _ := json.Marshal(privacy.RetentionApplied{Tenant: tenant, Before: before, At: t0})
	e, err := event.New(id, privacy.TypeRetentionApplied, "test", tenant, tenant, t0, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// answers returns the erasure answers recorded in the store, as
// "consumer erasure kind=n,...", and forgets them.
func answers(t *testing.T, store *Store) []string {
	t.Helper()
	pending, err := store.PendingErasureAnswers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pending {
		var kv []string
		for k, v := range p.Answer.Removed {
			kv = append(kv, fmt.Sprintf("%s=%d", k, v))
		}
		slices.Sort(kv)
		out = append(out, p.Answer.Consumer+" "+p.Answer.Erasure+" "+strings.Join(kv, ","))
		if err := store.ForgetErasureAnswer(p.Answer.Erasure, p.Answer.Consumer); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// learnerState builds a projection, feeds it learner events, and reads
// how much it holds of a learner.
type learnerState struct {
	name string
	// open returns the projection's Handle and a reader of how many
	// entries it holds of (tenant, learner).
	open func(t *testing.T, store *Store) (handle func(event.Event) error, held func(tenant, learner string) int)
	// feed returns the events that give learner in tenant state, with
	// times from at on.
	feed func(t *testing.T, tenant, learner string, n int, at time.Time) []event.Event
	// report is the consumer's counts for one learner fed with feed(…, 2).
	report string
}

const (
	learnerA = "mbox:mailto:a@example.com"
	learnerB = "mbox:mailto:b@example.com"
)

var seq int

func nextID() string { seq++; return fmt.Sprintf("ev-%d", seq) }

func progressStatement(t *testing.T, tenant, learner, activity string, at time.Time) event.Event {
	t.Helper()
	ts := at.Format("2006-01-02T15:04:05.000Z")
	data := fmt.Sprintf(`{"id":%q,"actor":{"mbox":%q},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},`+
		`"object":{"id":%q},"stored":%q,"timestamp":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs/","name":"k"}}}`,
		uuid(seq+1000), strings.TrimPrefix(learner, "mbox:"), activity, ts, ts)
	e, err := event.New(nextID(), event.TypeStatementStored, "test", tenant, learner, at, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func learnerStates() []learnerState {
	return []learnerState{
		{
			name: ProgressName,
			open: func(t *testing.T, store *Store) (func(event.Event) error, func(string, string) int) {
				p, err := NewProgress(store)
				if err != nil {
					t.Fatal(err)
				}
				return handler(p.Projection), func(tenant, learner string) int {
					aps, err := p.Learner(context.Background(), tenant, learner)
					if err != nil {
						t.Fatal(err)
					}
					return len(aps)
				}
			},
			feed: func(t *testing.T, tenant, learner string, n int, at time.Time) []event.Event {
				var out []event.Event
				for i := range n {
					out = append(out, progressStatement(t, tenant, learner, fmt.Sprintf("https://example.com/a%d", i), at.Add(time.Duration(i)*time.Hour)))
				}
				return out
			},
			report: "progress er-x progress=2",
		},
		{
			name: AdaptiveName,
			open: func(t *testing.T, store *Store) (func(event.Event) error, func(string, string) int) {
				a, err := NewAdaptive(store, 0)
				if err != nil {
					t.Fatal(err)
				}
				return handler(a.Projection), func(tenant, learner string) int {
					ctx := context.Background()
					s, err1 := a.LearnerSkills(ctx, tenant, learner)
					li, err2 := a.LearnerItems(ctx, tenant, learner)
					_, g, err3 := a.LearnerAbility(ctx, tenant, learner)
					for _, err := range []error{err1, err2, err3} {
						if err != nil {
							t.Fatal(err)
						}
					}
					n := len(s) + len(li)
					if g {
						n++
					}
					return n
				}
			},
			feed: func(t *testing.T, tenant, learner string, n int, at time.Time) []event.Event {
				var out []event.Event
				for i := range n {
					ts := at.Add(time.Duration(i) * time.Hour)
					item := fmt.Sprintf("https://example.com/q%d", i)
					m, _ := json.Marshal(MasteryUpdated{Learner: learner, Skill: fmt.Sprintf("s%d", i), PMastery: 0.5, Item: item,
						At: ts, Score: 1, InputOffset: int64(seq)})
					d, _ := json.Marshal(DifficultyAdjusted{Item: item, Learner: learner, At: ts, Score: 1, ItemAttempts: 1, InputOffset: int64(seq)})
					for _, x := range []struct {
						typ  string
						data []byte
					}{{TypeMasteryUpdated, m}, {TypeDifficultyAdjusted, d}} {
						e, err := event.New(nextID(), x.typ, "test", tenant, learner, ts, x.data)
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, e)
					}
				}
				return out
			},
			report: "adaptive er-x abilities=1,learner_items=2,mastery=2",
		},
		{
			name: RecommendationsName,
			open: func(t *testing.T, store *Store) (func(event.Event) error, func(string, string) int) {
				r, err := NewRecommendations(store, nil)
				if err != nil {
					t.Fatal(err)
				}
				return handler(r.Projection), func(tenant, learner string) int {
					_, err := r.Learner(context.Background(), tenant, learner)
					if err == ErrNotFound {
						return 0
					}
					if err != nil {
						t.Fatal(err)
					}
					return 1
				}
			},
			feed: func(t *testing.T, tenant, learner string, n int, at time.Time) []event.Event {
				var out []event.Event
				for i := range n {
					b, _ := json.Marshal(RecommendationsUpdated{Learner: learner, Items: []Recommendation{{Item: "https://example.com/a", Rank: 1}}})
					e, err := event.New(nextID(), TypeRecommendationsUpdated, "test", tenant, learner, at.Add(time.Duration(i)*time.Hour), b)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, e)
				}
				return out
			},
			report: "recommendations er-x recommendations=1",
		},
		{
			name: CatalogName,
			open: func(t *testing.T, store *Store) (func(event.Event) error, func(string, string) int) {
				c, err := NewCatalog(store, nil)
				if err != nil {
					t.Fatal(err)
				}
				return handler(c.Projection), func(tenant, learner string) int {
					r, err := c.LearnerRole(tenant, learner)
					if err != nil {
						t.Fatal(err)
					}
					if r == "" {
						return 0
					}
					return 1
				}
			},
			feed: func(t *testing.T, tenant, learner string, n int, at time.Time) []event.Event {
				var out []event.Event
				for i := range n {
					b, _ := json.Marshal(LearnerRole{Learner: learner, Role: fmt.Sprintf("r%d", i)})
					e, err := event.New(nextID(), TypeLearnerRolePut, "test", tenant, learner, at, b)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, e)
				}
				return out
			},
			report: "catalog er-x learner_roles=1",
		},
	}
}

// handler applies events to p live, at successive offsets.
func handler(p *Projection) func(event.Event) error {
	var off int64
	return func(e event.Event) error {
		off++
		return p.Handle(context.Background(), event.Position{Topic: "topic", Partition: 0, Offset: off}, e)
	}
}

func TestProjectionsForgetErasedLearner(t *testing.T) {
	for _, ls := range learnerStates() {
		t.Run(ls.name, func(t *testing.T) {
			store := openStore(t)
			store.SetPseudonyms(testSecret)
			handle, held := ls.open(t, store)
			for _, f := range [][2]string{{"t1", learnerA}, {"t1", learnerB}, {"t2", learnerA}} {
				for _, e := range ls.feed(t, f[0], f[1], 2, t0) {
					if err := handle(e); err != nil {
						t.Fatal(err)
					}
				}
			}
			type state struct{ t1A, t1B, t2A int }
			read := func() state { return state{held("t1", learnerA), held("t1", learnerB), held("t2", learnerA)} }
			before := read()
			if before.t1A == 0 || before.t1B == 0 || before.t2A == 0 {
				t.Fatalf("setup holds %+v, want every learner", before)
			}
			pa := testSecret.Pseudonym("t1", learnerA)
			zero := regexp.MustCompile(`=\d+`).ReplaceAllString(ls.report, "=0")
			steps := []struct {
				name   string
				e      event.Event
				want   state
				report string
			}{
				{"learner of another tenant's pseudonym", erasedEvent(t, "x", "t2", pa), before, zero},
				{"erase a in t1", erasedEvent(t, "x", "t1", pa), state{0, before.t1B, before.t2A}, ls.report},
				{"again: nothing left", erasedEvent(t, "x", "t1", pa), state{0, before.t1B, before.t2A}, zero},
			}
			for _, st := range steps {
				if err := handle(st.e); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if got := read(); got != st.want {
					t.Errorf("%s: holds %+v, want %+v", st.name, got, st.want)
				}
				if got := answers(t, store); len(got) != 1 || got[0] != st.report {
					t.Errorf("%s: answered %q, want %q", st.name, got, st.report)
				}
			}
		})
	}
}

func TestProjectionsApplyRetention(t *testing.T) {
	cut := t0.Add(24 * time.Hour)
	for _, ls := range learnerStates() {
		t.Run(ls.name, func(t *testing.T) {
			store := openStore(t)
			store.SetPseudonyms(testSecret)
			handle, held := ls.open(t, store)
			// a in t1 is old, b in t1 is recent, a in t2 is old but of
			// another tenant.
			feeds := []struct {
				tenant, learner string
				at              time.Time
			}{{"t1", learnerA, t0}, {"t1", learnerB, cut.Add(time.Hour)}, {"t2", learnerA, t0}}
			for _, f := range feeds {
				for _, e := range ls.feed(t, f.tenant, f.learner, 2, f.at) {
					if err := handle(e); err != nil {
						t.Fatal(err)
					}
				}
			}
			a1, b1, a2 := held("t1", learnerA), held("t1", learnerB), held("t2", learnerA)
			if err := handle(retentionEvent(t, nextID(), "t1", cut)); err != nil {
				t.Fatal(err)
			}
			want := [3]int{0, b1, a2}
			if ls.name == CatalogName {
				want = [3]int{a1, b1, a2} // a setting in force has no age
			}
			if got := [3]int{held("t1", learnerA), held("t1", learnerB), held("t2", learnerA)}; got != want {
				t.Errorf("after retention holds (t1 a, t1 b, t2 a) %v, want %v", got, want)
			}
		})
	}
}

func TestProjectionsRejectBadPrivacyEvents(t *testing.T) {
	good := testSecret.Pseudonym("t1", learnerA)
	bad := func(typ, tenant, data string) event.Event {
		e, err := event.New(nextID(), typ, "test", tenant, "k", t0, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name       string
		pseudonyms bool
		e          event.Event
		want       string
	}{
		{"pseudonym not a pseudonym", true, bad(privacy.TypeLearnerErased, "t1", `{"erasure":"e","pseudonym":"mbox:mailto:a@example.com"}`), "data.pseudonym"},
		{"data not JSON", true, bad(privacy.TypeLearnerErased, "t1", `nope`), "data:"},
		{"no pseudonyms configured", false, erasedEvent(t, nextID(), "t1", good), "no pseudonyms"},
		{"retention without before", true, bad(privacy.TypeRetentionApplied, "t1", `{"tenant":"t1"}`), "data.before"},
		{"retention for another tenant", true, bad(privacy.TypeRetentionApplied, "t1", `{"tenant":"t2","before":"2026-01-01T00:00:00Z"}`), "data.tenant"},
		{"unknown major version", true, bad("learnstream.privacy.learner.erased.v2", "t1", `{}`), "major version"},
	}
	for _, ls := range learnerStates() {
		for _, tt := range tests {
			if ls.name == CatalogName && strings.HasPrefix(tt.name, "retention") {
				continue // retention is nothing to the catalog, well-formed or not
			}
			t.Run(ls.name+"/"+tt.name, func(t *testing.T) {
				store := openStore(t)
				if tt.pseudonyms {
					store.SetPseudonyms(testSecret)
				}
				handle, held := ls.open(t, store)
				for _, e := range ls.feed(t, "t1", learnerA, 1, t0) {
					if err := handle(e); err != nil {
						t.Fatal(err)
					}
				}
				before := held("t1", learnerA)
				err := handle(tt.e)
				if !event.IsRejected(err) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want a rejection naming %q", err, tt.want)
				}
				if got := held("t1", learnerA); got != before {
					t.Errorf("a rejected event changed the state: %d -> %d", before, got)
				}
			})
		}
	}
}

// TestDeleteWhereBeyondOneTransaction deletes more keys than one event's
// transaction takes: the excess is committed first, and all are gone.
func TestDeleteWhereBeyondOneTransaction(t *testing.T) {
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	p, err := NewProgress(store)
	if err != nil {
		t.Fatal(err)
	}
	n := 3*maxDeletesInEvent + 7
	txn := store.db.NewTransaction(true)
	sp := p.Space()
	for i := range n {
		b, _ := json.Marshal(ActivityProgress{Activity: fmt.Sprint(i), Last: t0})
		if err := txn.Set(progressKey(sp, "t1", learnerA, fmt.Sprint(i)), b); err != nil {
			t.Fatal(err)
		}
		if (i+1)%1000 == 0 {
			if err := txn.Commit(); err != nil {
				t.Fatal(err)
			}
			txn = store.db.NewTransaction(true)
		}
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := handler(p.Projection)(erasedEvent(t, "x", "t1", testSecret.Pseudonym("t1", learnerA))); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Learner(context.Background(), "t1", learnerA); len(got) != 0 {
		t.Errorf("%d entries left", len(got))
	}
	if want := fmt.Sprintf("progress er-x progress=%d", n); !slices.Equal(answers(t, store), []string{want}) {
		t.Errorf("answered %q, want %q", answers(t, store), want)
	}
}

// BenchmarkEraseLearnerScan measures finding one learner among 100k of a
// tenant by pseudonym (the learner sorts last: the whole scan).
func BenchmarkEraseLearnerScan(b *testing.B) {
	store := openStore(b)
	p, err := NewProgress(store)
	if err != nil {
		b.Fatal(err)
	}
	sp := p.Space()
	const learners = 100_000
	wb := store.db.NewWriteBatch()
	val, _ := json.Marshal(ActivityProgress{Activity: "a", Last: t0})
	for i := range learners {
		for j := range 3 {
			if err := wb.Set(progressKey(sp, "t1", fmt.Sprintf("mbox:mailto:l%06d@example.com", i), fmt.Sprint(j)), val); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	want := testSecret.Pseudonym("t1", fmt.Sprintf("mbox:mailto:l%06d@example.com", learners-1))
	b.ResetTimer()
	for b.Loop() {
		txn := store.db.NewTransaction(false)
		_, found, err := findLearner(txn, sp.Prefix("l", "t1"), "t1", want, testSecret)
		txn.Discard()
		if err != nil || !found {
			b.Fatal(found, err)
		}
	}
	b.ReportMetric(float64(learners), "learners")
}

// An erasure that reaches a projection twice before its answer is
// published answers with what both removed.
func TestErasureTwiceBeforeTheAnswerIsPublished(t *testing.T) {
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	p, err := NewRecommendations(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	handle := handler(p.Projection)
	ls := learnerStates()[2] // recommendations
	for _, e := range ls.feed(t, "t1", learnerA, 1, t0) {
		if err := handle(e); err != nil {
			t.Fatal(err)
		}
	}
	pa := testSecret.Pseudonym("t1", learnerA)
	tests := []struct {
		name   string
		before func()
		want   string
	}{
		{"first delivery", func() {}, "recommendations er-x recommendations=1"},
		{"second, the first answer pending", func() {}, "recommendations er-x recommendations=1"},
		{"third, after the answer was published", func() { answers(t, store) }, "recommendations er-x recommendations=0"},
	}
	for _, tt := range tests {
		tt.before()
		if err := handle(erasedEvent(t, "x", "t1", pa)); err != nil {
			t.Fatal(err)
		}
		pending, err := store.PendingErasureAnswers()
		if err != nil || len(pending) != 1 {
			t.Fatalf("%s: %d answers pending (%v)", tt.name, len(pending), err)
		}
		if got := fmt.Sprintf("%s %s recommendations=%d", pending[0].Answer.Consumer, pending[0].Answer.Erasure,
			pending[0].Answer.Removed["recommendations"]); got != tt.want {
			t.Errorf("%s: pending %q, want %q", tt.name, got, tt.want)
		}
	}
}
