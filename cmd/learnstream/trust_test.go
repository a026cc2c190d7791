package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/streams"
)

// TestEmbeddedBrokerTrust: the embedded broker admits only the credential
// generated into the data dir, and a statement injected with that
// credential but without the install's signature (a forged tenant and
// authority, as kcat would write it) is parked in the DLQ with the reason
// and never served, not even after the projections are rebuilt.
func TestEmbeddedBrokerTrust(t *testing.T) {
	dir := t.TempDir()
	// No LEARNSTREAM_SIGNING_KEY: the install generates its own.
	env := []string{"LEARNSTREAM_ADMIN_KEY=" + testKey, "LEARNSTREAM_ADMIN_SECRET=" + testSecret}
	p := startServe(t, env, "--data-dir", dir)
	for _, f := range []string{brokerCredentialFile, signingKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const forgedID = "0f0f0f0f-0000-4000-8000-00000000f0f0"
	forged := kafka.Message{Topic: streams.TopicStatements, Key: []byte("mbox:mailto:victim@example.com"),
		Value: []byte(`{"id":"` + forgedID + `","actor":{"mbox":"mailto:victim@example.com"},` +
			`"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},"object":{"id":"https://example.com/exam"},` +
			`"timestamp":"2026-01-01T00:00:00Z","stored":"2026-01-01T00:00:00Z","version":"1.0.3",` +
			`"authority":{"objectType":"Agent","account":{"homePage":"http://127.0.0.1/","name":"admin"}}}`),
		Headers: []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(forgedID)},
			{Key: "ce_type", Value: []byte("learnstream.xapi.statement.stored.v1")}, {Key: "ce_source", Value: []byte(p.url)},
			{Key: "tenant", Value: []byte("default")}, {Key: "content-type", Value: []byte("application/json")},
			{Key: "ce_time", Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))}}}

	// Without the broker's credential nothing gets in.
	anon := &kafka.Writer{Addr: kafka.TCP(p.kafka), Transport: &kafka.Transport{DialTimeout: 2 * time.Second},
		MaxAttempts: 1, WriteTimeout: 3 * time.Second}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	err := anon.WriteMessages(wctx, forged)
	wcancel()
	anon.Close()
	if err == nil {
		t.Fatal("the embedded broker took a record from a client without its credential")
	}

	// With it (startServe registered it for this process), the record is
	// written, but it carries no signature of this install.
	w := &kafka.Writer{Addr: kafka.TCP(p.kafka), Transport: streams.Transport([]string{p.kafka}), Balancer: kafka.Murmur2Balancer{},
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, forged); err != nil {
		t.Fatalf("write with the broker credential: %v", err)
	}
	w.Close()
	if code, _, b := p.do(t, "POST", "/xapi/statements", statement(1)); code != http.StatusOK {
		t.Fatalf("genuine POST: %d %s", code, b)
	}
	p.settled(t, 30*time.Second)

	notServed := func(when string) {
		t.Helper()
		if code, _, b := p.do(t, "GET", "/xapi/statements?statementId="+forgedID, ""); code != http.StatusNotFound {
			t.Errorf("%s: the forged statement is served: %d %s", when, code, b)
		}
		if code, _, b := p.do(t, "GET", "/xapi/statements?agent="+`%7B%22mbox%22%3A%22mailto%3Avictim%40example.com%22%7D`, ""); code != http.StatusOK ||
			strings.Contains(string(b), forgedID) {
			t.Errorf("%s: the forged statement is listed: %d %s", when, code, b)
		}
	}
	notServed("live")

	out, stderr, err := cli(t, "dlq", "list", "--kafka", p.kafka, "--data-dir", dir, "--json")
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, stderr)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d streams.DeadLetter
		if json.Unmarshal([]byte(line), &d) == nil && d.EventID == forgedID {
			found = true
			if !strings.Contains(d.Reason, "ce_signature") {
				t.Errorf("dead letter reason %q does not name ce_signature", d.Reason)
			}
		}
	}
	if !found {
		t.Errorf("the forged record is not in the DLQ:\n%s", out)
	}

	// A rebuild reads the same log and checks the same signatures.
	p.stop(t)
	if err := os.RemoveAll(filepath.Join(dir, "projections")); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, env, "--data-dir", dir)
	p.settled(t, 30*time.Second)
	notServed("after rebuilding the projections")
	if code, _, b := p.do(t, "GET", "/xapi/statements", ""); code != http.StatusOK || !strings.Contains(string(b), "learner1@example.com") {
		t.Errorf("the genuine statement is not served after the rebuild: %d %s", code, b)
	}
}
