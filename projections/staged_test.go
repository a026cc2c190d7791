package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/learnstream/learnstream/domain/event"
)

// batcher applies batches of events to a projection at successive offsets
// of one partition, as a consumer does.
type batcher struct {
	p   *Projection
	off int64
}

// apply applies evs as one batch and returns how many applied and the
// error of the one that did not.
func (b *batcher) apply(evs ...event.Event) (int, error) {
	pos := make([]event.Position, len(evs))
	for i := range pos {
		pos[i] = event.Position{Topic: "s", Partition: 0, Offset: b.off + int64(i)}
	}
	n, err := b.p.HandleBatch(context.Background(), pos, evs)
	b.off += int64(n)
	if err != nil && event.IsRejected(err) {
		b.off++ // parked by the consumer
	}
	return n, err
}

func badStatement(t *testing.T) event.Event {
	t.Helper()
	e, err := event.New(nextID(), event.TypeStatementStored, "test", "t1", learnerA, t0, []byte(`{"id":"not a statement"`))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The progress projection keeps an entry's value between transactions: its
// counts must be those of a projection that reads every value from the
// store, whatever happened in between.
func TestProgressMemoStaysRight(t *testing.T) {
	const act = "https://example.com/a0"
	stmt := func(t *testing.T) event.Event { return progressStatement(t, "t1", learnerA, act, t0) }
	cases := []struct {
		name string
		// steps applies batches; want is the entry's statement count after.
		steps func(t *testing.T, b *batcher, store *Store) int
	}{
		{"counts over batches", func(t *testing.T, b *batcher, _ *Store) int {
			for range 3 {
				mustApply(t, b, stmt(t), stmt(t))
			}
			return 6
		}},
		{"a batch cut short by a bad event counts only what committed", func(t *testing.T, b *batcher, _ *Store) int {
			mustApply(t, b, stmt(t))
			if n, err := b.apply(stmt(t), stmt(t), badStatement(t)); n != 2 || !event.IsRejected(err) {
				t.Fatalf("batch with a bad event = %d, %v; want 2 applied, then rejected", n, err)
			}
			mustApply(t, b, stmt(t))
			return 4
		}},
		{"erased, then seen again: counted afresh", func(t *testing.T, b *batcher, _ *Store) int {
			mustApply(t, b, stmt(t), stmt(t))
			mustApply(t, b, stmt(t), erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", learnerA)), stmt(t))
			mustApply(t, b, stmt(t))
			return 2
		}},
		{"retention, then seen again: counted afresh", func(t *testing.T, b *batcher, _ *Store) int {
			mustApply(t, b, stmt(t), stmt(t))
			mustApply(t, b, retentionEvent(t, nextID(), "t1", t0.Add(time.Hour)))
			mustApply(t, b, stmt(t))
			return 1
		}},
		{"replayed offsets are skipped", func(t *testing.T, b *batcher, _ *Store) int {
			mustApply(t, b, stmt(t), stmt(t))
			b.off -= 2
			mustApply(t, b, stmt(t), stmt(t), stmt(t))
			return 3
		}},
		{"keys dropped under the model (a reset) are not remembered", func(t *testing.T, b *batcher, store *Store) int {
			mustApply(t, b, stmt(t), stmt(t))
			if err := store.ResetProjection(ProgressName); err != nil {
				t.Fatal(err)
			}
			b.off = 0
			mustApply(t, b, stmt(t))
			return 1
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := openStore(t)
			store.SetPseudonyms(testSecret)
			p, err := NewProgress(store)
			if err != nil {
				t.Fatal(err)
			}
			want := c.steps(t, &batcher{p: p.Projection}, store)
			aps, err := p.Learner(context.Background(), "t1", learnerA)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			if len(aps) == 1 {
				got = aps[0].Statements
			}
			if len(aps) > 1 || got != want {
				t.Errorf("progress holds %+v, want one entry of %d statements", aps, want)
			}
		})
	}
}

func mustApply(t *testing.T, b *batcher, evs ...event.Event) {
	t.Helper()
	if n, err := b.apply(evs...); err != nil || n != len(evs) {
		t.Fatalf("batch = %d, %v; want all %d applied", n, err, len(evs))
	}
}

// A restarted process and a rebuilt generation reach the state the live
// projection reached through its memo.
func TestProgressMemoRestartAndRebuild(t *testing.T) {
	dir := t.TempDir()
	store, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := range 40 {
		evs = append(evs, progressStatement(t, "t1", learnerA, fmt.Sprintf("https://example.com/a%d", i%3), t0.Add(time.Duration(i)*time.Minute)))
	}
	p, err := NewProgress(store)
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: p.Projection}
	mustApply(t, b, evs[:15]...)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if store, err = Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if p, err = NewProgress(store); err != nil {
		t.Fatal(err)
	}
	b = &batcher{p: p.Projection, off: 15}
	mustApply(t, b, evs[15:30]...)
	mustApply(t, b, evs[30:]...)
	live, err := p.Learner(context.Background(), "t1", learnerA)
	if err != nil {
		t.Fatal(err)
	}
	if n := live[0].Statements + live[1].Statements + live[2].Statements; len(live) != 3 || n != 40 {
		t.Fatalf("after a restart: %+v, want 3 entries of 40 statements in all", live)
	}
	r, err := p.StartRebuild()
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]event.Position, len(evs))
	for i := range pos {
		pos[i] = event.Position{Topic: "s", Partition: 0, Offset: int64(i)}
	}
	for i := 0; i < len(evs); i += 7 {
		j := min(i+7, len(evs))
		if n, err := r.HandleBatch(context.Background(), pos[i:j], evs[i:j]); err != nil || n != j-i {
			t.Fatalf("rebuild batch = %d, %v", n, err)
		}
	}
	if err := r.Finish(context.Background(), "s", []int{0}); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := p.Learner(context.Background(), "t1", learnerA)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rebuilt) != fmt.Sprint(live) {
		t.Errorf("rebuilt %+v\nlive    %+v", rebuilt, live)
	}
}

// The statements projection remembers which agents, names and definitions
// it stored; what it remembers must never keep it from storing them again
// once they are gone, nor keep a definition from changing.
func TestStatementsMemoStaysRight(t *testing.T) {
	const x = "mbox:mailto:x@example.com"
	named := func(i int, name string) event.Event {
		return lrsStatement(t, "t1", i, `"actor":{"mbox":"mailto:x@example.com","name":"`+name+`"},"verb":{"id":"http://example.com/v/did"},"object":{"id":"http://example.com/a/1"}`)
	}
	defined := func(i int, name string) event.Event {
		return lrsStatement(t, "t1", i, `"actor":{"mbox":"mailto:y@example.com"},"verb":{"id":"http://example.com/v/did"},`+
			`"object":{"id":"http://example.com/a/def","definition":{"name":{"en":"`+name+`"}}}`)
	}
	ctx := context.Background()
	t.Run("an agent erased and seen again is erased again", func(t *testing.T) {
		store := openStore(t)
		store.SetPseudonyms(testSecret)
		p, err := NewStatements(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := &batcher{p: p.Projection}
		erase := func() { mustApply(t, b, erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", x))) }
		mustApply(t, b, named(1, "Ex"), named(2, "Ex"))
		erase()
		mustApply(t, b, named(3, "Ex"))
		if names, err := p.AgentNames(ctx, "t1", x); err != nil || !slices.Equal(names, []string{"Ex"}) {
			t.Errorf("names after seen again = %q, %v; want [Ex]", names, err)
		}
		erase()
		for _, i := range []int{1, 2, 3} {
			if _, err := p.Statement(ctx, "t1", uuid(i)); !errors.Is(err, ErrNotFound) {
				t.Errorf("statement %d after the second erasure: %v, want not found", i, err)
			}
		}
		if names, err := p.AgentNames(ctx, "t1", x); err != nil || len(names) != 0 {
			t.Errorf("names after the second erasure = %q, %v; want none", names, err)
		}
	})
	t.Run("definitions merge as if read from the store each time", func(t *testing.T) {
		store := openStore(t)
		p, err := NewStatements(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := &batcher{p: p.Projection}
		for i, name := range []string{"A", "A", "B", "A", "A"} {
			mustApply(t, b, defined(10+i, name))
			a, err := p.Activity(ctx, "t1", "http://example.com/a/def")
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Definition.Name["en"]; got != name {
				t.Errorf("after statement %d (%s) the definition's name is %q", i, name, got)
			}
		}
		// In one batch, and one whose transaction is discarded.
		if n, err := b.apply(defined(20, "C"), badStatement(t)); n != 1 || !event.IsRejected(err) {
			t.Fatalf("batch = %d, %v", n, err)
		}
		mustApply(t, b, defined(21, "C"))
		if a, err := p.Activity(ctx, "t1", "http://example.com/a/def"); err != nil || a.Definition.Name["en"] != "C" {
			t.Errorf("definition %+v, %v; want the name C", a.Definition, err)
		}
	})
	t.Run("a voiding statement stored before its target, in data older than referrer markers", func(t *testing.T) {
		store := openStore(t)
		p, err := NewStatements(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := &batcher{p: p.Projection}
		// As an install from before rf entries left it: a pending voiding
		// mark, no rf entry, no marker, and not yet upgraded.
		sp := p.Space()
		if err := store.db.Update(func(txn *badger.Txn) error {
			if err := txn.Delete(sp.Key("rmvp")); err != nil {
				return err
			}
			return txn.Set(sp.Key("vp", "t1", uuid(31)), []byte(uuid(30)))
		}); err != nil {
			t.Fatal(err)
		}
		if p, err = NewStatements(store, nil); err != nil {
			t.Fatal(err)
		}
		b.p = p.Projection
		mustApply(t, b, lrsStatement(t, "t1", 31, actVerb("z@example.com", "did", "v")))
		if v, err := p.Voided(ctx, "t1", uuid(31)); err != nil || !v {
			t.Errorf("target of a pending voiding = voided %v, %v; want voided", v, err)
		}
		// And as this release writes it.
		mustApply(t, b, lrsStatement(t, "t1", 40, `"actor":{"mbox":"mailto:z@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+uuid(41)+`"}`))
		mustApply(t, b, lrsStatement(t, "t1", 41, actVerb("z@example.com", "did", "w")))
		if v, err := p.Voided(ctx, "t1", uuid(41)); err != nil || !v {
			t.Errorf("target stored after its voiding statement = voided %v, %v; want voided", v, err)
		}
	})
}

// The adaptive read model keeps a learner's skills and items between
// transactions: attempts count once per input position, across batches,
// and start afresh after an erasure.
func TestAdaptiveMemoStaysRight(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	a, err := NewAdaptive(store, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: a.Projection}
	const item = "https://example.com/q1"
	diff := func(off int64) event.Event { return difficultyEvent(t, 0, off, learnerA, item, 0.1, int(off), true) }
	mastery := func(off int64) event.Event { return masteryEvent(t, off, learnerA, "s1", 0.5, 0.4, true) }
	attempts := func() (items, skills int) {
		t.Helper()
		li, err := a.LearnerItems(ctx, "t1", learnerA)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := a.LearnerSkills(ctx, "t1", learnerA)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range li {
			items += x.Attempts
		}
		for _, x := range sk {
			skills += x.Attempts
		}
		return items, skills
	}
	mustApply(t, b, diff(1), mastery(1), diff(2), mastery(2))
	// Re-published (the same input positions), then a new attempt.
	mustApply(t, b, diff(2), mastery(2), diff(3), mastery(3))
	if n, err := b.apply(diff(4), mastery(4), badStatementOf(t, TypeDifficultyAdjusted)); n != 2 || !event.IsRejected(err) {
		t.Fatalf("batch with a bad event = %d, %v", n, err)
	}
	if i, s := attempts(); i != 4 || s != 4 {
		t.Errorf("attempts on the item %d, on the skill %d; want 4 and 4", i, s)
	}
	mustApply(t, b, erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", learnerA)), diff(5), mastery(5))
	if i, s := attempts(); i != 1 || s != 1 {
		t.Errorf("after the erasure: attempts on the item %d, on the skill %d; want 1 and 1", i, s)
	}
}

func badStatementOf(t *testing.T, typ string) event.Event {
	t.Helper()
	e, err := event.New(nextID(), typ, "test", "t1", learnerA, t0, []byte(`{"item":""}`))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The recommendations read model remembers which event each learner's
// entry holds: a re-published event changes nothing, and an erased
// learner's entry comes back when an event arrives after the erasure.
func TestRecommendationsMemoStaysRight(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	store.SetPseudonyms(testSecret)
	r, err := NewRecommendations(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: r.Projection}
	rec := func(id, item string) event.Event {
		data := fmt.Sprintf(`{"learner":%q,"items":[{"item":%q,"score":1,"rank":1,"reasons":["x"]}],"model_version":"m"}`, learnerA, item)
		e, err := event.New(id, TypeRecommendationsUpdated, "test", "t1", learnerA, t0, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	holds := func() string {
		t.Helper()
		lr, err := r.Learner(ctx, "t1", learnerA)
		if errors.Is(err, ErrNotFound) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		return lr.EventID + " " + lr.Items[0].Item
	}
	steps := []struct {
		name string
		evs  []event.Event
		want string
	}{
		{"first", []event.Event{rec("r1", "a"), rec("r2", "b")}, "r2 b"},
		{"re-published", []event.Event{rec("r2", "b")}, "r2 b"},
		{"newer", []event.Event{rec("r3", "c")}, "r3 c"},
		{"erased", []event.Event{erasedEvent(t, nextID(), "t1", testSecret.Pseudonym("t1", learnerA))}, "none"},
		{"the same event after the erasure", []event.Event{rec("r3", "c")}, "r3 c"},
	}
	for _, s := range steps {
		mustApply(t, b, s.evs...)
		if got := holds(); got != s.want {
			t.Errorf("%s: holds %q, want %q", s.name, got, s.want)
		}
	}
}

// A memo keeps at most its limit of values, however many keys the
// transactions touch, and a transaction touching more than the limit
// leaves it alone.
func TestMemoBounded(t *testing.T) {
	store := openStore(t)
	sp := newSpace("bounded", 0)
	key := func(i int) []byte { return sp.Key("k", fmt.Sprint(i)) }
	commit := func(from, n int) {
		err := store.db.Update(func(txn *badger.Txn) error {
			ts := beginStaged(store, txn, sp, 8)
			defer ts.end(true)
			for i := from; i < from+n; i++ {
				sv, err := ts.lookup(key(i), func(*badger.Item) (any, error) { return keyPresent{}, nil })
				if err != nil {
					return err
				}
				ts.set(key(i), sv, i)
			}
			return ts.flush()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for round := range 10 {
		commit(round*5, 5)
		if n := len(store.memo(sp, 8).m); n > 8 {
			t.Fatalf("round %d: memo holds %d values, limit 8", round, n)
		}
	}
	store.dropMemos()
	commit(100, 9)
	if n := len(store.memo(sp, 8).m); n != 0 {
		t.Errorf("a transaction of 9 values left %d in a memo of 8", n)
	}
}

// A memo's lookups are counted by where they were answered, and the keys
// every transaction reads stay in it while a stream of keys read once
// flows through.
func TestMemoLookupsCounted(t *testing.T) {
	store := openStore(t)
	sp := newSpace("counted", 0)
	key := func(k string, i int) []byte { return sp.Key(k, fmt.Sprint(i)) }
	fromMemo := lookups.WithLabelValues(sp.projection, "memo")
	fromStore := lookups.WithLabelValues(sp.projection, "store")
	memo0, store0 := counterValue(t, fromMemo), counterValue(t, fromStore)
	const limit, hot, cold, txns = 32, 4, 6, 60
	for n := range txns {
		err := store.db.Update(func(txn *badger.Txn) error {
			ts := beginStaged(store, txn, sp, limit)
			defer ts.end(true)
			touch := func(k []byte) error {
				sv, err := ts.lookup(k, func(*badger.Item) (any, error) { return keyPresent{}, nil })
				if err == nil {
					ts.set(k, sv, n)
				}
				return err
			}
			for h := range hot {
				if err := touch(key("hot", h)); err != nil {
					return err
				}
				// Read again in the transaction: answered by the
				// transaction's own values, not counted.
				if err := touch(key("hot", h)); err != nil {
					return err
				}
			}
			for c := range cold {
				if err := touch(key("cold", n*cold+c)); err != nil {
					return err
				}
			}
			return ts.flush()
		})
		if err != nil {
			t.Fatal(err)
		}
		if l := len(store.memo(sp, limit).m); l > limit {
			t.Fatalf("transaction %d: memo holds %d values, limit %d", n, l, limit)
		}
	}
	// Every cold key and the hot keys' first reads came from the store;
	// every later hot read from the memo.
	if got, want := counterValue(t, fromStore)-store0, float64(txns*cold+hot); got != want {
		t.Errorf("lookups from the store: %v, want %v", got, want)
	}
	if got, want := counterValue(t, fromMemo)-memo0, float64((txns-1)*hot); got != want {
		t.Errorf("lookups from the memo: %v, want %v", got, want)
	}
}

// A memo that must drop values drops those read once and not since the
// last trim first, then those read once, then those read again but not
// since the last trim, and those read again since the last trim last.
func TestMemoTrimOrder(t *testing.T) {
	const round = 5
	groups := []struct {
		name   string
		reused bool
		round  uint32
	}{
		{"once-old", false, round - 1},
		{"once-recent", false, round},
		{"again-old", true, round - 1},
		{"again-recent", true, round},
	}
	for _, tc := range []struct {
		drop int
		left []int // values left per group, in the order above
	}{
		{drop: 0, left: []int{4, 4, 4, 4}},
		{drop: 3, left: []int{1, 4, 4, 4}},
		{drop: 6, left: []int{0, 2, 4, 4}},
		{drop: 9, left: []int{0, 0, 3, 4}},
		{drop: 13, left: []int{0, 0, 0, 3}},
		{drop: 16, left: []int{0, 0, 0, 0}},
	} {
		m := &memo{max: 16, m: map[string]*stagedValue{}, round: round}
		for _, g := range groups {
			for i := range 4 {
				m.m[fmt.Sprint(g.name, i)] = &stagedValue{reused: g.reused, round: g.round}
			}
		}
		m.trim(tc.drop)
		if m.round != round+1 {
			t.Errorf("drop %d: round %d after a trim, want %d", tc.drop, m.round, round+1)
		}
		for gi, g := range groups {
			left := 0
			for i := range 4 {
				if _, ok := m.m[fmt.Sprint(g.name, i)]; ok {
					left++
				}
			}
			if left != tc.left[gi] {
				t.Errorf("drop %d: %d of %s left, want %d", tc.drop, left, g.name, tc.left[gi])
			}
		}
	}
}

// counterValue is c's count.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Statements stored before the statements they refer to pass their index
// entries on, and voiding statements void their late targets, whether the
// targets' markers were written in this process, before a restart, or
// past what the referrer filter was first sized for.
func TestReferrerFilter(t *testing.T) {
	old := referrersMin
	referrersMin = 4
	t.Cleanup(func() { referrersMin = old })
	dir := t.TempDir()
	ctx := context.Background()
	ref := func(i, target int) event.Event {
		return lrsStatement(t, "t1", i, `"actor":{"mbox":"mailto:z@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+uuid(target)+`"}`)
	}
	target := func(i int) event.Event { return lrsStatement(t, "t1", i, actVerb("z@example.com", "did", "x")) }
	store, p := openStatementsIn(t, dir)
	b := &batcher{p: p.Projection}
	// Voiding statements first: 20 markers, past the filter's first size.
	for i := range 20 {
		mustApply(t, b, ref(100+i, 200+i))
	}
	// Half the targets now, in batches with the rest of the traffic.
	for i := range 10 {
		mustApply(t, b, target(300+i), target(200+i))
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store, p = openStatementsIn(t, dir)
	defer store.Close()
	b = &batcher{p: p.Projection, off: b.off}
	for i := 10; i < 20; i++ {
		mustApply(t, b, target(200+i), target(400+i))
	}
	for i := range 20 {
		if v, err := p.Voided(ctx, "t1", uuid(200+i)); err != nil || !v {
			t.Errorf("statement %d, stored after its voiding statement: voided %v, %v", 200+i, v, err)
		}
	}
	for _, i := range []int{300, 309, 410, 419} {
		if v, err := p.Voided(ctx, "t1", uuid(i)); err != nil || v {
			t.Errorf("statement %d, never voided: voided %v, %v", i, v, err)
		}
	}
}
