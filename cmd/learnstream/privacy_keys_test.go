package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// serveDataDirs maps the Kafka bootstrap address of a serve process under
// test to its data dir, where its generated privacy master key is.
var serveDataDirs sync.Map

// serverKeys opens the key store of the server at broker, as a consumer
// of that install would, for the test's life.
func serverKeys(t *testing.T, ctx context.Context, broker string) *streams.Vault {
	t.Helper()
	dir, ok := serveDataDirs.Load(broker)
	if !ok {
		t.Fatalf("no serve process known for broker %s", broker)
	}
	// The key the server generated into its data dir, or the one tests
	// give it on real Kafka.
	keys, _, err := streams.LoadMasterKeys(filepath.Join(dir.(string), streams.MasterKeyFile), "")
	if err != nil {
		keys, _, err = streams.LoadMasterKeys(testMasterKeyFile(), "")
	}
	if err != nil {
		t.Fatalf("the server's master key: %v", err)
	}
	v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: []string{broker}, Master: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// recordOpener returns what a consumer of the server at broker sees of a
// raw record's data: opened with the server's key store. It fails the
// test when a personal event travels in clear, so the schema checks
// built on it check the log is sealed as well as well-formed.
func recordOpener(t *testing.T, ctx context.Context, broker string) func(m kafka.Message) []byte {
	t.Helper()
	v := serverKeys(t, ctx, broker)
	return func(m kafka.Message) []byte {
		t.Helper()
		hs := make([]event.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = event.Header{Key: h.Key, Value: h.Value}
		}
		e, err := event.FromHeaders(hs, m.Key, m.Value)
		if err != nil || m.Value == nil {
			return m.Value
		}
		_, sealed := e.Extensions[privacy.ExtSealed]
		if privacy.Personal(e.Type) && !sealed && e.Type != projections.TypeDocument {
			t.Errorf("personal event %s %s travels in clear on %s", e.Type, e.ID, m.Topic)
		}
		if sealed && !privacy.IsPseudonym(strings.TrimPrefix(string(m.Key), "learner_role:")) {
			t.Errorf("sealed event %s is keyed %q, not by a pseudonym", e.ID, m.Key)
		}
		o, err := privacy.OpenEvent(ctx, e, v)
		if err != nil {
			t.Errorf("event %s does not open: %v", e.ID, err)
			return m.Value
		}
		if o.Erased {
			// A record of an erased learner: nothing to read any more.
			return nil
		}
		return o.Data
	}
}

// testMasterKey is the master key of every server under test on the
// shared real Kafka broker: its key store outlives one test (and one
// run), so the key must too.
const testMasterKey = "test:bGVhcm5zdHJlYW0gdGVzdCBtYXN0ZXIga2V5LCAzMmI="

var masterKeyFileOnce = sync.OnceValue(func() string {
	dir, err := os.MkdirTemp("", "learnstream-master-key")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "master.keys")
	if err := os.WriteFile(path, []byte(testMasterKey+"\n"), 0o600); err != nil {
		panic(err)
	}
	return path
})

// testMasterKeyFile is a file holding testMasterKey.
func testMasterKeyFile() string { return masterKeyFileOnce() }

// TestServeRefusesWithoutItsMasterKey: a missing or wrong master key stops
// the start with an error that names the problem, and nothing is written.
func TestServeRefusesWithoutItsMasterKey(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short.keys")
	os.WriteFile(short, []byte("m1:"+base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))+"\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"external broker, no key", []string{"--kafka", "127.0.0.1:1"}, nil, "no privacy master key: give --privacy-master-key-file or LEARNSTREAM_PRIVACY_MASTER_KEY"},
		{"key of the wrong size", []string{"--privacy-master-key-file", short}, nil, `master key "m1": must be 32 bytes, got 16`},
		{"environment key not base64", nil, []string{streams.EnvMasterKey + "=m1:not base64!"}, "LEARNSTREAM_PRIVACY_MASTER_KEY: the key is not base64"},
		{"bad mode", []string{"--privacy", "maybe"}, nil, "--privacy: must be on or off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--http", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0"}, tc.args...)...)
			cmd.Env = append(append(os.Environ(), credEnv()...), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("error does not name the problem (%q):\n%s", tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "kafka")); err == nil && tc.args[0] != "--privacy" {
				t.Errorf("the broker's log was created before the key was checked")
			}
		})
	}
}

// TestServeGeneratesItsMasterKeyOnce: a fresh embedded install generates a
// master key into the data dir and warns; a data dir whose key store holds
// keys refuses to start once the key is gone (it never starts over with a
// new key), and starts again with the key given by file.
func TestServeGeneratesItsMasterKeyOnce(t *testing.T) {
	dir := t.TempDir()
	iso := isolate()
	p := startServe(t, credEnv(), append([]string{"--data-dir", dir}, iso...)...)
	code, _, _ := p.do(t, "POST", "/xapi/statements", `{"actor":{"mbox":"mailto:ada.lovelace@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`)
	if code != 200 {
		t.Fatalf("POST statement: %d", code)
	}
	p.stop(t)
	if !strings.Contains(p.logs.String(), "generated a privacy master key into the data dir: move it out") {
		t.Errorf("no warning about the generated key:\n%s", p.logs)
	}
	keyFile := filepath.Join(dir, streams.MasterKeyFile)
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v, %v", st, err)
	}
	// learnstream doctor says where the key is.
	if out, _, _ := cli(t, "doctor", "--data-dir", dir); !strings.Contains(out, "the privacy master key is in the data dir") {
		t.Errorf("doctor does not warn about the key in the data dir:\n%s", out)
	}
	// The operator moves the key out, but forgets to give it.
	moved := filepath.Join(t.TempDir(), "master.keys")
	if err := os.Rename(keyFile, moved); err != nil {
		t.Fatal(err)
	}
	if out, _, err := cli(t, "doctor", "--data-dir", dir); err == nil || !strings.Contains(out, "no master key is given or in the data dir: serve refuses to start") {
		t.Errorf("doctor does not fail on a key store without its key (%v):\n%s", err, out)
	}
	if out, _, _ := cli(t, "doctor", "--data-dir", dir, "--privacy-master-key-file", moved); !strings.Contains(out, "OK    key store") {
		t.Errorf("doctor with the key given:\n%s", out)
	}
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--http", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0"}, iso...)...)
	cmd.Env = append(os.Environ(), credEnv()...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no privacy master key, and the key store in") {
		t.Fatalf("start without the key of a key store: %v\n%s", err, out)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a new master key was generated over a key store that has keys")
	}
	// Given by file, it starts and reads what it wrote.
	p = startServe(t, credEnv(), append([]string{"--data-dir", dir, "--privacy-master-key-file", moved}, iso...)...)
	defer p.stop(t)
	code, _, body := p.do(t, "GET", "/xapi/statements?agent="+url.QueryEscape(`{"mbox":"mailto:ada.lovelace@example.com"}`), "")
	if code != 200 || !strings.Contains(string(body), "ada.lovelace@example.com") {
		t.Errorf("after restart with the moved key: %d %s", code, body)
	}
	if strings.Contains(p.logs.String(), "is in the data dir") {
		t.Error("warned about a key in the data dir that is not there")
	}
}

// TestKeysRotate: with a new master key first in the file, keys rotate
// rewraps the key store under it (saying how far it is), a second run has
// nothing to do, and the server then starts with the new key alone and
// reads what it wrote under the old one.
func TestKeysRotate(t *testing.T) {
	dir, keys := t.TempDir(), filepath.Join(t.TempDir(), "master.keys")
	oldKey := "old:" + base64.StdEncoding.EncodeToString([]byte("an old master key of 32 bytes!!!"))
	newKey := "new:" + base64.StdEncoding.EncodeToString([]byte("a new master key, of 32 bytes!!!"))
	os.WriteFile(keys, []byte(oldKey+"\n"), 0o600)
	iso := isolate()
	args := append([]string{"--data-dir", dir, "--privacy-master-key-file", keys}, iso...)
	p := startServe(t, credEnv(), args...)
	stmt := `{"actor":{"mbox":"mailto:grace.hopper@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`
	if code, _, body := p.do(t, "POST", "/xapi/statements", stmt); code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	p.stop(t)

	os.WriteFile(keys, []byte(newKey+"\n"+oldKey+"\n"), 0o600)
	p = startServe(t, credEnv(), args...)
	rotate := []string{"keys", "rotate", "--kafka", p.kafka, "--data-dir", dir, "--privacy-master-key-file", keys}
	out, _, err := cli(t, rotate...)
	if err != nil || !strings.Contains(out, "rewrapped 3 of 3 record(s) under master key new") || !strings.Contains(out, "can be retired") {
		t.Fatalf("keys rotate (%v):\n%s", err, out)
	}
	if out, _, err := cli(t, rotate...); err != nil || !strings.Contains(out, "rewrapped 0 of 0") {
		t.Errorf("second keys rotate (%v):\n%s", err, out)
	}
	out, _, err = cli(t, "keys", "status", "--kafka", p.kafka, "--data-dir", dir, "--privacy-master-key-file", keys)
	if err != nil || !strings.Contains(out, "map[new:3]") {
		t.Errorf("keys status (%v):\n%s", err, out)
	}
	p.stop(t)

	os.WriteFile(keys, []byte(newKey+"\n"), 0o600)
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	code, _, body := p.do(t, "GET", "/xapi/statements?agent="+url.QueryEscape(`{"mbox":"mailto:grace.hopper@example.com"}`), "")
	if code != 200 || !strings.Contains(string(body), "grace.hopper@example.com") {
		t.Errorf("after retiring the old key: %d %s", code, body)
	}
}

// TestServePrivacyOffSaysSo: --privacy=off (tools and tests) starts without
// a master key, generates none, and warns that it writes in clear.
func TestServePrivacyOffSaysSo(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, credEnv(), append([]string{"--data-dir", dir, "--privacy", "off"}, isolate()...)...)
	p.stop(t)
	if !strings.Contains(p.logs.String(), "PRIVACY IS OFF (--privacy=off): personal data of events is written to the log in clear") {
		t.Errorf("no warning that privacy is off:\n%s", p.logs)
	}
	if _, err := os.Stat(filepath.Join(dir, streams.MasterKeyFile)); err == nil {
		t.Error("a master key was generated with privacy off")
	}
}
