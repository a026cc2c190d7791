package streams_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

type instance struct {
	rec *streams.Recommender
	sub *streams.Subscriber
}

func startInstance(t *testing.T, ctx context.Context, brokers []string, group string, pub *streams.Publisher) instance {
	t.Helper()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := projections.NewRecommenderCheckpoints(store)
	rec, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
		Publisher: streams.EventPublisher{Publisher: pub}, Share: true, CheckpointInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: brokers, Group: group, Offsets: rec, SessionTimeout: 6 * time.Second})
	items, _ := streams.NewSubscriber(streams.SubscriberConfig{Brokers: brokers})
	done := make(chan struct{}, 3)
	run := func(f func()) { go func() { f(); done <- struct{}{} }() }
	run(func() {
		(&streams.Consumer{Name: "recommender", Subscriber: sub, Topic: streams.TopicStatements, Handler: rec, DLQ: pub}).Run(ctx)
	})
	run(func() {
		(&streams.Consumer{Name: "items", Subscriber: items, Topic: streams.TopicItemFactors, Handler: streams.ItemFactorsHandler{R: rec}, DLQ: pub}).Run(ctx)
	})
	run(func() { rec.Run(ctx) })
	t.Cleanup(func() {
		sub.Close()
		items.Close()
		for i := 0; i < 3; i++ {
			<-done
		}
		store.Close()
	})
	return instance{rec: rec, sub: sub}
}

// Two recommender instances in one consumer group split the statements
// partitions; item factors flow through the items topic, and both end with
// the same item factors while every event is learned exactly once.
func TestTwoRecommendersShareItemFactors(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	specs := append(streams.DefaultTopics(4, 1), streams.TopicSpec{Name: streams.TopicItemFactors, Partitions: 4, Replication: 1, Compact: true})
	if err := streams.EnsureTopics(ctx, c.Brokers, specs); err != nil {
		t.Fatal(err)
	}
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	group := kafkatest.Unique("rec")
	a := startInstance(t, ctx, c.Brokers, group, pub)
	b := startInstance(t, ctx, c.Brokers, group, pub)
	deadline := time.Now().Add(60 * time.Second)
	for len(a.sub.Assigned(streams.TopicStatements)) == 0 || len(b.sub.Assigned(streams.TopicStatements)) == 0 ||
		len(a.sub.Assigned(streams.TopicStatements))+len(b.sub.Assigned(streams.TopicStatements)) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the instances did not split the partitions: a %v, b %v", a.sub.Assigned(streams.TopicStatements), b.sub.Assigned(streams.TopicStatements))
		}
		time.Sleep(100 * time.Millisecond)
	}
	const n = 600
	var evs []event.Event
	for i := 0; i < n; i++ {
		evs = append(evs, stmtEvent(t, i, fmt.Sprintf("l%d@example.com", i%40), fmt.Sprintf("https://example.com/c/%d", (i*7+i/40)%25), "completed"))
	}
	if err := (streams.EventPublisher{Publisher: pub}).PublishEvents(ctx, streams.TopicStatements, evs...); err != nil {
		t.Fatal(err)
	}
	total := func() (uint64, uint64) {
		var sa, sb uint64
		for _, v := range a.rec.Stats() {
			sa += v
		}
		for _, v := range b.rec.Stats() {
			sb += v
		}
		return sa, sb
	}
	deadline = time.Now().Add(3 * time.Minute)
	for {
		sa, sb := total()
		if sa+sb == n {
			if sa == 0 || sb == 0 {
				t.Fatalf("one instance learned everything: a %d, b %d", sa, sb)
			}
			t.Logf("a learned %d events, b %d", sa, sb)
			break
		}
		if sa+sb > n || time.Now().After(deadline) {
			t.Fatalf("learned a %d + b %d events, want %d exactly", sa, sb, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Convergence: every item's factors agree across the instances. It
	// takes rounds of exchange (publish, consume, merge at a checkpoint
	// tick), whose pace is the machine's: under -race on a loaded machine a
	// round takes seconds, so the limit only guards against a protocol that
	// never converges.
	pa, pb := a.sub.Assigned(streams.TopicStatements)[0], b.sub.Assigned(streams.TopicStatements)[0]
	var worst float64
	deadline = time.Now().Add(3 * time.Minute)
	for {
		worst = 0
		compared := 0
		for j := 0; j < 25; j++ {
			item := fmt.Sprintf("https://example.com/c/%d", j)
			va, oka := a.rec.ItemVector("t1", pa, item)
			vb, okb := b.rec.ItemVector("t1", pb, item)
			if !oka || !okb {
				continue
			}
			compared++
			for k := range va {
				worst = math.Max(worst, math.Abs(float64(va[k]-vb[k])))
			}
		}
		if compared == 25 && worst < 1e-3 {
			t.Logf("item factors agree within %.2g on all 25 items", worst)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("item factors did not converge: %d items compared, max difference %g", compared, worst)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
