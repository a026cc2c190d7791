package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
)

// eraseWorld is a log of statements and documents of several learners in
// which "ann" appears as actor, object, instructor, group member, team
// member and in a sub-statement, with references, voiding and attachments
// across learners.
func eraseWorld(t *testing.T) (stmts, docs []event.Event) {
	t.Helper()
	const (
		ann  = `{"mbox":"mailto:ann@example.com","name":"Ann Erasable"}`
		bob  = `{"mbox":"mailto:bob@example.com","name":"Bob Stays"}`
		cy   = `{"account":{"homePage":"https://hr.example.com","name":"cy-7"},"name":"Cy Stays"}`
		verb = `{"id":"http://adlnet.gov/expapi/verbs/completed"}`
		auth = `{"account":{"homePage":"http://lrs/","name":"k"}}`
	)
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	n := 0
	add := func(actorKey, body string, atts ...string) string {
		n++
		id := uuid(n)
		stored := at.Add(time.Duration(n) * time.Minute).Format("2006-01-02T15:04:05.000Z")
		var attMeta []string
		for _, a := range atts {
			attMeta = append(attMeta, fmt.Sprintf(`{"usageType":"http://x/u","display":{"en":"a"},"contentType":"text/plain","length":%d,"sha2":%q}`, len(a), sha2hex(a)))
			d, _ := json.Marshal(AttachmentData{SHA2: sha2hex(a), ContentType: "text/plain", Content: []byte(a)})
			e, err := event.New(fmt.Sprintf("att-%d-%s", n, sha2hex(a)[:6]), TypeAttachmentStored, "test", "t1", actorKey, at, d)
			if err != nil {
				t.Fatal(err)
			}
			stmts = append(stmts, e)
		}
		extra := ""
		if len(attMeta) > 0 {
			extra = `,"attachments":[` + strings.Join(attMeta, ",") + `]`
		}
		data := fmt.Sprintf(`{"id":%q,%s,"stored":%q,"timestamp":%q,"version":"1.0.0","authority":%s%s}`, id, body, stored, stored, auth, extra)
		st, err := xapi.ParseStatement([]byte(data))
		if err != nil {
			t.Fatalf("statement %d: %v", n, err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		e, err := event.New(fmt.Sprintf("ev-%d", n), event.TypeStatementStored, "test", "t1", actorKey, at, b)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, e)
		return id
	}
	annKey, bobKey, cyKey := "mbox:mailto:ann@example.com", "mbox:mailto:bob@example.com", "account:https://hr.example.com|cy-7"
	act := func(i int) string {
		return fmt.Sprintf(`{"id":"https://courses.example.com/c%d","definition":{"name":{"en":"Course %d"}}}`, i, i)
	}
	a1 := add(annKey, `"actor":`+ann+`,"verb":`+verb+`,"object":`+act(1)+`,"result":{"response":"ann's private answer"}`, "shared payload", "ann only payload")
	add(bobKey, `"actor":`+bob+`,"verb":`+verb+`,"object":`+act(1), "shared payload")
	// Ann as instructor, as object, as member of the actor group and of
	// the team, inside a sub-statement.
	add(bobKey, `"actor":`+bob+`,"verb":`+verb+`,"object":`+act(2)+`,"context":{"instructor":`+ann+`}`)
	add(cyKey, `"actor":`+cy+`,"verb":{"id":"http://x/v/mentored"},"object":{"objectType":"Agent",`+ann[1:])
	add("group", `"actor":{"objectType":"Group","name":"Pair","member":[`+ann+`,`+bob+`]},"verb":`+verb+`,"object":`+act(3))
	add(bobKey, `"actor":`+bob+`,"verb":`+verb+`,"object":`+act(3)+`,"context":{"team":{"objectType":"Group","member":[`+ann+`,`+cy+`]}}`)
	add(cyKey, `"actor":`+cy+`,"verb":`+verb+`,"object":{"objectType":"SubStatement","actor":`+ann+`,"verb":`+verb+`,"object":`+act(4)+`}`)
	// Bob refers to Ann's statement and voids it; Ann voids one of Cy's.
	add(bobKey, `"actor":`+bob+`,"verb":{"id":"http://x/v/liked"},"object":{"objectType":"StatementRef","id":"`+a1+`"}`)
	c1 := add(cyKey, `"actor":`+cy+`,"verb":`+verb+`,"object":`+act(5))
	add(annKey, `"actor":`+ann+`,"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+c1+`"}`)
	add(bobKey, `"actor":`+bob+`,"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"`+a1+`"}`)
	add(annKey, `"actor":`+ann+`,"verb":`+verb+`,"object":`+act(6))

	doc := func(id, resource, agent, activity string) {
		w := DocumentWrite{Resource: resource, Op: OpPut, ActivityID: activity, Agent: agent, ID: "d1", ContentType: "application/json",
			Content: []byte(`{"note":"` + agent + ` private"}`), Updated: at}
		b, _ := json.Marshal(w)
		key := agent
		if key == "" {
			key = activity
		}
		e, err := event.New(id, TypeDocument, "test", "t1", key, at, b)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, e)
	}
	doc("d1", DocState, annKey, "https://courses.example.com/c1")
	doc("d2", DocState, bobKey, "https://courses.example.com/c1")
	doc("d3", DocAgentProfile, annKey, "")
	doc("d4", DocAgentProfile, cyKey, "")
	doc("d5", DocActivityProfile, "", "https://courses.example.com/c1")
	return stmts, docs
}

func sha2hex(s string) string { return fmt.Sprintf("%064x", []byte(s)[:min(len(s), 32)]) }

// dumpSpace returns every key and value of a projection's live space,
// keys without the generation prefix.
func dumpSpace(t *testing.T, p *Projection) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := p.View(func(txn *badger.Txn, sp Space) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sp.prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().Key()[len(sp.prefix):])
			if strings.HasPrefix(k, "o\x00") || k == "rmv" {
				continue // offsets differ with the log; rmv is bookkeeping
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[k] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEraseStatementsAndDocumentsMatchReplay(t *testing.T) {
	ctx := context.Background()
	stmts, docs := eraseWorld(t)
	keys := privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))
	seal := func(evs []event.Event) []event.Event {
		out := make([]event.Event, len(evs))
		for i, e := range evs {
			s, err := privacy.SealEvent(ctx, e, keys)
			if err != nil {
				t.Fatalf("seal %s: %v", e.ID, err)
			}
			out[i] = s
		}
		return out
	}
	sealedStmts, sealedDocs := seal(stmts), seal(docs)
	annKey := "mbox:mailto:ann@example.com"
	ps := keys.Pseudonym("t1", annKey)
	le, _ := json.Marshal(privacy.LearnerErased{Erasure: "er1", Pseudonym: ps, At: time.Now()})
	erased, err := event.New("le1", privacy.TypeLearnerErased, "test", "t1", ps, time.Now(), le)
	if err != nil {
		t.Fatal(err)
	}
	// feed opens each event as the transport does, skipping what is erased.
	feed := func(p *Projection, topic string, evs []event.Event) {
		t.Helper()
		for i, e := range evs {
			o, err := privacy.OpenEvent(ctx, e, keys)
			if err != nil {
				t.Fatalf("open %s: %v", e.ID, err)
			}
			pos := event.Position{Topic: topic, Offset: int64(i)}
			if o.Erased {
				if err := p.Skip(ctx, pos); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := p.Handle(ctx, pos, o); err != nil {
				t.Fatalf("apply %s: %v", e.ID, err)
			}
		}
	}
	open := func() (*Store, *Statements, *Documents) {
		store := openStore(t)
		store.SetPseudonyms(keys)
		s, err := NewStatements(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDocuments(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		return store, s, d
	}
	liveStore, live, liveDocs := open()
	feed(live.Projection, "s", sealedStmts)
	feed(liveDocs.Projection, "d", sealedDocs)
	if page, _ := live.Query(ctx, "t1", StatementQuery{Agent: annKey, RelatedAgents: true}); len(page.Statements) == 0 {
		t.Fatal("ann has no statements before the erasure")
	}
	if _, err := keys.DestroyLearner(ctx, "t1", ps); err != nil {
		t.Fatal(err)
	}
	feed(live.Projection, "s", append(append([]event.Event{}, sealedStmts...), erased))
	feed(liveDocs.Projection, "d", append(append([]event.Event{}, sealedDocs...), erased))

	answers, err := liveStore.PendingErasureAnswers()
	if err != nil || len(answers) != 2 {
		t.Fatalf("answers = %+v, %v; want statements and documents", answers, err)
	}
	for _, a := range answers {
		want := map[string]map[string]int64{
			StatementsName: {"statements": 3, "statements_redacted": 5, "attachments": 1, "names": 1},
			DocumentsName:  {"state_documents": 1, "agent_profiles": 1},
		}[a.Answer.Consumer]
		for k, v := range want {
			if a.Answer.Removed[k] != v {
				t.Errorf("%s removed %s = %d, want %d (all: %v)", a.Answer.Consumer, k, a.Answer.Removed[k], v, a.Answer.Removed)
			}
		}
	}

	// Nothing of Ann is left, and the others are intact.
	for name, p := range map[string]*Projection{"statements": live.Projection, "documents": liveDocs.Projection} {
		for k, v := range dumpSpace(t, p) {
			for _, needle := range []string{"ann@example.com", "Ann Erasable", "ann's private", "ann only payload"} {
				if strings.Contains(k, needle) || strings.Contains(v, needle) {
					t.Errorf("%s: %q -> %q still holds %q", name, k, v, needle)
				}
			}
		}
	}
	for _, who := range []string{"mbox:mailto:bob@example.com", "account:https://hr.example.com|cy-7"} {
		if page, _ := live.Query(ctx, "t1", StatementQuery{Agent: who}); len(page.Statements) == 0 {
			t.Errorf("%s lost their statements", who)
		}
	}
	if page, _ := live.Query(ctx, "t1", StatementQuery{Agent: xapi.ActorKey(privacy.ErasedAgent), RelatedAgents: true}); len(page.Statements) != 5 {
		t.Errorf("statements naming the erased agent = %d, want 5", len(page.Statements))
	}
	if _, err := live.Attachment(ctx, "t1", sha2hex("shared payload")); err != nil {
		t.Errorf("the payload Bob's statement lists is gone: %v", err)
	}

	// A replay from scratch, with Ann's keys destroyed, reaches the same
	// state: the log opens Ann's statements as erased.
	_, replay, replayDocs := open()
	feed(replay.Projection, "s", append(append([]event.Event{}, sealedStmts...), erased))
	feed(replayDocs.Projection, "d", append(append([]event.Event{}, sealedDocs...), erased))
	for name, pair := range map[string][2]*Projection{"statements": {live.Projection, replay.Projection}, "documents": {liveDocs.Projection, replayDocs.Projection}} {
		a, b := dumpSpace(t, pair[0]), dumpSpace(t, pair[1])
		for k, v := range a {
			if strings.HasPrefix(k, "ac\x00") {
				continue // canonical definitions: see statements_erase.go
			}
			if w, ok := b[k]; !ok {
				t.Errorf("%s: erased live has %q, the replay has not", name, k)
			} else if !sameValue(v, w) {
				t.Errorf("%s: %q differs:\nlive   %s\nreplay %s", name, k, v, w)
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && !strings.HasPrefix(k, "ac\x00") {
				t.Errorf("%s: the replay has %q, erased live has not", name, k)
			}
		}
	}
}

// sameValue compares values as JSON when both are JSON (the live
// redaction re-encodes a statement; opening splices the erased agent in).
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestEraseStatementsBeyondOneTransactionAndRetention(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	secret := privacy.Secret("s")
	store.SetPseudonyms(secret)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDocuments(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	// stmtEvent's actor is a@example.com: more statements than one
	// attempt changes.
	n := maxStatementsInEvent*2 + 7
	for i := range n {
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, stmtEvent(t, fmt.Sprintf("e%d", i), uuid(i+1), "https://x/a")); err != nil {
			t.Fatal(err)
		}
	}
	ps := secret.Pseudonym("t1", "mbox:mailto:a@example.com")
	le, _ := json.Marshal(privacy.LearnerErased{Erasure: "er1", Pseudonym: ps})
	e, _ := event.New("le", privacy.TypeLearnerErased, "test", "t1", ps, time.Now(), le)
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(n)}, e); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Count(ctx, "t1"); c != 0 {
		t.Errorf("%d statements left after the erasure", c)
	}
	answers, _ := store.PendingErasureAnswers()
	if len(answers) != 1 || answers[0].Answer.Removed["statements"] != int64(n) {
		t.Errorf("answers = %+v, want %d statements removed", answers, n)
	}

	// Retention: statements stored and documents updated before Before go.
	data := func(id string, stored time.Time) event.Event {
		s := fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:b@example.com"},"verb":{"id":"http://x/v"},"object":{"id":"https://x/a"},"stored":%q,"timestamp":%q,"version":"1.0.0"}`,
			id, stored.Format(time.RFC3339Nano), stored.Format(time.RFC3339Nano))
		e, _ := event.New("r"+id, event.TypeStatementStored, "test", "t1", "mbox:mailto:b@example.com", stored, []byte(s))
		return e
	}
	before := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	off := int64(n + 1)
	for i, at := range []time.Time{before.Add(-48 * time.Hour), before.Add(-time.Second), before, before.Add(time.Hour)} {
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: off}, data(uuid(1000+i), at)); err != nil {
			t.Fatal(err)
		}
		off++
		w, _ := json.Marshal(DocumentWrite{Resource: DocState, Op: OpPut, ActivityID: "https://x/a", Agent: "mbox:mailto:b@example.com",
			ID: fmt.Sprint(i), ContentType: "text/plain", Content: []byte("x"), Updated: at})
		de, _ := event.New(fmt.Sprintf("doc%d", i), TypeDocument, "test", "t1", "mbox:mailto:b@example.com", at, w)
		if err := d.Handle(ctx, event.Position{Topic: "d", Offset: int64(i)}, de); err != nil {
			t.Fatal(err)
		}
	}
	ra, _ := json.Marshal(privacy.RetentionApplied{Tenant: "t1", Before: before})
	re, _ := event.New("ra", privacy.TypeRetentionApplied, "test", "t1", "t1", time.Now(), ra)
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: off}, re); err != nil {
		t.Fatal(err)
	}
	if err := d.Handle(ctx, event.Position{Topic: "d", Offset: 4}, re); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Count(ctx, "t1"); c != 2 {
		t.Errorf("statements after retention = %d, want the 2 stored at or after Before", c)
	}
	if c, _ := d.Count(ctx, "t1"); c != 2 {
		t.Errorf("documents after retention = %d, want the 2 updated at or after Before", c)
	}
	for i, want := range []bool{false, false, true, true} {
		if _, err := p.Statement(ctx, "t1", uuid(1000+i)); (err == nil) != want {
			t.Errorf("statement %d kept = %v, want %v", i, err == nil, want)
		}
	}
}
