package projections

import (
	"context"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

func TestCatalogProjectionAppliesOutOfOrderAndRejectsBadEvents(t *testing.T) {
	store, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := NewCatalog(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	apply := func(typ, data string) error {
		e, err := event.New("id", typ, "test", "t1", "k", time.Now(), []byte(data))
		if err != nil {
			return err
		}
		off++
		return c.Handle(context.Background(), event.Position{Topic: "catalog", Offset: off}, e)
	}
	// The activity arrives before the skill it teaches (other partition).
	for _, ev := range [][2]string{
		{TypeActivityPut, `{"id":"https://example.com/a","type":"course","teaches":["s"]}`},
		{TypeSkillPut, `{"id":"s","name":"S"}`},
		{TypeActivitySeen, `{"id":"https://example.com/seen"}`},
		{TypeLearnerRolePut, `{"learner":"mbox:mailto:a@example.com","role":"r"}`},
	} {
		if err := apply(ev[0], ev[1]); err != nil {
			t.Fatal(err)
		}
	}
	g, err := c.Graph("t1")
	if err != nil {
		t.Fatal(err)
	}
	if got := g.SkillsTaught("https://example.com/a"); len(got) != 1 || got[0] != "s" {
		t.Errorf("activity teaches %v, want [s]", got)
	}
	if _, ok := g.Activity("https://example.com/seen"); !ok {
		t.Error("seen activity not registered")
	}
	if r, _ := c.LearnerRole("t1", "mbox:mailto:a@example.com"); r != "r" {
		t.Errorf("learner role %q", r)
	}
	if err := apply(TypeSkillDeleted, `{"id":"s"}`); err != nil {
		t.Fatal(err)
	}
	g, _ = c.Graph("t1")
	if _, ok := g.Skill("s"); ok {
		t.Error("deleted skill still there")
	}
	for _, tc := range []struct{ name, typ, data string }{
		{"not json", TypeSkillPut, `{`},
		{"unknown field", TypeSkillPut, `{"id":"x","colour":"red"}`},
		{"bad skill id", TypeSkillPut, `{"id":"a;b"}`},
		{"bad activity type", TypeActivityPut, `{"id":"https://example.com/x","type":"video"}`},
		{"edge without to", TypePrerequisitePut, `{"from":"a"}`},
		{"delete without id", TypeRoleDeleted, `{}`},
		{"unknown catalog type", "learnstream.catalog.cooking.put.v1", `{}`},
		{"unknown major", "learnstream.catalog.skill.put.v2", `{"id":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := apply(tc.typ, tc.data); !event.IsRejected(err) {
				t.Errorf("err = %v, want a rejection (DLQ)", err)
			}
		})
	}
}

// The graph a batch of catalog events changes is read again at the next
// call, and one nothing changed (a redelivered batch, all skipped) is the
// same graph, not read again.
func TestCatalogGraphFollowsBatches(t *testing.T) {
	store := openStore(t)
	c, err := NewCatalog(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	batch := func(from int64, ids ...string) {
		t.Helper()
		var pos []event.Position
		var evs []event.Event
		for i, id := range ids {
			e, err := event.New("id-"+id, TypeSkillPut, "test", "t1", "k", time.Now(), []byte(`{"id":"`+id+`","name":"`+id+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			pos = append(pos, event.Position{Topic: "catalog", Partition: 0, Offset: from + int64(i)})
			evs = append(evs, e)
		}
		if n, err := c.HandleBatch(ctx, pos, evs); err != nil || n != len(ids) {
			t.Fatalf("HandleBatch = %d, %v", n, err)
		}
	}
	batch(0, "a", "b")
	g1, err := c.Graph("t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g1.Skill("b"); !ok {
		t.Fatal("skill b of the first batch missing")
	}
	batch(0, "a", "b") // redelivered: nothing applied
	if g, _ := c.Graph("t1"); g != g1 {
		t.Error("a redelivered batch that applied nothing made the graph be read again")
	}
	batch(2, "c")
	g2, _ := c.Graph("t1")
	if _, ok := g2.Skill("c"); !ok {
		t.Error("skill c of the second batch missing: a stale graph was served")
	}
	if _, ok := g1.Skill("c"); ok {
		t.Error("the graph returned earlier changed")
	}
}
