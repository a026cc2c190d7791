package streams_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// statementRoles are the roles serve runs on the statements topic that
// decode the statement of each event, as serve builds them (on one
// store here).
var statementRoles = []struct {
	name string
	make func(tb testing.TB, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore)
}{
	{"statements", func(tb testing.TB, store *projections.Store, _ *streams.Publisher) (streams.Handler, streams.OffsetStore) {
		p, err := projections.NewStatements(store, projections.NewWaiters())
		if err != nil {
			tb.Fatal(err)
		}
		return p.Projection, p.Projection
	}},
	{"progress", func(tb testing.TB, store *projections.Store, _ *streams.Publisher) (streams.Handler, streams.OffsetStore) {
		p, err := projections.NewProgress(store)
		if err != nil {
			tb.Fatal(err)
		}
		return p.Projection, p.Projection
	}},
	{"recommender", func(tb testing.TB, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore) {
		ck, _ := projections.NewRecommenderCheckpoints(store)
		ad, err := projections.NewAdaptive(store, 0)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
			Publisher: streams.EventPublisher{Publisher: pub}, Mastery: ad, Success: ad, Share: true})
		if err != nil {
			tb.Fatal(err)
		}
		return r, r
	}},
	{"adaptive", func(tb testing.TB, store *projections.Store, pub *streams.Publisher) (streams.Handler, streams.OffsetStore) {
		ck, _ := projections.NewModelCheckpoints(store, projections.AdaptiveModelName)
		a, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: fakeCatalog{graph.New()}, Checkpoints: ck,
			Publisher: streams.EventPublisher{Publisher: pub}})
		if err != nil {
			tb.Fatal(err)
		}
		return a, a
	}},
}

// rolesTogether fills the statements topic of an embedded broker with n
// statements, signed and sealed as serve's LRS writes them (signing key,
// key store), and starts every statement role on it, each with its own
// subscriber as serve does, its handler passed through wrap. It returns
// the roles' counters and a stop function; starting, when set, is
// called once the topic is full, before the roles start.
func rolesTogether(tb testing.TB, n int, wrap func(role string, h streams.Handler) streams.Handler, starting func()) ([]*counting, func()) {
	const learners, items = 2000, 200
	ctx := context.Background()
	c := kafkatest.Embedded(tb)
	signing := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
	if err := streams.Secure(c.Brokers, streams.Security{SigningKey: signing}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { streams.Secure(c.Brokers, streams.Security{}) })
	vault := openVault(tb, ctx, c, keysTopic(tb, ctx, c), masterKeys(tb, keyLine("m1", 7)))
	streams.UseKeys(c.Brokers, vault)
	tb.Cleanup(func() { streams.UseKeys(c.Brokers, nil) })
	topic := streams.TopicStatements
	specs := append(streams.DefaultTopics(4, 1), streams.TopicSpec{Name: streams.TopicItemFactors, Partitions: 4, Replication: 1, Compact: true})
	if err := streams.EnsureTopics(ctx, c.Brokers, specs); err != nil {
		tb.Fatal(err)
	}
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pub.Close() })
	for i := 0; i < n; i += 1000 {
		evs := make([]event.Event, 0, 1000)
		for j := i; j < min(n, i+1000); j++ {
			evs = append(evs, roleStatement(tb, j, learners, items))
		}
		if err := (streams.EventPublisher{Publisher: pub}).PublishEvents(ctx, topic, evs...); err != nil {
			tb.Fatal(err)
		}
	}
	store, err := projections.Open(tb.TempDir(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if starting != nil {
		starting()
	}
	cctx, cancel := context.WithCancel(ctx)
	counters := make([]*counting, len(statementRoles))
	done := make(chan struct{}, len(statementRoles))
	for i, role := range statementRoles {
		h, offsets := role.make(tb, store, pub)
		if wrap != nil {
			h = wrap(role.name, h)
		}
		counters[i] = &counting{h: h}
		sub, err := streams.NewSubscriber(streams.SubscriberConfig{Brokers: c.Brokers, Offsets: offsets})
		if err != nil {
			tb.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			defer sub.Close()
			(&streams.Consumer{Name: role.name, Subscriber: sub, Topic: topic, Handler: counters[i], DLQ: pub}).Run(cctx)
		}()
	}
	stopped := false
	return counters, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range statementRoles {
			<-done
		}
		store.Close()
	}
}

// drained waits until every role took n events.
func drained(tb testing.TB, counters []*counting, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, c := range counters {
		for c.n.Load() < int64(n) {
			if time.Now().After(deadline) {
				tb.Fatalf("%d of %d events consumed after %s", c.n.Load(), n, limit)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// BenchmarkRolesTogether: every statement role of serve (statements and
// progress projections, recommender, adaptive) consuming the same b.N
// signed and sealed statements at once, each with its own subscriber,
// as in serve with every role. µs-cpu/statement is the process's CPU
// time (broker, subscribers, all roles) per statement from the roles'
// start to the last role done. "each-role-decodes" turns the
// sharing of received records off (every role decodes, checks, opens
// and decodes the statement for itself, as before), "decoded-once" is
// serve's default.
func BenchmarkRolesTogether(b *testing.B) {
	for _, mode := range []struct {
		name  string
		share bool
	}{{"each-role-decodes", false}, {"decoded-once", true}} {
		b.Run(mode.name, func(b *testing.B) {
			streams.ShareReceived(mode.share)
			defer streams.ShareReceived(true)
			rolesTogetherRun(b)
		})
	}
}

func rolesTogetherRun(b *testing.B) {
	var start time.Time
	var cpu0 time.Duration
	counters, stop := rolesTogether(b, b.N, nil, func() {
		b.ResetTimer()
		start, cpu0 = time.Now(), cpuTime()
	})
	defer stop()
	drained(b, counters, b.N, 10*time.Minute)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "statements/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "µs-cpu/statement")
}
