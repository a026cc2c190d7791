package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "learnstream-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "learnstream")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build learnstream:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testKey    = "test-admin"
	testSecret = "test-secret-123"
)

// proc is a running `learnstream serve`.
type proc struct {
	cmd   *exec.Cmd
	url   string
	kafka string // bootstrap address it uses
	// dataDir is its --data-dir.
	dataDir string
	logs    *bytes.Buffer
	done    chan struct{}
}

// startServe runs the binary with args and waits until it prints its URL.
func startServe(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--http", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	for i, a := range args {
		if a == "--data-dir" && i+1 < len(args) {
			p.dataDir = args[i+1]
		}
	}
	cmd.Stderr = &syncWriter{w: p.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlCh := make(chan string, 1)
	kafkaCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "learnstream listening on "); ok {
				urlCh <- u
			}
			if k, ok := strings.CutPrefix(line, "kafka bootstrap "); ok {
				k, _, _ = strings.Cut(k, " ")
				kafkaCh <- k
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	select {
	case p.url = <-urlCh:
		p.kafka = <-kafkaCh
		p.secureKafka(t)
		return p
	case <-p.done:
		t.Fatalf("serve exited early: %v\n%s", cmd.ProcessState, p.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start in 60s:\n%s", p.logs)
	}
	return nil
}

// secureKafka lets this test process's Kafka clients (streams helpers,
// and raw kafka-go ones through streams.Dialer and streams.Transport) in
// to the embedded broker of p, with the credential it generated.
func (p *proc) secureKafka(t testing.TB) {
	t.Helper()
	if p.dataDir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, brokerCredentialFile)); err != nil {
		return // external Kafka: no SASL in tests
	}
	serveDataDirs.Store(p.kafka, p.dataDir)
	password, _, err := brokerCredential(p.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Secure([]string{p.kafka}, streams.Security{Mechanism: streams.SASLScramSHA256,
		User: brokerUser, Password: password}); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(45 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack:
		// the log then says where serve was stuck.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		t.Fatalf("serve did not stop on SIGTERM (goroutines dumped by SIGQUIT at the end):\n%s", p.logs)
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", p.cmd.ProcessState, p.logs)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (p *proc) do(t testing.TB, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	code, h, b, err := p.try(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, h, b
}

// try is do for a request that may meet a process going down: it returns
// the transport's error.
func (p *proc) try(method, path, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth(testKey, testSecret)
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func statement(i int) string {
	return fmt.Sprintf(`{"actor":{"mbox":"mailto:learner%d@example.com","name":"Learner %d"},
	 "verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},
	 "object":{"id":"https://example.com/courses/c%d","definition":{"name":{"en-US":"Course"}}},
	 "result":{"completion":true,"score":{"scaled":0.8}}}`, i%7, i%7, i%3)
}

// testSigningKey is the signing key of the test processes (external Kafka
// needs one given; the embedded broker's tests use it too).
const testSigningKey = "7e57" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddee"

func credEnv() []string {
	return []string{"LEARNSTREAM_ADMIN_KEY=" + testKey, "LEARNSTREAM_ADMIN_SECRET=" + testSecret,
		"LEARNSTREAM_SIGNING_KEY=" + testSigningKey}
}

func kafkaArgs(c kafkatest.Cluster) []string {
	if c.Embedded != nil {
		return nil
	}
	// A fresh topic-free namespace is not possible on a shared broker, so
	// each test gets its own data dir and the statements it checks by id.
	return []string{"--kafka", strings.Join(c.Brokers, ","), "--privacy-master-key-file", testMasterKeyFile()}
}

func TestServeStatementRoundTripSurvivesKill(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		dir := t.TempDir()
		args := append([]string{"--data-dir", dir}, kafkaArgs(c)...)
		p := startServe(t, credEnv(), args...)

		code, _, body := p.do(t, "POST", "/xapi/statements", statement(1))
		if code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, body)
		}
		var ids []string
		if err := json.Unmarshal(body, &ids); err != nil || len(ids) != 1 {
			t.Fatalf("POST answered %s, want a one-id array", body)
		}
		check := func(p *proc) {
			t.Helper()
			code, h, body := p.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
			if code != http.StatusOK {
				t.Fatalf("GET: %d %s", code, body)
			}
			if h.Get("X-Experience-API-Version") != "1.0.3" {
				t.Errorf("GET lacks X-Experience-API-Version: %v", h)
			}
			if h.Get("X-Experience-API-Consistent-Through") == "" {
				t.Errorf("GET lacks X-Experience-API-Consistent-Through")
			}
			var st map[string]any
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatal(err)
			}
			if st["id"] != ids[0] || st["stored"] == nil || st["authority"] == nil || st["timestamp"] == nil {
				t.Errorf("stored statement lacks id/stored/authority/timestamp: %s", body)
			}
			auth, _ := st["authority"].(map[string]any)
			acct, _ := auth["account"].(map[string]any)
			if acct["name"] != testKey {
				t.Errorf("authority = %v, want the credential %s", auth, testKey)
			}
		}
		check(p)

		// PUT with a chosen id, then the same again (no-op), then different
		// content under that id (409).
		const id = "9a1f3c2e-6b7d-4e8f-9a0b-1c2d3e4f5a6b"
		if code, _, body := p.do(t, "PUT", "/xapi/statements?statementId="+id, statement(2)); code != http.StatusNoContent {
			t.Fatalf("PUT: %d %s", code, body)
		}
		if code, _, body := p.do(t, "PUT", "/xapi/statements?statementId="+id, statement(2)); code != http.StatusNoContent {
			t.Fatalf("PUT same again: %d %s", code, body)
		}
		if code, _, body := p.do(t, "PUT", "/xapi/statements?statementId="+id, statement(3)); code != http.StatusConflict {
			t.Fatalf("PUT different content: %d %s, want 409", code, body)
		}

		p.kill()
		p = startServe(t, credEnv(), args...)
		check(p)
		if code, _, _ := p.do(t, "GET", "/xapi/statements?statementId="+id, ""); code != http.StatusOK {
			t.Errorf("PUT statement missing after kill -9: %d", code)
		}
		// Still writable after the restart.
		if code, _, body := p.do(t, "POST", "/xapi/statements", statement(4)); code != http.StatusOK {
			t.Fatalf("POST after restart: %d %s", code, body)
		}
		p.stop(t)
	})
}

// Every statement acknowledged before SIGTERM (or kill -9) is readable after
// a restart.
func TestServeKeepsEveryAcknowledgedStatement(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
				dir := t.TempDir()
				args := append([]string{"--data-dir", dir}, kafkaArgs(c)...)
				p := startServe(t, credEnv(), args...)

				// Signal in the middle of the load: once 300 writes were
				// acknowledged and while more are in flight.
				l := startLoad(p, 8)
				l.waitAcked(t, 300)
				p.cmd.Process.Signal(sig)
				<-p.done
				acked := l.stop()

				p = startServe(t, credEnv(), args...)
				defer p.stop(t)
				missing := 0
				for _, id := range acked {
					if code, _, _ := p.do(t, "GET", "/xapi/statements?statementId="+id, ""); code != http.StatusOK {
						missing++
					}
				}
				if missing > 0 {
					t.Fatalf("%d of %d acknowledged statements missing after %v and restart", missing, len(acked), sig)
				}
				t.Logf("%d acknowledged statements all present after %v", len(acked), sig)
			})
		})
	}
}

func TestServeRefusesToStartWithoutCredentials(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LEARNSTREAM_ADMIN_KEY=", "LEARNSTREAM_ADMIN_SECRET=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started without credentials:\n%s", out)
	}
	if !strings.Contains(string(out), "LEARNSTREAM_ADMIN_KEY") || !strings.Contains(string(out), "--dev") {
		t.Errorf("error does not say how to fix it:\n%s", out)
	}
}

// TestServeDevPrintsCredential: --dev prints a working credential, and the
// same one after a restart on the same data dir.
func TestServeDevPrintsCredential(t *testing.T) {
	dir := t.TempDir()
	var first [2]string
	for start := range 2 {
		url, key, secret, stop := startDev(t, dir)
		if start == 0 {
			first = [2]string{key, secret}
		} else if key != first[0] || secret != first[1] {
			t.Errorf("restart printed credential %s:%s, first start %s:%s", key, secret, first[0], first[1])
		}
		req, _ := http.NewRequest("POST", url+"/xapi/statements", strings.NewReader(statement(1)))
		req.SetBasicAuth(first[0], first[1])
		req.Header.Set("X-Experience-API-Version", "1.0.3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("start %d: POST with the first printed dev credential: %d", start+1, resp.StatusCode)
		}
		stop()
	}
}

// startDev runs serve --dev on dir until it printed its URL and
// credential; stop ends it with SIGTERM (also run at cleanup).
func startDev(t *testing.T, dir string) (url, key, secret string, stop func()) {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--dev", "--data-dir", dir, "--http", "127.0.0.1:0", "--broker-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LEARNSTREAM_ADMIN_KEY=", "LEARNSTREAM_ADMIN_SECRET=")
	stdout, _ := cmd.StdoutPipe()
	var logs bytes.Buffer
	cmd.Stderr = &syncWriter{w: &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }) }
	t.Cleanup(stop)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (url == "" || key == "") {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "learnstream listening on "); ok {
			url = u
		}
		if rest, ok := strings.CutPrefix(line, "dev credential (all scopes): key "); ok {
			key, secret, _ = strings.Cut(rest, " secret ")
		}
	}
	go io.Copy(io.Discard, stdout)
	if url == "" || key == "" || secret == "" {
		stop()
		t.Fatalf("serve --dev did not print its URL and credential:\n%s", logs.String())
	}
	return url, key, secret, stop
}

func TestServeFlagErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--http", "nope"}, nil, "--http"},
		{[]string{"--partitions", "0"}, nil, "--partitions"},
		{[]string{"--roles", "api,cooking"}, nil, `--roles: "cooking"`},
		{[]string{"--kafka", "broker-without-port"}, nil, "--kafka"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{nil, []string{"LEARNSTREAM_PARTITIONS=many"}, "LEARNSTREAM_PARTITIONS"},
		{[]string{"--max-batch", "0"}, nil, "--max-batch: must be at least 1, got 0"},
		{[]string{"--max-body-bytes", "10"}, nil, "--max-body-bytes: must be at least 1024, got 10"},
		{[]string{"--max-package-files", "0"}, nil, "--max-package-files: must be at least 1, got 0"},
		{[]string{"--launch-ttl", "500ms"}, nil, "--launch-ttl: must be at least 1s, got 500ms"},
		{[]string{"--broker-compact-every", "0s"}, nil, "--broker-compact-every: must be at least 1s, got 0s"},
		{[]string{"--memory-limit", "2GB"}, nil, `--memory-limit: "2GB" is not auto, off or a size`},
		{[]string{"--memory-limit", "100MiB"}, nil, "--memory-limit: must be at least 256MiB, got 100MiB"},
		{nil, []string{"LEARNSTREAM_MEMORY_LIMIT=plenty"}, `--memory-limit: "plenty"`},
		{[]string{"--statement-cache", "64MB"}, nil, `--statement-cache: "64MB" is not a size`},
		{nil, []string{"LEARNSTREAM_STATEMENT_CACHE=-1"}, `--statement-cache: "-1" is not a size`},
	} {
		t.Run(strings.Join(append(tc.args, tc.env...), " "), func(t *testing.T) {
			for _, e := range tc.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...), io.Discard, &stderr)
			if code == 0 {
				t.Fatal("serve accepted bad configuration")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("error %q does not name %s", stderr.String(), tc.want)
			}
		})
	}
}
