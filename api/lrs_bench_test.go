package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// BenchmarkPostBatch100 measures POST /xapi/statements with batches of 100
// statements through the whole write path on the embedded broker (validate,
// produce 100 events with acks=all, project each into Badger with its
// indexes, answer once all are applied), 4 concurrent clients: with
// privacy off (events in clear) and on (every statement's agents sealed
// under its learner's data key from the key store before it is signed and
// produced, opened again by the projection's subscriber), in one run.
func BenchmarkPostBatch100(b *testing.B) {
	b.Run("privacy=off", func(b *testing.B) { benchPostBatch100(b, false) })
	b.Run("privacy=on", func(b *testing.B) { benchPostBatch100(b, true) })
}

func benchPostBatch100(b *testing.B, sealed bool) {
	c := kafkatest.Embedded(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(4, 1)); err != nil {
		b.Fatal(err)
	}
	if sealed {
		master, err := streams.ParseMasterKeys("m1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
		if err != nil {
			b.Fatal(err)
		}
		vault, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Master: master})
		if err != nil {
			b.Fatal(err)
		}
		defer vault.Close()
		streams.UseKeys(c.Brokers, vault)
		defer streams.UseKeys(c.Brokers, nil)
	}
	store, err := projections.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	waiters := projections.NewWaiters()
	proj, err := projections.NewStatements(store, waiters)
	if err != nil {
		b.Fatal(err)
	}
	pub, _ := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	defer pub.Close()
	sub, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: proj})
	defer sub.Close()
	cons := &streams.Consumer{Name: "statements", Subscriber: sub, Topic: streams.TopicStatements, Handler: proj, DLQ: pub}
	go cons.Run(ctx)
	creds := newCredentials(b, store)
	creds.Put(ctx, "bench", "bench-secret", "bench", "t1", []string{"all"})
	srv := httptest.NewServer(api.New(api.Config{
		Auth: creds, Publisher: streams.EventPublisher{Publisher: pub}, StatementsTopic: streams.TopicStatements,
		Statements: &api.XAPI{Statements: proj}, Waiters: waiters, AuthorityHome: "http://bench/",
	}).Handler())
	defer srv.Close()
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < 100; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(stmt(fmt.Sprintf("l%d@example.com", i%25), "completed", fmt.Sprint("a", i%10)))
	}
	sb.WriteString("]")
	batch := sb.String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func() {
		req, _ := http.NewRequest("POST", srv.URL+"/xapi/statements", strings.NewReader(batch))
		req.SetBasicAuth("bench", "bench-secret")
		req.Header.Set("X-Experience-API-Version", "1.0.3")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	post()
	if n := streams.KeysFor(c.Brokers); sealed && n == nil {
		b.Fatal("no key store registered: nothing would be sealed")
	}
	if sealed {
		if st := streams.KeysFor(c.Brokers).(*streams.Vault).State(); st.DataKeys != 26 {
			b.Fatalf("%d data keys after the first batch, want one per learner and one for the authority agent (26)", st.DataKeys)
		}
	}
	var lat latencies
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			post()
			lat.add(time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	lat.report(b, "batches", elapsed)
	b.ReportMetric(float64(100*len(lat.d))/elapsed.Seconds(), "statements/s")
}

// BenchmarkRawProduceBatch100 is the baseline of BenchmarkPostBatch100:
// kafka-go producing 100 messages of the same size per call, acks=all, to
// the same kind of broker, 4 concurrent producers.
func BenchmarkRawProduceBatch100(b *testing.B) {
	c := kafkatest.Embedded(b)
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(4, 1)); err != nil {
		b.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: streams.TopicStatements, Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000}
	defer w.Close()
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i % 25)), Value: []byte(strings.Repeat("x", 450))}
	}
	var lat latencies
	b.SetParallelism(2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				b.Error(err)
			}
			lat.add(time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	lat.report(b, "batches", elapsed)
	b.ReportMetric(float64(100*len(lat.d))/elapsed.Seconds(), "messages/s")
}
