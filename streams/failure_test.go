package streams_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// failing is a Handler whose events fail as their data says: "unmarked"
// with a plain error (as a validation error nobody marked would), "outage"
// with a Transient error while the outage lasts.
type failing struct {
	*recorder
	outage   atomic.Bool
	mu       sync.Mutex
	attempts map[string]int
}

func (f *failing) Handle(ctx context.Context, pos streams.Position, e event.Event) error {
	f.mu.Lock()
	f.attempts[e.ID]++
	f.mu.Unlock()
	switch string(e.Data) {
	case `"unmarked"`:
		return errors.New(`activity.definition.scale: is not a component list of a "matching" interaction`)
	case `"outage"`:
		if f.outage.Load() {
			return event.Transient(errors.New("store: writes are blocked"))
		}
	}
	return f.recorder.Handle(ctx, pos, e)
}

func (f *failing) tries(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[id]
}

// Only infrastructure failures are retried: an unmarked error parks the
// event at once and the partition moves on; a transient one holds the
// partition, and once that lasts longer than the bound the consumer is
// reported stuck (consumer, partition, offset, last error) until it
// progresses.
func TestConsumerRetriesOnlyInfrastructureFailures(t *testing.T) {
	c := kafkatest.Embedded(t)
	topic := kafkatest.Unique("ls.fail")
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
		{Name: topic, Partitions: 1, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1},
	}); err != nil {
		t.Fatal(err)
	}
	h := &failing{recorder: newRecorder(), attempts: map[string]int{}}
	h.outage.Store(true)
	publish(t, c.Brokers, topic, []event.Event{
		newEvent(t, "before", "k", `{}`),
		newEvent(t, "wedge", "k", `"unmarked"`),
		newEvent(t, "after", "k", `{}`),
		newEvent(t, "outage", "k", `"outage"`),
		newEvent(t, "behind", "k", `{}`),
	})
	sub, err := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: h})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	dlq, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	health := streams.NewHealth()
	health.StuckAfter = 300 * time.Millisecond
	cons := &streams.Consumer{Name: "statements", Subscriber: sub, Topic: topic, Handler: h, DLQ: dlq,
		RetryBackoff: 20 * time.Millisecond, Health: health}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); cons.Run(rctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the event after the unmarked failure", 10*time.Second, func() bool { return h.count() == 2 })
	if n := h.tries("wedge"); n != 1 {
		t.Errorf("the unmarked failure was tried %d times, want 1 (parked at once)", n)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: streams.DLQ(topic), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	defer mcancel()
	m, err := r.ReadMessage(mctx)
	if err != nil {
		t.Fatalf("read DLQ: %v", err)
	}
	var reason string
	for _, hd := range m.Headers {
		if hd.Key == event.HeaderDLQReason {
			reason = string(hd.Value)
		}
	}
	if !strings.Contains(reason, "is not a component list") {
		t.Errorf("DLQ reason %q does not carry the error", reason)
	}

	// The outage holds offset 3; nothing behind it is applied.
	waitFor(t, "the consumer reported stuck", 10*time.Second, func() bool { return len(health.Stuck()) == 1 })
	waitFor(t, "the transient failure retried", 10*time.Second, func() bool { return h.tries("outage") >= 2 })
	if h.count() != 2 {
		t.Errorf("%d events applied during the outage, want 2", h.count())
	}
	s := health.Stuck()[0]
	if s.Consumer != "statements" || s.Topic != topic || s.Partition != 0 || s.Offset != 3 || !strings.Contains(s.LastError, "writes are blocked") {
		t.Errorf("stuck = %+v", s)
	}
	err = health.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "consumer statements stuck on "+topic+"/0 at offset 3") ||
		!strings.Contains(err.Error(), "writes are blocked") {
		t.Errorf("readiness = %v", err)
	}

	h.outage.Store(false)
	waitFor(t, "the events after the outage", 10*time.Second, func() bool { return h.count() == 4 })
	waitFor(t, "the stuck report cleared", 5*time.Second, func() bool { return len(health.Failing()) == 0 })
	if err := health.Check(ctx); err != nil {
		t.Errorf("readiness after recovery: %v", err)
	}
}

func TestHealthStuckBound(t *testing.T) {
	h := streams.NewHealth()
	h.StuckAfter = 50 * time.Millisecond
	h.Failed("c", "t", 1, 7, errors.New("e1"))
	if len(h.Stuck()) != 0 || len(h.Failing()) != 1 {
		t.Fatalf("a fresh failure counts as stuck: %+v", h.Failing())
	}
	time.Sleep(80 * time.Millisecond)
	if len(h.Stuck()) != 1 {
		t.Fatal("failing beyond the bound is not stuck")
	}
	// Moving to another offset starts the clock again.
	h.Failed("c", "t", 1, 8, errors.New("e2"))
	if len(h.Stuck()) != 0 {
		t.Fatal("a failure at a new offset kept the old clock")
	}
	h.Progressed("c", "t", 2)
	h.Progressed("other", "t", 1)
	if len(h.Failing()) != 1 {
		t.Fatal("progress on another partition or consumer cleared the failure")
	}
	h.Progressed("c", "t", 1)
	if len(h.Failing()) != 0 {
		t.Fatal("progress did not clear the failure")
	}
	h.Failed("c", "t", 2, 1, errors.New("e3"))
	h.Forget("c")
	if len(h.Failing()) != 0 {
		t.Fatal("Forget left a failure")
	}
	// Failures after a Forget are tracked and cleared as before.
	h.Failed("c", "t", 3, 1, errors.New("e4"))
	h.Failed("d", "t", 3, 1, errors.New("e5"))
	h.Progressed("c", "t", 3)
	if f := h.Failing(); len(f) != 1 || f[0].Consumer != "d" {
		t.Fatalf("after c progressed, failing %+v, want d's only", f)
	}
	h.Progressed("d", "t", 3)
	if len(h.Failing()) != 0 {
		t.Fatal("progress did not clear the last failure")
	}
}
