package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// receiptOf polls an erasure's receipt until it is complete.
func (p *proc) receiptOf(t *testing.T, id string, within time.Duration) projections.Receipt {
	t.Helper()
	var r projections.Receipt
	deadline := time.Now().Add(within)
	for {
		code, _, body := p.do(t, "GET", "/v1/erasures/"+id, "")
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Complete() {
				return r
			}
		} else if code != http.StatusNotFound {
			t.Fatalf("receipt: %d %s", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure %s not complete after %v: %+v\n%s", id, within, r, p.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// An erasure survives kill -9 between any two of its steps: the process
// kills itself right after one (keys destroyed but not recorded; recorded;
// LearnerErased on the first topic; on some topics and not others; the
// completion recorded), and the restarted process finishes the erasure
// with the same receipt.
func TestEraseSurvivesKill(t *testing.T) {
	kafkatest.Each(t, eraseSurvivesKill)
}

func eraseSurvivesKill(t *testing.T, c kafkatest.Cluster) {
	for _, step := range []string{"keys", "keys-recorded", "published learnstream.statements.v1", "published learnstream.documents.v1", "completed"} {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			args := append(append([]string{"--data-dir", dir, "--roles", "api,projector"}, kafkaArgs(c)...), isolate()...)
			p := startServe(t, append(credEnv(), envFaultErasureKill+"="+step), args...)
			ann := `{"mbox":"mailto:learner1@example.com","name":"Learner 1"}`
			for _, body := range []string{statement(1), statement(2),
				`{"actor":{"mbox":"mailto:learner2@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},` +
					`"object":{"id":"https://example.com/courses/c9"},"context":{"instructor":` + ann + `}}`} {
				if code, _, b := p.do(t, "POST", "/xapi/statements", body); code != http.StatusOK {
					t.Fatalf("POST: %d %s", code, b)
				}
			}
			state := "/xapi/activities/state?activityId=" + url.QueryEscape("https://example.com/courses/c1") +
				"&agent=" + url.QueryEscape(ann) + "&stateId=bookmark"
			if code, _, b := p.do(t, "PUT", state, `{"page":7}`); code != http.StatusNoContent {
				t.Fatalf("PUT state: %d %s", code, b)
			}
			// The process may kill itself before its answer is out (the
			// erasure runs beside the request); the client then asks
			// again after the restart and gets the same erasure.
			var acc struct{ ID string }
			code, h, b, err := p.try("DELETE", "/v1/learners/learner1@example.com", "")
			if err == nil {
				if code != http.StatusAccepted {
					t.Fatalf("DELETE: %d %s", code, b)
				}
				json.Unmarshal(b, &acc)
				if h.Get("Location") != "/v1/erasures/"+acc.ID {
					t.Fatalf("Location %q for %s", h.Get("Location"), b)
				}
			}
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the process did not kill itself after %q:\n%s", step, p.logs)
			}
			p = startServe(t, credEnv(), args...)
			defer p.stop(t)
			if err != nil {
				t.Logf("DELETE met the kill (%v); asking again", err)
				// 503 until the receipts have caught up.
				eventually(t, p, "an answer to DELETE after the restart", func() bool {
					code, _, b = p.do(t, "DELETE", "/v1/learners/learner1@example.com", "")
					return code != http.StatusServiceUnavailable
				})
				if code != http.StatusAccepted && code != http.StatusOK {
					t.Fatalf("DELETE after the restart: %d %s", code, b)
				}
				json.Unmarshal(b, &acc)
				if p.logsContain("erasure requested") {
					t.Errorf("asking again started a second erasure:\n%s", p.logs)
				}
			}
			r := p.receiptOf(t, acc.ID, 60*time.Second)
			if r.KeysDestroyedAt == nil || len(r.Pending) != 0 {
				t.Errorf("receipt: %+v", r)
			}
			removed := map[string]map[string]int64{}
			for _, c := range r.Consumers {
				removed[c.Consumer] = c.Removed
			}
			if removed["statements"]["statements"] != 1 || removed["statements"]["statements_redacted"] != 1 ||
				removed["documents"]["state_documents"] != 1 || removed["progress"]["progress"] == 0 {
				t.Errorf("removed: %v", removed)
			}
			rb, _ := json.Marshal(r)
			if strings.Contains(string(rb), "learner1") || strings.Contains(string(rb), "Learner 1") {
				t.Errorf("the receipt names the learner: %s", rb)
			}
			agent := url.QueryEscape(`{"mbox":"mailto:learner1@example.com"}`)
			code, _, b = p.do(t, "GET", "/xapi/statements?related_agents=true&agent="+agent, "")
			if code != http.StatusOK || strings.Contains(string(b), "learner1") {
				t.Errorf("statements of the erased learner: %d %s", code, b)
			}
			code, _, b = p.do(t, "GET", "/xapi/statements?agent="+url.QueryEscape(`{"mbox":"mailto:learner2@example.com"}`), "")
			if code != http.StatusOK || !strings.Contains(string(b), "learnstream.invalid/erased") || strings.Count(string(b), `"id"`) < 2 {
				t.Errorf("learner2's statements (one naming the erased instructor): %d %s", code, b)
			}
			if code, _, b := p.do(t, "GET", state, ""); code != http.StatusNotFound {
				t.Errorf("state document of the erased learner: %d %s", code, b)
			}
			// Erasing again answers with the same, complete erasure.
			code, _, b = p.do(t, "DELETE", "/v1/learners/learner1@example.com?wait=5s", "")
			if code != http.StatusOK || !strings.Contains(string(b), acc.ID) {
				t.Errorf("DELETE again: %d %s", code, b)
			}
		})
	}
}
