package main

import (
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
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// isolate returns flags that keep a test's data apart from other tests on
// a shared broker: its own tenant (counts are per tenant) and its own
// consumer groups.
func isolate() []string {
	return []string{"--tenant", kafkatest.Unique("tenant"), "--group-prefix", kafkatest.Unique("ls")}
}

// cli runs a learnstream subcommand with the test's admin credential.
func cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), credEnv()...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// status reads a process's projections through the admin endpoint.
func (p *proc) status(t testing.TB) map[string]api.ProjectionStatus {
	t.Helper()
	code, _, body := p.do(t, "GET", "/v1/admin/projections", "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/admin/projections: %d %s", code, body)
	}
	var ps []api.ProjectionStatus
	if err := json.Unmarshal(body, &ps); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.ProjectionStatus{}
	for _, s := range ps {
		out[s.Name] = s
	}
	return out
}

// settled waits until every projection of p owns partitions and has no
// lag. (A group member that owns nothing yet has no lag either.)
func (p *proc) settled(t testing.TB, d time.Duration) map[string]api.ProjectionStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := p.status(t)
		busy := false
		for _, s := range st {
			busy = busy || s.Lag > 0 || len(s.Partitions) == 0
		}
		if !busy {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("projections still lagging after %v: %+v", d, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loader posts statements from workers until stopped and keeps the ids the
// server acknowledged. Refusals (503 during a broker outage) are retried,
// as a real content player would. Tests pace faults by the number of
// acknowledgements, not by the clock: a loaded machine acknowledges fewer
// per second, never fewer in total.
type loader struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked []string
}

func startLoad(p *proc, workers int) *loader {
	l := &loader{stopc: make(chan struct{})}
	client := &http.Client{Timeout: 20 * time.Second}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.url+"/xapi/statements",
					strings.NewReader("["+statement(w*1000+i)+","+statement(w*1000+i+1)+"]"))
				req.SetBasicAuth(testKey, testSecret)
				req.Header.Set("X-Experience-API-Version", "1.0.3")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var ids []string
				if json.Unmarshal(b, &ids) == nil {
					l.mu.Lock()
					l.acked = append(l.acked, ids...)
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *loader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked blocks until at least n statements are acknowledged in all.
// The time limit only keeps a broken server from hanging the test.
func (l *loader) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for l.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d statements acknowledged after 3 minutes", l.count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the load and returns the acknowledged ids.
func (l *loader) stop() []string {
	close(l.stopc)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// checkComplete asserts every acknowledged statement is readable and every
// projection counted each stored statement exactly once.
func checkComplete(t *testing.T, p *proc, acked []string) {
	t.Helper()
	st := p.settled(t, 60*time.Second)
	stored := st["statements"].Counts["statements"]
	progressed := st["progress"].Counts["statements"]
	if stored < int64(len(acked)) {
		t.Errorf("statements projection holds %d statements, fewer than the %d acknowledged", stored, len(acked))
	}
	if progressed != stored {
		t.Errorf("progress projection counted %d statements, statements projection holds %d: an event was lost or applied twice", progressed, stored)
	}
	missing := 0
	for _, id := range acked {
		if code, _, _ := p.do(t, "GET", "/xapi/statements?statementId="+id, ""); code != http.StatusOK {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged statements missing", missing, len(acked))
	}
	t.Logf("%d acknowledged, %d stored, %d counted by progress", len(acked), stored, progressed)
}

func TestFaultKillDuringIngestLosesNothingAndDoublesNothing(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		args := append(append([]string{"--data-dir", t.TempDir()}, kafkaArgs(c)...), isolate()...)
		p := startServe(t, credEnv(), args...)
		// kill -9 while 8 writers are busy, once 200 statements are acknowledged
		l := startLoad(p, 8)
		l.waitAcked(t, 200)
		p.kill()
		acked := l.stop()
		p = startServe(t, credEnv(), args...)
		defer p.stop(t)
		checkComplete(t, p, acked)
	})
}

func TestFaultMalformedEventGoesToDLQ(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		args := append(append([]string{"--data-dir", t.TempDir()}, kafkaArgs(c)...), isolate()...)
		p := startServe(t, credEnv(), args...)
		defer p.stop(t)
		marker := kafkatest.Unique("garbage")
		// Same key as the statement that follows, so both land on one
		// partition: the bad record must not block the good one behind it.
		w := &kafka.Writer{Addr: kafka.TCP(p.kafka), Transport: streams.Transport([]string{p.kafka}), Topic: streams.TopicStatements, Balancer: kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
		err := w.WriteMessages(context.Background(),
			kafka.Message{Key: []byte("mbox:mailto:learner1@example.com"), Value: []byte(marker)},
			kafka.Message{Key: []byte("mbox:mailto:learner1@example.com"), Value: []byte(`{"not":"an event"}`),
				Headers: []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(marker)},
					{Key: "ce_type", Value: []byte("learnstream.xapi.statement.stored.v1")}, {Key: "ce_source", Value: []byte("test")},
					{Key: "tenant", Value: []byte("x")}, {Key: "ce_time", Value: []byte(time.Now().UTC().Format(time.RFC3339))}}})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if code, _, body := p.do(t, "POST", "/xapi/statements", statement(1)); code != http.StatusOK {
			t.Fatalf("POST after poison records: %d %s", code, body)
		}
		p.settled(t, 30*time.Second)

		out, stderr, err := cli(t, "dlq", "list", "--kafka", p.kafka, "--data-dir", p.dataDir, "--json", "--limit", "100000")
		if err != nil {
			t.Fatalf("dlq list: %v\n%s", err, stderr)
		}
		var found []streams.DeadLetter
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var d streams.DeadLetter
			if json.Unmarshal([]byte(line), &d) == nil && (string(d.Value) == marker || d.EventID == marker) {
				found = append(found, d)
			}
		}
		// Two records, each rejected by both projections of the process.
		if len(found) < 2 {
			t.Fatalf("dlq list shows %d of the poison records:\n%s", len(found), out)
		}
		for _, d := range found {
			if d.Reason == "" || d.SourceTopic != streams.TopicStatements || d.SourceOffset < 0 {
				t.Errorf("dead letter lacks reason or source: %+v", d)
			}
		}
		if text, _, err := cli(t, "dlq", "list", "--kafka", p.kafka, "--data-dir", p.dataDir); err != nil || !strings.Contains(text, "REASON") {
			t.Errorf("dlq list (table): %v\n%s", err, text)
		}
		if _, stderr, err := cli(t, "dlq", "list", "--topic", "nope"); err == nil || !strings.Contains(stderr, "--topic") {
			t.Errorf("dlq list --topic nope: %v %s", err, stderr)
		}
		if c.Embedded == nil {
			return // a shared broker's DLQ holds other tests' records too
		}
		// Replay sends the parked records back; still poison, each is
		// parked again by both projections of the process. A second replay
		// sends only the copies parked since: nothing goes back twice.
		// 2 records, each parked by every consumer of the statements topic.
		consumers := len(found) / 2
		parked := len(found)
		total := parked
		for round := 1; round <= 2; round++ {
			out, stderr, err := cli(t, "dlq", "replay", "--kafka", p.kafka, "--data-dir", p.dataDir)
			want := fmt.Sprintf("replayed %d record(s)", parked)
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("dlq replay round %d: %v, want %q\n%s%s", round, err, want, out, stderr)
			}
			total += consumers * parked // each replayed record is parked again by every consumer
			p.settled(t, 30*time.Second)
			deadline := time.Now().Add(60 * time.Second)
			for {
				list, _, _ := cli(t, "dlq", "list", "--kafka", p.kafka, "--data-dir", p.dataDir, "--json", "--limit", "1000")
				if n := strings.Count(list, "\n"); n == total {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("after replay round %d the DLQ holds %d records, want %d", round, n, total)
				}
				time.Sleep(100 * time.Millisecond)
			}
			parked *= consumers
		}
	})
}

func TestReplayRebuildsWhileServing(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		args := append(append([]string{"--data-dir", t.TempDir()}, kafkaArgs(c)...), isolate()...)
		p := startServe(t, credEnv(), args...)
		defer p.stop(t)
		var ids []string
		for i := 0; i < 40; i++ {
			code, _, body := p.do(t, "POST", "/xapi/statements", "["+statement(i)+","+statement(i+1)+"]")
			if code != http.StatusOK {
				t.Fatalf("POST: %d %s", code, body)
			}
			var got []string
			json.Unmarshal(body, &got)
			ids = append(ids, got...)
		}
		before := p.settled(t, 30*time.Second)

		// Reads and writes go on during the replay.
		stop := make(chan struct{})
		l := startLoad(p, 2)
		readErrs := make(chan string, 100)
		go func() {
			for {
				select {
				case <-stop:
					close(readErrs)
					return
				default:
				}
				if code, _, body := p.do(t, "GET", "/xapi/statements?statementId="+ids[0], ""); code != http.StatusOK {
					readErrs <- fmt.Sprintf("%d %s", code, body)
				}
			}
		}()
		out, stderr, err := cli(t, "replay", "statements", "--server", p.url)
		close(stop)
		more := l.stop()
		if err != nil {
			t.Fatalf("replay: %v\n%s\n%s", err, out, stderr)
		}
		for e := range readErrs {
			t.Errorf("read during replay failed: %s", e)
		}
		if !strings.Contains(out, "replayed statements") || !strings.Contains(stderr, "100%") {
			t.Errorf("replay output lacks the result or the progress bar:\n%s\n%s", out, stderr)
		}
		after := p.settled(t, 30*time.Second)
		if after["statements"].Generation != before["statements"].Generation+1 {
			t.Errorf("generation %d after replay, want %d", after["statements"].Generation, before["statements"].Generation+1)
		}
		checkComplete(t, p, append(ids, more...))

		text, _, err := cli(t, "projections", "--server", p.url)
		if err != nil || !strings.Contains(text, "statements") || !strings.Contains(text, "progress") {
			t.Errorf("projections: %v\n%s", err, text)
		}
		// Some counts walk read models; only --counts asks for them.
		if js, _, err := cli(t, "projections", "--server", p.url, "--json", "--counts"); err != nil || !strings.Contains(js, `"counts":{"statements":`) {
			t.Errorf("projections --json --counts: %v\n%s", err, js)
		}
		if js, _, err := cli(t, "projections", "--server", p.url, "--json"); err != nil || strings.Contains(js, `"counts"`) || !strings.Contains(js, `"next_offset"`) {
			t.Errorf("projections --json: %v\n%s", err, js)
		}
		if _, stderr, err := cli(t, "replay", "nope", "--server", p.url); err == nil || !strings.Contains(stderr, "does not exist") {
			t.Errorf("replay of an unknown projection: %v %s", err, stderr)
		}
	})
}

// repoRoot finds the checkout root (for the test scripts).
func repoRoot(t *testing.T) string {
	dir, _ := filepath.Abs(".")
	for {
		if _, err := os.Stat(filepath.Join(dir, ".ci", "kafka.sh")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find .ci/kafka.sh above the package")
		}
		dir = parent
	}
}

// privateKafka starts an Apache Kafka broker of the test's own, which it
// may crash and restart without disturbing other tests.
func privateKafka(t *testing.T) (brokers string, restart func()) {
	t.Helper()
	kafkatest.Real(t) // skips (or fails under CI) when real Kafka is not available
	root := repoRoot(t)
	state := t.TempDir()
	script := func(verb string) string {
		cmd := exec.Command("bash", filepath.Join(root, ".ci", "kafka.sh"), verb)
		cmd.Env = append(os.Environ(), "KAFKA_STATE_DIR="+state)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kafka.sh %s: %v\n%s", verb, err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	brokers = script("start")
	t.Cleanup(func() { script("stop") })
	return brokers, func() { script("restart") }
}

func TestFaultBrokerRestartDuringIngest(t *testing.T) {
	brokers, restart := privateKafka(t)
	args := append([]string{"--data-dir", t.TempDir(), "--kafka", brokers, "--privacy-master-key-file", testMasterKeyFile()}, isolate()...)
	p := startServe(t, credEnv(), args...)
	defer p.stop(t)
	// 100 statements before the restart, 100 more after it
	l := startLoad(p, 4)
	l.waitAcked(t, 100)
	restart()
	before := l.count()
	l.waitAcked(t, before+100)
	acked := l.stop()
	t.Logf("%d statements acknowledged before the broker was back, %d in all", before, len(acked))
	// Writes work again after the restart, and consumers resumed.
	if code, _, body := p.do(t, "POST", "/xapi/statements", statement(7)); code != http.StatusOK {
		t.Fatalf("POST after broker restart: %d %s", code, body)
	}
	checkComplete(t, p, acked)
}

// ownLearner is statement(i) by a learner of its own. A learner's records
// go to the partition of their pseudonym, which is new each run (so is
// the tenant): with statement's 7 learners, all of them fell on one
// member's two partitions of four about once in 64 runs, and the split
// below saw the other member count nothing.
func ownLearner(i int) string {
	return strings.Replace(statement(i), fmt.Sprintf("learner%d@", i%7), fmt.Sprintf("split-learner%d@", i), 1)
}

func TestTwoProjectorsSplitPartitionsAndTakeOver(t *testing.T) {
	c := kafkatest.Real(t)
	tenant, group := kafkatest.Unique("tenant"), kafkatest.Unique("ls")
	common := []string{"--kafka", strings.Join(c.Brokers, ","), "--tenant", tenant, "--group-prefix", group, "--privacy-master-key-file", testMasterKeyFile()}
	apiProc := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir(), "--roles", "api"}, common...)...)
	defer apiProc.stop(t)
	a := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir(), "--roles", "projector"}, common...)...)
	b := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir(), "--roles", "projector"}, common...)...)
	defer b.stop(t)

	// Both members own part of the topic before the load starts.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pa, pb := len(a.status(t)["progress"].Partitions), len(b.status(t)["progress"].Partitions)
		if pa > 0 && pb > 0 {
			t.Logf("partitions: a owns %d, b owns %d", pa, pb)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projectors did not split the partitions: a %d, b %d", pa, pb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	post := func(n, from int) []string {
		var ids []string
		for i := from; i < from+n; i++ {
			code, _, body := apiProc.do(t, "POST", "/xapi/statements", "["+ownLearner(i)+","+ownLearner(i+1000)+"]")
			if code != http.StatusOK {
				t.Fatalf("POST: %d %s", code, body)
			}
			var got []string
			json.Unmarshal(body, &got)
			ids = append(ids, got...)
		}
		return ids
	}
	first := post(60, 0)
	sa, sb := a.settled(t, 30*time.Second)["progress"], b.settled(t, 30*time.Second)["progress"]
	if sa.Counts["statements"] == 0 || sb.Counts["statements"] == 0 ||
		sa.Counts["statements"]+sb.Counts["statements"] != int64(len(first)) {
		t.Fatalf("split: a counted %d, b counted %d, want both > 0 and %d together",
			sa.Counts["statements"], sb.Counts["statements"], len(first))
	}

	a.kill()
	second := post(30, 100)
	// b takes a's partitions after the group notices a is gone, restores
	// their state by replaying them, and ends up with everything.
	deadline = time.Now().Add(90 * time.Second)
	for {
		st := b.status(t)["progress"]
		if st.Counts["statements"] == int64(len(first)+len(second)) && st.Lag == 0 {
			// Each statement has a learner of its own.
			if st.Counts["learners"] != int64(len(first)+len(second)) {
				t.Errorf("b knows %d learners, want %d", st.Counts["learners"], len(first)+len(second))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a died, b counted %d statements (lag %d, %d partitions), want %d",
				st.Counts["statements"], st.Lag, len(st.Partitions), len(first)+len(second))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
