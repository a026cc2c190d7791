package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every consumer beyond the statements and documents forgets an erased
// learner, through serve: the progress, adaptive, recommendations and
// catalog read models, the recommender and adaptive models and the
// dead-letter topics answer the erasure with what they removed, and the
// learner's progress, mastery, recommendations and role are gone while
// another learner's stay.
func TestErasureEveryConsumerForgets(t *testing.T) {
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	if code, b := p.doCT(t, "POST", "/v1/catalog/import", "application/json", catalogDoc); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, b)
	}
	courses := []string{"sql", "joins", "windows", "python"}
	for i := range 16 {
		st := fmt.Sprintf(`{"actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},
		  "object":{"id":"https://example.com/courses/%s"},"result":{"success":%v}}`, i%4, courses[(i/4+i)%4], i%3 != 0)
		if code, _, b := p.do(t, "POST", "/xapi/statements", st); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, b)
		}
	}
	if code, _, b := p.do(t, "PUT", "/v1/learners/l1@example.com/role", `{"role":"analyst"}`); code/100 != 2 {
		t.Fatalf("PUT role: %d %s", code, b)
	}
	// What each read model holds of a learner, as the API shows it.
	holds := func(learner string) map[string]bool {
		out := map[string]bool{}
		code, _, _ := p.do(t, "GET", "/v1/learners/"+learner+"/recommendations", "")
		out["recommendations"] = code == http.StatusOK
		_, _, b := p.do(t, "GET", "/v1/learners/"+learner+"/mastery", "")
		out["mastery"] = strings.Contains(string(b), `"sql"`) || strings.Contains(string(b), `"joins"`)
		_, _, b = p.do(t, "GET", "/v1/learners/"+learner+"/progress", "")
		out["progress"] = strings.Contains(string(b), "https://example.com/courses/")
		_, _, b = p.do(t, "GET", "/v1/learners/"+learner+"/role", "")
		out["role"] = strings.Contains(string(b), "analyst")
		return out
	}
	all := map[string]bool{"recommendations": true, "mastery": true, "progress": true, "role": true}
	deadline := time.Now().Add(60 * time.Second)
	for fmt.Sprint(holds("l1@example.com")) != fmt.Sprint(all) {
		if time.Now().After(deadline) {
			t.Fatalf("l1 holds %v before the erasure, want %v\n%s", holds("l1@example.com"), all, p.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	other := holds("l2@example.com")

	code, _, b := p.do(t, "DELETE", "/v1/learners/l1@example.com", "")
	if code != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	var acc struct{ ID string }
	json.Unmarshal(b, &acc)
	r := p.receiptOf(t, acc.ID, 90*time.Second)
	removed := map[string]map[string]int64{}
	for _, c := range r.Consumers {
		removed[c.Consumer] = c.Removed
	}
	for _, want := range []struct{ consumer, kind string }{
		{"progress", "progress"}, {"adaptive", "mastery"}, {"adaptive", "abilities"}, {"recommendations", "recommendations"},
		{"catalog", "learner_roles"}, {"recommender", "learner_factors"}, {"recommender", "history_items"}, {"recommender", "learner_roles"},
		{"adaptive-model", "learner_states"},
	} {
		if removed[want.consumer][want.kind] == 0 {
			t.Errorf("%s removed no %s: %v", want.consumer, want.kind, removed[want.consumer])
		}
	}
	if _, ok := removed["dead-letters"]; !ok {
		t.Errorf("the dead-letters consumer did not answer: %v", removed)
	}
	none := map[string]bool{"recommendations": false, "mastery": false, "progress": false, "role": false}
	if got := holds("l1@example.com"); fmt.Sprint(got) != fmt.Sprint(none) {
		t.Errorf("after the erasure l1 holds %v, want nothing", got)
	}
	if got := holds("l2@example.com"); fmt.Sprint(got) != fmt.Sprint(other) {
		t.Errorf("after the erasure l2 holds %v, want %v as before", got, other)
	}
}
