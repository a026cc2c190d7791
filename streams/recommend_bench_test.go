package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// BenchmarkRecommendLatency5k: statements produced at 5,000 events/s to the
// embedded broker; the recommender consumes them and publishes
// RecommendationsUpdated; a reader of the recommendations topic measures
// the time from a statement's produce call to its update being readable.
// Run with -benchtime 1x (it sends a fixed 20,000 events).
func BenchmarkRecommendLatency5k(b *testing.B) {
	const rate, total = 5000, 20000
	c := kafkatest.Embedded(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(4, 1)); err != nil {
		b.Fatal(err)
	}
	pub, _ := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	defer pub.Close()
	store, _ := projections.Open(b.TempDir(), nil)
	defer store.Close()
	ck, _ := projections.NewRecommenderCheckpoints(store)
	rec, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
		Publisher: streams.EventPublisher{Publisher: pub}})
	if err != nil {
		b.Fatal(err)
	}
	sub, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: rec})
	defer sub.Close()
	go (&streams.Consumer{Name: "recommender", Subscriber: sub, Topic: streams.TopicStatements, Handler: rec, DLQ: pub}).Run(ctx)
	go rec.Run(ctx)

	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	for part := 0; part < 4; part++ {
		go func() {
			// The broker long-polls and answers as soon as data arrives;
			// a short MaxWait only adds kafka-go's 100 ms back-off after
			// fetches that end on the read deadline (it was the whole p99).
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: streams.TopicRecommendations, Partition: part, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				var d projections.RecommendationsUpdated
				json.Unmarshal(m.Value, &d)
				mu.Lock()
				if t0, ok := sent[d.BasedOn]; ok {
					lat = append(lat, now.Sub(t0))
				}
				mu.Unlock()
			}
		}()
	}
	evs := make([]event.Event, total)
	for i := range evs {
		evs[i] = stmtEvent(b, i, fmt.Sprintf("l%d@example.com", i%2000), fmt.Sprintf("https://example.com/c/%d", (i*7919)%500), "completed")
	}
	b.ResetTimer()
	ep := streams.EventPublisher{Publisher: pub}
	tick := time.NewTicker(10 * time.Millisecond)
	per := rate * 10 / 1000
	start := time.Now()
	for i := 0; i < total; i += per {
		<-tick.C
		batch := evs[i:min(i+per, total)]
		mu.Lock()
		now := time.Now()
		for _, e := range batch {
			sent[e.ID] = now
		}
		mu.Unlock()
		if err := ep.PublishEvents(ctx, streams.TopicStatements, batch...); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	achieved := float64(total) / time.Since(start).Seconds()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var learned uint64
		for _, v := range rec.Stats() {
			learned += v
		}
		if learned >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		b.Fatal("no RecommendationsUpdated read")
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(achieved, "sent_events/s")
	b.ReportMetric(float64(len(lat)), "updates")
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
}

func heap() uint64 {
	h, _ := heapAndObjects()
	return h
}

// heapAndObjects is the heap and the count of its objects after GC: the
// objects are what the collector walks on every cycle.
func heapAndObjects() (bytes, objects uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapObjects
}

// BenchmarkRecommenderMemory reports the recommender's heap per item and
// per learner (model factors, histories, popularity, completed items and
// the last published list), k=32. Run with -benchtime 1x.
func BenchmarkRecommenderMemory(b *testing.B) {
	const items, learners, perLearner = 5000, 20000, 10
	store, _ := projections.Open(b.TempDir(), nil)
	defer store.Close()
	ctx := context.Background()
	// What the recommender publishes is the broker's once sent: a sink
	// that kept it (as memSink does for tests) would count every list
	// ever published as the recommender's (10 KB per learner here).
	rec := newRecommender(b, store, discardSink{}, graph.New())
	off := int64(0)
	handle := func(e event.Event) {
		if err := rec.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: off}, e); err != nil {
			b.Fatal(err)
		}
		off++
	}
	base := heap()
	// Phase 1: every item, by 10 learners.
	for i := 0; i < items; i++ {
		handle(stmtEvent(b, int(off), fmt.Sprintf("seed%d@example.com", i%10), fmt.Sprintf("https://example.com/items/%d", i), "completed"))
	}
	afterItems, objItems := heapAndObjects()
	for u := 0; u < learners; u++ {
		for j := 0; j < perLearner; j++ {
			handle(stmtEvent(b, int(off), fmt.Sprintf("learner%d@example.com", u), fmt.Sprintf("https://example.com/items/%d", (u*31+j*977)%items), "completed"))
		}
	}
	afterLearners, objLearners := heapAndObjects()
	b.ReportMetric(float64(afterItems-base)/items, "B/item")
	b.ReportMetric(float64(afterLearners-afterItems)/learners, "B/learner")
	b.ReportMetric(float64(objLearners-objItems)/learners, "objects/learner")
	runtime.KeepAlive(rec)
}
