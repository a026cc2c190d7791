package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
)

// fakeErasing knows ada in t1 until an erasure of her completes, which
// takes a delay.
type fakeErasing struct {
	mu       sync.Mutex
	receipts map[string]projections.Receipt // tenant/id
	byLearn  map[string][]string
	after    time.Duration
	started  map[string]time.Time
	n        int
	behind   bool // the receipts are still reading (just started)
}

func (f *fakeErasing) Known(_ context.Context, tenant, learner string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tenant != "t1" || learner != "mbox:mailto:ada@example.com" {
		return false, nil
	}
	ids := f.byLearn[tenant+"/"+learner]
	return len(ids) == 0 || time.Since(f.started[ids[len(ids)-1]]) < f.after, nil
}

func (f *fakeErasing) Request(_ context.Context, tenant, learner, by string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := "er" + string(rune('0'+f.n))
	f.receipts[tenant+"/"+id] = projections.Receipt{ID: id, Tenant: tenant, Status: projections.StatusRequested, RequestedBy: by}
	f.started[id] = time.Now()
	f.byLearn[tenant+"/"+learner] = append(f.byLearn[tenant+"/"+learner], id)
	return id, nil
}

func (f *fakeErasing) OfLearner(_ context.Context, tenant, learner string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.behind {
		return nil, api.ErrErasuresBehind
	}
	return f.byLearn[tenant+"/"+learner], nil
}

func (f *fakeErasing) Receipt(_ context.Context, tenant, id string) (projections.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.receipts[tenant+"/"+id]
	if !ok {
		return r, projections.ErrNotFound
	}
	if time.Since(f.started[id]) >= f.after {
		r.Status = projections.StatusComplete
	}
	return r, nil
}

func TestEraseLearnerHTTP(t *testing.T) {
	fake := &fakeErasing{receipts: map[string]projections.Receipt{}, byLearn: map[string][]string{}, started: map[string]time.Time{}, after: 300 * time.Millisecond}
	f := newFixture(t, func(c *api.Config) { c.Modules = append(c.Modules, api.ErasureModule{Erasing: fake}) })
	ctx := context.Background()
	for _, c := range []struct{ key, tenant string }{{"dpo", "t1"}, {"dpo2", "t2"}} {
		if _, err := f.creds.Put(ctx, c.key, c.key+"-secret", c.key, c.tenant, []string{projections.ScopePrivacy}); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		ID, Status, Receipt, Error string
	}
	do := func(method, path, user string) (int, answer, http.Header) {
		t.Helper()
		resp, b := f.do(t, req{method: method, path: path, user: user, pass: user + "-secret"})
		var a answer
		json.Unmarshal(b, &a)
		return resp.StatusCode, a, resp.Header
	}
	tests := []struct {
		name, method, path, user string
		want                     int
	}{
		{"all does not include privacy", "DELETE", "/v1/learners/ada@example.com", "admin", 403},
		{"operator alone neither", "DELETE", "/v1/learners/ada@example.com", "op", 403},
		{"unknown learner", "DELETE", "/v1/learners/nobody@example.com", "dpo", 404},
		{"learner of another tenant", "DELETE", "/v1/learners/ada@example.com", "dpo2", 404},
		{"bad wait", "DELETE", "/v1/learners/ada@example.com?wait=forever", "dpo", 400},
		{"wait above the bound", "DELETE", "/v1/learners/ada@example.com?wait=5m", "dpo", 400},
		{"unknown receipt", "GET", "/v1/erasures/nope", "dpo", 404},
	}
	for _, tt := range tests {
		if got, a, _ := do(tt.method, tt.path, tt.user); got != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, got, a.Error, tt.want)
		}
	}
	// Just started, receipts still reading: refused, nothing started.
	fake.mu.Lock()
	fake.behind = true
	fake.mu.Unlock()
	if code, a, h := do("DELETE", "/v1/learners/ada@example.com", "dpo"); code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || fake.n != 0 {
		t.Errorf("erase while the receipts read: %d %+v Retry-After %q, %d started; want 503, none", code, a, h.Get("Retry-After"), fake.n)
	}
	fake.mu.Lock()
	fake.behind = false
	fake.mu.Unlock()
	code, a, h := do("DELETE", "/v1/learners/ada@example.com", "dpo")
	if code != http.StatusAccepted || a.ID == "" || h.Get("Location") != "/v1/erasures/"+a.ID || a.Receipt != h.Get("Location") {
		t.Fatalf("erase: %d %+v %v", code, a, h)
	}
	if code, _, _ := do("GET", "/v1/erasures/"+a.ID, "dpo2"); code != 404 {
		t.Errorf("receipt read by another tenant: %d, want 404", code)
	}
	// Again while it runs (a client retrying after a lost answer): the
	// same erasure, not a second one.
	if code, b, _ := do("DELETE", "/v1/learners/ada@example.com", "dpo"); code != http.StatusAccepted || b.ID != a.ID {
		t.Errorf("erase again while open: %d %+v, want 202 %s", code, b, a.ID)
	}
	// Again, with ?wait: the same erasure, complete.
	code, b, h := do("DELETE", "/v1/learners/mailto:ada@example.com?wait=5s", "dpo")
	if code != http.StatusOK || b.ID != a.ID || b.Status != projections.StatusComplete || !strings.HasSuffix(h.Get("Location"), a.ID) {
		t.Errorf("erase again with wait: %d %+v, want 200 complete %s", code, b, a.ID)
	}
	if code, r, _ := do("GET", "/v1/erasures/"+a.ID, "dpo"); code != 200 || r.Status != projections.StatusComplete {
		t.Errorf("receipt: %d %+v", code, r)
	}
	if n := len(fake.byLearn["t1/mbox:mailto:ada@example.com"]); n != 1 {
		t.Errorf("%d erasures of ada started, want 1", n)
	}
}
