package streams_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// recorder is a Handler that keeps what it applied, in memory, and can be
// told to reject events whose data says "poison".
type recorder struct {
	mu      sync.Mutex
	applied map[string]streams.Position
	// verified holds the ids of the events the transport marked Verified.
	verified map[string]bool
	order    map[string][]string // key -> event ids in applied order
	skipped  []streams.Position
	next     map[int]int64 // partition -> next offset
}

func newRecorder() *recorder {
	return &recorder{applied: map[string]streams.Position{}, verified: map[string]bool{}, order: map[string][]string{}, next: map[int]int64{}}
}

func (r *recorder) Handle(_ context.Context, pos streams.Position, e event.Event) error {
	if string(e.Data) == `"poison"` {
		return event.Reject(errors.New("data: poison is not a statement"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied[e.ID] = pos
	if e.Verified {
		r.verified[e.ID] = true
	}
	r.order[e.Key] = append(r.order[e.Key], e.ID)
	r.next[pos.Partition] = pos.Offset + 1
	return nil
}

// batchRecorder takes events in batches, as projections do: it applies
// them up to the first bad one and says how many.
type batchRecorder struct {
	*recorder
	largest int // the largest batch seen
}

func (b *batchRecorder) HandleBatch(ctx context.Context, pos []streams.Position, evs []event.Event) (int, error) {
	b.mu.Lock()
	b.largest = max(b.largest, len(evs))
	b.mu.Unlock()
	for i := range evs {
		if err := b.Handle(ctx, pos[i], evs[i]); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

func (r *recorder) Skip(_ context.Context, pos streams.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, pos)
	r.next[pos.Partition] = pos.Offset + 1
	return nil
}

func (r *recorder) NextOffset(_ context.Context, _ string, p int) (int64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.next[p]
	return o, ok, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

func newEvent(t testing.TB, id, key, data string) event.Event {
	t.Helper()
	e, err := event.New(id, "learnstream.test.v1", "test", "t1", key, time.Now(), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func publish(t testing.TB, brokers []string, topic string, evs []event.Event) {
	t.Helper()
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, e := range evs {
		if err := pub.Publish(topic, streams.NewMessage(e)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runConsumer(t *testing.T, c kafkatest.Cluster, topic, group string, h streams.Handler, offsets streams.OffsetStore) func() {
	t.Helper()
	return startConsumer(t, c, topic, group, h, offsets, false)
}

// oneByOne hides the subscriber's SubscribeBatches, so that the consumer
// takes messages one at a time, as from any watermill subscriber.
type oneByOne struct{ message.Subscriber }

func startConsumer(t *testing.T, c kafkatest.Cluster, topic, group string, h streams.Handler, offsets streams.OffsetStore, single bool) func() {
	t.Helper()
	sub, err := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Group: group, Offsets: offsets})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var from message.Subscriber = sub
		if single {
			from = oneByOne{sub}
		}
		cons := &streams.Consumer{Name: "test", Subscriber: from, Topic: topic, Handler: h, DLQ: dlq}
		cons.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		sub.Close()
		dlq.Close()
	}
}

func TestConsumerAppliesInOrderAndParksPoison(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		for _, mode := range []struct {
			group         string
			batch, single bool
		}{{"", false, false}, {kafkatest.Unique("g"), false, false}, {"", true, false}, {"", false, true}} {
			group := mode.group
			name := "direct"
			if group != "" {
				name = "group"
			}
			if mode.batch {
				name += "-batch-applier"
			}
			if mode.single {
				name += "-one-by-one"
			}
			t.Run(name, func(t *testing.T) {
				topic := kafkatest.Unique("ls.test")
				ctx := context.Background()
				if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
					{Name: topic, Partitions: 3, Replication: 1},
					{Name: streams.DLQ(topic), Partitions: 1, Replication: 1},
				}); err != nil {
					t.Fatal(err)
				}
				var evs []event.Event
				for i := 0; i < 60; i++ {
					evs = append(evs, newEvent(t, fmt.Sprintf("e%03d", i), fmt.Sprintf("learner-%d", i%5), `{}`))
				}
				evs = append(evs[:30:30], append([]event.Event{newEvent(t, "bad", "learner-1", `"poison"`)}, evs[30:]...)...)
				sent := time.Now()
				publish(t, c.Brokers, topic, evs)
				// A record that is not a CloudEvent at all, straight into the topic.
				// A transport of its own: kafka-go's default one caches metadata
				// fetched before this subtest created its topic.
				w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
				if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("learner-2"), Value: []byte("garbage")}); err != nil {
					t.Fatal(err)
				}
				w.Close()
				publish(t, c.Brokers, topic, []event.Event{newEvent(t, "last", "learner-2", `{}`)})

				rec := newRecorder()
				var h streams.Handler = rec
				br := &batchRecorder{recorder: rec}
				if mode.batch {
					h = br
				}
				stop := startConsumer(t, c, topic, group, h, rec, mode.single)
				// The raw record is not keyed to a partition (the writer's
				// balancer is round-robin), so it may come after "last".
				waitFor(t, "61 events applied, 2 parked", 30*time.Second, func() bool {
					rec.mu.Lock()
					parked := len(rec.skipped)
					rec.mu.Unlock()
					return rec.count() == 61 && parked == 2
				})
				stop()
				if mode.batch && br.largest < 2 {
					t.Errorf("largest batch %d: the events waiting in a partition should come together", br.largest)
				}

				rec.mu.Lock()
				// Each position dates its record's write to the log
				// (timestamps are whole milliseconds).
				for id, p := range rec.applied {
					if p.Time.Before(sent.Truncate(time.Millisecond)) || p.Time.After(time.Now()) {
						t.Errorf("event %s: position time %v, want when it was written (after %v)", id, p.Time, sent)
						break
					}
				}
				if len(rec.skipped) != 2 {
					t.Errorf("skipped %d events, want 2 (the rejected one and the non-CloudEvent)", len(rec.skipped))
				}
				for k, ids := range rec.order {
					for i := 1; i < len(ids); i++ {
						if ids[i-1] > ids[i] && ids[i] != "last" {
							t.Errorf("key %s applied out of order: %v", k, ids)
							break
						}
					}
				}
				rec.mu.Unlock()

				// Both bad records are in the DLQ with a reason.
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: streams.DLQ(topic), Partition: 0, MaxWait: 100 * time.Millisecond})
				defer r.Close()
				rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				for i := 0; i < 2; i++ {
					m, err := r.ReadMessage(rctx)
					if err != nil {
						t.Fatalf("read DLQ: %v", err)
					}
					reason := ""
					for _, h := range m.Headers {
						if h.Key == event.HeaderDLQReason {
							reason = string(h.Value)
						}
					}
					if reason == "" {
						t.Errorf("DLQ record %q has no %s header", m.Value, event.HeaderDLQReason)
					}
				}

				// A restarted consumer resumes from its own offsets: nothing is
				// applied twice, and a new event is applied.
				publish(t, c.Brokers, topic, []event.Event{newEvent(t, "after", "learner-3", `{}`)})
				before := rec.count()
				stop = startConsumer(t, c, topic, group, h, rec, mode.single)
				waitFor(t, "event after restart", 30*time.Second, func() bool { return rec.count() == before+1 })
				time.Sleep(300 * time.Millisecond)
				stop()
				if n := rec.count(); n != before+1 {
					t.Errorf("after restart applied %d events, want %d", n, before+1)
				}
			})
		}
	})
}

func TestEmbeddedBrokerKeepsLogAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	topic := "ls.restart"
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, []string{addr}, []streams.TopicSpec{
		{Name: topic, Partitions: 2, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := 0; i < 20; i++ {
		evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), fmt.Sprintf("k%d", i%3), `{}`))
	}
	publish(t, []string{addr}, topic, evs)
	b.Close()

	b, err = streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: addr})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer b.Close()
	rec := newRecorder()
	stop := runConsumer(t, kafkatest.Cluster{Brokers: []string{addr}}, topic, "", rec, rec)
	defer stop()
	waitFor(t, "20 events after broker restart", 20*time.Second, func() bool { return rec.count() == 20 })
}

func TestStartEmbeddedRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  streams.EmbeddedConfig
	}{
		{"no data dir", streams.EmbeddedConfig{Listen: "127.0.0.1:0"}},
		{"bad address", streams.EmbeddedConfig{DataDir: t.TempDir(), Listen: "nonsense"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := streams.StartEmbedded(tc.cfg); err == nil {
				b.Close()
				t.Fatal("want an error")
			}
		})
	}
}

// A consumer keeps running while the embedded broker restarts under it: it
// reconnects and resumes, losing and doubling nothing.
func TestConsumerSurvivesEmbeddedBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	topic := "ls.bounce"
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, []string{addr}, []streams.TopicSpec{
		{Name: topic, Partitions: 2, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	batch := func(from int) []event.Event {
		var evs []event.Event
		for i := from; i < from+30; i++ {
			evs = append(evs, newEvent(t, fmt.Sprintf("e%03d", i), fmt.Sprintf("k%d", i%4), `{}`))
		}
		return evs
	}
	publish(t, []string{addr}, topic, batch(0))
	rec := newRecorder()
	stop := runConsumer(t, kafkatest.Cluster{Brokers: []string{addr}}, topic, "", rec, rec)
	defer stop()
	waitFor(t, "first 30 events", 20*time.Second, func() bool { return rec.count() == 30 })

	b.Close()
	time.Sleep(500 * time.Millisecond)
	b, err = streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: addr})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer b.Close()
	publish(t, []string{addr}, topic, batch(30))
	waitFor(t, "60 events after the broker restart", 30*time.Second, func() bool { return rec.count() == 60 })
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(); n != 60 {
		t.Fatalf("applied %d events, want exactly 60", n)
	}
}

// A nacked message, or batch, comes again whole: same id, payload and
// position, and acks on its second delivery.
func TestSubscriberRedeliversNacked(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		topic := kafkatest.Unique("ls.nack")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		publish(t, c.Brokers, topic, []event.Event{newEvent(t, "n1", "learner-1", `{"a":1}`), newEvent(t, "n2", "learner-1", `{"a":2}`)})
		sub, err := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, NackBackoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		same := func(a, b *message.Message) {
			t.Helper()
			if a.UUID != b.UUID || string(a.Payload) != string(b.Payload) ||
				a.Metadata.Get(streams.MetaOffset) != b.Metadata.Get(streams.MetaOffset) {
				t.Errorf("redelivered %s %s at %s, first delivered %s %s at %s", b.UUID, b.Payload, b.Metadata.Get(streams.MetaOffset),
					a.UUID, a.Payload, a.Metadata.Get(streams.MetaOffset))
			}
		}

		t.Run("one by one", func(t *testing.T) {
			msgs, err := sub.Subscribe(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			first := <-msgs
			first.Nack()
			again := <-msgs
			same(first, again)
			if !again.Ack() {
				t.Error("the redelivered message did not ack")
			}
			if next := <-msgs; next.UUID != "n2" {
				t.Errorf("after the ack came %s, want n2", next.UUID)
			}
		})
		t.Run("batches", func(t *testing.T) {
			batches, err := sub.SubscribeBatches(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			first := <-batches
			first.Nack()
			again := <-batches
			firstMsgs, againMsgs := first.Messages(), again.Messages()
			if len(againMsgs) != len(firstMsgs) {
				t.Fatalf("redelivered %d messages, first %d", len(againMsgs), len(firstMsgs))
			}
			for i := range firstMsgs {
				same(firstMsgs[i], againMsgs[i])
			}
			again.Ack()
		})
	})
}
