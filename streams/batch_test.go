package streams_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
	"github.com/segmentio/kafka-go"
)

// sink is a BatchHandler over memory whose store can be made to fail.
type sink struct {
	mu      sync.Mutex
	pending []string
	written map[string]int
	fails   int // Flush fails this many more times (-1: always)
	failed  int // failed Flush calls so far
	flushes int
	refused int // poison events Add refused
}

func (s *sink) Add(e event.Event, _ streams.Position) error {
	if string(e.Data) == `"poison"` {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.refused++
		return event.Reject(errors.New("data: not a row"))
	}
	if string(e.Data) == `"unmarked"` {
		return errors.New("column level: value out of range") // a deterministic error nobody marked
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, e.ID)
	return nil
}

func (s *sink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails != 0 {
		if s.fails > 0 {
			s.fails--
		}
		s.failed++
		return errors.New("store unreachable")
	}
	for _, id := range s.pending {
		s.written[id]++
	}
	s.pending = s.pending[:0]
	s.flushes++
	return nil
}

func (s *sink) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.written)
}

func runBatch(t *testing.T, c kafkatest.Cluster, topic, group string, s *sink) func() {
	return runBatchReset(t, c, topic, group, s, false)
}

func runBatchReset(t *testing.T, c kafkatest.Cluster, topic, group string, s *sink, reset bool) func() {
	pub, _ := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&streams.BatchConsumer{Name: "sink", Brokers: c.Brokers, Group: group, Topics: []string{topic}, Handler: s,
			DLQ: pub, MaxBatch: 20, MaxWait: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, ResetBeyondEnd: reset}).Run(ctx)
	}()
	return func() { cancel(); <-done; pub.Close() }
}

// A committed offset beyond the log end (the log lost events the group
// had read) is held and reported, never read past silently; with
// ResetBeyondEnd the group reads the partition again from its start.
func TestBatchConsumerOffsetBeyondLogEnd(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		topic, group := kafkatest.Unique("ls.loss"), kafkatest.Unique("sink")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
			{Name: topic, Partitions: 1, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		for i := range 10 {
			evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), "k", `{}`))
		}
		publish(t, c.Brokers, topic, evs)
		// The group had read 50 events of a log that now holds 10.
		client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: streams.Transport(c.Brokers)}
		// A broker that just started may still be loading its group
		// coordinator (a temporary error).
		waitFor(t, "the commit", 30*time.Second, func() bool {
			resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
				Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: 50}}}})
			if err == nil && resp.Topics[topic][0].Error == nil {
				return true
			}
			var kerr kafka.Error
			if err == nil {
				err = resp.Topics[topic][0].Error
			}
			if !errors.As(err, &kerr) || !kerr.Temporary() {
				t.Fatalf("commit: %v", err)
			}
			return false
		})

		held := &sink{written: map[string]int{}}
		stop := runBatch(t, c, topic, group, held)
		waitFor(t, "the loss reported", 30*time.Second, func() bool {
			return slices.ContainsFunc(streams.StalledPartitions(), func(r string) bool {
				return strings.Contains(r, "group "+group) && strings.Contains(r, "lost 40 event(s)")
			})
		})
		stop()
		if held.count() != 0 {
			t.Fatalf("read %d events past a lost log tail", held.count())
		}
		if slices.ContainsFunc(streams.StalledPartitions(), func(r string) bool { return strings.Contains(r, group) }) {
			t.Error("the loss is still reported after the consumer stopped")
		}

		again := &sink{written: map[string]int{}}
		stop = runBatchReset(t, c, topic, group, again, true)
		waitFor(t, "the log read again", 30*time.Second, func() bool { return again.count() == 10 })
		stop()
	})
}

// A batch's offsets are committed only after its flush, and its rejected
// events are parked with it: a store that stays down across restarts
// neither loses an event nor parks the same one twice.
func TestBatchConsumerCommitsOnlyAfterFlush(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		topic, group := kafkatest.Unique("ls.batch"), kafkatest.Unique("sink")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
			{Name: topic, Partitions: 2, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		batch := func(from, n int) []event.Event {
			var evs []event.Event
			for i := from; i < from+n; i++ {
				evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), fmt.Sprintf("k%d", i%5), `{}`))
			}
			return evs
		}
		// A few events and a poison one on one key, so one fetch brings
		// them all before the first flush.
		publish(t, c.Brokers, topic, []event.Event{newEvent(t, "e0", "k0", `{}`), newEvent(t, "bad", "k0", `"poison"`), newEvent(t, "e5", "k0", `{}`)})
		parked := func() int {
			dls, err := streams.ListDLQ(ctx, c.Brokers, topic, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range dls {
				if d.Consumer != "sink" || d.EventID != "bad" || !strings.HasSuffix(d.Reason, "data: not a row") {
					t.Errorf("DLQ record %+v, want the poison event with its reason", d)
				}
			}
			return len(dls)
		}

		// The store is down: nothing is written, nothing committed, and
		// the poison event read with the batch is not parked either. Two
		// runs, as a restart while the store is down.
		for range 2 {
			down := &sink{written: map[string]int{}, fails: -1}
			stop := runBatch(t, c, topic, group, down)
			// three failed flushes: the consumer read events and kept retrying
			waitFor(t, "3 failed flushes", 60*time.Second, func() bool { return down.failures() >= 3 })
			stop()
			if down.count() != 0 {
				t.Fatalf("wrote %d events while the store was down", down.count())
			}
			if down.refused != 1 {
				t.Fatalf("the run refused the poison event %d times, want 1 (it must be read with the failing batch)", down.refused)
			}
			if n := parked(); n != 0 {
				t.Fatalf("%d record(s) parked in the DLQ before their batch was flushed", n)
			}
		}
		publish(t, c.Brokers, topic, append(batch(1, 4), batch(6, 44)...))

		// It comes back after two more failures: everything arrives once.
		s := &sink{written: map[string]int{}, fails: 2}
		stop := runBatch(t, c, topic, group, s)
		waitFor(t, "50 events written", 30*time.Second, func() bool { return s.count() == 50 })
		stop()

		// A restart reads only what is new: the offsets were committed.
		publish(t, c.Brokers, topic, batch(50, 10))
		stop = runBatch(t, c, topic, group, s)
		waitFor(t, "60 events written", 30*time.Second, func() bool { return s.count() == 60 })
		time.Sleep(300 * time.Millisecond)
		stop()
		for id, n := range s.written {
			if n != 1 {
				t.Errorf("event %s written %d times", id, n)
			}
		}
		if n := parked(); n != 1 {
			t.Errorf("the poison event is parked %d times, want once", n)
		}
	})
}

// An unmarked error of Add parks the event at once (it used to stop the
// consumer); a flush that keeps failing is reported stuck at the oldest
// pending event until it succeeds.
func TestBatchConsumerParksUnmarkedFailuresAndReportsStuckFlushes(t *testing.T) {
	c := kafkatest.Embedded(t)
	topic, group := kafkatest.Unique("ls.batch"), kafkatest.Unique("sink")
	if err := streams.EnsureTopics(context.Background(), c.Brokers, []streams.TopicSpec{
		{Name: topic, Partitions: 1, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	publish(t, c.Brokers, topic, []event.Event{newEvent(t, "a", "k", `{}`), newEvent(t, "odd", "k", `"unmarked"`), newEvent(t, "b", "k", `{}`)})
	s := &sink{written: map[string]int{}, fails: -1}
	health := streams.NewHealth()
	health.StuckAfter = 200 * time.Millisecond
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&streams.BatchConsumer{Name: "sink", Brokers: c.Brokers, Group: group, Topics: []string{topic}, Handler: s,
			DLQ: pub, MaxBatch: 20, MaxWait: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Health: health}).Run(ctx)
	}()
	defer func() { cancel(); <-done }()

	waitFor(t, "the failing flush reported stuck", 30*time.Second, func() bool { return len(health.Stuck()) == 1 })
	if st := health.Stuck()[0]; st.Consumer != "sink" || st.Offset != 0 || st.LastError != "store unreachable" {
		t.Errorf("stuck = %+v", st)
	}
	s.mu.Lock()
	s.fails = 0
	s.mu.Unlock()
	waitFor(t, "both good events written", 30*time.Second, func() bool { return s.count() == 2 })
	waitFor(t, "the stuck report cleared", 5*time.Second, func() bool { return len(health.Failing()) == 0 })
	dls, err := streams.ListDLQ(context.Background(), c.Brokers, topic, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].EventID != "odd" || dls[0].Reason != "column level: value out of range" {
		t.Errorf("DLQ = %+v, want the unmarked event with its error", dls)
	}
}
