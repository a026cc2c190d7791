package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// runtime is what serve hands to each role's wiring: the shared broker
// connection, store and lifecycle. Each role lives in its own file
// (role_<name>.go) and registers a starter in roleStarters.
type runtime struct {
	cfg      serveConfig
	log      *slog.Logger
	brokers  []string
	embedded bool
	store    *projections.Store
	pub      *streams.Publisher
	// signingKey is the install's event signing key (for secrets derived
	// from it).
	signingKey []byte
	// maxMessageBytes is the producer's message limit; fetches must fit it.
	maxMessageBytes int

	// consumeCtx ends after the HTTP server has drained, so consumers
	// outlive in-flight requests; consumers counts their goroutines.
	consumeCtx context.Context
	consumers  *sync.WaitGroup
	admin      *admin
	cleanups   []func()
	// apiConfig are edits roles make to the HTTP server's configuration
	// (their read models and handlers).
	apiConfig []func(*api.Config)
	// onShutdown run when the HTTP server starts shutting down, before it
	// waits for requests: long-lived responses (SSE) end there.
	onShutdown []func()
	// mastery is the adaptive read model when this process runs it (api
	// role), for the recommender (mastery and difficulty fit) and the
	// learning-path planner; nil otherwise (they then derive mastery from
	// completed activities and rank without difficulty fit).
	mastery interface {
		streams.MasteryReader
		streams.SuccessPredictor
	}
	// catalog is the process's one catalog projection and its waiters,
	// started by catalogProjection on first use: several roles read it,
	// and two consumers of one projection would race on its offsets.
	catalog        *projections.Catalog
	catalogWaiters *projections.Waiters
	// vault is the key store (privacy_keys.go); nil with --privacy=off.
	vault *streams.Vault
	// pseudonyms are the install's learner pseudonyms: the key store's,
	// or pseudonymsOf's with --privacy=off.
	pseudonyms privacy.Pseudonyms
	// consents and retention are the privacy read models of an api
	// process (role_privacy.go); nil elsewhere.
	consents         *projections.Consents
	retention        *projections.Retention
	retentionWaiters *projections.Waiters
	consentWaiters   *projections.Waiters
	// monthKeys is the key store the retention role destroys monthly
	// data keys in; nil while privacy is off.
	monthKeys streams.MonthKeyDestroyer

	// Erasure (role_erasure.go): the consumers an erasure waits for (the
	// projections on learner topics and the models this process runs),
	// the api role's read models that tell whether a learner is known,
	// and the store's purger.
	erasureMu        sync.Mutex
	erasureConsumers []string
	statements       *projections.Statements
	documents        *projections.Documents
	purger           *purger
}

// source is the CloudEvents source of the events this process emits.
func (rt *runtime) source() string {
	if rt.cfg.publicURL != "" {
		return rt.cfg.publicURL
	}
	return "http://" + rt.cfg.httpAddr
}

// catalogProjection returns the catalog projection (every partition of the
// catalog topic, no group: each process keeps the whole catalog), starting
// it on the first call.
func (rt *runtime) catalogProjection() (*projections.Catalog, *projections.Waiters, error) {
	if rt.catalog != nil {
		return rt.catalog, rt.catalogWaiters, nil
	}
	waiters := projections.NewWaiters()
	catalog, err := projections.NewCatalog(rt.store, waiters)
	if err != nil {
		return nil, nil, err
	}
	if _, err := rt.project(catalog.Projection, streams.TopicCatalog, "", catalog.Counts); err != nil {
		return nil, nil, err
	}
	rt.catalog, rt.catalogWaiters = catalog, waiters
	return catalog, waiters, nil
}

// roleStarters start the roles beyond api and projector; each checks the
// role set itself.
var roleStarters []func(rt *runtime, roles map[string]bool) error

// group returns the consumer group of a partitioned consumer: none on the
// embedded broker, where one process owns every partition.
func (rt *runtime) group(name string) string {
	if rt.embedded {
		return ""
	}
	return rt.cfg.groupPrefix + "-" + name
}

// goRun runs fn until the consumers stop.
func (rt *runtime) goRun(fn func(ctx context.Context)) {
	rt.consumers.Add(1)
	go func() {
		defer rt.consumers.Done()
		fn(rt.consumeCtx)
	}()
}

// subscriber is a subscriber of this process's cluster whose fetches fit
// the largest message its publisher may have written (--max-body-bytes):
// every consumer of a topic must be able to read what the API accepted.
func (rt *runtime) subscriber(group string, offsets streams.OffsetStore) (*streams.Subscriber, error) {
	return streams.NewSubscriber(streams.SubscriberConfig{Brokers: rt.brokers, Group: group, Offsets: offsets, Logger: rt.log,
		MaxMessageBytes: rt.maxMessageBytes})
}

// project runs a projection over topic. group "" reads every partition (a
// model every instance keeps whole); otherwise instances of the group split
// the partitions. counts, when set, feeds the admin status.
func (rt *runtime) project(p *projections.Projection, topic, group string, counts func(context.Context, string) (map[string]int64, error)) (*streams.LagMonitor, error) {
	sub, err := rt.subscriber(group, p)
	if err != nil {
		return nil, err
	}
	rt.cleanups = append(rt.cleanups, func() { sub.Close() })
	c := &streams.Consumer{Name: p.Name(), Subscriber: sub, Topic: topic, Handler: p, DLQ: rt.pub, Logger: rt.log}
	lag := &streams.LagMonitor{Consumer: p.Name(), Brokers: rt.brokers, Topic: topic, Offsets: p,
		Interval: 500 * time.Millisecond, Logger: rt.log}
	if group != "" {
		lag.Owned = func() []int { return sub.Assigned(topic) }
	}
	if learnerTopic(topic) && topic != streams.TopicPrivacy {
		rt.expectErasureAnswer(p.Name())
	}
	rt.goRun(func(ctx context.Context) { c.Run(ctx) })
	rt.goRun(lag.Run)
	rt.admin.add(&managed{proj: p, topic: topic, lag: lag, counts: counts})
	return lag, nil
}
