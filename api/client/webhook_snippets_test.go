package client

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/webhook"
)

// The webhook verifiers of docs/integrations.md (Python, Node) and
// VerifyWebhook (Go) accept deliveries signed by learnstream's own code,
// with the current secret and with one rotated out during its overlap, and
// refuse a changed body, a changed id, another secret and an old
// timestamp. Python and Node run when installed; otherwise the case skips
// and says so, unless LEARNSTREAM_REQUIRE_SERVICES=1.
func TestWebhookVerifySnippets(t *testing.T) {
	md, err := os.ReadFile("../../docs/integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	snippet := func(lang string) string {
		m := regexp.MustCompile("(?s)```" + lang + " webhook-verify\n(.*?)```").FindSubmatch(md)
		if m == nil {
			t.Fatalf("docs/integrations.md has no ```%s webhook-verify block", lang)
		}
		return string(m[1])
	}
	old, cur := webhook.NewSecret(), webhook.NewSecret()
	sub := webhook.Subscription{Secrets: []webhook.Secret{{Value: old}}}
	now := time.Now()
	sub.Rotate(cur, time.Hour, now)
	body := `{"type":"learnstream.xapi.statement.stored.v1","data":{"id":"x"}}`
	sign := func(secrets []string, id string, at time.Time) map[string]string {
		sig, err := webhook.Sign(secrets, id, at, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(at.Unix(), 10), "webhook-signature": sig}
	}
	both := sign(sub.SigningSecrets(now), "msg_1", now)
	type tcase struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Want    bool              `json:"want"`
	}
	changedID := sign(sub.SigningSecrets(now), "msg_1", now)
	changedID["webhook-id"] = "msg_2"
	cases := []tcase{
		{cur, both, body, true},
		{old, both, body, true},
		{cur, sign([]string{cur}, "msg_1", now), body, true},
		{old, sign([]string{cur}, "msg_1", now), body, false}, // the overlap ended
		{cur, both, strings.Replace(body, `"x"`, `"y"`, 1), false},
		{cur, changedID, body, false},
		{webhook.NewSecret(), both, body, false},
		{cur, sign([]string{cur}, "msg_1", now.Add(-time.Hour)), body, false},
	}
	for i, c := range cases {
		h := http.Header{}
		for k, v := range c.Headers {
			h.Set(k, v)
		}
		if got := VerifyWebhook(c.Secret, h, []byte(c.Body)) == nil; got != c.Want {
			t.Errorf("Go case %d: %v, want %v", i, got, c.Want)
		}
	}
	in := filepath.Join(t.TempDir(), "cases.json")
	enc := make([]map[string]any, len(cases))
	for i, c := range cases {
		enc[i] = map[string]any{"secret": c.Secret, "headers": c.Headers, "body": base64.StdEncoding.EncodeToString([]byte(c.Body)), "want": c.Want}
	}
	data, _ := json.Marshal(enc)
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, interp, driver string }{
		{"python", "python3", snippet("python") + `
import json, sys
for c in json.load(open(sys.argv[1])):
    got = verify_webhook(c["secret"], c["headers"], base64.b64decode(c["body"]))
    print("ok" if got == c["want"] else "WRONG", got)
`},
		{"js", "node", snippet("js") + `
for (const c of JSON.parse(require('fs').readFileSync(process.argv[process.argv.length - 1]))) {
  const got = verifyWebhook(c.secret, c.headers, Buffer.from(c.body, 'base64'));
  console.log(got === c.want ? 'ok' : 'WRONG', got);
}
`},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			path, err := exec.LookPath(tc.interp)
			if err != nil {
				if os.Getenv("LEARNSTREAM_REQUIRE_SERVICES") == "1" {
					t.Fatalf("%s is required: %v", tc.interp, err)
				}
				t.Skipf("SKIPPED: %s not installed", tc.interp)
			}
			script := filepath.Join(t.TempDir(), "verify."+map[string]string{"python": "py", "js": "js"}[tc.lang])
			if err := os.WriteFile(script, []byte(tc.driver), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(path, script, in).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.interp, err, out)
			}
			if strings.Count(string(out), "ok") != len(cases) || strings.Contains(string(out), "WRONG") {
				t.Errorf("the %s snippet: %s, want ok for each of %d cases", tc.lang, out, len(cases))
			}
		})
	}
}
