package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
)

// fakeProduce records every produce call and answers from fail, which
// sees the call's messages; the first call blocks until release closes.
type fakeProduce struct {
	mu      sync.Mutex
	calls   [][]string
	started chan struct{}
	release chan struct{}
	fail    func(msgs []kafka.Message) error
}

func newFakeProduce(fail func([]kafka.Message) error) *fakeProduce {
	return &fakeProduce{started: make(chan struct{}, 100), release: make(chan struct{}), fail: fail}
}

func (f *fakeProduce) produce(msgs []kafka.Message) error {
	f.mu.Lock()
	first := len(f.calls) == 0
	var vals []string
	for _, m := range msgs {
		vals = append(vals, string(m.Value))
	}
	f.calls = append(f.calls, vals)
	f.mu.Unlock()
	f.started <- struct{}{}
	if first {
		<-f.release
	}
	if f.fail != nil {
		return f.fail(msgs)
	}
	return nil
}

func msgs(vals ...string) []kafka.Message {
	out := make([]kafka.Message, len(vals))
	for i, v := range vals {
		out[i] = kafka.Message{Value: []byte(v)}
	}
	return out
}

// queued waits until n writers wait behind the write in flight.
func queued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		got := len(g.pending)
		g.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("never saw %d queued writers", n)
}

// Writes that arrive while one is produced go out together in the next
// produce call, and each caller hears only its own records' outcome.
func TestGroupCommitSharesProduceCalls(t *testing.T) {
	perMessage := func(bad string) func([]kafka.Message) error {
		return func(ms []kafka.Message) error {
			if len(ms) == 1 && string(ms[0].Value) == bad {
				return errors.New("refused")
			}
			werr := make(kafka.WriteErrors, len(ms))
			failed := false
			for i, m := range ms {
				if string(m.Value) == bad {
					werr[i] = errors.New("partition unavailable")
					failed = true
				}
			}
			if !failed {
				return nil
			}
			return werr
		}
	}
	tooLarge := func(bad string) func([]kafka.Message) error {
		return func(ms []kafka.Message) error {
			for _, m := range ms {
				if string(m.Value) == bad {
					return kafka.MessageTooLargeError{}
				}
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name string
		fail func([]kafka.Message) error
		// calls after the first: the shared one, then any retried alone
		wantCalls [][]string
		wantErr   map[string]bool // writer (its first value) -> fails
	}{
		{name: "all succeed", wantCalls: [][]string{{"b1", "b2", "c1", "d1"}},
			wantErr: map[string]bool{"a1": false, "b1": false, "c1": false, "d1": false}},
		{name: "one partition fails", fail: perMessage("c1"), wantCalls: [][]string{{"b1", "b2", "c1", "d1"}},
			wantErr: map[string]bool{"a1": false, "b1": false, "c1": true, "d1": false}},
		{name: "one message too large fails only its writer", fail: tooLarge("b2"),
			wantCalls: [][]string{{"b1", "b2", "c1", "d1"}, {"b1", "b2"}, {"c1"}, {"d1"}},
			wantErr:   map[string]bool{"a1": false, "b1": true, "c1": false, "d1": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProduce(tc.fail)
			var g groupCommit
			errs := make(map[string]error)
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := func(vals ...string) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := g.write(context.Background(), f.produce, msgs(vals...))
					mu.Lock()
					errs[vals[0]] = err
					mu.Unlock()
				}()
			}
			start("a1")
			<-f.started // a1 is in flight, alone
			start("b1", "b2")
			queued(t, &g, 1)
			start("c1")
			queued(t, &g, 2)
			start("d1")
			queued(t, &g, 3)
			close(f.release)
			wg.Wait()
			if got := f.calls[0]; !slices.Equal(got, []string{"a1"}) {
				t.Errorf("first produce carried %v, want [a1]", got)
			}
			if got := f.calls[1:]; fmt.Sprint(got) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("later produce calls %v, want %v", got, tc.wantCalls)
			}
			for w, want := range tc.wantErr {
				if got := errs[w] != nil; got != want {
					t.Errorf("writer %s: error %v, want failed=%v", w, errs[w], want)
				}
			}
			if g.inflight != 0 || len(g.pending) != 0 {
				t.Errorf("after every write: in flight %d, pending %d, want idle", g.inflight, len(g.pending))
			}
		})
	}
}

// A caller whose context ends while its records wait in the queue leaves
// with an error and its records are never produced; the others are.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	f := newFakeProduce(nil)
	var g groupCommit
	done := make(chan error, 3)
	go func() { done <- g.write(context.Background(), f.produce, msgs("a")) }()
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- g.write(ctx, f.produce, msgs("gone")) }()
	queued(t, &g, 1)
	go func() { done <- g.write(context.Background(), f.produce, msgs("c")) }()
	queued(t, &g, 2)
	cancel()
	queued(t, &g, 1)
	close(f.release)
	var failed int
	for range 3 {
		if err := <-done; err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled writer: %v, want context.Canceled", err)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d writers failed, want only the cancelled one", failed)
	}
	if got := fmt.Sprint(f.calls); got != "[[a] [c]]" {
		t.Errorf("produced %s, want [[a] [c]] (the cancelled writer's records never)", got)
	}
}

// A failure of the whole call that no single writer caused (a timeout)
// reaches every writer of the group once, without producing again.
func TestGroupCommitWholeCallFailure(t *testing.T) {
	f := newFakeProduce(func(ms []kafka.Message) error {
		if string(ms[0].Value) == "a" {
			return nil
		}
		return context.DeadlineExceeded
	})
	var g groupCommit
	done := make(chan error, 3)
	go func() { done <- g.write(context.Background(), f.produce, msgs("a")) }()
	<-f.started
	go func() { done <- g.write(context.Background(), f.produce, msgs("b")) }()
	queued(t, &g, 1)
	go func() { done <- g.write(context.Background(), f.produce, msgs("c")) }()
	queued(t, &g, 2)
	close(f.release)
	var failed int
	for range 3 {
		if err := <-done; errors.Is(err, context.DeadlineExceeded) {
			failed++
		}
	}
	if failed != 2 || len(f.calls) != 2 {
		t.Errorf("%d writers failed in %d produce calls, want 2 in 2 (a alone, then b and c once)", failed, len(f.calls))
	}
}

// Records EventPublisher builds directly are those the watermill path
// builds: same key, value and headers, so receivers verify them alike.
func TestRecordOfMatchesWatermillPath(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
	e, err := event.New("e1", event.TypeStatementStored, "test", "t1", "ada", time.Unix(1, 5), []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Extensions = map[string]string{"define": "false", "b": "2"}
	for _, e := range []event.Event{e, event.Sign(e, key), func() event.Event { e := e; e.Key = ""; return e }()} {
		want := toKafka("s", NewMessage(e))
		got := recordOf("s", e)
		sortHeaders := func(hs []kafka.Header) []string {
			var out []string
			for _, h := range hs {
				out = append(out, h.Key+"="+string(h.Value))
			}
			slices.Sort(out)
			return out
		}
		if got.Topic != want.Topic || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) ||
			!slices.Equal(sortHeaders(got.Headers), sortHeaders(want.Headers)) {
			t.Errorf("recordOf = %+v\nwatermill path = %+v", got, want)
		}
		back, sigErr, decErr := decodeRecord(got, &verifier{key: key})
		if decErr != nil || back.ID != e.ID || (e.Signature != "" && sigErr != nil) {
			t.Errorf("record does not decode back: %v %v", decErr, sigErr)
		}
	}
}

// With a limit of two, a second write is produced while the first is in
// flight (queued behind it at each partition, not behind the slowest
// partition's answer); further writes wait, never more than two produce
// calls run at once, and every record is produced exactly once.
func TestGroupCommitTwoInFlight(t *testing.T) {
	var mu sync.Mutex
	var calls [][]string
	var running, most int
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	produce := func(ms []kafka.Message) error {
		var vals []string
		for _, m := range ms {
			vals = append(vals, string(m.Value))
		}
		mu.Lock()
		calls = append(calls, vals)
		running++
		most = max(most, running)
		mu.Unlock()
		started <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	g := groupCommit{limit: 2}
	done := make(chan error, 5)
	for _, v := range []string{"a", "b"} {
		go func() { done <- g.write(context.Background(), produce, msgs(v)) }()
		<-started
	}
	for i, v := range []string{"c", "d", "e"} {
		go func() { done <- g.write(context.Background(), produce, msgs(v)) }()
		queued(t, &g, i+1)
	}
	close(release)
	for range 5 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	var produced []string
	for _, c := range calls {
		produced = append(produced, c...)
	}
	slices.Sort(produced)
	if first := fmt.Sprint(calls[:2]); (first != "[[a] [b]]" && first != "[[b] [a]]") || !slices.Equal(produced, []string{"a", "b", "c", "d", "e"}) || most != 2 {
		t.Errorf("produce calls %v (at most %d at once), want a and b alone at once, then c, d and e, each once, two calls at most at once", calls, most)
	}
	if g.inflight != 0 || len(g.pending) != 0 {
		t.Errorf("after every write: in flight %d, pending %d, want idle", g.inflight, len(g.pending))
	}
}
