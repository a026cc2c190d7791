package streams_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

func statementEvent(t testing.TB, id, email string) event.Event {
	t.Helper()
	data := fmt.Sprintf(`{"id":"%s","actor":{"objectType":"Agent","name":"Name of %s","mbox":"mailto:%s"},`+
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/course"},`+
		`"stored":"2026-03-14T09:00:00Z","timestamp":"2026-03-14T09:00:00Z"}`, id, email, email)
	e, err := event.New(id, event.TypeStatementStored, "test", "t1", "mbox:mailto:"+email, march, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSealedEventsThroughTheTransport: with a key store registered for the
// cluster, the log holds no learner identity (record key or value), a
// consumer sees the events opened with their keys restored, an erased
// learner's events are stepped past without a DLQ copy, and a sealed
// value altered under a valid signature goes to the DLQ.
func TestSealedEventsThroughTheTransport(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		signing := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
		if err := streams.Secure(c.Brokers, streams.Security{SigningKey: signing}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { streams.Secure(c.Brokers, streams.Security{}) })
		vault := openVault(t, ctx, c, keysTopic(t, ctx, c), masterKeys(t, keyLine("m1", 7)))
		streams.UseKeys(c.Brokers, vault)
		t.Cleanup(func() { streams.UseKeys(c.Brokers, nil) })

		topic := kafkatest.Unique("sealed")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 2, Replication: 1},
			{Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		evs := []event.Event{statementEvent(t, "e1", "ada.lovelace@example.com"), statementEvent(t, "e2", "bob.builder@example.com"),
			statementEvent(t, "e3", "ada.lovelace@example.com")}
		if err := (streams.EventPublisher{Publisher: pub}).PublishEvents(ctx, topic, evs...); err != nil {
			t.Fatal(err)
		}

		// The log: pseudonyms for keys, nothing of the learners.
		raw := readAll(t, ctx, c.Brokers, topic, 3)
		for _, m := range raw {
			if !privacy.IsPseudonym(string(m.Key)) {
				t.Errorf("record key %q is not a pseudonym", m.Key)
			}
			all := string(m.Key) + string(m.Value)
			for _, h := range m.Headers {
				all += string(h.Value)
			}
			for _, who := range []string{"lovelace", "builder", "Name of"} {
				if strings.Contains(all, who) {
					t.Errorf("record %d holds %q in clear: %s", m.Offset, who, all)
				}
			}
		}

		rec := newRecorder()
		stop := runConsumer(t, c, topic, "", rec, rec)
		waitFor(t, "three events applied", 30*time.Second, func() bool { return rec.count() == 3 })
		stop()
		rec.mu.Lock()
		if got := rec.order["mbox:mailto:ada.lovelace@example.com"]; fmt.Sprint(got) != "[e1 e3]" {
			t.Errorf("ada's events under her clear key, in order: %v (keys %v)", got, rec.order)
		}
		if len(rec.verified) != 3 {
			t.Errorf("%d events verified, want 3: sealed, then signed", len(rec.verified))
		}
		rec.mu.Unlock()

		// Erase ada; a consumer reading from the start steps past her
		// events and applies bob's.
		if _, err := vault.DestroyLearner(ctx, "t1", vault.Pseudonym("t1", "mbox:mailto:ada.lovelace@example.com")); err != nil {
			t.Fatal(err)
		}
		// A record altered under a valid signature: one character of
		// bob's sealed actor changed.
		var e event.Event
		for _, m := range raw {
			if string(m.Key) == vault.Pseudonym("t1", "mbox:mailto:bob.builder@example.com") {
				e = decodeRaw(t, m)
			}
		}
		i := bytes.Index(e.Data, []byte(`"sealed":"`)) + len(`"sealed":"`) + 30
		data := bytes.Clone(e.Data)
		if data[i] == 'A' {
			data[i] = 'B'
		} else {
			data[i] = 'A'
		}
		e.Data, e.ID = data, "tampered"
		e = event.Sign(e, signing)
		if err := pub.Publish(topic, streams.NewMessage(e)); err != nil {
			t.Fatal(err)
		}
		after := newRecorder()
		stop = runConsumer(t, c, topic, "", after, after)
		defer stop()
		var dead []streams.DeadLetter
		waitFor(t, "bob applied, ada skipped, the tampered record parked", 30*time.Second, func() bool {
			dead, _ = streams.ListDLQ(ctx, c.Brokers, topic, 10)
			after.mu.Lock()
			defer after.mu.Unlock()
			return len(after.applied) == 1 && len(after.skipped) == 3 && len(dead) == 1
		})
		if _, ok := after.applied["e2"]; !ok {
			t.Errorf("applied %v, want bob's event", after.applied)
		}
		if dead[0].EventID != "tampered" || !strings.Contains(dead[0].Reason, "does not open") {
			t.Errorf("dead letter %s: %q", dead[0].EventID, dead[0].Reason)
		}
	})
}

func decodeRaw(t testing.TB, m kafka.Message) event.Event {
	t.Helper()
	hs := make([]event.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = event.Header{Key: h.Key, Value: h.Value}
	}
	e, err := event.FromHeaders(hs, m.Key, m.Value)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func readAll(t testing.TB, ctx context.Context, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	parts, err := streams.Partitions(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var ends map[int]int64
	waitFor(t, "the topic's end offsets", 10*time.Second, func() bool {
		ends, err = streams.EndOffsets(ctx, brokers, topic)
		return err == nil
	})
	var out []kafka.Message
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < ends[p]; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		r.Close()
	}
	if len(out) != n {
		t.Fatalf("%s holds %d records, want %d", topic, len(out), n)
	}
	return out
}
