package streams_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// lagRecorder applies nothing but notes, per event, how long after it was
// produced the consumer got to apply it.
type lagRecorder struct {
	*recorder
	mu   sync.Mutex
	lags []time.Duration
}

func (l *lagRecorder) Handle(ctx context.Context, pos streams.Position, e event.Event) error {
	l.mu.Lock()
	l.lags = append(l.lags, time.Since(e.Time))
	l.mu.Unlock()
	return l.recorder.Handle(ctx, pos, e)
}

// BenchmarkEndToEndLag publishes at a fixed rate (1,000 events/s from 4
// producers) to the embedded broker and measures produce-to-apply latency
// at the consumer: the lag a projection adds under steady ingest.
func BenchmarkEndToEndLag(b *testing.B) {
	c := kafkatest.Embedded(b)
	topic := "ls.lag.bench"
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
		{Name: topic, Partitions: 4, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		b.Fatal(err)
	}
	rec := &lagRecorder{recorder: newRecorder()}
	sub, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: rec})
	defer sub.Close()
	pub, _ := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	defer pub.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go (&streams.Consumer{Name: "bench", Subscriber: sub, Topic: topic, Handler: rec, DLQ: pub}).Run(cctx)

	const rate = 1000
	const producers = 4
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * producers / rate)
			defer tick.Stop()
			for i := w; i < b.N; i += producers {
				<-tick.C
				e, _ := event.New(fmt.Sprintf("e%d", i), "learnstream.bench.v1", "bench", "t", fmt.Sprintf("k%d", i%64), time.Now(), []byte(`{}`))
				if err := pub.Publish(topic, streams.NewMessage(e)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for rec.count() < b.N && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	rec.mu.Lock()
	lags := slices.Clone(rec.lags)
	rec.mu.Unlock()
	if len(lags) < b.N {
		b.Fatalf("applied %d of %d events", len(lags), b.N)
	}
	slices.Sort(lags)
	pct := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(rate, "ingest_events/s")
}
