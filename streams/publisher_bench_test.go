package streams_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// BenchmarkPublishConcurrent: 32 writers each publishing one record at a
// time (the produce side of 32 clients posting single statements) on the
// embedded broker, acks=all. "timer" is the producer as it was: kafka-go
// gathering concurrent writes for 2 ms per partition; "group" is the
// Publisher's group commit, which sends at once and joins the writes that
// arrive while one is in flight. CPU per record is the whole process's
// (broker included).
func BenchmarkPublishConcurrent(b *testing.B) {
	c := kafkatest.Embedded(b)
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: "bench.publish", Partitions: 4, Replication: 1}}); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 700) // about a stored statement
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	timer := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Transport: streams.Transport(c.Brokers), Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, Compression: kafka.Lz4}
	defer timer.Close()
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	for _, tc := range []struct {
		name    string
		publish func(key string) error
	}{
		{"timer", func(key string) error {
			return timer.WriteMessages(ctx, kafka.Message{Topic: "bench.publish", Key: []byte(key), Value: value})
		}},
		{"group", func(key string) error {
			m := message.NewMessage(key, value)
			m.Metadata.Set(streams.MetaKey, key)
			return pub.Publish("bench.publish", m)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if err := tc.publish("warm"); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(32 / runtime.GOMAXPROCS(0))
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if err := tc.publish(fmt.Sprintf("learner%d", n.Add(1)%1000)); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu_us/record")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			if len(lat) > 0 {
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			}
		})
	}
}
