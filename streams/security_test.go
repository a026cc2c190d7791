package streams_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

const (
	brokerUser     = "learnstream"
	brokerPassword = "a-broker-password-for-tests"
)

// guarded starts an embedded broker that requires SASL, and registers its
// security (with a signing key) for this process's clients.
func guarded(t *testing.T) (kafkatest.Cluster, []byte) {
	t.Helper()
	dir := t.TempDir()
	b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 2,
		User: brokerUser, Password: brokerPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	key := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
	c := kafkatest.Cluster{Name: "embedded", Brokers: []string{b.Addr()}, Embedded: b, DataDir: dir}
	// The port may serve another test's broker later.
	t.Cleanup(func() { streams.Secure(c.Brokers, streams.Security{}) })
	if err := streams.Secure(c.Brokers, streams.Security{Mechanism: streams.SASLScramSHA256,
		User: brokerUser, Password: brokerPassword, SigningKey: key}); err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestEmbeddedBrokerRefusesClientsWithoutCredentials: a raw kafka-go
// client without SASL, or with a wrong password, gets nothing from the
// embedded broker; with the data dir's credential it does.
func TestEmbeddedBrokerRefusesClientsWithoutCredentials(t *testing.T) {
	c, _ := guarded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: "guarded", Partitions: 1, Replication: 1}}); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	wrong, err := streams.SecurityTransport(streams.Security{Mechanism: streams.SASLScramSHA256, User: brokerUser, Password: "not-the-password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		transport kafka.RoundTripper
	}{
		{"no SASL", &kafka.Transport{DialTimeout: 2 * time.Second}},
		{"wrong password", wrong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: "guarded", Transport: tc.transport, MaxAttempts: 1,
				WriteTimeout: 3 * time.Second, RequiredAcks: kafka.RequireAll}
			defer w.Close()
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("injected")}); err == nil {
				t.Error("the broker accepted a record from a client without its credential")
			}
			cl := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tc.transport, Timeout: 3 * time.Second}
			if md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"guarded"}}); err == nil {
				t.Errorf("the broker answered metadata without credentials: %d topics", len(md.Topics))
			}
		})
	}
	ends, err := streams.EndOffsets(ctx, c.Brokers, "guarded")
	if err != nil || ends[0] != 0 {
		t.Errorf("end offset of the guarded topic = %v, %v; want 0 records", ends, err)
	}
}

// TestForgedRecordsGoToTheDLQ: a record written with the broker's
// credential but without this install's signature (kcat with a forged
// tenant and authority) is never applied: it lands in the DLQ with the
// reason, and the genuine events around it are applied.
func TestForgedRecordsGoToTheDLQ(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		c, key := guarded(t)
		forgedRecordsGoToTheDLQ(t, c, key)
	})
	t.Run("kafka", func(t *testing.T) {
		c := kafkatest.Real(t)
		key := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
		if err := streams.Secure(c.Brokers, streams.Security{SigningKey: key}); err != nil {
			t.Fatal(err)
		}
		// The broker is shared with other tests, which do not sign.
		t.Cleanup(func() { streams.Secure(c.Brokers, streams.Security{}) })
		forgedRecordsGoToTheDLQ(t, c, key)
	})
}

func forgedRecordsGoToTheDLQ(t *testing.T, c kafkatest.Cluster, key []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := kafkatest.Unique("trust")
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 2, Replication: 1},
		{Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	genuine := streams.EventPublisher{Publisher: pub}
	if err := genuine.PublishEvents(ctx, topic, newEvent(t, "good-1", "ada", `{"authority":"api"}`)); err != nil {
		t.Fatal(err)
	}
	// The forger has the broker credential, not the signing key.
	forged := newEvent(t, "forged-1", "ada", `{"authority":"root"}`)
	forged.Tenant = "victim"
	otherKey := streams.EventPublisher{Publisher: pub, Key: bytes.Repeat([]byte{1}, event.MinKeyBytes)}
	if err := otherKey.PublishEvents(ctx, topic, newEvent(t, "forged-2", "ada", `{"authority":"root"}`)); err != nil {
		t.Fatal(err)
	}
	tampered := event.Sign(newEvent(t, "forged-3", "ada", `{"authority":"api"}`), key)
	tampered.Tenant = "victim" // signed, then its tenant header rewritten
	for _, e := range []event.Event{forged, tampered} {
		if err := pub.Publish(topic, streams.NewMessage(e)); err != nil {
			t.Fatal(err)
		}
	}
	if err := genuine.PublishEvents(ctx, topic, newEvent(t, "good-2", "ada", `{"authority":"api"}`)); err != nil {
		t.Fatal(err)
	}

	rec := newRecorder()
	stop := runConsumer(t, c, topic, "", rec, rec)
	defer stop()
	var dead []streams.DeadLetter
	waitFor(t, "the genuine events and three dead letters", 30*time.Second, func() bool {
		dead, _ = streams.ListDLQ(ctx, c.Brokers, topic, 10)
		return rec.count() == 2 && len(dead) == 3
	})
	for _, id := range []string{"good-1", "good-2"} {
		if _, ok := rec.applied[id]; !ok {
			t.Errorf("genuine event %s was not applied", id)
		}
	}
	want := map[string]string{"forged-1": "missing", "forged-2": "does not match", "forged-3": "does not match"}
	for _, d := range dead {
		if !strings.Contains(d.Reason, event.HeaderSignature) || !strings.Contains(d.Reason, want[d.EventID]) {
			t.Errorf("dead letter %s: reason %q, want %s %s", d.EventID, d.Reason, event.HeaderSignature, want[d.EventID])
		}
		delete(want, d.EventID)
	}
	if len(want) != 0 {
		t.Errorf("forged events not in the DLQ: %v", want)
	}
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(); n != 2 {
		t.Errorf("%d events applied, want the 2 genuine ones", n)
	}
}

// TestUnsignedRecordsOlderThanSigningStayTrusted: records a release wrote
// before it signed anything are below the offsets recorded when the key
// was made, and are applied; an unsigned record after them is not.
func TestUnsignedRecordsOlderThanSigningStayTrusted(t *testing.T) {
	c, key := guarded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "upgraded"
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 1, Replication: 1},
		{Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	// The earlier release: no signatures.
	publish(t, c.Brokers, topic, []event.Event{newEvent(t, "old-1", "ada", `{}`), newEvent(t, "old-2", "ada", `{}`)})
	ends, err := streams.EndOffsets(ctx, c.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Secure(c.Brokers, streams.Security{Mechanism: streams.SASLScramSHA256, User: brokerUser,
		Password: brokerPassword, SigningKey: key, UnsignedBelow: map[string]map[int]int64{topic: ends}}); err != nil {
		t.Fatal(err)
	}
	publish(t, c.Brokers, topic, []event.Event{newEvent(t, "new-unsigned", "ada", `{}`)})
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := (streams.EventPublisher{Publisher: pub}).PublishEvents(ctx, topic, newEvent(t, "new-signed", "ada", `{}`)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	stop := runConsumer(t, c, topic, "", rec, rec)
	defer stop()
	waitFor(t, "three applied and one dead letter", 30*time.Second, func() bool {
		d, _ := streams.ListDLQ(ctx, c.Brokers, topic, 10)
		return rec.count() == 3 && len(d) == 1
	})
	for _, id := range []string{"old-1", "old-2", "new-signed"} {
		if _, ok := rec.applied[id]; !ok {
			t.Errorf("%s was not applied", id)
		}
	}
	if _, ok := rec.applied["new-unsigned"]; ok {
		t.Error("an unsigned record written after signing began was applied")
	}
	// Only the signed one is Verified: consumers trust its data as this
	// install's (the statements projection skips re-validation), while
	// the old unsigned ones are checked as any outside input.
	for id, want := range map[string]bool{"old-1": false, "old-2": false, "new-signed": true} {
		if rec.verified[id] != want {
			t.Errorf("%s: Verified = %v, want %v", id, rec.verified[id], want)
		}
	}
}
