package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// latencies collects per-operation latencies from parallel benchmark
// goroutines and reports throughput and percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, unit string, elapsed time.Duration) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	pct := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// BenchmarkStatementWritePath measures POST /xapi/statements of one
// statement through the whole write path on the embedded broker: validate,
// produce with acks=all, project into Badger, answer.
func BenchmarkStatementWritePath(b *testing.B) {
	benchWritePath(b, 8, func(int) string { return good })
}

// BenchmarkStatementWritePath32 is the same at 32 clients (16 goroutines
// per processor on 2) posting single statements of 1,000 learners, as
// `learnstream bench ingest --batch 1 --concurrency 32` does: the load
// whose produce round trips the group commit shares.
func BenchmarkStatementWritePath32(b *testing.B) {
	benchWritePath(b, 32/runtime.GOMAXPROCS(0), func(i int) string {
		return fmt.Sprintf(`{"actor":{"mbox":"mailto:learner%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a%d"}}`, i%1000, i%200)
	})
}

func benchWritePath(b *testing.B, parallelism int, body func(int) string) {
	c := kafkatest.Embedded(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(4, 1)); err != nil {
		b.Fatal(err)
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
		Statements: proj, Waiters: waiters, AuthorityHome: "http://bench/",
	}).Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	post := func() {
		req, _ := http.NewRequest("POST", srv.URL+"/xapi/statements", strings.NewReader(body(int(n.Add(1)))))
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
	post() // warm up connections and the projection
	var lat latencies
	b.SetParallelism(parallelism)
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			post()
			lat.add(time.Since(t0))
		}
	})
	lat.report(b, "statements", time.Since(start))
	// Everything runs in this process (broker, projection, server,
	// clients): its CPU per statement is the write path's whole cost.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu_us/stmt")
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRawProduce is the baseline: kafka-go producing the same bytes
// with the same settings to the same kind of broker, nothing else.
func BenchmarkRawProduce(b *testing.B) {
	c := kafkatest.Embedded(b)
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(4, 1)); err != nil {
		b.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: streams.TopicStatements, Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000}
	defer w.Close()
	value := []byte(good)
	var lat latencies
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			t0 := time.Now()
			if err := w.WriteMessages(ctx, kafka.Message{Key: []byte{byte(i)}, Value: value}); err != nil {
				b.Error(err)
			}
			lat.add(time.Since(t0))
		}
	})
	lat.report(b, "messages", time.Since(start))
}
