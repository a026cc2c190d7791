package analytics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// The sink behind a real consumer group, on the embedded broker and on
// Apache Kafka: with ClickHouse (a fake Writer) down nothing is committed,
// when it comes back every event's rows arrive, and across restarts rows
// repeat only as identical copies.
func TestSinkThroughBatchConsumer(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		topics := map[string]string{} // type prefix -> topic
		var specs []streams.TopicSpec
		for _, kind := range []string{"statements", "recommendations", "adaptive", "catalog"} {
			name := kafkatest.Unique("ls.analytics." + kind)
			topics[kind] = name
			specs = append(specs, streams.TopicSpec{Name: name, Partitions: 2, Replication: 1},
				streams.TopicSpec{Name: streams.DLQ(name), Partitions: 1, Replication: 1})
		}
		if err := streams.EnsureTopics(ctx, c.Brokers, specs); err != nil {
			t.Fatal(err)
		}
		topicOf := func(e event.Event) string {
			switch {
			case strings.HasPrefix(e.Type, "learnstream.xapi."):
				return topics["statements"]
			case strings.HasPrefix(e.Type, "learnstream.recommendations."):
				return topics["recommendations"]
			case strings.HasPrefix(e.Type, "learnstream.adaptive."):
				return topics["adaptive"]
			}
			return topics["catalog"]
		}
		pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		publish := func(evs []event.Event) {
			t.Helper()
			for _, e := range evs {
				if err := (streams.EventPublisher{Publisher: pub}).PublishEvents(ctx, topicOf(e), e); err != nil {
					t.Fatal(err)
				}
			}
		}

		w := smallWorld()
		evs := w.events[:600]
		perTopic := map[string]int{}
		for _, e := range evs {
			perTopic[topicOf(e)]++
		}
		if len(perTopic) != 4 {
			t.Fatalf("the events cover %d of the 4 topics", len(perTopic))
		}
		enc := NewEncoder(NewPseudonymizer(testSecret))
		want := map[string]bool{}
		rows, err := encodeAll(enc, evs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want[string(r.AppendJSON(nil))] = true
		}
		// Not analytics data, and a poison event of a stored type.
		ignored := plainEvent("ign-1", "learnstream.xapi.attachment.stored.v1", "k", `{"sha2":"x"}`)
		poison := plainEvent("poison-1", TypeMasteryUpdated, "k", `{"learner":"k","skill":"s","p_mastery":7}`)

		group := kafkatest.Unique("analytics")
		run := func(wr Writer) (stop func()) {
			sink := NewSink(SinkConfig{Encoder: enc, Writer: wr, Batch: BatcherConfig{MaxRows: 40}})
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				bc := &streams.BatchConsumer{Name: "analytics-test", Brokers: c.Brokers, Group: group,
					Topics:  []string{topics["statements"], topics["recommendations"], topics["adaptive"], topics["catalog"]},
					Handler: sink, DLQ: pub, MaxBatch: 1000, MaxWait: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
				if err := bc.Run(cctx); err != nil && cctx.Err() == nil {
					t.Errorf("batch consumer: %v", err)
				}
			}()
			return func() { cancel(); <-done }
		}
		written := func(m *memWriter) map[string]int {
			got := map[string]int{}
			for _, r := range m.snapshot() {
				got[string(r.AppendJSON(nil))]++
			}
			return got
		}

		half := len(evs) / 2
		publish(append(append([]event.Event{}, evs[:half]...), ignored, poison))

		// ClickHouse is down: nothing written, so nothing may be committed.
		down := &memWriter{fails: 1 << 30}
		stop := run(down)
		waitUntil(t, 60*time.Second, func() bool { return down.callCount() >= 3 })
		stop()
		if n := len(down.snapshot()); n != 0 {
			t.Fatalf("with the store down %d rows were written", n)
		}

		// It comes back after three more failures; a restart mid-way
		// re-reads what was not committed yet.
		store := &memWriter{fails: 3}
		stop = run(store)
		publish(evs[half:])
		waitUntil(t, 60*time.Second, func() bool { return len(written(store)) >= len(want)/3 })
		stop()
		stop = run(store)
		waitUntil(t, 60*time.Second, func() bool { return len(written(store)) >= len(want) })
		time.Sleep(300 * time.Millisecond)
		stop()

		got := written(store)
		for line := range got {
			if !want[line] {
				t.Fatalf("a written row is no row of the events:\n%s", line)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d distinct rows written, want %d", len(got), len(want))
		}
		dups := 0
		for _, n := range got {
			dups += n - 1
		}
		t.Logf("%d events on %d topics, %d rows, %d written again after the restart (identical copies)", len(evs), len(perTopic), len(want), dups)

		// A last run finds everything committed: it writes only what is
		// new, one marker event published now.
		again := &memWriter{}
		stop = run(again)
		marker := plainEvent("marker-1", TypeMasteryUpdated, "k", `{"learner":"k","skill":"s","p_mastery":1}`)
		publish([]event.Event{marker})
		waitUntil(t, 60*time.Second, func() bool { return len(again.snapshot()) > 0 })
		time.Sleep(300 * time.Millisecond)
		stop()
		if got := again.snapshot(); len(got) != 1 || got[0].(MasteryUpdate).EventID != "marker-1" || got[0].(MasteryUpdate).PMastery != 1 {
			t.Fatalf("after everything was committed a new run wrote %d rows, want only the marker's: %+v", len(got), got)
		}
		dls, err := streams.ListDLQ(ctx, c.Brokers, topics["adaptive"], 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) != 1 || dls[0].Consumer != "analytics-test" || !strings.Contains(dls[0].Reason, "p_mastery") {
			t.Fatalf("the poison event is not in the DLQ with its reason: %+v", dls)
		}
	})
}

func waitUntil(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
