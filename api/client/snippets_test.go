package client

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
)

// The Python and Node verifiers of docs/integrations.md accept a record
// signed by learnstream's own code and reject it once its value, key or
// tenant changed. Each runs when its interpreter is installed; otherwise
// the case skips and says so, unless LEARNSTREAM_REQUIRE_SERVICES=1.
func TestVerifySnippets(t *testing.T) {
	md, err := os.ReadFile("../../docs/integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	snippet := func(lang string) string {
		m := regexp.MustCompile("(?s)```" + lang + " verify\n(.*?)```").FindSubmatch(md)
		if m == nil {
			t.Fatalf("docs/integrations.md has no ```%s verify block", lang)
		}
		return string(m[1])
	}
	key := []byte(strings.Repeat("\x5a", 32))
	ev, err := event.New("6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f", TypeStatementStored, "https://lrs.example", "t1",
		"mbox:mailto:ada@example.com", mustTime(t, "2026-11-29T10:00:00.123456789Z"), []byte(`{"id":"6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f"}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.Extensions = map[string]string{"xapidefine": "false", "abc": "1"}
	ev = event.Sign(ev, key)
	headers := map[string]string{}
	for _, h := range ev.Headers() {
		headers[h.Key] = base64.StdEncoding.EncodeToString(h.Value)
	}
	if err := event.Verify(ev, key); err != nil {
		t.Fatal(err)
	}
	type record struct {
		Headers map[string]string `json:"headers"`
		Key     string            `json:"key"`
		Value   string            `json:"value"`
		Want    bool              `json:"want"`
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tampered := func(k, v string) map[string]string {
		out := map[string]string{}
		for h, x := range headers {
			out[h] = x
		}
		out[k] = b64(v)
		return out
	}
	cases := []record{
		{headers, b64(ev.Key), b64(string(ev.Data)), true},
		{headers, b64(ev.Key), b64(`{"id":"other"}`), false},
		{headers, b64("mbox:mailto:eve@example.com"), b64(string(ev.Data)), false},
		{tampered("tenant", "t2"), b64(ev.Key), b64(string(ev.Data)), false},
		{tampered("ce_xapidefine", "true"), b64(ev.Key), b64(string(ev.Data)), false},
	}
	in := filepath.Join(t.TempDir(), "cases.json")
	data, _ := json.Marshal(map[string]any{"key": hex.EncodeToString(key), "cases": cases})
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang, interp, driver string
	}{
		{"python", "python3", snippet("python") + `
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    hs = {k: base64.b64decode(v) for k, v in c["headers"].items()}
    got = verify(d["key"], hs, base64.b64decode(c["key"]), base64.b64decode(c["value"]))
    print("ok" if got == c["want"] else "WRONG", got)
`},
		{"js", "node", snippet("js") + `
const d = JSON.parse(require('fs').readFileSync(process.argv[process.argv.length - 1]));
for (const c of d.cases) {
  const hs = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  const got = verify(d.key, hs, Buffer.from(c.key, 'base64'), Buffer.from(c.value, 'base64'));
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
			lines := strings.Fields(string(out))
			if strings.Count(string(out), "ok") != len(cases) || strings.Contains(string(out), "WRONG") {
				t.Errorf("the %s snippet: %v, want ok for each of %d cases", tc.lang, lines, len(cases))
			}
		})
	}
}
