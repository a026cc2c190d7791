package streams_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// counting passes a role's handler through and counts the events it has
// taken (applied or parked), so the benchmark knows when the topic is
// drained.
type counting struct {
	h streams.Handler
	n atomic.Int64
}

func (c *counting) Handle(ctx context.Context, pos streams.Position, e event.Event) error {
	err := c.h.Handle(ctx, pos, e)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

func (c *counting) HandleBatch(ctx context.Context, pos []streams.Position, evs []event.Event) (int, error) {
	ba, ok := c.h.(streams.BatchApplier)
	if !ok {
		for i := range evs {
			if err := c.Handle(ctx, pos[i], evs[i]); err != nil {
				return i, err
			}
		}
		return len(evs), nil
	}
	n, err := ba.HandleBatch(ctx, pos, evs)
	c.n.Add(int64(n))
	return n, err
}

func (c *counting) Skip(ctx context.Context, pos streams.Position) error {
	c.n.Add(1)
	return c.h.Skip(ctx, pos)
}

// bare is the baseline: it takes every event and does nothing with it
// but remember the offset.
type bare struct {
	mu   sync.Mutex
	next map[int]int64
}

func (b *bare) Handle(_ context.Context, pos streams.Position, _ event.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next[pos.Partition] = pos.Offset + 1
	return nil
}

func (b *bare) Skip(ctx context.Context, pos streams.Position) error {
	return b.Handle(ctx, pos, event.Event{})
}

func (b *bare) NextOffset(_ context.Context, _ string, p int) (int64, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.next[p]
	return o, ok, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// roleStatement is a stored statement of typical size (~1 KB): a scored
// answer to a lesson's question, with context.
func roleStatement(b testing.TB, i, learners, items int) event.Event {
	learner := fmt.Sprintf("learner%d@example.com", (i*7919)%learners)
	item := fmt.Sprintf("https://example.com/activities/%d", (i*31)%items)
	data := fmt.Sprintf(`{"id":"%08d-0000-4000-8000-%012d","actor":{"objectType":"Agent","name":"Learner","mbox":"mailto:%s"},`+
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/answered","display":{"en-US":"answered"}},`+
		`"object":{"objectType":"Activity","id":"%s","definition":{"type":"http://adlnet.gov/expapi/activities/cmi.interaction","name":{"en-US":"Question %d"},"description":{"en-US":"A question of the load catalogue."}}},`+
		`"result":{"score":{"scaled":0.%02d,"raw":%d,"min":0,"max":100},"success":%v,"completion":true,"duration":"PT%dS"},`+
		`"context":{"registration":"%08d-1111-4000-8000-000000000000","platform":"bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/%d"}]}},`+
		`"timestamp":"2026-11-29T10:00:00.000Z","stored":"2026-11-29T10:00:00.000Z","version":"1.0.0",`+
		`"authority":{"objectType":"Agent","name":"k","account":{"homePage":"http://lrs/","name":"k"}}}`,
		i, i, learner, item, i%100, i%100, i%100, i%3 != 0, 30+i%300, i, (i*31)%items/10)
	e, err := event.New(fmt.Sprintf("00000000-%04d-4000-8000-%012d", i%10000, i), event.TypeStatementStored, "bench", "t1",
		"mbox:mailto:"+learner, time.Now(), []byte(data))
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkRoleConsume: each role's consumer as serve runs it (kafka-go
// subscriber, streams.Consumer, batches, the role's state in Badger) over
// one topic of 4 partitions on the embedded broker, filled beforehand with
// b.N statements (2,000 learners, 200 activities), timed from the first
// event consumed. "bare" is the baseline:
// the same consume with a handler that does nothing. events/s is wall
// clock; events/cpu-s divides by the process's CPU time over the run (the
// broker's included), i.e. events per second per core.
func BenchmarkRoleConsume(b *testing.B) {
	const learners, items = 2000, 200
	roles := []struct {
		name string
		make func(b *testing.B, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore)
	}{
		{"bare", func(*testing.B, *projections.Store, *streams.Publisher) (streams.Handler, streams.OffsetStore) {
			h := &bare{next: map[int]int64{}}
			return h, h
		}},
		{"statements", func(b *testing.B, store *projections.Store, _ *streams.Publisher) (streams.Handler, streams.OffsetStore) {
			p, err := projections.NewStatements(store, projections.NewWaiters())
			if err != nil {
				b.Fatal(err)
			}
			return p.Projection, p.Projection
		}},
		{"progress", func(b *testing.B, store *projections.Store, _ *streams.Publisher) (streams.Handler, streams.OffsetStore) {
			p, err := projections.NewProgress(store)
			if err != nil {
				b.Fatal(err)
			}
			return p.Projection, p.Projection
		}},
		{"recommender", func(b *testing.B, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore) {
			ck, _ := projections.NewRecommenderCheckpoints(store)
			ad, err := projections.NewAdaptive(store, 0)
			if err != nil {
				b.Fatal(err)
			}
			r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
				Publisher: streams.EventPublisher{Publisher: pub}, Mastery: ad, Success: ad, Share: true})
			if err != nil {
				b.Fatal(err)
			}
			return r, r
		}},
		{"adaptive", func(b *testing.B, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore) {
			ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
			a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
				Publisher: streams.EventPublisher{Publisher: pub}})
			if err != nil {
				b.Fatal(err)
			}
			return a, a
		}},
	}
	for _, role := range roles {
		b.Run(role.name, func(b *testing.B) {
			c := kafkatest.Embedded(b)
			topic := streams.TopicStatements
			ctx := context.Background()
			specs := append(streams.DefaultTopics(4, 1), streams.TopicSpec{Name: streams.TopicItemFactors, Partitions: 4, Replication: 1, Compact: true})
			if err := streams.EnsureTopics(ctx, c.Brokers, specs); err != nil {
				b.Fatal(err)
			}
			pub, _ := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
			defer pub.Close()
			for i := 0; i < b.N; i += 1000 {
				msgs := make([]*message.Message, 0, 1000)
				for j := i; j < min(b.N, i+1000); j++ {
					msgs = append(msgs, streams.NewMessage(roleStatement(b, j, learners, items)))
				}
				if err := pub.Publish(topic, msgs...); err != nil {
					b.Fatal(err)
				}
			}
			store, err := projections.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			written0 := projections.WrittenBytes()["commit"]
			h, offsets := role.make(b, store, pub)
			ch := &counting{h: h}
			sub, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: offsets})
			defer sub.Close()
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				(&streams.Consumer{Name: role.name, Subscriber: sub, Topic: topic, Handler: ch, DLQ: pub}).Run(cctx)
			}()
			// The clock starts at the first event: connecting and reading
			// metadata are not the role's throughput.
			for ch.n.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			start, cpu0, first := time.Now(), cpuTime(), ch.n.Load()
			deadline := time.Now().Add(10 * time.Minute)
			for ch.n.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d events consumed after 10 minutes", ch.n.Load(), b.N)
				}
				time.Sleep(2 * time.Millisecond)
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			cancel()
			<-done
			n := float64(int64(b.N) - first)
			b.ReportMetric(n/elapsed.Seconds(), "events/s")
			b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
			// What the role's state took in the store per event, the
			// checkpoints included (Badger's count of committed bytes).
			b.ReportMetric((projections.WrittenBytes()["commit"]-written0)/float64(b.N), "store-B/event")
		})
	}
}
