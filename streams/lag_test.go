package streams_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

func TestLagMonitorFollowsConsumer(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		topic := kafkatest.Unique("ls.lag")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
			{Name: topic, Partitions: 2, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		for i := 0; i < 25; i++ {
			evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), fmt.Sprintf("k%d", i), `{}`))
		}
		publish(t, c.Brokers, topic, evs)

		rec := newRecorder()
		mon := &streams.LagMonitor{Consumer: "test", Brokers: c.Brokers, Topic: topic, Offsets: rec}
		if err := mon.Measure(ctx); err != nil {
			t.Fatal(err)
		}
		if total, parts, _ := mon.Lag(); total != 25 || len(parts) != 2 {
			t.Fatalf("before consuming: lag %d over %d partitions, want 25 over 2", total, len(parts))
		}
		stop := runConsumer(t, c, topic, "", rec, rec)
		defer stop()
		waitFor(t, "consumer caught up", 20*time.Second, func() bool { return rec.count() == 25 })
		if err := mon.Measure(ctx); err != nil {
			t.Fatal(err)
		}
		if total, _, _ := mon.Lag(); total != 0 {
			t.Fatalf("after consuming: lag %d, want 0", total)
		}
	})
}

func TestWaitCaughtUp(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		topic := kafkatest.Unique("ls.caughtup")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
			{Name: topic, Partitions: 3, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		for i := 0; i < 30; i++ {
			evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), fmt.Sprintf("k%d", i), `{}`))
		}
		publish(t, c.Brokers, topic, evs)
		rec := newRecorder()

		// Nothing consumed: the wait must end with the context, naming
		// the topic, not report success.
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := streams.WaitCaughtUp(short, c.Brokers, topic, rec, 10*time.Millisecond)
		cancel()
		if err == nil {
			t.Fatal("WaitCaughtUp returned nil with nothing consumed")
		}

		stop := runConsumer(t, c, topic, "", rec, rec)
		defer stop()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := streams.WaitCaughtUp(wctx, c.Brokers, topic, rec, 10*time.Millisecond); err != nil {
			t.Fatalf("WaitCaughtUp with a running consumer: %v", err)
		}
		if n := rec.count(); n != 30 {
			t.Fatalf("WaitCaughtUp returned with %d of 30 events applied", n)
		}
	})
}
