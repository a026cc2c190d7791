package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

// catalogLog applies what is published on the catalog topic to a catalog
// projection and keeps what is published on the statements topic, which
// it can refuse.
type catalogLog struct {
	mu        sync.Mutex
	cat       *projections.Catalog
	next      int64
	stmts     []event.Event
	stmtsDown bool
}

func (l *catalogLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if topic == "statements" {
		if l.stmtsDown {
			return errors.New("broker down")
		}
		l.stmts = append(l.stmts, evs...)
		return nil
	}
	for _, e := range evs {
		if err := l.cat.Handle(ctx, event.Position{Topic: topic, Offset: l.next}, e); err != nil {
			return err
		}
		l.next++
	}
	return nil
}

// PUT /v1/learners/{id}/role stores the role in the catalog and tells the
// recommender on the statements topic, keyed like the learner's
// statements; when that second write fails the answer says to retry, and
// the retry completes it.
func TestPutLearnerRoleTellsTheRecommender(t *testing.T) {
	var log *catalogLog
	var cat *projections.Catalog
	f := newFixture(t, func(c *api.Config) {
		store, err := projections.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		waiters := projections.NewWaiters()
		if cat, err = projections.NewCatalog(store, waiters); err != nil {
			t.Fatal(err)
		}
		log = &catalogLog{cat: cat}
		c.Modules = append(c.Modules, &api.CatalogModule{Catalog: cat, Waiters: waiters, Publisher: log, Topic: "catalog",
			StatementsTopic: "statements", Source: "test"})
	})
	put := func(path, body string) (int, string) {
		resp, b := f.do(t, req{method: "PUT", path: path, body: body})
		return resp.StatusCode, string(b)
	}
	if code, b := put("/v1/skills/sql", `{}`); code != http.StatusOK {
		t.Fatalf("PUT skill: %d %s", code, b)
	}
	if code, b := put("/v1/roles/analyst", `{"requires": [{"skill": "sql", "level": 0.8}]}`); code != http.StatusOK {
		t.Fatalf("PUT role: %d %s", code, b)
	}

	if code, b := put("/v1/learners/ada@example.com/role", `{"role": "astronaut"}`); code != http.StatusBadRequest || !strings.Contains(b, `"field":"role"`) {
		t.Fatalf("unknown role: %d %s", code, b)
	}
	if len(log.stmts) != 0 {
		t.Fatalf("a refused PUT told the recommender: %d events", len(log.stmts))
	}

	if code, b := put("/v1/learners/ada@example.com/role", `{"role": "analyst"}`); code != http.StatusOK {
		t.Fatalf("PUT learner role: %d %s", code, b)
	}
	const ada = "mbox:mailto:ada@example.com"
	if role, _ := cat.LearnerRole("t1", ada); role != "analyst" {
		t.Fatalf("catalog role %q", role)
	}
	if len(log.stmts) != 1 {
		t.Fatalf("%d events on the statements topic, want 1", len(log.stmts))
	}
	e := log.stmts[0]
	var lr projections.LearnerRole
	if err := json.Unmarshal(e.Data, &lr); err != nil || e.Type != projections.TypeLearnerRoleSet || e.Key != ada ||
		lr != (projections.LearnerRole{Learner: ada, Role: "analyst"}) || e.Tenant != "t1" {
		t.Fatalf("event %s key %q tenant %q data %s (%v)", e.Type, e.Key, e.Tenant, e.Data, err)
	}

	log.mu.Lock()
	log.stmtsDown = true
	log.mu.Unlock()
	code, b := put("/v1/learners/ada@example.com/role", `{"role": ""}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(b, "retry") {
		t.Fatalf("statements topic down: %d %s", code, b)
	}
	log.mu.Lock()
	log.stmtsDown = false
	log.mu.Unlock()
	if code, b := put("/v1/learners/ada@example.com/role", `{"role": ""}`); code != http.StatusOK {
		t.Fatalf("retry: %d %s", code, b)
	}
	if role, _ := cat.LearnerRole("t1", ada); role != "" || len(log.stmts) != 2 {
		t.Fatalf("after the retry: catalog role %q, %d events", role, len(log.stmts))
	}
	if err := json.Unmarshal(log.stmts[1].Data, &lr); err != nil || lr.Role != "" {
		t.Fatalf("removal told as %s", log.stmts[1].Data)
	}
}
