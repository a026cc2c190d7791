package api_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type docStep struct {
	name       string
	r          req
	want       int
	wantBody   string
	wantHeader [2]string
}

func etagOf(s string) string { h := sha1.Sum([]byte(s)); return `"` + hex.EncodeToString(h[:]) + `"` }

// TestDocumentResources runs one script of requests against each document
// resource; the state resource differs only where the specification says.
func TestDocumentResources(t *testing.T) {
	for _, res := range []struct {
		name, path, ctx, idParam string
		// concurrency: PUT over an existing document needs a precondition.
		concurrency bool
	}{
		{"state", "/xapi/activities/state", "activityId=https%3A%2F%2Fexample.com%2Fa&agent=" + urlq(agentAda), "stateId", false},
		{"activity profile", "/xapi/activities/profile", "activityId=https%3A%2F%2Fexample.com%2Fa", "profileId", true},
		{"agent profile", "/xapi/agents/profile", "agent=" + urlq(agentAda), "profileId", true},
	} {
		t.Run(res.name, func(t *testing.T) {
			f := newFixture(t, nil)
			doc := func(id string) string { return res.path + "?" + res.ctx + "&" + res.idParam + "=" + id }
			list := res.path + "?" + res.ctx
			conflictStatus, createStatus := 204, 204
			if res.concurrency {
				conflictStatus, createStatus = 409, 400
			}
			steps := []docStep{
				{"get missing", req{method: "GET", path: doc("d1")}, 404, "", [2]string{}},
				{"put without precondition over nothing", req{method: "PUT", path: doc("d0"), body: `{"a":1,"b":1}`}, createStatus, "", [2]string{}},
				{"clean up", req{method: "DELETE", path: doc("d0")}, 204, "", [2]string{}},
				{"put creates", req{method: "PUT", path: doc("d1"), body: `{"a":1,"b":1}`, headers: map[string]string{"If-None-Match": "*"}}, 204, "", [2]string{"ETag", etagOf(`{"a":1,"b":1}`)}},
				{"get it", req{method: "GET", path: doc("d1")}, 200, `{"a":1,"b":1}`, [2]string{"ETag", etagOf(`{"a":1,"b":1}`)}},
				{"put without precondition", req{method: "PUT", path: doc("d1"), body: `{"a":2}`}, conflictStatus, "", [2]string{}},
				{"put with stale If-Match", req{method: "PUT", path: doc("d1"), body: `{"a":3}`, headers: map[string]string{"If-Match": etagOf("nope")}}, 412, "", [2]string{}},
				{"put with If-None-Match on existing", req{method: "PUT", path: doc("d1"), body: `{"a":3}`, headers: map[string]string{"If-None-Match": "*"}}, 412, "", [2]string{}},
				{"post merges", req{method: "POST", path: doc("d2"), body: `{"x":1,"y":1}`}, 204, "", [2]string{}},
				{"post merges again", req{method: "POST", path: doc("d2"), body: `{"y":2,"z":3}`}, 204, "", [2]string{}},
				{"merged", req{method: "GET", path: doc("d2")}, 200, `{"x":1,"y":2,"z":3}`, [2]string{}},
				{"post non-object JSON over an object", req{method: "POST", path: doc("d2"), body: `[1]`}, 400, "", [2]string{}},
				{"post invalid JSON", req{method: "POST", path: doc("n"), body: `{"a":1}[`}, 400, "", [2]string{}},
				{"post non-object JSON", req{method: "POST", path: doc("n"), body: `true`}, 400, "", [2]string{}},
				{"nothing stored", req{method: "GET", path: doc("n")}, 404, "", [2]string{}},
				{"post text creates", req{method: "POST", path: doc("n"), body: `hello`, contentType: "text/plain"}, 204, "", [2]string{}},
				{"stored as sent", req{method: "GET", path: doc("n")}, 200, `hello`, [2]string{}},
				{"delete it", req{method: "DELETE", path: doc("n")}, 204, "", [2]string{}},
				{"post text over JSON", req{method: "POST", path: doc("d2"), body: `hello`, contentType: "text/plain"}, 400, "", [2]string{}},
				{"put text", req{method: "PUT", path: doc("t"), body: `hello`, contentType: "text/plain", headers: map[string]string{"If-None-Match": "*"}}, 204, "", [2]string{}},
				{"text keeps its type", req{method: "GET", path: doc("t")}, 200, "hello", [2]string{"Content-Type", "text/plain"}},
				{"post JSON over text", req{method: "POST", path: doc("t"), body: `{"a":1}`}, 400, "", [2]string{}},
				{"list ids", req{method: "GET", path: list}, 200, `["d1","d2","t"]`, [2]string{}},
				{"list since the future", req{method: "GET", path: list + "&since=" + urlq(time.Now().Add(time.Hour).Format(time.RFC3339))}, 200, `[]`, [2]string{}},
				{"since with an id", req{method: "GET", path: doc("d1") + "&since=2020-01-01T00:00:00Z"}, 400, "", [2]string{}},
				{"unknown parameter", req{method: "GET", path: list + "&foo=1"}, 400, "", [2]string{}},
				{"wrong case parameter", req{method: "GET", path: res.path + "?" + res.ctx + "&" + res.idParam + "X=1"}, 400, "", [2]string{}},
				{"delete with stale If-Match", req{method: "DELETE", path: doc("d2"), headers: map[string]string{"If-Match": etagOf("nope")}}, 412, "", [2]string{}},
				{"delete", req{method: "DELETE", path: doc("d2")}, 204, "", [2]string{}},
				{"deleted", req{method: "GET", path: doc("d2")}, 404, "", [2]string{}},
				{"other tenant does not see it", req{method: "GET", path: doc("d1"), user: "other", pass: "other-secret"}, 404, "", [2]string{}},
				{"put without id", req{method: "PUT", path: list, body: `{}`}, 400, "", [2]string{}},
			}
			if res.name == "state" {
				steps = append(steps,
					docStep{"delete all", req{method: "DELETE", path: list}, 204, "", [2]string{}},
					docStep{"all gone", req{method: "GET", path: list}, 200, `[]`, [2]string{}},
				)
			} else {
				steps = append(steps, docStep{"delete without id", req{method: "DELETE", path: list}, 400, "", [2]string{}})
			}
			for _, st := range steps {
				resp, body := f.do(t, st.r)
				if resp.StatusCode != st.want {
					t.Fatalf("%s: status %d, want %d: %s", st.name, resp.StatusCode, st.want, body)
				}
				if st.wantBody != "" && strings.TrimSpace(string(body)) != st.wantBody {
					t.Errorf("%s: body %s, want %s", st.name, body, st.wantBody)
				}
				if h := st.wantHeader; h[0] != "" && resp.Header.Get(h[0]) != h[1] {
					t.Errorf("%s: %s %q, want %q", st.name, h[0], resp.Header.Get(h[0]), h[1])
				}
			}
			// The right ETag lets the PUT through.
			cur := `{"a":1,"b":1}`
			if res.concurrency {
				resp, body := f.do(t, req{method: "PUT", path: doc("d1"), body: `{"a":9}`, headers: map[string]string{"If-Match": etagOf(cur)}})
				if resp.StatusCode != 204 {
					t.Fatalf("PUT with current If-Match: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}

func TestStateRegistration(t *testing.T) {
	f := newFixture(t, nil)
	base := "/xapi/activities/state?activityId=https%3A%2F%2Fexample.com%2Fa&agent=" + urlq(agentAda)
	reg := "&registration=11111111-2222-4333-8444-555555555555"
	f.do(t, req{method: "PUT", path: base + "&stateId=s", body: `{"r":0}`})
	f.do(t, req{method: "PUT", path: base + reg + "&stateId=s", body: `{"r":1}`})
	if _, b := f.do(t, req{method: "GET", path: base + reg + "&stateId=s"}); string(b) != `{"r":1}` {
		t.Errorf("state in the registration: %s", b)
	}
	if _, b := f.do(t, req{method: "GET", path: base + "&stateId=s"}); string(b) != `{"r":0}` {
		t.Errorf("state outside registrations: %s", b)
	}
	if resp, _ := f.do(t, req{method: "GET", path: base + "&registration=nope"}); resp.StatusCode != 400 {
		t.Errorf("bad registration: %d", resp.StatusCode)
	}
	// Deleting a registration's state leaves the rest.
	f.do(t, req{method: "DELETE", path: base + reg})
	if resp, _ := f.do(t, req{method: "GET", path: base + "&stateId=s"}); resp.StatusCode != 200 {
		t.Errorf("delete of one registration removed other state: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, req{method: "GET", path: base + reg + "&stateId=s"}); resp.StatusCode != 404 {
		t.Errorf("registration state survived its delete: %d", resp.StatusCode)
	}
	// Missing context parameters.
	for _, p := range []string{"/xapi/activities/state?stateId=s", "/xapi/activities/state?activityId=https%3A%2F%2Fexample.com%2Fa&stateId=s",
		"/xapi/activities/profile?profileId=p", "/xapi/agents/profile?profileId=p", "/xapi/agents/profile?agent=%7B%7D&profileId=p"} {
		if resp, _ := f.do(t, req{method: "GET", path: p}); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", p, resp.StatusCode)
		}
	}
	var ids []string
	_, b := f.do(t, req{method: "GET", path: base})
	json.Unmarshal(b, &ids)
	if fmt.Sprint(ids) != "[s]" {
		t.Errorf("ids: %s", b)
	}
}

func TestDocumentSizeLimit(t *testing.T) {
	f := newFixture(t, nil)
	big := make([]byte, 5<<10)
	for i := range big {
		big[i] = 'x'
	}
	resp, b := f.do(t, req{method: "PUT", path: "/xapi/activities/profile?activityId=https%3A%2F%2Fexample.com%2Fa&profileId=p", body: string(big), contentType: "text/plain"})
	if resp.StatusCode != 413 {
		t.Errorf("document over the limit: %d %s", resp.StatusCode, b)
	}
}
