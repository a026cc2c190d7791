package privacy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/domain/xapi/xapitest"
)

// person is one agent of the generated population. Each has one kind of
// identifier, so one learner key, and names no other's contain.
type person struct {
	json  map[string]any
	key   string
	marks []string // what must not leak of them
}

func people(prefix string, n int, group bool) []person {
	out := make([]person, n)
	for i := range out {
		name := fmt.Sprintf("%s%dQz \"K\u00e9\" Doe", prefix, i)
		local := fmt.Sprintf("%s%d.zq%dx", prefix, i, i)
		a := map[string]any{}
		var id string
		kind := i % 4
		if group {
			kind = 3
		}
		switch kind {
		case 0:
			a["mbox"] = "mailto:" + local + "@example.net"
			id = local
		case 1:
			sum := fmt.Sprintf("%x", []byte(local))
			sum = (sum + "0000000000000000000000000000000000000000")[:40]
			a["mbox_sha1sum"] = sum
			id = sum
		case 2:
			a["openid"] = "https://id.example.net/" + local
			id = local
		case 3:
			a["account"] = map[string]any{"homePage": "https://accounts.example.net", "name": "acct-" + local}
			id = "acct-" + local
		}
		marks := []string{id}
		if i%3 != 2 {
			a["name"] = name
			marks = append(marks, name)
		}
		ag, err := xapi.ParseAgent(mustJSON(a))
		if err != nil {
			panic(err)
		}
		out[i] = person{json: a, key: xapi.ActorKey(ag), marks: marks}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	population = people("Learner", 12, false)
	groups     = people("Guild", 3, true)
)

// gen builds statements with every place an agent can be, from c.
type gen struct {
	c xapitest.Choices
	// used records the people placed, by learner key; anon the names of
	// anonymous groups (sealed under the actor's key).
	used map[string]person
	anon []string
}

func (g *gen) person() map[string]any {
	p := population[g.c.IntN(len(population))]
	g.used[p.key] = p
	a := map[string]any{}
	for k, v := range p.json {
		a[k] = v
	}
	if g.c.IntN(2) == 0 {
		a["objectType"] = "Agent"
	}
	return a
}

func (g *gen) group(mustIdentify bool) map[string]any {
	a := map[string]any{"objectType": "Group"}
	identified := mustIdentify || g.c.IntN(2) == 0
	if identified {
		p := groups[g.c.IntN(len(groups))]
		g.used[p.key] = p
		for k, v := range p.json {
			a[k] = v
		}
	} else if g.c.IntN(2) == 0 {
		name := fmt.Sprintf("Anon Crew %d", g.c.IntN(1000))
		a["name"] = name
		g.anon = append(g.anon, name)
	}
	n := g.c.IntN(3)
	if !identified && n == 0 {
		n = 1
	}
	var ms []any
	for range n {
		m := g.person()
		delete(m, "objectType")
		if g.c.IntN(2) == 0 {
			m["objectType"] = "Agent"
		}
		ms = append(ms, m)
	}
	if ms != nil {
		a["member"] = ms
	}
	return a
}

func (g *gen) actor() map[string]any {
	if g.c.IntN(4) == 0 {
		return g.group(false)
	}
	return g.person()
}

func (g *gen) context(v2 bool) map[string]any {
	ctx := map[string]any{}
	if g.c.IntN(2) == 0 {
		ctx["instructor"] = g.actor()
	}
	if g.c.IntN(3) == 0 {
		ctx["team"] = g.group(false)
	}
	if g.c.IntN(2) == 0 {
		ctx["contextActivities"] = map[string]any{"parent": []any{map[string]any{"id": "https://example.com/course/7"}}}
	}
	if v2 && g.c.IntN(2) == 0 {
		var cas []any
		for range 1 + g.c.IntN(2) {
			cas = append(cas, map[string]any{"objectType": "contextAgent", "agent": g.person(),
				"relevantTypes": []any{"https://example.com/types/peer"}})
		}
		ctx["contextAgents"] = cas
	}
	if v2 && g.c.IntN(2) == 0 {
		ctx["contextGroups"] = []any{map[string]any{"objectType": "contextGroup", "group": g.group(false)}}
	}
	return ctx
}

func (g *gen) core(sub, v2 bool) map[string]any {
	s := map[string]any{
		"actor": g.actor(),
		"verb":  map[string]any{"id": "http://adlnet.gov/expapi/verbs/answered"},
	}
	switch n := g.c.IntN(6); {
	case n == 0:
		o := g.person()
		o["objectType"] = "Agent"
		s["object"] = o
	case n == 1:
		s["object"] = g.group(false)
	case n == 2 && !sub:
		o := g.core(true, v2)
		o["objectType"] = "SubStatement"
		s["object"] = o
	default:
		s["object"] = map[string]any{"objectType": "Activity", "id": "https://example.com/act/q" + fmt.Sprint(g.c.IntN(9))}
	}
	if g.c.IntN(2) == 0 {
		s["context"] = g.context(v2)
	}
	if g.c.IntN(2) == 0 {
		s["result"] = map[string]any{"response": fmt.Sprintf("secret answer %d", g.c.IntN(1000)), "success": true}
	}
	return s
}

// statement returns a stored statement event, and its actor's key.
func (g *gen) statement(t testing.TB) (event.Event, string) {
	g.used = map[string]person{}
	g.anon = nil
	v2 := g.c.IntN(2) == 0
	s := g.core(false, v2)
	if v2 {
		s["version"] = "2.0.0"
	}
	js := mustJSON(s)
	st, err := xapi.ParseStatement(js)
	if err != nil {
		t.Fatalf("generated an invalid statement: %v\n%s", err, js)
	}
	auth := xapi.Agent{ObjectType: "Agent", Account: &xapi.Account{HomePage: "https://lrs.example.com", Name: "cred-key-7"}}
	if g.c.IntN(3) == 0 {
		p := population[g.c.IntN(len(population))]
		a, _ := xapi.ParseAgent(mustJSON(p.json))
		g.used[p.key] = p
		auth = xapi.Agent{ObjectType: "Group", Member: []xapi.Agent{authority, a}}
	}
	var id [16]byte
	for i := range id {
		id[i] = byte(g.c.IntN(256))
	}
	st.Prepare(hex.EncodeToString(id[:4])+"-0000-4000-8000-"+hex.EncodeToString(id[4:10]), stored, auth)
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New("ev-"+st.ID, event.TypeStatementStored, source, tenant, st.LearnerKey(), stored, data)
	if err != nil {
		t.Fatal(err)
	}
	return e, st.LearnerKey()
}

// checkStatement is the property: sealing hides every identity of the
// statement, opening restores it exactly, and after erasing some of its
// people opening hides exactly theirs and still yields a statement the
// consumers decode.
func checkStatement(t *testing.T, g *gen, eraseMask int) {
	ctx := context.Background()
	keys := newKeys()
	e, owner := g.statement(t)
	s, err := SealEvent(ctx, e, keys)
	if err != nil {
		t.Fatalf("seal: %v\n%s", err, e.Data)
	}
	var marks []string
	for _, p := range g.used {
		marks = append(marks, p.marks...)
	}
	marks = append(marks, g.anon...)
	assertNoLeak(t, "sealed event", sealedBytes(s), marks...)
	o, err := OpenEvent(ctx, s, keys)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(o.Data, e.Data) || o.Key != e.Key || o.Erased {
		t.Fatalf("open(seal(x)) != x\n got %s\nwant %s", o.Data, e.Data)
	}
	jsonEqual(t, o.Data, e.Data)

	// Erase some of the people of the statement.
	erased := map[string]bool{}
	var gone []string
	i := 0
	for k, p := range g.used {
		if eraseMask>>i&1 == 1 {
			erased[k] = true
			gone = append(gone, p.marks...)
			if _, err := keys.DestroyLearner(ctx, tenant, keys.Pseudonym(tenant, k)); err != nil {
				t.Fatal(err)
			}
		}
		i++
	}
	if eraseMask>>i&1 == 1 && !erased[owner] {
		// The actor may be an anonymous group, which is nobody of used.
		erased[owner] = true
		if _, err := keys.DestroyLearner(ctx, tenant, keys.Pseudonym(tenant, owner)); err != nil {
			t.Fatal(err)
		}
	}
	if erased[owner] {
		gone = append(gone, g.anon...)
		gone = append(gone, "secret answer")
	}
	o, err = OpenEvent(ctx, s, keys)
	if err != nil {
		t.Fatalf("open after erasure: %v", err)
	}
	if o.Erased != erased[owner] {
		t.Errorf("Erased = %v, want %v (owner %s)", o.Erased, erased[owner], owner)
	}
	assertNoLeak(t, "opened after erasure", o.Data, gone...)
	if _, err := xapi.DecodeStored(o.Data); err != nil {
		t.Errorf("consumers cannot decode the opened statement: %v\n%s", err, o.Data)
	}
	if len(erased) == 0 && !reflect.DeepEqual(o.Data, e.Data) {
		t.Errorf("nothing erased, yet the data changed")
	}
}

func TestSealOpenGeneratedStatements(t *testing.T) {
	for seed := range uint64(400) {
		c := xapitest.Rand(seed)
		g := &gen{c: c}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkStatement(t, g, c.IntN(1<<12)) })
	}
}

func FuzzSealOpenStatement(f *testing.F) {
	for _, s := range []string{"", "\x00\x01\x02", "\x05\x03\x01\x00\x02\x04\x01\x01\x00\x03", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"} {
		f.Add([]byte(s), 5)
	}
	f.Fuzz(func(t *testing.T, in []byte, mask int) {
		b := xapitest.Bytes(in)
		checkStatement(t, &gen{c: &b}, mask)
	})
}

// FuzzOpenEvent alters a sealed event's data anyhow: opening never
// panics, and fails only with a FieldError (the consumer dead-letters
// the event) or succeeds on data that still opens.
func FuzzOpenEvent(f *testing.F) {
	ctx := context.Background()
	keys := newKeys()
	var sealed []event.Event
	for _, tc := range statementCases {
		s, err := SealEvent(ctx, storedStatement(f, tc.js), keys)
		if err != nil {
			f.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	for i, s := range sealed {
		f.Add(i, len(s.Data)/3, []byte(`{"x":1}`))
		f.Add(i, 10, []byte(`"`))
		f.Add(i, len(s.Data)-3, []byte(`]`))
	}
	f.Fuzz(func(t *testing.T, which, at int, insert []byte) {
		s := sealed[(which%len(sealed)+len(sealed))%len(sealed)]
		at = (at%(len(s.Data)+1) + len(s.Data) + 1) % (len(s.Data) + 1)
		d := append(append(append([]byte{}, s.Data[:at]...), insert...), s.Data[at:]...)
		s.Data = d
		_, err := OpenEvent(ctx, s, keys)
		var fe *event.FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("error is not a FieldError: %v", err)
		}
	})
}
