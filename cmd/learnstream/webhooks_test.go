package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apiclient "github.com/learnstream/learnstream/api/client"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// hookArgs let deliveries reach receivers on this machine's loopback, as
// the operator's flags allow, with short retries.
func hookArgs(extra ...string) []string {
	return append([]string{"--webhooks-allow-http", "--webhooks-allow-cidr", "127.0.0.0/8",
		"--webhooks-backoff", "50ms", "--webhooks-backoff-max", "400ms"}, extra...)
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is an HTTP receiver on loopback that can go down (its port
// refuses connections) and come back on the same address.
type receiver struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	srv    *http.Server
	got    []received
	answer func(w http.ResponseWriter, r *http.Request) // nil: 204
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, addr: ln.Addr().String()}
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: b, at: time.Now()})
		answer := r.answer
		r.mu.Unlock()
		if answer != nil {
			answer(w, req)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

// down closes the listener and every connection: deliveries fail to
// connect.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *receiver) up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver back on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) setAnswer(f func(w http.ResponseWriter, req *http.Request)) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// hookMessage is what a webhook body carries.
type hookMessage struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// distinct returns the receiver's deliveries by webhook-id (the first of
// each), checking that a redelivery carries the same body as the first.
func (r *receiver) distinct(t *testing.T) (map[string]received, []string) {
	t.Helper()
	byID := map[string]received{}
	var order []string
	for _, g := range r.requests() {
		id := g.header.Get("webhook-id")
		if first, ok := byID[id]; ok {
			if string(first.body) != string(g.body) {
				t.Errorf("webhook-id %s redelivered with another body:\n%s\n%s", id, first.body, g.body)
			}
			continue
		}
		byID[id] = g
		order = append(order, id)
	}
	return byID, order
}

func waitFor(t *testing.T, p *proc, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen in %s\n%.20000s", what, d, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postStatements posts n statements (learners cycle through seven) and
// answers their ids in order.
func postStatements(t *testing.T, p *proc, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		code, _, body := p.do(t, "POST", "/xapi/statements", statement(i))
		if code != http.StatusOK {
			t.Fatalf("POST statement: %d %s", code, body)
		}
		var got []string
		json.Unmarshal(body, &got)
		ids = append(ids, got...)
	}
	return ids
}

// statementsByLearner reads the statement deliveries in the order the
// receiver got them (first copy of each message), per learner.
func statementsByLearner(t *testing.T, r *receiver) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	byID, order := r.distinct(t)
	for _, id := range order {
		var m hookMessage
		if err := json.Unmarshal(byID[id].body, &m); err != nil {
			t.Fatalf("delivery body: %v: %s", err, byID[id].body)
		}
		if m.Type != typeStatement {
			continue
		}
		var st struct {
			ID    string `json:"id"`
			Actor struct {
				Mbox string `json:"mbox"`
			} `json:"actor"`
		}
		json.Unmarshal(m.Data, &st)
		out[st.Actor.Mbox] = append(out[st.Actor.Mbox], st.ID)
	}
	return out
}

// inOrder checks that every learner's statements arrived in the order
// they were posted.
func inOrder(t *testing.T, got map[string][]string, posted []string) {
	t.Helper()
	rank := map[string]int{}
	for i, id := range posted {
		rank[id] = i
	}
	for learner, ids := range got {
		for i := 1; i < len(ids); i++ {
			if rank[ids[i]] < rank[ids[i-1]] {
				t.Errorf("%s: statement %s delivered before %s, posted the other way round", learner, ids[i-1], ids[i])
			}
		}
	}
}

const typeStatement = "learnstream.xapi.statement.stored.v1"

// A receiver that is down gets everything once it is back, in order per
// learner, each message signed; redeliveries carry the same webhook-id;
// a rotated secret signs beside the old one during the overlap.
func TestWebhooksReceiverDownThenUp(t *testing.T) {
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir()}, isolate()...), hookArgs("--webhooks-max-attempts", "1000")...)...)
	defer p.stop(t)
	ctx := context.Background()
	c := p.api()
	r := newReceiver(t)
	sub, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{URL: r.url(),
		Filter: &apiclient.WebhookFilter{Types: []string{typeStatement}, Verbs: []string{"http://adlnet.gov/expapi/verbs/completed"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ping, err := c.PingWebhook(ctx, sub.ID); err != nil || !ping.Delivered || ping.Status != http.StatusNoContent {
		t.Fatalf("ping: %+v %v", ping, err)
	}
	ping := r.requests()[0]
	if err := apiclient.VerifyWebhook(sub.Secret, ping.header, ping.body); err != nil || !strings.Contains(string(ping.body), "learnstream.webhook.ping.v1") {
		t.Fatalf("ping %s does not verify: %v", ping.body, err)
	}

	posted := postStatements(t, p, 0, 20)
	waitFor(t, p, "20 deliveries", 30*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 21 })
	r.down()
	posted = append(posted, postStatements(t, p, 20, 20)...)
	time.Sleep(1500 * time.Millisecond) // several failed attempts
	r.up()
	waitFor(t, p, "40 deliveries after the receiver came back", 60*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 41 })
	byID, order := r.distinct(t)
	if len(order) != 41 {
		t.Errorf("%d distinct messages, want 40 statements and the ping", len(order))
	}
	for id, g := range byID {
		if err := apiclient.VerifyWebhook(sub.Secret, g.header, g.body); err != nil {
			t.Errorf("message %s: %v", id, err)
		}
	}
	got := statementsByLearner(t, r)
	n := 0
	for _, ids := range got {
		n += len(ids)
	}
	if n != 40 {
		t.Errorf("%d statements delivered, want 40", n)
	}
	inOrder(t, got, posted)
	t.Logf("%d requests for %d messages", len(r.requests()), len(order))

	rot, err := c.RotateWebhookSecret(ctx, sub.ID, time.Hour)
	if err != nil || rot.Secret == "" || rot.Secret == sub.Secret {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	before := len(r.requests())
	postStatements(t, p, 40, 1)
	waitFor(t, p, "a delivery after the rotation", 30*time.Second, func() bool { return len(r.requests()) > before })
	last := r.requests()[len(r.requests())-1]
	for _, secret := range []string{sub.Secret, rot.Secret} {
		if err := apiclient.VerifyWebhook(secret, last.header, last.body); err != nil {
			t.Errorf("during the overlap a delivery does not verify with a secret: %v (%s)", err, last.header.Get("webhook-signature"))
		}
	}
	if len(strings.Fields(last.header.Get("webhook-signature"))) != 2 {
		t.Errorf("webhook-signature %q, want a signature per secret", last.header.Get("webhook-signature"))
	}

	// Paused: nothing is sent; resumed: what waited is.
	paused := true
	if _, err := c.UpdateWebhook(ctx, sub.ID, apiclient.WebhookRequest{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	before = len(r.requests())
	postStatements(t, p, 41, 3)
	time.Sleep(time.Second)
	if got := len(r.requests()); got != before {
		t.Errorf("a paused subscription got %d requests", got-before)
	}
	paused = false
	if _, err := c.UpdateWebhook(ctx, sub.ID, apiclient.WebhookRequest{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "the deliveries held while paused", 30*time.Second, func() bool { return len(r.requests()) >= before+3 })

	// Replay: every statement again, with the ids of the first time.
	firstIDs, _ := r.distinct(t)
	if _, err := c.ReplayWebhook(ctx, sub.ID, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	before = len(r.requests())
	waitFor(t, p, "the replay", 30*time.Second, func() bool { return len(r.requests()) >= before+44 })
	for _, g := range r.requests()[before:] {
		if _, ok := firstIDs[g.header.Get("webhook-id")]; !ok {
			t.Errorf("replay sent a message with a new webhook-id %s", g.header.Get("webhook-id"))
			break
		}
	}
	metrics := metricsOf(t, p)
	for _, m := range []string{"learnstream_webhook_deliveries_total{outcome=\"delivered\",subscription=\"" + sub.ID + "\"}",
		"learnstream_webhook_retries_total{subscription=\"" + sub.ID + "\"}", "learnstream_webhook_request_seconds_count{subscription=\"" + sub.ID + "\"}"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func metricsOf(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A slow receiver, one answering 500, one redirecting and one answering
// without end: the failing ones end in their dead-letter lists after
// their attempts, and the healthy subscription gets everything meanwhile.
func TestWebhooksFailingReceiversDoNotHoldOthers(t *testing.T) {
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir()}, isolate()...),
		hookArgs("--webhooks-max-attempts", "3", "--webhooks-timeout", "1s")...)...)
	defer p.stop(t)
	ctx := context.Background()
	c := p.api()
	good, slow, failing, redirect, huge := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	slow.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	failing.setAnswer(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	redirect.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, good.url(), http.StatusTemporaryRedirect)
	})
	huge.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1 << 12 { // 256 MiB, more than a delivery ever reads
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	filter := &apiclient.WebhookFilter{Types: []string{typeStatement}}
	subs := map[string]string{}
	for name, r := range map[string]*receiver{"good": good, "slow": slow, "failing": failing, "redirect": redirect, "huge": huge} {
		s, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{URL: r.url(), Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		subs[name] = s.ID
	}
	start := time.Now()
	postStatements(t, p, 0, 16)
	waitFor(t, p, "the healthy receiver's 16 messages", 20*time.Second, func() bool { _, o := good.distinct(t); return len(o) == 16 })
	t.Logf("healthy receiver complete after %s", time.Since(start).Round(time.Millisecond))
	if _, o := redirect.distinct(t); len(o) == 0 {
		t.Error("the redirecting receiver got nothing")
	}
	if got := len(good.requests()); got != 16 {
		t.Errorf("the healthy receiver got %d requests, want 16 (a redirect was followed?)", got)
	}
	waitFor(t, p, "the huge-answer receiver's 16 messages", 20*time.Second, func() bool { _, o := huge.distinct(t); return len(o) == 16 })

	dead := func(name string) []apiclient.DeadLetter {
		d, err := c.DeadLetters(ctx, subs[name], "", 100)
		if err != nil {
			t.Fatalf("dead letters of %s: %v", name, err)
		}
		return d
	}
	for _, name := range []string{"failing", "redirect", "slow"} {
		waitFor(t, p, "16 dead letters of the "+name+" receiver", 60*time.Second, func() bool { return len(dead(name)) == 16 })
	}
	for name, want := range map[string]string{"failing": "answered 500", "redirect": "redirect", "slow": "timeout"} {
		d := dead(name)[0]
		if d.Attempts != 3 || !strings.Contains(strings.ToLower(d.LastError), want) {
			t.Errorf("%s: dead letter %+v, want 3 attempts and an error with %q", name, d, want)
		}
	}
	if n := len(failing.requests()); n != 48 {
		t.Errorf("the failing receiver got %d requests, want 16 messages × 3 attempts", n)
	}
	if d := dead("huge"); len(d) != 0 {
		t.Errorf("answers without end went to the dead letters: %+v", d[0])
	}

	// The receiver is fixed: the dead letters go out again, same ids.
	failing.setAnswer(nil)
	deadIDs := map[string]bool{}
	for _, d := range dead("failing") {
		deadIDs[d.Message] = true
	}
	before := len(failing.requests())
	if n, err := c.RedeliverDeadLetters(ctx, subs["failing"], nil); err != nil || n != 16 {
		t.Fatalf("redeliver: %d %v", n, err)
	}
	waitFor(t, p, "the redelivered dead letters", 20*time.Second, func() bool { return len(failing.requests()) >= before+16 })
	for _, g := range failing.requests()[before:] {
		if !deadIDs[g.header.Get("webhook-id")] {
			t.Errorf("a redelivery has webhook-id %s, not one of the dead letters'", g.header.Get("webhook-id"))
		}
	}
	if d := dead("failing"); len(d) != 0 {
		t.Errorf("%d dead letters left after redelivery", len(d))
	}
	if n, err := c.DeleteDeadLetters(ctx, subs["slow"], []string{dead("slow")[0].ID}); err != nil || n != 1 {
		t.Errorf("delete one dead letter: %d %v", n, err)
	}
	if n, err := c.DeleteDeadLetters(ctx, subs["slow"], nil); err != nil || n != 15 {
		t.Errorf("delete the rest: %d %v", n, err)
	}
	waitFor(t, p, "dead-letter metrics", 10*time.Second, func() bool {
		return strings.Contains(metricsOf(t, p), fmt.Sprintf("learnstream_webhook_dead_letters_total{subscription=%q} 16", subs["redirect"]))
	})
}

// kill -9 while deliveries are under way: after the restart every message
// arrives, and a message sent twice carries the same webhook-id.
func TestWebhooksSurviveKill(t *testing.T) {
	dir := t.TempDir()
	args := append(append([]string{"--data-dir", dir}, isolate()...), hookArgs("--webhooks-max-attempts", "1000")...)
	p := startServe(t, credEnv(), args...)
	c := p.api()
	ctx := context.Background()
	r := newReceiver(t)
	r.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	if _, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{URL: r.url(), Filter: &apiclient.WebhookFilter{Types: []string{typeStatement}}}); err != nil {
		t.Fatal(err)
	}
	var posted []string
	for i := 0; i < 60; i += 20 {
		code, _, body := p.do(t, "POST", "/xapi/statements", "["+strings.Join(func() []string {
			var s []string
			for j := i; j < i+20; j++ {
				s = append(s, statement(j))
			}
			return s
		}(), ",")+"]")
		if code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, body)
		}
		var ids []string
		json.Unmarshal(body, &ids)
		posted = append(posted, ids...)
	}
	waitFor(t, p, "some deliveries", 30*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 10 })
	p.kill()
	_, o := r.distinct(t)
	t.Logf("%d of 60 messages delivered at the kill", len(o))
	p = startServe(t, credEnv(), args...)
	defer p.stop(t)
	waitFor(t, p, "every message after the restart", 60*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 60 })
	got := statementsByLearner(t, r)
	n := 0
	for _, ids := range got {
		n += len(ids)
	}
	if n != 60 {
		t.Errorf("%d distinct statements delivered, want 60", n)
	}
	inOrder(t, got, posted)
	t.Logf("%d requests for 60 messages", len(r.requests()))
}

// An xapi-forward subscription stores the statements it matches in a
// second learnstream, ids kept; a statement the target already holds
// (409) counts as delivered and does not hold back the rest of its batch.
func TestWebhooksForwardStatementsToAnotherLRS(t *testing.T) {
	target := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer target.stop(t)
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir()}, isolate()...), hookArgs()...)...)
	defer p.stop(t)
	ctx := context.Background()
	c := p.api()
	const conflictID = "1d7f5d58-2b4e-4a55-9a49-0c2b7c4e8f11"
	// The target holds another statement under an id the source will send.
	if code, _, body := target.do(t, "PUT", "/xapi/statements?statementId="+conflictID, statement(100)); code != http.StatusNoContent {
		t.Fatalf("PUT on the target: %d %s", code, body)
	}
	// Created paused, so that the statements wait and go out in batches
	// of several, the conflicting one among them.
	paused := true
	sub, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{Kind: apiclient.KindXAPIForward, URL: target.url + "/xapi", Paused: &paused,
		Auth:   &apiclient.WebhookAuth{Username: testKey, Password: testSecret},
		Filter: &apiclient.WebhookFilter{Verbs: []string{"http://adlnet.gov/expapi/verbs/completed"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Secret != "" || strings.Contains(fmt.Sprint(sub), testSecret) {
		t.Errorf("the forwarding subscription answers a secret: %+v", sub)
	}
	if ping, err := c.PingWebhook(ctx, sub.ID); err != nil || !ping.Delivered {
		t.Fatalf("ping of the target LRS: %+v %v", ping, err)
	}
	if code, _, body := p.do(t, "PUT", "/xapi/statements?statementId="+conflictID, statement(1)); code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", code, body)
	}
	ids := postStatements(t, p, 2, 12)
	experienced := strings.Replace(statement(3), "verbs/completed", "verbs/experienced", 1)
	code, _, body := p.do(t, "POST", "/xapi/statements", experienced)
	if code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	var skipped []string
	json.Unmarshal(body, &skipped)
	time.Sleep(500 * time.Millisecond)
	paused = false
	if _, err := c.UpdateWebhook(ctx, sub.ID, apiclient.WebhookRequest{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "the forwarded statements on the target", 60*time.Second, func() bool {
		for _, id := range ids {
			if code, _, _ := target.do(t, "GET", "/xapi/statements?statementId="+id, ""); code != http.StatusOK {
				return false
			}
		}
		return true
	})
	_, _, got := target.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
	_, _, sent := p.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
	var a, b struct {
		ID, Timestamp string
		Actor         json.RawMessage
	}
	json.Unmarshal(got, &a)
	json.Unmarshal(sent, &b)
	if a.ID != b.ID || a.Timestamp != b.Timestamp || string(a.Actor) != string(b.Actor) {
		t.Errorf("forwarded statement differs:\n%s\n%s", got, sent)
	}
	if code, _, _ := target.do(t, "GET", "/xapi/statements?statementId="+skipped[0], ""); code != http.StatusNotFound {
		t.Errorf("a statement outside the filter was forwarded (%d)", code)
	}
	if d, err := c.DeadLetters(ctx, sub.ID, "", 10); err != nil || len(d) != 0 {
		t.Errorf("dead letters after forwarding: %+v %v", d, err)
	}
	// A replay forwards everything again: the target already holds each
	// statement, which counts as delivered.
	delivered := func() int {
		n := 0
		fmt.Sscan(strings.Fields(after(metricsOf(t, p), fmt.Sprintf(`learnstream_webhook_deliveries_total{outcome="delivered",subscription=%q}`, sub.ID)) + " 0")[0], &n)
		return n
	}
	before := delivered()
	if _, err := c.ReplayWebhook(ctx, sub.ID, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "the replay forwarded", 30*time.Second, func() bool { return delivered() >= before+len(ids)+1 })
	if d, err := c.DeadLetters(ctx, sub.ID, "", 10); err != nil || len(d) != 0 {
		t.Errorf("dead letters after the replay: %+v %v", d, err)
	}
	if strings.Contains(p.logs.String(), testSecret) {
		t.Error("the forwarding password is in the log")
	}
}

// Two instances of the webhooks role share the deliveries through their
// consumer group on Apache Kafka: each delivers part, every message
// arrives, and when one is killed the other takes its partitions over.
func TestWebhooksTwoInstancesShareDelivery(t *testing.T) {
	c := kafkatest.Real(t)
	common := append([]string{"--kafka", strings.Join(c.Brokers, ","), "--privacy-master-key-file", testMasterKeyFile()}, isolate()...)
	// Both instances of one install share its keys: kafkaArgs' test
	// master key, the one of every server on the shared broker.
	env := credEnv()
	a := startServe(t, env, append(append([]string{"--data-dir", t.TempDir(), "--roles", "api,webhooks"}, common...), hookArgs("--webhooks-max-attempts", "1000")...)...)
	defer a.stop(t)
	b := startServe(t, env, append(append([]string{"--data-dir", t.TempDir(), "--roles", "webhooks"}, common...), hookArgs("--webhooks-max-attempts", "1000")...)...)
	ctx := context.Background()
	r := newReceiver(t)
	sub, err := a.api().CreateWebhook(ctx, apiclient.WebhookRequest{URL: r.url(), Filter: &apiclient.WebhookFilter{Types: []string{typeStatement}}})
	if err != nil {
		t.Fatal(err)
	}
	// Both members own part of the statements topic before the load.
	owned := func(p *proc) int {
		n := 0
		for _, l := range strings.Split(metricsOf(t, p), "\n") {
			if strings.HasPrefix(l, `learnstream_consumer_lag{consumer="webhook-deliveries",partition=`) && strings.Contains(l, `topic="learnstream.statements.v1"`) {
				n++
			}
		}
		return n
	}
	waitFor(t, a, "both instances owning statement partitions", 60*time.Second, func() bool { return owned(a) > 0 && owned(b) > 0 })
	t.Logf("statement partitions: a %d, b %d", owned(a), owned(b))
	posted := postStatements(t, a, 0, 40)
	waitFor(t, a, "40 deliveries", 60*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 40 })
	delivered := func(p *proc) int {
		m := metricsOf(t, p)
		n := 0
		fmt.Sscan(strings.Fields(after(m, fmt.Sprintf(`learnstream_webhook_deliveries_total{outcome="delivered",subscription=%q}`, sub.ID)) + " 0")[0], &n)
		return n
	}
	da, db := delivered(a), delivered(b)
	t.Logf("delivered: a %d, b %d", da, db)
	if da == 0 || db == 0 || da+db < 40 {
		t.Errorf("a delivered %d, b %d: want both some, 40 together", da, db)
	}
	b.kill()
	posted = append(posted, postStatements(t, a, 40, 20)...)
	waitFor(t, a, "the 20 statements after b died, delivered by a", 90*time.Second, func() bool { _, o := r.distinct(t); return len(o) >= 60 })
	got := statementsByLearner(t, r)
	n := 0
	for _, ids := range got {
		n += len(ids)
	}
	if n != 60 {
		t.Errorf("%d distinct statements delivered, want 60", n)
	}
	inOrder(t, got, posted)
	t.Logf("%d requests for 60 messages", len(r.requests()))

	// A replay reads the partitions the survivor owns now: all of them.
	firstIDs, _ := r.distinct(t)
	before := len(r.requests())
	if _, err := a.api().ReplayWebhook(ctx, sub.ID, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "the replay of 60 statements", 60*time.Second, func() bool { return len(r.requests()) >= before+60 })
	replayed := map[string]bool{}
	for _, g := range r.requests()[before:] {
		id := g.header.Get("webhook-id")
		if _, ok := firstIDs[id]; !ok {
			t.Errorf("the replay sent webhook-id %s, not one of the first deliveries", id)
		}
		replayed[id] = true
	}
	if len(replayed) != 60 {
		t.Errorf("the replay sent %d distinct messages, want 60", len(replayed))
	}
}

// after returns what follows the first occurrence of prefix in s ("" if
// none).
func after(s, prefix string) string {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return ""
	}
	return rest
}

// Erasing a learner removes their webhook dead letters and queued
// deliveries, the receipt counts them under "webhooks", and the learner's
// later deliveries (none: the keys are gone) do not reappear.
func TestWebhooksForgetAnErasedLearner(t *testing.T) {
	p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir()}, isolate()...), hookArgs("--webhooks-max-attempts", "1")...)...)
	defer p.stop(t)
	ctx := context.Background()
	c := p.api()
	r := newReceiver(t)
	r.setAnswer(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	sub, err := c.CreateWebhook(ctx, apiclient.WebhookRequest{URL: r.url(), Filter: &apiclient.WebhookFilter{Types: []string{typeStatement}}})
	if err != nil {
		t.Fatal(err)
	}
	postStatements(t, p, 1, 14) // learners 1..6 and 0, twice each
	waitFor(t, p, "14 dead letters", 30*time.Second, func() bool {
		d, err := c.DeadLetters(ctx, sub.ID, "", 100)
		return err == nil && len(d) == 14
	})
	code, _, b := p.do(t, "DELETE", "/v1/learners/learner1@example.com", "")
	if code != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	var acc struct{ ID string }
	json.Unmarshal(b, &acc)
	receipt := p.receiptOf(t, acc.ID, 60*time.Second)
	var removed map[string]int64
	for _, a := range receipt.Consumers {
		if a.Consumer == "webhooks" {
			removed = a.Removed
		}
	}
	if removed["dead_letters"] != 2 {
		t.Errorf("the webhooks answer of the receipt: %v (consumers %+v), want 2 dead letters removed", removed, receipt.Consumers)
	}
	d, err := c.DeadLetters(ctx, sub.ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range d {
		if strings.Contains(string(x.Body), "learner1@") {
			t.Errorf("a dead letter of the erased learner is left: %s", x.Body)
		}
	}
	if len(d) != 12 {
		t.Errorf("%d dead letters left, want the other learners' 12", len(d))
	}
}
