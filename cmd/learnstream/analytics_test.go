package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// logsContain reads the logs under the writer's lock: the process is
// still writing them.
func (p *proc) logsContain(s string) bool {
	w := p.cmd.Stderr.(*syncWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains(p.logs.String(), s)
}

// With ClickHouse down, serve still starts and ingests; the analytics sink
// waits for ClickHouse (and says so in its logs and metrics) without
// holding anything up, and shutdown does not wait for it.
func TestServeIngestsWhileClickHouseIsDown(t *testing.T) {
	const secret = "pseudonym-secret-never-logged"
	p := startServe(t, append(credEnv(), "LEARNSTREAM_ANALYTICS_PSEUDONYM_SECRET="+secret),
		"--data-dir", t.TempDir(), "--clickhouse-addr", closedAddr(t), "--analytics-flush-interval", "200ms")

	code, _, body := p.do(t, "POST", "/xapi/statements", statement(1))
	if code != http.StatusOK {
		t.Fatalf("POST with ClickHouse down: %d %s", code, body)
	}
	var ids []string
	if err := json.Unmarshal(body, &ids); err != nil || len(ids) != 1 {
		t.Fatalf("POST answered %s, want a one-id array", body)
	}
	if code, _, body := p.do(t, "GET", "/xapi/statements?statementId="+ids[0], ""); code != http.StatusOK || !strings.Contains(string(body), ids[0]) {
		t.Fatalf("GET with ClickHouse down: %d %s", code, body)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, metrics := p.do(t, "GET", "/metrics", "")
		waiting := strings.Contains(string(metrics), `learnstream_analytics_schema_attempts_total{result="error"}`)
		if waiting && p.logsContain("analytics: ClickHouse is not usable yet") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sign of the sink waiting for ClickHouse after 30s:\n%s", p.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
	if p.logsContain(secret) {
		t.Fatal("the pseudonym secret appears in the logs")
	}
}

func TestServeAnalyticsOffWithoutAddress(t *testing.T) {
	p := startServe(t, credEnv(), "--data-dir", t.TempDir(), "--roles", "api,analytics")
	deadline := time.Now().Add(60 * time.Second)
	for !p.logsContain("analytics: off: no ClickHouse address") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line saying why analytics is off:\n%s", p.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(t)
}

func TestServeAnalyticsFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--analytics-batch", "0"}, nil, "--analytics-batch"},
		{[]string{"--analytics-flush-interval", "0s"}, nil, "--analytics-flush-interval"},
		{nil, []string{"LEARNSTREAM_ANALYTICS_PSEUDONYMIZE=maybe"}, "LEARNSTREAM_ANALYTICS_PSEUDONYMIZE"},
		{nil, []string{"LEARNSTREAM_ANALYTICS_BATCH=-1"}, "--analytics-batch"},
	} {
		t.Run(strings.Join(append(tc.args, tc.env...), " "), func(t *testing.T) {
			for _, e := range tc.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...), io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, error %q; want a failure naming %s", code, stderr.String(), tc.want)
			}
		})
	}
}
