package api_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
)

// stmt builds a statement JSON with the given actor mbox, verb, activity
// and extra top-level members.
func stmt(actor, verb, activity string, extra ...string) string {
	s := fmt.Sprintf(`{"actor":{"mbox":"mailto:%s","name":"%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/%s"},"object":{"id":"https://example.com/%s"}`,
		actor, strings.Split(actor, "@")[0], verb, activity)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func (f *fixture) post(t *testing.T, body string) []string {
	t.Helper()
	resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: body})
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

type result struct {
	Statements []map[string]any `json:"statements"`
	More       string           `json:"more"`
}

func (f *fixture) query(t *testing.T, params string, r req) (result, *http.Response) {
	t.Helper()
	r.method, r.path = "GET", "/xapi/statements"+params
	resp, b := f.do(t, r)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", params, resp.StatusCode, b)
	}
	var res result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("GET %s: %v: %s", params, err, b)
	}
	return res, resp
}

func ids(res result) []string {
	var out []string
	for _, s := range res.Statements {
		out = append(out, s["id"].(string))
	}
	return out
}

// formValues encodes key, value pairs as a form body (or query).
func formValues(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func q(kv ...string) string { return "?" + formValues(kv...) }

const (
	agentAda = `{"mbox":"mailto:ada@example.com"}`
	agentBob = `{"mbox":"mailto:bob@example.com"}`
)

func TestStatementQueries(t *testing.T) {
	f := newFixture(t, func(c *_cfg) { c.MaxBatch = 100 })
	reg := "11111111-2222-4333-8444-555555555555"
	// Oldest first: a0 ada completed a, a1 ada attempted b (context parent a,
	// registration reg), a2 bob completed a (instructor ada), a3 bob attempted c.
	a0 := f.post(t, stmt("ada@example.com", "completed", "a"))[0]
	a1 := f.post(t, stmt("ada@example.com", "attempted", "b",
		`"context":{"registration":"`+reg+`","contextActivities":{"parent":{"id":"https://example.com/a"}}}`))[0]
	a2 := f.post(t, stmt("bob@example.com", "completed", "a", `"context":{"instructor":`+agentAda+`}`))[0]
	a3 := f.post(t, stmt("bob@example.com", "attempted", "c"))[0]
	// since is exclusive and until inclusive: a3's stored splits them.
	_, b := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", a3)})
	var s3 struct{ Stored string }
	json.Unmarshal(b, &s3)
	mid, _ := time.Parse(time.RFC3339Nano, s3.Stored)
	a4 := f.post(t, stmt("bob@example.com", "completed", "c"))[0]
	for _, tc := range []struct {
		name, params string
		want         []string
	}{
		{"all, newest first", "", []string{a4, a3, a2, a1, a0}},
		{"ascending", q("ascending", "true"), []string{a0, a1, a2, a3, a4}},
		{"agent", q("agent", agentAda), []string{a1, a0}},
		{"related agents", q("agent", agentAda, "related_agents", "true"), []string{a2, a1, a0}},
		{"verb", q("verb", "http://adlnet.gov/expapi/verbs/attempted"), []string{a3, a1}},
		{"activity", q("activity", "https://example.com/a"), []string{a2, a0}},
		{"related activities", q("activity", "https://example.com/a", "related_activities", "true"), []string{a2, a1, a0}},
		{"registration", q("registration", reg), []string{a1}},
		{"agent and verb and activity", q("agent", agentBob, "verb", "http://adlnet.gov/expapi/verbs/completed", "activity", "https://example.com/c"), []string{a4}},
		{"since", q("since", mid.Format(time.RFC3339Nano)), []string{a4}},
		{"until", q("until", mid.Format(time.RFC3339Nano), "agent", agentBob), []string{a3, a2}},
		{"since and until", q("since", mid.Add(-time.Nanosecond).Format(time.RFC3339Nano), "until", mid.Format(time.RFC3339Nano)), []string{a3}},
		{"no match", q("agent", `{"mbox":"mailto:nobody@example.com"}`), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, resp := f.query(t, tc.params, req{})
			if got := ids(res); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, h := range []string{"X-Experience-API-Consistent-Through", "Last-Modified", "X-Experience-API-Version"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("answer lacks %s", h)
				}
			}
		})
	}
	// Another tenant sees none of it.
	res, _ := f.query(t, "", req{user: "other", pass: "other-secret"})
	if len(res.Statements) != 0 {
		t.Errorf("tenant t2 sees %d statements of t1", len(res.Statements))
	}
}

type _cfg = api.Config

func TestStatementQueryParameters(t *testing.T) {
	f := newFixture(t, nil)
	id := f.post(t, good)[0]
	for _, tc := range []struct {
		name, params string
		want         int
	}{
		{"unknown parameter", q("foo", "bar"), 400},
		{"wrong case", q("Agent", agentAda), 400},
		{"bad agent", q("agent", `{"name":"x"}`), 400},
		{"agent not JSON", q("agent", "ada"), 400},
		{"bad verb", q("verb", "not an iri"), 400},
		{"bad registration", q("registration", "nope"), 400},
		{"bad since", q("since", "yesterday"), 400},
		{"negative limit", q("limit", "-1"), 400},
		{"bad format", q("format", "full"), 400},
		{"bad ascending", q("ascending", "yes"), 400},
		{"statementId with a filter", q("statementId", id, "agent", agentAda), 400},
		{"statementId and voidedStatementId", q("statementId", id, "voidedStatementId", id), 400},
		{"statementId not a UUID", q("statementId", "x"), 400},
		{"statementId with format", q("statementId", id, "format", "ids"), 200},
		{"repeated parameter", "?limit=1&limit=2", 400},
		{"bad cursor", q("more", "garbage"), 400},
		{"cursor with other parameters", q("more", "x", "limit", "1"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, req{method: "GET", path: "/xapi/statements" + tc.params})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if resp.Header.Get("X-Experience-API-Consistent-Through") == "" {
				t.Error("no X-Experience-API-Consistent-Through")
			}
		})
	}
}

func TestMorePaging(t *testing.T) {
	f := newFixture(t, func(c *_cfg) { c.MaxBatch = 100 })
	var stored []string // in stored order
	for i := 0; i < 7; i++ {
		stored = append(stored, f.post(t, stmt("ada@example.com", "completed", fmt.Sprint("p", i)))...)
	}
	for _, asc := range []bool{false, true} {
		t.Run(fmt.Sprint("ascending=", asc), func(t *testing.T) {
			want := make([]string, len(stored))
			for i := range stored {
				want[i] = stored[i]
				if !asc {
					want[i] = stored[len(stored)-1-i]
				}
			}
			res, _ := f.query(t, q("limit", "3", "ascending", fmt.Sprint(asc), "agent", agentAda), req{})
			got := ids(res)
			// A write between pages neither shifts nor repeats the pages.
			extra := f.post(t, stmt("ada@example.com", "completed", "late"))[0]
			stored = append(stored, extra)
			if asc {
				// Ascending paging reaches statements stored meanwhile.
				want = append(want, extra)
			}
			for res.More != "" {
				if !strings.HasPrefix(res.More, "/xapi/statements?more=") {
					t.Fatalf("more %q is not a path on this LRS", res.More)
				}
				res, _ = f.query(t, strings.TrimPrefix(res.More, "/xapi/statements"), req{})
				got = append(got, ids(res)...)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("pages gave %v,\nwant %v", got, want)
			}
		})
	}
	// A cursor is bound to its tenant.
	res, _ := f.query(t, q("limit", "1"), req{})
	resp, _ := f.do(t, req{method: "GET", path: res.More, user: "other", pass: "other-secret"})
	if resp.StatusCode != 400 {
		t.Errorf("another tenant's cursor: %d, want 400", resp.StatusCode)
	}
}

func TestVoiding(t *testing.T) {
	f := newFixture(t, nil)
	target := f.post(t, stmt("ada@example.com", "completed", "v"))[0]
	voidBody := func(id string) string {
		return `{"actor":{"mbox":"mailto:admin@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"` + id + `"}}`
	}
	voider := f.post(t, voidBody(target))[0]
	for _, tc := range []struct {
		name, params string
		want         int
	}{
		{"voided statement is gone by statementId", q("statementId", target), 404},
		{"voided statement by voidedStatementId", q("voidedStatementId", target), 200},
		{"voiding statement by statementId", q("statementId", voider), 200},
		{"voiding statement is not voided", q("voidedStatementId", voider), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := f.do(t, req{method: "GET", path: "/xapi/statements" + tc.params}); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
		})
	}
	// Queries leave the voided statement out but return the voiding one,
	// which matches the filters of the statement it targets.
	res, _ := f.query(t, q("activity", "https://example.com/v"), req{})
	if got := ids(res); fmt.Sprint(got) != fmt.Sprint([]string{voider}) {
		t.Errorf("activity query after voiding: %v, want only the voiding statement %s", got, voider)
	}
	// Voiding a voiding statement has no effect on it.
	f.post(t, voidBody(voider))
	if resp, _ := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", voider)}); resp.StatusCode != 200 {
		t.Errorf("a voiding statement was voided: %d", resp.StatusCode)
	}
	// A voiding statement may arrive before its target.
	later := "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	f.post(t, voidBody(later))
	f.post(t, strings.Replace(stmt("ada@example.com", "completed", "w"), "{", `{"id":"`+later+`",`, 1))
	if resp, _ := f.do(t, req{method: "GET", path: "/xapi/statements" + q("voidedStatementId", later)}); resp.StatusCode != 200 {
		t.Errorf("statement stored after its voiding statement is not voided: %d", resp.StatusCode)
	}
}

func TestStatementRefFiltering(t *testing.T) {
	f := newFixture(t, nil)
	target := f.post(t, stmt("ada@example.com", "completed", "r"))[0]
	ref := f.post(t, `{"actor":{"mbox":"mailto:bob@example.com"},"verb":{"id":"http://example.com/verbs/liked"},"object":{"objectType":"StatementRef","id":"`+target+`"}}`)[0]
	res, _ := f.query(t, q("activity", "https://example.com/r"), req{})
	if got := ids(res); fmt.Sprint(got) != fmt.Sprint([]string{ref, target}) {
		t.Errorf("activity query: %v, want the referring statement and its target", got)
	}
	res, _ = f.query(t, q("verb", "http://adlnet.gov/expapi/verbs/completed", "agent", agentBob), req{})
	if got := ids(res); fmt.Sprint(got) != fmt.Sprint([]string{ref}) {
		t.Errorf("bob + completed: %v, want the statement referring to a completion", got)
	}
}

func TestFormats(t *testing.T) {
	f := newFixture(t, nil)
	id := f.post(t, `{"actor":{"mbox":"mailto:ada@example.com","name":"Ada"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed","fr":"terminé"}},`+
		`"object":{"id":"https://example.com/f","definition":{"name":{"en-US":"Course","fr":"Cours"}}}}`)[0]
	// A later statement teaches a better definition: canonical uses it.
	f.post(t, `{"actor":{"mbox":"mailto:bob@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},`+
		`"object":{"id":"https://example.com/f","definition":{"name":{"fr":"Le cours"},"description":{"en-US":"About"}}}}`)
	get := func(format, lang string) map[string]any {
		_, b := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", id, "format", format), headers: map[string]string{"Accept-Language": lang}})
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v %s", format, err, b)
		}
		return m
	}
	resp, _ := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", id)})
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || time.Since(lm) > time.Minute {
		t.Errorf("single statement Last-Modified %q: %v", resp.Header.Get("Last-Modified"), err)
	}
	exact := get("exact", "")
	if exact["actor"].(map[string]any)["name"] != "Ada" || len(exact["verb"].(map[string]any)["display"].(map[string]any)) != 2 {
		t.Errorf("exact changed the statement: %v", exact)
	}
	ids := get("ids", "")
	if ids["actor"].(map[string]any)["name"] != nil || ids["verb"].(map[string]any)["display"] != nil || ids["object"].(map[string]any)["definition"] != nil {
		t.Errorf("ids kept more than identifiers: %v", ids)
	}
	canon := get("canonical", "fr")
	def := canon["object"].(map[string]any)["definition"].(map[string]any)
	if fmt.Sprint(def["name"]) != "map[fr:Le cours]" || fmt.Sprint(canon["verb"].(map[string]any)["display"]) != "map[fr:terminé]" {
		t.Errorf("canonical in fr: definition %v, verb %v", def, canon["verb"])
	}
	// The Activities resource serves the merged definition.
	_, b := f.do(t, req{method: "GET", path: "/xapi/activities" + q("activityId", "https://example.com/f")})
	var act map[string]any
	json.Unmarshal(b, &act)
	d := act["definition"].(map[string]any)
	if fmt.Sprint(d["name"]) != "map[en-US:Course fr:Le cours]" || d["description"] == nil || act["objectType"] != "Activity" {
		t.Errorf("activity definition not merged: %s", b)
	}
}

// multipartBody builds a statements request with attachment parts.
func multipartBody(t *testing.T, statements string, parts ...[3]string) (string, string) {
	t.Helper()
	var sb strings.Builder
	mw := multipart.NewWriter(&sb)
	h := map[string][]string{"Content-Type": {"application/json"}}
	w, _ := mw.CreatePart(h)
	io.WriteString(w, statements)
	for _, p := range parts {
		ph := map[string][]string{"Content-Type": {p[0]}, "Content-Transfer-Encoding": {"binary"}, "X-Experience-API-Hash": {p[1]}}
		w, _ := mw.CreatePart(ph)
		io.WriteString(w, p[2])
	}
	mw.Close()
	return sb.String(), "multipart/mixed; boundary=" + mw.Boundary()
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func withAttachment(content, usage, ct string) string {
	return stmt("ada@example.com", "completed", "att", fmt.Sprintf(
		`"attachments":[{"usageType":%q,"display":{"en-US":"file"},"contentType":%q,"length":%d,"sha2":%q}]`, usage, ct, len(content), sha(content)))
}

func TestAttachments(t *testing.T) {
	f := newFixture(t, nil)
	const text = "hello attachment"
	st := withAttachment(text, "http://example.com/usage", "text/plain")
	body, ct := multipartBody(t, st, [3]string{"text/plain", sha(text), text})
	for _, tc := range []struct {
		name, body, ct string
		want           int
	}{
		{"payload missing (JSON request)", st, "application/json", 400},
		{"payload missing (multipart)", func() string { b, _ := multipartBody(t, st); return b }(), ct, 400},
		{"hash does not match", func() string { b, _ := multipartBody(t, st, [3]string{"text/plain", sha(text), "other"}); return b }(), ct, 400},
		{"payload of no attachment", func() string {
			b, _ := multipartBody(t, good, [3]string{"text/plain", sha(text), text})
			return b
		}(), ct, 400},
		{"first part not JSON", strings.Replace(body, "application/json", "text/plain", 1), ct, 400},
		{"attachment over the limit", func() string {
			big := strings.Repeat("x", 5<<10)
			b, _ := multipartBody(t, withAttachment(big, "http://example.com/usage", "text/plain"), [3]string{"text/plain", sha(big), big})
			return b
		}(), ct, 413},
		{"fileUrl needs no payload", strings.Replace(st, `"sha2"`, `"fileUrl":"https://example.com/f.txt","sha2"`, 1), "application/json", 200},
		{"good", body, ct, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each body carries its own boundary: take it from the body.
			bct := tc.ct
			if strings.HasPrefix(tc.ct, "multipart") {
				bct = "multipart/mixed; boundary=" + strings.TrimPrefix(strings.SplitN(tc.body, "\r\n", 2)[0], "--")
			}
			resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: tc.body, contentType: bct})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
	// GET with attachments=true answers multipart with the payload.
	hr, _ := http.NewRequest("GET", f.srv.URL+"/xapi/statements"+q("activity", "https://example.com/att", "attachments", "true"), nil)
	hr.SetBasicAuth("admin", "admin-secret")
	hr.Header.Set("X-Experience-API-Version", "1.0.3")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/mixed" {
		t.Fatalf("attachments=true answered %s", mt)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	first, _ := mr.NextPart()
	if first.Header.Get("Content-Type") != "application/json" {
		t.Errorf("first part is %s", first.Header.Get("Content-Type"))
	}
	io.Copy(io.Discard, first)
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal("no attachment part:", err)
	}
	got, _ := io.ReadAll(p)
	if string(got) != text || p.Header.Get("X-Experience-API-Hash") != sha(text) || p.Header.Get("Content-Transfer-Encoding") != "binary" {
		t.Errorf("attachment part %q with headers %v", got, p.Header)
	}
}

// signed builds a signed statement request: the JWS of the statement
// (without attachments) as a signature attachment.
func signed(t *testing.T, key, certKey *rsa.PrivateKey, alg string, payload string) (string, string) {
	t.Helper()
	header := map[string]any{"alg": alg}
	if certKey != nil {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
		if err != nil {
			t.Fatal(err)
		}
		header["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
	}
	hb, _ := json.Marshal(header)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, 0x5, digest[:]) // crypto.SHA256
	if err != nil {
		t.Fatal(err)
	}
	jws := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	st := strings.TrimSuffix(stmt("ada@example.com", "completed", "signed"), "}") + fmt.Sprintf(
		`,"attachments":[{"usageType":"http://adlnet.gov/expapi/attachments/signature","display":{"en-US":"sig"},"contentType":"application/octet-stream","length":%d,"sha2":%q}]}`, len(jws), sha(jws))
	return multipartBody(t, st, [3]string{"application/octet-stream", sha(jws), jws})
}

func TestSignedStatements(t *testing.T) {
	f := newFixture(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	orig := stmt("ada@example.com", "completed", "signed")
	for _, tc := range []struct {
		name    string
		body    func() (string, string)
		want    int
		wantErr string
	}{
		{"RS256 with x5c", func() (string, string) { return signed(t, key, key, "RS256", orig) }, 200, ""},
		{"RS256 without x5c", func() (string, string) { return signed(t, key, nil, "RS256", orig) }, 200, ""},
		{"HS256 is rejected", func() (string, string) { return signed(t, key, nil, "HS256", orig) }, 400, "algorithm"},
		{"payload differs", func() (string, string) {
			return signed(t, key, nil, "RS256", stmt("ada@example.com", "completed", "other"))
		}, 400, "equivalent"},
		{"payload not JSON", func() (string, string) { return signed(t, key, nil, "RS256", "{nope") }, 400, "payload"},
		{"signature does not verify with x5c", func() (string, string) { return signed(t, key, other, "RS256", orig) }, 400, "verify"},
		{"signature with wrong content type", func() (string, string) {
			b, ct := signed(t, key, nil, "RS256", orig)
			return strings.Replace(b, `"contentType":"application/octet-stream"`, `"contentType":"text/plain"`, 1), ct
		}, 400, "octet-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := tc.body()
			resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: body, contentType: ct})
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantErr) {
				t.Fatalf("status %d, want %d (%q): %s", resp.StatusCode, tc.want, tc.wantErr, b)
			}
		})
	}
}

func TestAlternateRequestSyntax(t *testing.T) {
	f := newFixture(t, nil)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin-secret"))
	id := "5e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"
	for _, tc := range []struct {
		name, path, body string
		want             int
		// headers: the credentials and version come as real headers
		headers bool
	}{
		{"PUT with header credentials", "/xapi/statements?method=PUT", formValues("statementId", "6e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", "content", good), 204, true},
		{"GET with header credentials", "/xapi/statements?method=GET", formValues("limit", "1"), 200, true},
		{"form version replaces the header's", "/xapi/statements?method=PUT", formValues("statementId", "7e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
			"X-Experience-API-Version", "0.8", "content", good), 400, true},
		{"body that is not a form", "/xapi/statements?method=PUT", `{"statementId":"8e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b","content":{}}`, 400, true},
		{"PUT a statement", "/xapi/statements?method=PUT", formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3",
			"Content-Type", "application/json", "statementId", id, "content", good), 204, false},
		{"GET it", "/xapi/statements?method=GET", formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3", "statementId", id), 200, false},
		{"no credentials in the form", "/xapi/statements?method=GET", formValues("X-Experience-API-Version", "1.0.3", "statementId", id), 401, false},
		{"other query parameters", "/xapi/statements?method=GET&statementId=" + id, formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3"), 400, false},
		{"unknown method", "/xapi/statements?method=PATCH", formValues("Authorization", auth), 400, false},
		{"state PUT", "/xapi/activities/state?method=PUT", formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3", "Content-Type", "application/json",
			"activityId", "https://example.com/a", "agent", agentAda, "stateId", "s1", "content", `{"x":1}`), 204, false},
		{"activities GET", "/xapi/activities?method=GET", formValues("Authorization", auth, "X-Experience-API-Version", "1.0.3", "activityId", "https://example.com/a"), 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req{method: "POST", path: tc.path, body: tc.body, user: "-", noVersion: true, contentType: "application/x-www-form-urlencoded"}
			if tc.headers {
				r.user, r.noVersion = "", false
			}
			resp, b := f.do(t, r)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
}

func TestAlternateSyntaxOnlyOnPOST(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/xapi/statements?method=POST", "/xapi/activities/state?method=PUT"} {
		if resp, _ := f.do(t, req{method: "GET", path: path}); resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400", path, resp.StatusCode)
		}
	}
}

func TestCORSAndHead(t *testing.T) {
	f := newFixture(t, nil)
	f.post(t, good)
	// Preflight needs no credentials.
	resp, _ := f.do(t, req{method: "OPTIONS", path: "/xapi/statements", user: "-", noVersion: true,
		headers: map[string]string{"Origin": "https://content.example", "Access-Control-Request-Method": "PUT"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://content.example" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = f.do(t, req{method: "GET", path: "/xapi/statements", headers: map[string]string{"Origin": "https://content.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://content.example" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("GET from another origin: %v", resp.Header)
	}
	// An allow list keeps other origins out.
	g := newFixture(t, func(c *_cfg) { c.Statements.(*api.XAPI).AllowedOrigins = []string{"https://ok.example"} })
	resp, _ = g.do(t, req{method: "GET", path: "/xapi/about", headers: map[string]string{"Origin": "https://evil.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("origin outside the allow list was allowed")
	}
	resp, _ = g.do(t, req{method: "GET", path: "/xapi/about", headers: map[string]string{"Origin": "https://ok.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ok.example" {
		t.Errorf("origin in the allow list was refused")
	}
	// HEAD on every resource: the GET's status and headers, no body.
	f.do(t, req{method: "PUT", path: "/xapi/activities/state" + q("activityId", "https://example.com/a", "agent", agentAda, "stateId", "s"), body: `{"a":1}`})
	for _, path := range []string{
		"/xapi/about",
		"/xapi/statements",
		"/xapi/activities" + q("activityId", "https://example.com/a"),
		"/xapi/agents" + q("agent", agentAda),
		"/xapi/activities/state" + q("activityId", "https://example.com/a", "agent", agentAda, "stateId", "s"),
		"/xapi/activities/profile" + q("activityId", "https://example.com/a"),
		"/xapi/agents/profile" + q("agent", agentAda),
	} {
		resp, b := f.do(t, req{method: "HEAD", path: path})
		if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("X-Experience-API-Version") == "" {
			t.Errorf("HEAD %s: %d, %d body bytes", path, resp.StatusCode, len(b))
		}
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for key, scopes := range map[string][]string{
		"mine":    {"statements/read/mine", "statements/write"},
		"writer":  {"statements/write"},
		"state":   {"state"},
		"profile": {"profile"},
		"allread": {"all/read"},
	} {
		if _, err := f.creds.Put(ctx, key, key+"-secret", key, "t1", scopes); err != nil {
			t.Fatal(err)
		}
	}
	theirs := f.post(t, good)[0]
	resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: good, user: "mine", pass: "mine-secret"})
	var mineIDs []string
	json.Unmarshal(b, &mineIDs)
	if resp.StatusCode != 200 {
		t.Fatalf("mine POST: %d %s", resp.StatusCode, b)
	}
	res, _ := f.query(t, "", req{user: "mine", pass: "mine-secret"})
	if got := ids(res); fmt.Sprint(got) != fmt.Sprint(mineIDs) {
		t.Errorf("statements/read/mine sees %v, want only its own %v", got, mineIDs)
	}
	if resp, _ := f.do(t, req{method: "GET", path: "/xapi/statements" + q("statementId", theirs), user: "mine", pass: "mine-secret"}); resp.StatusCode != 404 {
		t.Errorf("statements/read/mine reads another authority's statement: %d", resp.StatusCode)
	}
	stateURL := "/xapi/activities/state" + q("activityId", "https://example.com/a", "agent", agentAda, "stateId", "s")
	profURL := "/xapi/activities/profile" + q("activityId", "https://example.com/a", "profileId", "p")
	for _, tc := range []struct {
		name, user, method, path string
		want                     int
	}{
		{"writer cannot read statements", "writer", "GET", "/xapi/statements", 403},
		{"state writes state", "state", "PUT", stateURL, 204},
		{"state cannot read statements", "state", "GET", "/xapi/statements", 403},
		{"state cannot write profiles", "state", "PUT", profURL, 403},
		{"profile writes profiles", "profile", "PUT", profURL, 204},
		{"profile cannot write state", "profile", "PUT", stateURL, 403},
		{"all/read reads state", "allread", "GET", stateURL, 200},
		{"all/read cannot write state", "allread", "PUT", stateURL, 403},
		{"all/read reads statements", "allread", "GET", "/xapi/statements", 200},
		{"reader cannot write documents", "reader", "PUT", stateURL, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "PUT" {
				body = `{"k":1}`
			}
			resp, b := f.do(t, req{method: tc.method, path: tc.path, body: body, user: tc.user, pass: tc.user + "-secret",
				headers: map[string]string{"If-None-Match": "*"}})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
}

func TestAboutAndAgents(t *testing.T) {
	f := newFixture(t, nil)
	resp, b := f.do(t, req{method: "GET", path: "/xapi/about", user: "-", noVersion: true})
	var about struct {
		Version    []string       `json:"version"`
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(b, &about); err != nil || resp.StatusCode != 200 || !slices.Contains(about.Version, "1.0.3") || !slices.Contains(about.Version, "2.0.0") {
		t.Errorf("about: %d %s", resp.StatusCode, b)
	}
	f.post(t, stmt("ada@example.com", "completed", "x"))
	_, b = f.do(t, req{method: "GET", path: "/xapi/agents" + q("agent", agentAda)})
	var p map[string]any
	json.Unmarshal(b, &p)
	if p["objectType"] != "Person" || fmt.Sprint(p["name"]) != "[ada]" || fmt.Sprint(p["mbox"]) != "[mailto:ada@example.com]" {
		t.Errorf("person: %s", b)
	}
	for _, path := range []string{"/xapi/agents", "/xapi/agents?agent=nope", "/xapi/activities", "/xapi/activities?activityId=x%20y"} {
		if resp, _ := f.do(t, req{method: "GET", path: path}); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", path, resp.StatusCode)
		}
	}
	if resp, _ := f.do(t, req{method: "POST", path: "/xapi/activities", body: "{}"}); resp.StatusCode != 405 {
		t.Errorf("POST /xapi/activities: %d, want 405", resp.StatusCode)
	}
}

func urlq(s string) string { return url.QueryEscape(s) }

func TestAdminCreatesCredentials(t *testing.T) {
	f := newFixture(t, nil)
	resp, b := f.do(t, req{method: "POST", path: "/v1/admin/credentials", body: `{"name":"player","scopes":["statements/write","statements/read/mine"]}`})
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var c struct{ Key, Secret, Tenant string }
	json.Unmarshal(b, &c)
	if c.Key == "" || len(c.Secret) < 8 || c.Tenant != "t1" {
		t.Fatalf("created %s", b)
	}
	if resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: good, user: c.Key, pass: c.Secret}); resp.StatusCode != 200 {
		t.Errorf("the new credential cannot write: %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name, user, pass, body string
		want                   int
	}{
		{"needs scope all", "reader", "reader-secret", `{"scopes":["all"]}`, 403},
		{"unknown scope", "admin", "admin-secret", `{"scopes":["everything"]}`, 400},
		{"unknown field", "admin", "admin-secret", `{"scopes":["all"],"admin":true}`, 400},
		{"operators may create for another tenant", "op", "op-secret", `{"tenant":"t3","scopes":["all"]}`, 201},
		{"a tenant's all may not", "admin", "admin-secret", `{"tenant":"t3","scopes":["all"]}`, 403},
		{"other tenants may not", "other", "other-secret", `{"tenant":"t1","scopes":["all"]}`, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, b := f.do(t, req{method: "POST", path: "/v1/admin/credentials", body: tc.body, user: tc.user, pass: tc.pass}); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
}

// TestDefineScope: a credential without define (or all) stores statements
// whose activity definitions do not become the canonical ones; a
// credential with define changes them.
func TestDefineScope(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for key, scopes := range map[string][]string{
		"player":  {"statements/write"},
		"author":  {"statements/write", "define"},
		"checker": {"statements/read"},
	} {
		if _, err := f.creds.Put(ctx, key, key+"-secret", key, "t1", scopes); err != nil {
			t.Fatal(err)
		}
	}
	stmt := func(name string) string {
		return `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},
		  "object":{"id":"https://example.com/define","definition":{"name":{"en-US":"` + name + `"}}}}`
	}
	name := func() string {
		t.Helper()
		resp, b := f.do(t, req{method: "GET", path: "/xapi/activities" + q("activityId", "https://example.com/define"), user: "checker", pass: "checker-secret"})
		if resp.StatusCode != 200 {
			t.Fatalf("GET activities: %d %s", resp.StatusCode, b)
		}
		var act struct {
			ID         string `json:"id"`
			Definition struct {
				Name map[string]string `json:"name"`
			} `json:"definition"`
		}
		json.Unmarshal(b, &act)
		if act.ID != "https://example.com/define" {
			t.Fatalf("activity id not served: %s", b)
		}
		return act.Definition.Name["en-US"]
	}
	for _, step := range []struct{ user, name, want string }{
		{"player", "From a player", ""},                // id stored, definition not
		{"author", "From an author", "From an author"}, // define: saved
		{"player", "Player again", "From an author"},   // not updated
	} {
		resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: stmt(step.name), user: step.user, pass: step.user + "-secret"})
		if resp.StatusCode != 200 {
			t.Fatalf("%s POST: %d %s", step.user, resp.StatusCode, b)
		}
		if got := name(); got != step.want {
			t.Errorf("after %s stored %q: canonical name %q, want %q", step.user, step.name, got, step.want)
		}
	}
	// The statement itself keeps what was sent.
	res, _ := f.query(t, q("activity", "https://example.com/define"), req{user: "checker", pass: "checker-secret"})
	if !strings.Contains(fmt.Sprint(res), "Player again") {
		t.Errorf("the statement lost its own definition: %v", res)
	}
}

// slowLookup is the statements projection with the id lookup of writes
// held at a gate, to look at the server between a write's lookup and its
// publication.
type slowLookup struct {
	*projections.Statements
	id      string
	once    *sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (s slowLookup) StatementsByID(ctx context.Context, tenant string, ids []string) (map[string][]byte, error) {
	if slices.Contains(ids, s.id) {
		s.once.Do(func() {
			close(s.entered)
			<-s.gate
		})
	}
	return s.Statements.StatementsByID(ctx, tenant, ids)
}

func (s slowLookup) Statement(ctx context.Context, tenant, id string) ([]byte, error) {
	if id == s.id {
		s.once.Do(func() {
			close(s.entered)
			<-s.gate
		})
	}
	return s.Statements.Statement(ctx, tenant, id)
}

// A write's stored time is taken after the lookup of its id, and held at
// once: a read answered while the lookup runs may claim consistency up to
// its own time, so a statement must not carry a stored time before that
// (taken before the lookup, it did: the header claimed a statement that
// was not yet readable).
func TestConsistentThroughDuringAWritesLookup(t *testing.T) {
	const id = "7a9e3c52-1f0b-4c8e-9d2a-5b6c7d8e9f01"
	slow := slowLookup{id: id, once: new(sync.Once), entered: make(chan struct{}), gate: make(chan struct{})}
	f := newFixture(t, func(c *api.Config) {
		x := c.Statements.(*api.XAPI)
		slow.Statements = x.Statements.(*projections.Statements)
		x.Statements = slow
	})
	done := make(chan []string, 1)
	go func() {
		resp, b := f.do(t, req{method: "POST", path: "/xapi/statements", body: stmt("ada@example.com", "completed", "a", `"id":"`+id+`"`)})
		if resp.StatusCode != 200 {
			t.Errorf("POST: %d %s", resp.StatusCode, b)
		}
		done <- nil
	}()
	<-slow.entered
	time.Sleep(3 * time.Millisecond)
	_, resp := f.query(t, "", req{})
	claimed, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Experience-API-Consistent-Through"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // past the millisecond stored times are cut to
	close(slow.gate)
	<-done
	resp, b := f.do(t, req{method: "GET", path: "/xapi/statements?statementId=" + id})
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d %s", resp.StatusCode, b)
	}
	var got struct{ Stored time.Time }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Stored.After(claimed) {
		t.Errorf("a read during the write's lookup claimed consistency through %v, yet the write is stored %v", claimed, got.Stored)
	}
}

// X-Experience-API-Consistent-Through never names a time at or after the
// stored time of a write the statements projection has not applied, even
// once that write was answered after the consistency timeout (issue 17:
// the header ran ahead of an unapplied write while reads answered 404).
func TestConsistentThroughNeverClaimsAnUnappliedWrite(t *testing.T) {
	f := newFixture(t, func(c *api.Config) { c.ConsistencyTimeout = 100 * time.Millisecond })
	header := func(resp *http.Response) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Experience-API-Consistent-Through"))
		if err != nil {
			t.Fatalf("X-Experience-API-Consistent-Through %q: %v", resp.Header.Get("X-Experience-API-Consistent-Through"), err)
		}
		return v
	}
	f.post(t, stmt("ada@example.com", "completed", "a"))

	gate := make(chan struct{})
	f.log.mu.Lock()
	f.log.gate = gate
	f.log.mu.Unlock()
	ids := f.post(t, stmt("bob@example.com", "completed", "b")) // answered after the timeout
	stored := f.log.evs[len(f.log.evs)-1].Time

	resp, _ := f.do(t, req{method: "GET", path: "/xapi/statements?statementId=" + ids[0]})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unapplied statement: %d, want 404", resp.StatusCode)
	}
	if through := header(resp); !through.Before(stored) {
		t.Errorf("404 for a statement stored %v, yet consistent through %v", stored, through)
	}
	_, resp = f.query(t, "", req{})
	if through := header(resp); !through.Before(stored) {
		t.Errorf("query while a write stored %v is unapplied claims %v", stored, through)
	}

	close(gate)
	<-f.log.applied
	resp, _ = f.do(t, req{method: "GET", path: "/xapi/statements?statementId=" + ids[0]})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("applied statement: %d", resp.StatusCode)
	}
	if through := header(resp); through.Before(stored) {
		t.Errorf("after the write applied, consistent only through %v (stored %v)", through, stored)
	}
}
