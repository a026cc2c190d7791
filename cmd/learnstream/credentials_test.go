package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// created parses the key and secret `credentials create` prints.
func created(t *testing.T, out string) (key, secret string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "key "); ok {
			key = v
		}
		if v, ok := strings.CutPrefix(line, "secret "); ok {
			secret = v
		}
	}
	if key == "" || secret == "" {
		t.Fatalf("credentials create printed no key/secret:\n%s", out)
	}
	return key, secret
}

// as sends an xAPI request with the given credential and returns the status.
func (p *proc) as(t *testing.T, key, secret, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, secret)
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCredentialsCreateThroughServerEnforcesScopes(t *testing.T) {
	p := startServe(t, credEnv(), "--data-dir", t.TempDir())
	out, errOut, err := cli(t, "credentials", "create", "--server", p.url, "--scopes", "statements/read", "--name", "reporting")
	if err != nil {
		t.Fatalf("credentials create: %v\n%s", err, errOut)
	}
	key, secret := created(t, out)
	if !strings.Contains(out, "scopes statements/read") {
		t.Errorf("output does not list the scopes:\n%s", out)
	}

	if code, _, b := p.do(t, "POST", "/xapi/statements", statement(1)); code != http.StatusOK {
		t.Fatalf("admin POST: %d %s", code, b)
	}
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"read is granted", "GET", "/xapi/statements", "", http.StatusOK},
		{"write is not", "POST", "/xapi/statements", statement(2), http.StatusForbidden},
		{"state is not", "GET", "/xapi/activities/state?activityId=https://example.com/a&agent=" +
			`%7B%22mbox%22%3A%22mailto%3Aa%40example.com%22%7D&stateId=s`, "", http.StatusForbidden},
	} {
		if got := p.as(t, key, secret, tc.method, tc.path, tc.body); got != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
	if got := p.as(t, key, "wrong-secret", "GET", "/xapi/statements", ""); got != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", got)
	}
}

func TestCredentialsCreateOfflineWritesDataDir(t *testing.T) {
	dir := t.TempDir()
	// Nothing listens on port 1: the command writes to --data-dir.
	out, errOut, err := cli(t, "credentials", "create", "--server", "http://127.0.0.1:1", "--data-dir", dir,
		"--scopes", "statements/write,statements/read/mine", "--key-id", "player-1", "--new-secret", "player-secret-1")
	if err != nil {
		t.Fatalf("credentials create: %v\n%s", err, errOut)
	}
	if key, secret := created(t, out); key != "player-1" || secret != "player-secret-1" {
		t.Fatalf("created %s/%s, want the requested key and secret", key, secret)
	}
	if !strings.Contains(errOut, "writing to") {
		t.Errorf("stderr does not say it wrote offline:\n%s", errOut)
	}
	p := startServe(t, credEnv(), "--data-dir", dir)
	if got := p.as(t, "player-1", "player-secret-1", "POST", "/xapi/statements", statement(3)); got != http.StatusOK {
		t.Fatalf("offline-created credential POST: %d, want 200", got)
	}
	if got := p.as(t, "player-1", "player-secret-1", "GET", "/xapi/statements", ""); got != http.StatusOK {
		t.Errorf("statements/read/mine GET: %d, want 200 (filtered to its own statements)", got)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scopes", []string{"credentials", "create", "--server", "http://127.0.0.1:1", "--data-dir", t.TempDir()}, "--scopes"},
		{"unknown scope", []string{"credentials", "create", "--server", "http://127.0.0.1:1", "--data-dir", t.TempDir(), "--scopes", "statements/erase"}, "statements/erase"},
		{"no subcommand", []string{"credentials"}, "usage"},
	} {
		_, errOut, err := cli(t, tc.args...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: err %v, stderr %q; want a failure naming %q", tc.name, err, errOut, tc.want)
		}
	}
}

// TestCredentialsSurviveRebuiltProjections: credentials are events on the
// log, so a projections directory moved aside (or lost) is rebuilt with
// every tenant's credentials, and a revoked one stays revoked.
func TestCredentialsSurviveRebuiltProjections(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), "--data-dir", dir)
	type cred struct{ key, secret string }
	var creds []cred
	for _, tenant := range []string{"acme", "globex", "acme"} {
		out, errOut, err := cli(t, "credentials", "create", "--server", p.url, "--tenant", tenant, "--scopes", "all")
		if err != nil {
			t.Fatalf("credentials create --tenant %s: %v\n%s", tenant, err, errOut)
		}
		k, s := created(t, out)
		creds = append(creds, cred{k, s})
	}
	revoked := creds[2]
	if code, _, b := p.do(t, "DELETE", "/v1/admin/credentials/"+revoked.key, ""); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, b)
	}
	check := func(p *proc, when string) {
		t.Helper()
		for i, c := range creds[:2] {
			if got := p.as(t, c.key, c.secret, "POST", "/xapi/statements", statement(10+i)); got != http.StatusOK {
				t.Errorf("%s: tenant credential %d POST = %d, want 200", when, i, got)
			}
		}
		if got := p.as(t, revoked.key, revoked.secret, "GET", "/xapi/statements", ""); got != http.StatusUnauthorized {
			t.Errorf("%s: revoked credential GET = %d, want 401", when, got)
		}
	}
	check(p, "before restart")
	p.stop(t)
	if err := os.RemoveAll(filepath.Join(dir, "projections")); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, credEnv(), "--data-dir", dir)
	check(p, "after the projections dir was deleted")
}
