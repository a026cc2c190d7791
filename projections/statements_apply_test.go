package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/domain/xapi/xapitest"
)

// acceptedEvent turns generated statement JSON into the event the API
// would publish: validated by the same xapi.ParseStatement, then given its
// id, stored time and authority.
func acceptedEvent(t testing.TB, tenant string, i int, body []byte, define bool) event.Event {
	t.Helper()
	st, err := xapi.ParseStatement(body)
	if err != nil {
		t.Fatalf("generated statement is not valid: %v\n%s", err, body)
	}
	st.Prepare(uuid(i), time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Millisecond),
		xapi.Agent{ObjectType: "Agent", Account: &xapi.Account{HomePage: "http://lrs/", Name: "k"}})
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New(fmt.Sprintf("e%d", i), event.TypeStatementStored, "test", tenant, st.LearnerKey(), time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !define {
		e.Extensions = map[string]string{ExtDefine: "false"}
	}
	return e
}

// checkApplyAlways applies n generated statements (activities redefined
// across every interaction type) and checks that each applies, and that
// every canonical definition validates afterwards.
func checkApplyAlways(t *testing.T, p *Statements, tenant string, c xapitest.Choices, n int, offset *int64) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e := acceptedEvent(t, tenant, i, xapitest.Statement(c), c.IntN(8) > 0)
		pos := event.Position{Topic: "s", Partition: 0, Offset: atomic.AddInt64(offset, 1)}
		if err := p.Handle(ctx, pos, e); err != nil {
			t.Fatalf("statement %d did not apply: %v\n%s", i, err, e.Data)
		}
	}
	for _, id := range xapitest.ActivityIDs {
		a, err := p.Activity(ctx, tenant, id)
		if err != nil {
			t.Fatalf("activity %s: %v", id, err)
		}
		if a.Definition == nil {
			continue
		}
		if err := a.Definition.Validate(); err != nil {
			t.Fatalf("canonical definition of %s is invalid: %v", id, err)
		}
	}
}

func TestStatementsApplyProperty(t *testing.T) {
	p, err := NewStatements(openStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// All 150 seeds run without the race detector (make test runs this test
	// once more without it); under -race a few keep Badger's background
	// goroutines under the detector.
	seeds := uint64(150)
	if raceDetector {
		seeds = 20
	}
	var offset int64
	for seed := range seeds {
		checkApplyAlways(t, p, fmt.Sprintf("t%d", seed), xapitest.Rand(seed), 12, &offset)
	}
}

// FuzzStatementsApply lets the fuzzer choose the statements.
func FuzzStatementsApply(f *testing.F) {
	f.Add([]byte{0, 1, 2, 8, 8, 1, 3, 0, 5, 1, 1, 0, 2, 7, 7, 4, 1})
	f.Add([]byte("the likert then matching redefinition of one activity"))
	// One store for all inputs (opening Badger per input would be most of
	// the time); each input gets a tenant of its own.
	s, err := Open(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	p, err := NewStatements(s, nil)
	if err != nil {
		f.Fatal(err)
	}
	var offset, runs int64
	f.Fuzz(func(t *testing.T, data []byte) {
		c := xapitest.Bytes(data)
		checkApplyAlways(t, p, fmt.Sprintf("f%d", atomic.AddInt64(&runs, 1)), &c, 1+len(data)/16, &offset)
	})
}

// TestStatementsLikertThenMatching is the sequence that wedged a partition:
// an activity defined as likert, then as matching. Both apply, and the
// canonical definition is the matching one without the likert scale.
func TestStatementsLikertThenMatching(t *testing.T) {
	p, err := NewStatements(openStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const act = "http://www.example.com/verify/complete/34534"
	body := func(def string) []byte {
		return []byte(`{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},` +
			`"object":{"id":"` + act + `","definition":` + def + `}}`)
	}
	for i, def := range []string{
		`{"name":{"en-US":"Rate it"},"interactionType":"likert","correctResponsesPattern":["likert_3"],"scale":[{"id":"likert_0","description":{"en-US":"bad"}},{"id":"likert_3","description":{"en-US":"good"}}]}`,
		`{"name":{"fr-FR":"Associez"},"interactionType":"matching","correctResponsesPattern":["a[.]1"],"source":[{"id":"a"}],"target":[{"id":"1"}]}`,
		`{"interactionType":"matching","source":[{"id":"a","description":{"en-US":"A"}}]}`,
	} {
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, acceptedEvent(t, "t1", i, body(def), true)); err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
	}
	a, err := p.Activity(ctx, "t1", act)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(a)
	want := `{"objectType":"Activity","id":"` + act + `","definition":{"name":{"en-US":"Rate it","fr-FR":"Associez"},` +
		`"interactionType":"matching","correctResponsesPattern":["a[.]1"],"source":[{"id":"a","description":{"en-US":"A"}}],"target":[{"id":"1"}]}}`
	if string(got) != want {
		t.Fatalf("canonical activity\n got %s\nwant %s", got, want)
	}
}

// TestStatementsLegacyInvalidActivity: a canonical definition an earlier
// release stored as an invalid mix is served repaired, and the next
// definition of the activity applies over it.
func TestStatementsLegacyInvalidActivity(t *testing.T) {
	p, err := NewStatements(openStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const act = "https://example.com/act/q"
	for _, stored := range []string{
		`{"objectType":"Activity","id":"` + act + `","definition":{"interactionType":"matching","scale":[{"id":"likert_0"}],"source":[{"id":"a"}]}}`,
		`{"objectType":"Activity","id":"` + act + `","definition":{"name":"not a language map"}}`,
	} {
		err = p.store.db.Update(func(txn *badger.Txn) error {
			return txn.Set(p.Space().Key("ac", "t1", act), []byte(stored))
		})
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.Activity(ctx, "t1", act)
		if err != nil {
			t.Fatalf("Activity over %s: %v", stored, err)
		}
		if a.ID != act || (a.Definition != nil && a.Definition.Validate() != nil) {
			t.Fatalf("Activity over %s = %+v", stored, a)
		}
	}
	e := acceptedEvent(t, "t1", 1, []byte(`{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},`+
		`"object":{"id":"`+act+`","definition":{"interactionType":"choice","choices":[{"id":"x"}]}}}`), true)
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: 1}, e); err != nil {
		t.Fatal(err)
	}
	a, err := p.Activity(ctx, "t1", act)
	if err != nil || a.Definition == nil || a.Definition.InteractionType != "choice" || len(a.Definition.Choices) != 1 {
		t.Fatalf("after a new definition: %+v, %v", a.Definition, err)
	}
}
