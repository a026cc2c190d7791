package api_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

var v2 = map[string]string{"X-Experience-API-Version": "2.0.0"}

// TestVersionNegotiation: every request names the version it speaks, and
// the answer names the version it was given in.
func TestVersionNegotiation(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name        string
		r           req
		want        int
		wantVersion string
	}{
		{"1.0.3", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "1.0.3"}}, 200, "1.0.3"},
		{"1.0", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "1.0"}}, 200, "1.0.3"},
		{"1.0.1", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "1.0.1"}}, 200, "1.0.3"},
		{"2.0.0", req{method: "GET", path: "/xapi/statements", headers: v2}, 200, "2.0.0"},
		{"2.0", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "2.0"}}, 200, "2.0.0"},
		{"2.0.9", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "2.0.9"}}, 200, "2.0.0"},
		{"0.95 refused", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "0.95"}}, 400, "2.0.0"},
		{"2.1.0 refused", req{method: "GET", path: "/xapi/statements", headers: map[string]string{"X-Experience-API-Version": "2.1.0"}}, 400, "2.0.0"},
		{"about without a version", req{method: "GET", path: "/xapi/about", user: "-", noVersion: true}, 200, "2.0.0"},
		{"about in 1.0.3", req{method: "GET", path: "/xapi/about", user: "-", headers: map[string]string{"X-Experience-API-Version": "1.0.3"}}, 200, "1.0.3"},
		{"documents in 2.0", req{method: "GET", path: "/xapi/activities/state?activityId=https%3A%2F%2Fexample.com%2Fa&agent=" + urlq(agentAda), headers: v2}, 200, "2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, tc.r)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if got := resp.Header.Get("X-Experience-API-Version"); got != tc.wantVersion {
				t.Errorf("X-Experience-API-Version: %q, want %q", got, tc.wantVersion)
			}
		})
	}
}

// TestMissingVersionNamesTheClientsVersion: a request without the header
// is refused, naming the version this credential last spoke (the newest
// one when it has not spoken yet).
func TestMissingVersionNamesTheClientsVersion(t *testing.T) {
	f := newFixture(t, nil)
	steps := []struct {
		name        string
		r           req
		want        int
		wantVersion string
	}{
		{"no history", req{method: "GET", path: "/xapi/statements", noVersion: true}, 400, "2.0.0"},
		{"speaks 1.0.3", req{method: "GET", path: "/xapi/statements"}, 200, "1.0.3"},
		{"then forgets the header", req{method: "POST", path: "/xapi/statements", body: good, noVersion: true}, 400, "1.0.3"},
		{"its key with a guessed secret learns nothing", req{method: "POST", path: "/xapi/statements", body: good, user: "admin", pass: "guessed", noVersion: true}, 400, "2.0.0"},
		{"another credential has no history", req{method: "GET", path: "/xapi/statements", user: "other", pass: "other-secret", noVersion: true}, 400, "2.0.0"},
		{"wrong secret is not remembered", req{method: "GET", path: "/xapi/statements", user: "other", pass: "wrong-secret", headers: map[string]string{"X-Experience-API-Version": "1.0.3"}}, 401, "1.0.3"},
		{"still no history", req{method: "GET", path: "/xapi/statements", user: "other", pass: "other-secret", noVersion: true}, 400, "2.0.0"},
		{"speaks 2.0", req{method: "GET", path: "/xapi/statements", headers: v2}, 200, "2.0.0"},
		{"then forgets it", req{method: "PUT", path: "/xapi/statements?statementId=6e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", body: good, noVersion: true}, 400, "2.0.0"},
	}
	for _, tc := range steps {
		resp, b := f.do(t, tc.r)
		if resp.StatusCode != tc.want || resp.Header.Get("X-Experience-API-Version") != tc.wantVersion {
			t.Fatalf("%s: %d %q, want %d %q: %s", tc.name, resp.StatusCode, resp.Header.Get("X-Experience-API-Version"), tc.want, tc.wantVersion, b)
		}
		if tc.want == 400 && !strings.Contains(string(b), "X-Experience-API-Version") {
			t.Errorf("%s: error %s does not name the header", tc.name, b)
		}
	}
}

const (
	coach     = `{"objectType":"contextAgent","agent":{"objectType":"Agent","mbox":"mailto:coach@example.com"},"relevantTypes":["https://example.com/types/coach"]}`
	teamA     = `{"objectType":"contextGroup","group":{"objectType":"Group","mbox":"mailto:team-a@example.com","member":[{"mbox":"mailto:bob@example.com"}]}}`
	ctxAgents = `"context":{"contextAgents":[` + coach + `],"contextGroups":[` + teamA + `]}`
)

// TestStatementsAcrossVersions: what each version may write, what is
// stored, and what clients of either version read back from one store.
func TestStatementsAcrossVersions(t *testing.T) {
	f := newFixture(t, nil)
	v1 := map[string]string{"X-Experience-API-Version": "1.0.3"}
	for _, tc := range []struct {
		name        string
		headers     map[string]string
		body        string
		want        int
		wantVersion string // of the stored statement
		wantInErr   string
	}{
		{"1.0.3 without version", v1, stmt("ada@example.com", "completed", "v1"), 200, "1.0.0", ""},
		{"2.0 without version", v2, stmt("ada@example.com", "completed", "v2"), 200, "2.0.0", ""},
		{"2.0 keeps 2.0", v2, stmt("ada@example.com", "completed", "v2", `"version":"2.0"`), 200, "2.0", ""},
		{"2.0 keeps 1.0.3", v2, stmt("ada@example.com", "completed", "v2", `"version":"1.0.3"`), 200, "1.0.3", ""},
		{"1.0.3 refuses 2.0.0", v1, stmt("ada@example.com", "completed", "v1", `"version":"2.0.0"`), 400, "", "version"},
		{"2.0 refuses 2.1.0", v2, stmt("ada@example.com", "completed", "v2", `"version":"2.1.0"`), 400, "", "version"},
		{"2.0 context agents and groups", v2, stmt("ada@example.com", "completed", "v2", ctxAgents), 200, "2.0.0", ""},
		{"1.0.3 refuses context agents", v1, stmt("ada@example.com", "completed", "v1", ctxAgents), 400, "", "context.contextAgents"},
		{"2.0 refuses an empty relevantTypes", v2, stmt("ada@example.com", "completed", "v2", `"context":{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:c@example.com"},"relevantTypes":[]}]}`), 400, "", "relevantTypes"},
		{"2.0 refuses a timestamp without zone", v2, stmt("ada@example.com", "completed", "v2", `"timestamp":"2023-05-04T12:00:00"`), 400, "", "time zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: tc.body, headers: tc.headers})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want != 200 {
				if !strings.Contains(string(b), tc.wantInErr) {
					t.Errorf("error %s does not name %q", b, tc.wantInErr)
				}
				return
			}
			var ids []string
			json.Unmarshal(b, &ids)
			// Clients of both versions read the statement as stored.
			for _, h := range []map[string]string{v1, v2} {
				_, raw := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", ids[0]), headers: h})
				var st map[string]any
				json.Unmarshal(raw, &st)
				if st["version"] != tc.wantVersion {
					t.Errorf("read in %s: version %v, want %s", h["X-Experience-API-Version"], st["version"], tc.wantVersion)
				}
				if strings.Contains(tc.body, "contextAgents") {
					ctx, _ := st["context"].(map[string]any)
					if ctx == nil || ctx["contextAgents"] == nil || ctx["contextGroups"] == nil {
						t.Errorf("read in %s: context agents and groups lost: %s", h["X-Experience-API-Version"], raw)
					}
				}
			}
		})
	}
	// related_agents finds the context agents and the members of context groups.
	for _, who := range []string{`{"mbox":"mailto:coach@example.com"}`, agentBob} {
		res, _ := f.query(t, q("agent", who, "related_agents", "true"), req{headers: v2})
		if len(res.Statements) != 1 {
			t.Errorf("related_agents %s: %d statements, want 1", who, len(res.Statements))
		}
		res, _ = f.query(t, q("agent", who), req{headers: v2})
		if len(res.Statements) != 0 {
			t.Errorf("agent %s without related_agents: %d statements, want 0", who, len(res.Statements))
		}
	}
}

// TestStateConcurrencyByVersion: xAPI 2.0 asks a PUT over an existing
// state document to carry If-Match or If-None-Match; 1.0.3 does not.
func TestStateConcurrencyByVersion(t *testing.T) {
	f := newFixture(t, nil)
	path := "/xapi/activities/state?activityId=https%3A%2F%2Fexample.com%2Fa&stateId=s1&agent=" + urlq(agentAda)
	v1 := map[string]string{"X-Experience-API-Version": "1.0.3"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	steps := []struct {
		name    string
		method  string
		body    string
		headers map[string]string
		want    int
	}{
		{"2.0 creates without preconditions", "PUT", `{"a":1}`, v2, 204},
		{"2.0 overwrite without preconditions", "PUT", `{"a":2}`, v2, 409},
		{"unchanged", "GET", "", v2, 200},
		{"1.0.3 overwrite without preconditions", "PUT", `{"a":3}`, v1, 204},
		{"2.0 overwrite with a wrong ETag", "PUT", `{"a":4}`, with(v2, "If-Match", `"nope"`), 412},
		{"2.0 overwrite with If-None-Match *", "PUT", `{"a":4}`, with(v2, "If-None-Match", "*"), 412},
		{"2.0 POST merges without preconditions", "POST", `{"b":1}`, v2, 204},
		{"2.0 DELETE without preconditions", "DELETE", "", v2, 204},
	}
	for _, s := range steps {
		resp, b := f.do(t, req{method: s.method, path: path, body: s.body, headers: s.headers})
		if resp.StatusCode != s.want {
			t.Fatalf("%s: %d, want %d: %s", s.name, resp.StatusCode, s.want, b)
		}
		if s.name == "unchanged" && string(b) != `{"a":1}` {
			t.Fatalf("a refused PUT changed the document: %s", b)
		}
		if s.want == 409 && !strings.Contains(string(b), "If-Match") {
			t.Errorf("%s: error %s does not explain what to send", s.name, b)
		}
	}
	// With the current ETag, 2.0 overwrites.
	f.do(t, req{method: "PUT", path: path, body: `{"c":1}`, headers: v2})
	resp, _ := f.do(t, req{method: "GET", path: path, headers: v2})
	resp2, b := f.do(t, req{method: "PUT", path: path, body: `{"c":2}`, headers: with(v2, "If-Match", resp.Header.Get("ETag"))})
	if resp2.StatusCode != 204 {
		t.Fatalf("PUT with the current ETag: %d %s", resp2.StatusCode, b)
	}
	if resp.Header.Get("Last-Modified") == "" {
		t.Errorf("GET of a document lacks Last-Modified")
	}
}

// TestAlternateSyntaxIsNot20: xAPI 2.0 has no alternate request syntax.
func TestAlternateSyntaxIsNot20(t *testing.T) {
	f := newFixture(t, nil)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin-secret"))
	id := "7e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"
	for _, tc := range []struct {
		name    string
		body    string
		headers map[string]string
		want    int
	}{
		{"2.0 in the form", formValues("Authorization", auth, "X-Experience-API-Version", "2.0.0", "statementId", id, "content", good), nil, 400},
		{"2.0 in the form, other case", formValues("Authorization", auth, "x-experience-api-version", "2.0", "statementId", id, "content", good), nil, 400},
		{"2.0 as a header", formValues("Authorization", auth, "statementId", id, "content", good), v2, 400},
		{"1.0.3 in the form", formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3", "Content-Type", "application/json", "statementId", id, "content", good), nil, 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: "POST", path: "/xapi/statements?method=PUT", body: tc.body, user: "-", noVersion: true,
				contentType: "application/x-www-form-urlencoded", headers: tc.headers})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want == 400 && !strings.Contains(string(b), "2.0") {
				t.Errorf("error %s does not say why", b)
			}
		})
	}
}
