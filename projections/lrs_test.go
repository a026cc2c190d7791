package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/dgraph-io/badger/v4"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// lrsStatement builds a stored-statement event with a stored time i
// milliseconds after a fixed instant.
func lrsStatement(t *testing.T, tenant string, i int, body string) event.Event {
	t.Helper()
	stored := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	data := fmt.Sprintf(`{"id":%q,%s,"stored":%q,"timestamp":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs/","name":"k%d"}}}`,
		uuid(i), body, stored, stored, i%2)
	e, err := event.New(fmt.Sprintf("e%d-%s", i, tenant), event.TypeStatementStored, "test", tenant, "k", time.Now(), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func actVerb(actor, verb, activity string) string {
	return fmt.Sprintf(`"actor":{"mbox":"mailto:%s"},"verb":{"id":"http://example.com/v/%s"},"object":{"id":"http://example.com/a/%s"}`, actor, verb, activity)
}

func ids(t *testing.T, page StatementPage) []string {
	t.Helper()
	var out []string
	for _, raw := range page.Statements {
		var s struct{ ID string }
		json.Unmarshal(raw, &s)
		out = append(out, s.ID)
	}
	return out
}

// checkQuery runs q over tenant and requires the statements want (by
// lrsStatement number), in order.
func checkQuery(t *testing.T, p *Statements, tenant string, q StatementQuery, want []int) {
	t.Helper()
	page, err := p.Query(context.Background(), tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, i := range want {
		ws = append(ws, uuid(i))
	}
	if got := ids(t, page); fmt.Sprint(got) != fmt.Sprint(ws) {
		t.Errorf("got %v, want %v", got, ws)
	}
}

func TestStatementIndexes(t *testing.T) {
	store := openStore(t)
	p, _ := NewStatements(store, nil)
	ctx := context.Background()
	off := int64(0)
	apply := func(e event.Event) {
		t.Helper()
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: off}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	apply(lrsStatement(t, "t1", 1, actVerb("ada@x.org", "did", "a")))
	apply(lrsStatement(t, "t1", 2, actVerb("bob@x.org", "did", "b")))
	apply(lrsStatement(t, "t1", 3, actVerb("ada@x.org", "saw", "b")))
	// 4 refers to 2, so it matches 2's filters too.
	apply(lrsStatement(t, "t1", 4, `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://example.com/v/liked"},"object":{"objectType":"StatementRef","id":"`+uuid(2)+`"}`))
	// 5 voids 3; 6 voids 5 (a voiding statement), which changes nothing.
	apply(lrsStatement(t, "t1", 5, `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+uuid(3)+`"}`))
	apply(lrsStatement(t, "t1", 6, `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+uuid(5)+`"}`))
	apply(lrsStatement(t, "t2", 7, actVerb("ada@x.org", "did", "a")))
	for _, tc := range []struct {
		name string
		q    StatementQuery
		want []int
	}{
		{"all", StatementQuery{}, []int{6, 5, 4, 2, 1}},
		{"ascending", StatementQuery{Ascending: true}, []int{1, 2, 4, 5, 6}},
		// 5 voids 3 (ada), so it matches ada; 6 targets 5, so it does too.
		{"agent, through StatementRefs", StatementQuery{Agent: "mbox:mailto:ada@x.org"}, []int{6, 5, 1}},
		{"verb through a StatementRef", StatementQuery{Verb: "http://example.com/v/did"}, []int{4, 2, 1}},
		{"activity b", StatementQuery{Activity: "http://example.com/a/b"}, []int{6, 5, 4, 2}},
		{"agent and activity", StatementQuery{Agent: "mbox:mailto:bob@x.org", Activity: "http://example.com/a/b"}, []int{4, 2}},
		{"agent and verb", StatementQuery{Agent: "mbox:mailto:ada@x.org", Verb: "http://example.com/v/did"}, []int{1}},
		// 4's own verb is liked; it matches did through its target.
		{"agent and the verb of a StatementRef's target", StatementQuery{Agent: "mbox:mailto:cy@x.org", Verb: "http://example.com/v/did"}, []int{4}},
		{"activity and verb", StatementQuery{Activity: "http://example.com/a/b", Verb: "http://example.com/v/did"}, []int{4, 2}},
		{"agent and a voided statement's verb", StatementQuery{Agent: "mbox:mailto:ada@x.org", Verb: "http://example.com/v/saw"}, []int{6, 5}},
		{"authority", StatementQuery{Authority: "account:http://lrs/|k1"}, []int{5, 1}},
		{"limit", StatementQuery{Limit: 2}, []int{6, 5}},
		{"after", StatementQuery{Limit: 2, After: &Position{Stored: time.Date(2026, 11, 29, 10, 0, 0, 5e6, time.UTC).UnixNano(), ID: uuid(5)}}, []int{4, 2}},
		{"since", StatementQuery{Since: time.Date(2026, 11, 29, 10, 0, 0, 4e6, time.UTC)}, []int{6, 5}},
		{"until ascending", StatementQuery{Until: time.Date(2026, 11, 29, 10, 0, 0, 2e6, time.UTC), Ascending: true}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkQuery(t, p, "t1", tc.q, tc.want)
		})
	}
	page, _ := p.Query(ctx, "t1", StatementQuery{Limit: 2})
	if page.Next == nil || page.Next.ID != uuid(5) {
		t.Errorf("next after a full page: %+v", page.Next)
	}
	page, _ = p.Query(ctx, "t1", StatementQuery{Limit: 5})
	if page.Next != nil {
		t.Errorf("a page holding the last match has a next position %+v", page.Next)
	}
	for id, want := range map[int]bool{3: true, 5: false, 6: false, 1: false} {
		if v, _ := p.Voided(ctx, "t1", uuid(id)); v != want {
			t.Errorf("statement %d voided=%v, want %v", id, v, want)
		}
	}
	if p2, _ := p.Query(ctx, "t2", StatementQuery{}); len(p2.Statements) != 1 {
		t.Errorf("tenant t2 has %d statements, want 1", len(p2.Statements))
	}
	pos, err := ParsePosition(Position{Stored: 42, ID: uuid(1)}.String())
	if err != nil || pos.Stored != 42 || pos.ID != uuid(1) {
		t.Errorf("position round trip: %+v %v", pos, err)
	}
	if _, err := ParsePosition("x.y"); err == nil {
		t.Error("malformed position parsed")
	}
}

func TestDefinitionsAndNames(t *testing.T) {
	store := openStore(t)
	p, _ := NewStatements(store, nil)
	ctx := context.Background()
	p.Handle(ctx, event.Position{Topic: "s", Offset: 0}, lrsStatement(t, "t1", 1,
		`"actor":{"mbox":"mailto:ada@x.org","name":"Ada"},"verb":{"id":"http://example.com/v"},"object":{"id":"http://example.com/a","definition":{"name":{"en":"A"},"type":"http://example.com/t"}}`))
	p.Handle(ctx, event.Position{Topic: "s", Offset: 1}, lrsStatement(t, "t1", 2,
		`"actor":{"mbox":"mailto:ada@x.org","name":"Ada L."},"verb":{"id":"http://example.com/v"},"object":{"id":"http://example.com/a","definition":{"name":{"fr":"Un"}}}`))
	a, err := p.Activity(ctx, "t1", "http://example.com/a")
	if err != nil || a.Definition == nil || fmt.Sprint(a.Definition.Name) != "map[en:A fr:Un]" || a.Definition.Type != "http://example.com/t" {
		t.Errorf("merged definition: %+v %v", a.Definition, err)
	}
	if a, _ := p.Activity(ctx, "t2", "http://example.com/a"); a.Definition != nil || a.ID != "http://example.com/a" {
		t.Errorf("tenant t2 sees t1's definition: %+v", a)
	}
	names, _ := p.AgentNames(ctx, "t1", "mbox:mailto:ada@x.org")
	if fmt.Sprint(names) != "[Ada Ada L.]" {
		t.Errorf("names: %v", names)
	}
}

func docEvent(t *testing.T, id string, w DocumentWrite) event.Event {
	t.Helper()
	w.Updated = time.Now()
	data, _ := json.Marshal(w)
	e, err := event.New(id, TypeDocument, "test", "t1", "k", time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestDocumentsRecheckPreconditions: the API checks preconditions before
// publishing, but two writers may both pass; the projection checks again
// so the second changes nothing.
func TestDocumentsRecheckPreconditions(t *testing.T) {
	store := openStore(t)
	w := NewWaiters()
	d, _ := NewDocuments(store, w)
	ctx := context.Background()
	base := DocumentWrite{Resource: DocActivityProfile, ActivityID: "http://example.com/a", ID: "p", ContentType: "application/json"}
	off := int64(0)
	apply := func(e event.Event) Outcome {
		t.Helper()
		w.Register(e.ID)
		if err := d.Handle(ctx, event.Position{Topic: "d", Offset: off}, e); err != nil {
			t.Fatal(err)
		}
		off++
		o, _ := w.Wait(ctx, e.ID)
		return o
	}
	first := base
	first.Op, first.Content, first.IfNoneMatch = OpPut, []byte(`{"a":1}`), "*"
	racer := first
	racer.Content = []byte(`{"a":2}`)
	if o := apply(docEvent(t, "e1", first)); o != Stored {
		t.Fatalf("first create: %v", o)
	}
	if o := apply(docEvent(t, "e2", racer)); o != Conflict {
		t.Fatalf("racing create with If-None-Match: %v, want conflict", o)
	}
	stale := base
	stale.Op, stale.Content, stale.IfMatch = OpPut, []byte(`{"b":1}`), ETag([]byte(`{"old":1}`))
	if o := apply(docEvent(t, "e3", stale)); o != Conflict {
		t.Fatalf("stale If-Match: %v, want conflict", o)
	}
	noHeaders := base
	noHeaders.Op, noHeaders.Content, noHeaders.MustNotExist = OpPut, []byte(`{"c":1}`), true
	if o := apply(docEvent(t, "e4", noHeaders)); o != Conflict {
		t.Fatalf("PUT without headers over an existing profile: %v, want conflict", o)
	}
	merge := base
	merge.Op, merge.Content = OpPost, []byte(`{"b":2}`)
	if o := apply(docEvent(t, "e5", merge)); o != Stored {
		t.Fatalf("merge: %v", o)
	}
	doc, err := d.Document(ctx, "t1", DocumentKey{Resource: DocActivityProfile, ActivityID: "http://example.com/a", ID: "p"})
	if err != nil || string(doc.Content) != `{"a":1,"b":2}` || doc.ETag != ETag(doc.Content) {
		t.Errorf("document after the race and merge: %s %s %v", doc.Content, doc.ETag, err)
	}
	// A malformed write is rejected to the DLQ, not retried.
	bad := base
	bad.Op = "patch"
	if err := d.Handle(ctx, event.Position{Topic: "d", Offset: off}, docEvent(t, "e6", bad)); !event.IsRejected(err) {
		t.Errorf("unknown op: %v, want a rejection", err)
	}
}

func TestStateDeleteAll(t *testing.T) {
	store := openStore(t)
	d, _ := NewDocuments(store, nil)
	ctx := context.Background()
	put := func(off int64, reg, id string) {
		w := DocumentWrite{Resource: DocState, Op: OpPut, ActivityID: "http://example.com/a", Agent: "mbox:mailto:a@x.org", Registration: reg, ID: id, ContentType: "text/plain", Content: []byte(id)}
		if err := d.Handle(ctx, event.Position{Topic: "d", Offset: off}, docEvent(t, fmt.Sprint("e", off), w)); err != nil {
			t.Fatal(err)
		}
	}
	put(0, "", "s1")
	put(1, "r1", "s2")
	put(2, "r2", "s3")
	key := DocumentKey{Resource: DocState, ActivityID: "http://example.com/a", Agent: "mbox:mailto:a@x.org"}
	if got, _ := d.DocumentIDs(ctx, "t1", key, time.Time{}); fmt.Sprint(got) != "[s1 s2 s3]" {
		t.Errorf("ids across registrations: %v", got)
	}
	withReg := key
	withReg.Registration = "r1"
	if got, _ := d.DocumentIDs(ctx, "t1", withReg, time.Time{}); fmt.Sprint(got) != "[s2]" {
		t.Errorf("ids of r1: %v", got)
	}
	del := DocumentWrite{Resource: DocState, Op: OpDeleteAll, ActivityID: key.ActivityID, Agent: key.Agent, Registration: "r1"}
	d.Handle(ctx, event.Position{Topic: "d", Offset: 3}, docEvent(t, "e3", del))
	if got, _ := d.DocumentIDs(ctx, "t1", key, time.Time{}); fmt.Sprint(got) != "[s1 s3]" {
		t.Errorf("after deleting r1: %v", got)
	}
	del.Registration = ""
	d.Handle(ctx, event.Position{Topic: "d", Offset: 4}, docEvent(t, "e4", del))
	if got, _ := d.DocumentIDs(ctx, "t1", key, time.Time{}); len(got) != 0 {
		t.Errorf("after deleting all: %v", got)
	}
}

// TestStatementRefToLateTarget: a StatementRef stored before its target
// (and a ref to that ref) match the target's filters once it arrives.
func TestStatementRefToLateTarget(t *testing.T) {
	for _, mode := range []string{"one at a time", "one batch", "referrers stored before rm markers existed"} {
		t.Run(mode, func(t *testing.T) { testStatementRefToLateTarget(t, mode) })
	}
}

func testStatementRefToLateTarget(t *testing.T, mode string) {
	store := openStore(t)
	p, _ := NewStatements(store, nil)
	ctx := context.Background()
	ref := func(i, target int) string {
		return `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://example.com/v/liked"},"object":{"objectType":"StatementRef","id":"` + uuid(target) + `"}`
	}
	evs := []event.Event{
		lrsStatement(t, "t1", 11, ref(11, 10)), // target 10 not stored yet
		lrsStatement(t, "t1", 12, ref(12, 11)), // a ref to the ref
		lrsStatement(t, "t1", 13, actVerb("bob@x.org", "did", "other")),
		lrsStatement(t, "t1", 10, actVerb("ada@x.org", "late", "z")),
		lrsStatement(t, "t1", 14, ref(14, 10)), // the ordinary case, for comparison
	}
	var pos []event.Position
	for off := range evs {
		pos = append(pos, event.Position{Topic: "s", Offset: int64(off)})
	}
	switch mode {
	case "one batch":
		if n, err := p.HandleBatch(ctx, pos, evs); n != len(evs) || err != nil {
			t.Fatalf("HandleBatch = %d, %v", n, err)
		}
	default:
		for off, e := range evs {
			if off == 3 && mode != "one at a time" {
				// Data of an earlier version: rf entries without markers.
				sp := p.Space()
				if err := store.db.Update(func(txn *badger.Txn) error {
					for _, k := range [][]byte{sp.Key("rm", "t1", uuid(10)), sp.Key("rm", "t1", uuid(11)), sp.Key("rmv")} {
						if err := txn.Delete(k); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if p, _ = NewStatements(store, nil); p == nil {
					t.Fatal("reopen failed")
				}
			}
			if err := p.Handle(ctx, pos[off], e); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name string
		q    StatementQuery
		want []int
	}{
		{"verb of the late target", StatementQuery{Verb: "http://example.com/v/late"}, []int{14, 12, 11, 10}},
		{"agent of the late target", StatementQuery{Agent: "mbox:mailto:ada@x.org"}, []int{14, 12, 11, 10}},
		{"activity of the late target", StatementQuery{Activity: "http://example.com/a/z"}, []int{14, 12, 11, 10}},
		{"own verb still matches", StatementQuery{Verb: "http://example.com/v/liked"}, []int{14, 12, 11}},
		{"agent and the late target's verb", StatementQuery{Agent: "mbox:mailto:cy@x.org", Verb: "http://example.com/v/late"}, []int{14, 12, 11}},
		{"unrelated statements untouched", StatementQuery{Agent: "mbox:mailto:bob@x.org"}, []int{13}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkQuery(t, p, "t1", tc.q, tc.want)
		})
	}
}

// until is inclusive whatever the id of a statement stored at until: keys
// sort by stored time then id, and an id starting with 0xff once sorted
// past the newest-first scan's start.
func TestStatementQueryUntilTakesEveryIdAtUntil(t *testing.T) {
	store := openStore(t)
	p, _ := NewStatements(store, nil)
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 10, 0, 0, 7e6, time.UTC)
	ids := []string{"ffc77c0a-6e3b-458f-9aef-808ab431051e", "00c77c0a-6e3b-458f-9aef-808ab431051e", "7fc77c0a-6e3b-458f-9aef-808ab431051e"}
	for i, id := range ids {
		data := fmt.Sprintf(`{"id":%q,%s,"stored":%q,"timestamp":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs/","name":"k"}}}`,
			id, actVerb("ada@x.org", "did", "a"), at.Format("2006-01-02T15:04:05.000Z"), at.Format("2006-01-02T15:04:05.000Z"))
		e, err := event.New(fmt.Sprintf("e-until-%d", i), event.TypeStatementStored, "test", "t1", "k", time.Now(), []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []StatementQuery{
		{Until: at},
		{Until: at, Agent: "mbox:mailto:ada@x.org"},
		{Until: at, Since: at.Add(-time.Nanosecond)},
		{Until: at, Ascending: true},
	} {
		page, err := p.Query(ctx, "t1", q)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(page.Statements); got != len(ids) {
			t.Errorf("%+v: %d statements, want all %d stored at until", q, got, len(ids))
		}
	}
}

// The entries' verb: written on the entries a verb query walks and
// trusted by the walk both ways, and an entry without one (an earlier
// release's store) is probed as before.
func TestEntriesCarryTheirVerb(t *testing.T) {
	const did, saw = "http://example.com/v/did", "http://example.com/v/saw"
	ada := "mbox:mailto:ada@x.org"
	// Statement 2 is ada's with verb saw; 1 and 3 are ada's with did.
	verbOf := func(id string) string {
		if id == uuid(2) {
			return saw
		}
		return did
	}
	carrying := func(id, verb string) func(pos []byte) []byte {
		return func(pos []byte) []byte {
			if positionFrom(pos).ID == id {
				return []byte(valueDigest(verb))
			}
			return []byte(valueDigest(verbOf(positionFrom(pos).ID)))
		}
	}
	for _, tc := range []struct {
		name string
		// entry rewrites the values of ada's agent entries after the
		// statements are stored (nil leaves them).
		entry func(pos []byte) []byte
		want  []int
	}{
		{"as written", nil, []int{3, 1}},
		{"entries without a verb", func([]byte) []byte { return nil }, []int{3, 1}},
		// Walks that probed the verb index would still find 1, and not 2.
		{"another verb is not probed", carrying(uuid(1), saw), []int{3}},
		{"the query's verb is not probed", carrying(uuid(2), did), []int{3, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			p, _ := NewStatements(store, nil)
			ctx := context.Background()
			for i, body := range []string{actVerb("ada@x.org", "did", "a"), actVerb("ada@x.org", "saw", "a"), actVerb("ada@x.org", "did", "b"), actVerb("bob@x.org", "did", "a")} {
				if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, lrsStatement(t, "t1", i+1, body)); err != nil {
					t.Fatal(err)
				}
			}
			sp := p.Space()
			prefix := sp.Prefix("x", "t1", idxAgent, valueDigest(ada))
			err := store.db.Update(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
				defer it.Close()
				n := 0
				for it.Rewind(); it.Valid(); it.Next() {
					n++
					key := it.Item().KeyCopy(nil)
					v, err := it.Item().ValueCopy(nil)
					if err != nil {
						return err
					}
					if want := valueDigest(verbOf(positionFrom(key[len(prefix):]).ID)); string(v) != want {
						t.Errorf("entry of %s carries %x, want %x", positionFrom(key[len(prefix):]).ID, v, want)
					}
					if tc.entry != nil {
						if err := txn.Set(key, tc.entry(key[len(prefix):])); err != nil {
							return err
						}
					}
				}
				if n != 3 {
					t.Errorf("ada has %d agent entries, want 3", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			checkQuery(t, p, "t1", StatementQuery{Agent: ada, Verb: did}, tc.want)
		})
	}
}

// TestRelatedEntries: the related kinds are stored without what the own
// kinds and the authority entry hold, and related queries answer as the
// whole sets did, over such a store, over one written before (whole A
// and C sets, each statement under several kinds) and after a target's
// deletion takes inherited entries away.
func TestRelatedEntries(t *testing.T) {
	const (
		ada, bob, ins, cy = "mbox:mailto:ada@x.org", "mbox:mailto:bob@x.org", "mbox:mailto:ins@x.org", "mbox:mailto:cy@x.org"
		k0, k1            = "account:http://lrs/|k0", "account:http://lrs/|k1"
		a, b, parent      = "http://example.com/a/a", "http://example.com/a/b", "http://example.com/a/p"
		did               = "http://example.com/v/did"
	)
	inCourse := `,"context":{"instructor":{"mbox":"mailto:ins@x.org"},"contextActivities":{"parent":[{"id":"` + parent + `"}]}}`
	bodies := []string{
		// 1: ada did a, taught by ins, in the course (authority k1).
		actVerb("ada@x.org", "did", "a") + inCourse,
		// 2: bob did b in the course (k0).
		actVerb("bob@x.org", "did", "b") + `,"context":{"contextActivities":{"parent":[{"id":"` + parent + `"}]}}`,
		// 3: ins did the course itself (k1).
		actVerb("ins@x.org", "did", "p"),
		// 4: cy liked 1 (k0): it matches 1's filters too.
		`"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://example.com/v/liked"},"object":{"objectType":"StatementRef","id":"` + uuid(1) + `"}`,
	}
	cases := []struct {
		name string
		q    StatementQuery
		want []int
	}{
		{"related agent, actor", StatementQuery{Agent: ada, RelatedAgents: true}, []int{4, 1}},
		{"related agent, instructor and actor", StatementQuery{Agent: ins, RelatedAgents: true}, []int{4, 3, 1}},
		{"agent, not the instructor", StatementQuery{Agent: ins}, []int{3}},
		{"related agent, authority and inherited", StatementQuery{Agent: k1, RelatedAgents: true}, []int{4, 3, 1}},
		{"related agent, authority", StatementQuery{Agent: k0, RelatedAgents: true}, []int{4, 2}},
		{"related agent and verb", StatementQuery{Agent: k1, RelatedAgents: true, Verb: did}, []int{4, 3, 1}},
		{"related agent, ascending, one page", StatementQuery{Agent: ins, RelatedAgents: true, Ascending: true, Limit: 2}, []int{1, 3}},
		{"related agent, after", StatementQuery{Agent: ins, RelatedAgents: true, Limit: 2,
			After: &Position{Stored: time.Date(2026, 11, 29, 10, 0, 0, 4e6, time.UTC).UnixNano(), ID: uuid(4)}}, []int{3, 1}},
		{"related activity, parent and object", StatementQuery{Activity: parent, RelatedActivities: true}, []int{4, 3, 2, 1}},
		{"activity, not the parent", StatementQuery{Activity: parent}, []int{3}},
		{"related activity, object", StatementQuery{Activity: a, RelatedActivities: true}, []int{4, 1}},
		{"related activity and related agent", StatementQuery{Activity: b, RelatedActivities: true, Agent: k0, RelatedAgents: true}, []int{2}},
		{"related agent probed", StatementQuery{Activity: parent, RelatedActivities: true, Agent: bob, RelatedAgents: true}, []int{2}},
		{"related agent probed, as authority", StatementQuery{Activity: a, Agent: k1, RelatedAgents: true}, []int{4, 1}},
		{"related activity probed", StatementQuery{Agent: cy, Activity: parent, RelatedActivities: true}, []int{4}},
	}
	// entries counts a tenant's index entries of kind.
	entries := func(t *testing.T, p *Statements, kind string) int {
		t.Helper()
		n := 0
		err := p.View(func(txn *badger.Txn, sp Space) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: sp.Prefix("x", "t1", kind)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	setUp := func(t *testing.T) *Statements {
		store := openStore(t)
		p, _ := NewStatements(store, nil)
		for i, body := range bodies {
			if err := p.Handle(context.Background(), event.Position{Topic: "s", Offset: int64(i)}, lrsStatement(t, "t1", i+1, body)); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}

	t.Run("stored apart", func(t *testing.T) {
		p := setUp(t)
		// A: ins for 1; none for 2 and 3 (actor and authority); ins
		// and k1 for 4 (inherited, not its own nor its authority).
		// C: the parent for 1, 2 and 4; none for 3 (its object).
		if n := entries(t, p, idxRelatedAgent); n != 3 {
			t.Errorf("%d related-agent entries, want 3 (the whole sets are 12)", n)
		}
		if n := entries(t, p, idxRelatedActivity); n != 3 {
			t.Errorf("%d related-activity entries, want 3 (the whole sets are 7)", n)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { checkQuery(t, p, "t1", tc.q, tc.want) })
		}
		for _, key := range []string{ada, ins, k1, k0} {
			if ok, err := p.Knows(context.Background(), "t1", key); err != nil || !ok {
				t.Errorf("Knows(%s) = %v, %v; want true", key, ok, err)
			}
		}
	})

	t.Run("written whole before", func(t *testing.T) {
		p := setUp(t)
		// What a store written before holds besides: every related
		// value under A and C, the own ones and the authority too.
		err := p.store.db.Update(func(txn *badger.Txn) error {
			sp := p.Space()
			for i := range bodies {
				raw, err := readStatement(txn, sp, "t1", uuid(i+1))
				if err != nil {
					return err
				}
				st, err := xapi.DecodeStored(raw)
				if err != nil {
					return err
				}
				keys, err := readIndexSet(txn, sp, "t1", uuid(i+1), nil)
				if err != nil {
					return err
				}
				verb := entryVerbOf(st, keys)
				pos := Position{Stored: st.Stored.UnixNano(), ID: uuid(i + 1)}.bytes()
				for _, kind := range []string{idxRelatedAgent, idxRelatedActivity} {
					for _, v := range keys[kind] {
						if err := txn.Set(indexKey(sp, "t1", kind, v, pos), indexValue(kind, verb)); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := entries(t, p, idxRelatedAgent); n != 12 {
			t.Fatalf("%d related-agent entries, want the 12 of the whole sets", n)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { checkQuery(t, p, "t1", tc.q, tc.want) })
		}
	})

	t.Run("inherited entries taken away", func(t *testing.T) {
		// A referrer's own related agent left out because an agent it
		// inherited held it: once its target goes, the related entry
		// must be there.
		store := openStore(t)
		p, _ := NewStatements(store, nil)
		ctx := context.Background()
		// 1: ins did a (the target, stored first). 2: cy liked 1,
		// with ins as its instructor: ins is both its inherited own
		// agent and its own related agent.
		target := actVerb("ins@x.org", "did", "a")
		referrer := `"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://example.com/v/liked"},"object":{"objectType":"StatementRef","id":"` + uuid(1) + `"},"context":{"instructor":{"mbox":"mailto:ins@x.org"}}`
		for i, body := range []string{target, referrer} {
			if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, lrsStatement(t, "t1", i+1, body)); err != nil {
				t.Fatal(err)
			}
		}
		checkQuery(t, p, "t1", StatementQuery{Agent: ins}, []int{2, 1})
		checkQuery(t, p, "t1", StatementQuery{Agent: ins, RelatedAgents: true}, []int{2, 1})
		// Retention deletes 1 (stored before 2): 2 loses what it
		// inherited, and keeps ins as its instructor.
		before := time.Date(2026, 11, 29, 10, 0, 0, 2e6, time.UTC)
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: 2}, retentionEvent(t, "ra", "t1", before)); err != nil {
			t.Fatal(err)
		}
		checkQuery(t, p, "t1", StatementQuery{Agent: ins}, nil)
		checkQuery(t, p, "t1", StatementQuery{Agent: ins, RelatedAgents: true}, []int{2})
		checkQuery(t, p, "t1", StatementQuery{Activity: a, RelatedActivities: true}, nil)
	})
}
