package main

import (
	"context"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// The recommender role, and the catalog & recommendations read models the
// api role serves:
//
//   - api or recommender: the catalog projection (every partition of
//     learnstream.catalog.v1, no group: each process keeps the whole
//     catalog) and the /v1/ catalog, graph, learner-role and path endpoints;
//   - api: the recommendations projection (every partition of
//     learnstream.recommendations.v1), GET /v1/learners/{id}/recommendations
//     and the SSE feed GET /v1/streams/recommendations;
//   - recommender: the model consumer of learnstream.statements.v1 in the
//     consumer group <prefix>-recommender, and the reader of the item
//     factors topic.
func init() { roleStarters = append(roleStarters, startRecommender) }

func startRecommender(rt *runtime, roles map[string]bool) error {
	if !roles["api"] && !roles["recommender"] {
		return nil
	}
	ctx, cancel := context.WithTimeout(rt.consumeCtx, 60*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, rt.brokers, []streams.TopicSpec{
		{Name: streams.TopicItemFactors, Partitions: rt.cfg.partitions, Replication: rt.cfg.replication, Compact: true},
		{Name: streams.DLQ(streams.TopicItemFactors), Partitions: 1, Replication: rt.cfg.replication},
	}); err != nil {
		return err
	}
	source := rt.cfg.publicURL
	if source == "" {
		source = "http://" + rt.cfg.httpAddr
	}
	pub := streams.EventPublisher{Publisher: rt.pub}

	catalog, waiters, err := rt.catalogProjection()
	if err != nil {
		return err
	}
	// rt.mastery is set by the adaptive starter, which runs first (init
	// order); a nil interface leaves mastery to completed activities.
	catalogModule := &api.CatalogModule{Catalog: catalog, Waiters: waiters, Publisher: pub, Topic: streams.TopicCatalog,
		StatementsTopic: streams.TopicStatements, Timeout: rt.cfg.consistencyTimeout, Mastery: rt.mastery, Logger: rt.log}
	rt.apiConfig = append(rt.apiConfig, func(c *api.Config) {
		catalogModule.Source = c.Source
		catalogModule.Progress = c.Progress
		c.Modules = append(c.Modules, catalogModule)
	})

	if roles["api"] {
		recs, err := projections.NewRecommendations(rt.store, nil)
		if err != nil {
			return err
		}
		if _, err := rt.project(recs.Projection, streams.TopicRecommendations, "",
			func(ctx context.Context, tenant string) (map[string]int64, error) {
				n, err := recs.Count(ctx, tenant)
				return map[string]int64{"learners": int64(n)}, err
			}); err != nil {
			return err
		}
		// SSE streams are long-lived: end them when shutdown starts, so the
		// HTTP server can drain.
		stop := make(chan struct{})
		rt.onShutdown = append(rt.onShutdown, func() { close(stop) })
		mod := &api.RecommendModule{Recommendations: recs, Logger: rt.log,
			Feed:   streams.RecommendationFeed{Brokers: rt.brokers, Topic: streams.TopicRecommendations},
			Stream: api.SSEConfig{Stop: stop}}
		if rt.consents != nil { // role_privacy.go starts first (file order)
			mod.Consents = rt.consents
		}
		rt.apiConfig = append(rt.apiConfig, func(c *api.Config) { c.Modules = append(c.Modules, mod) })
	}

	if !roles["recommender"] {
		return nil
	}
	ckpts, err := projections.NewRecommenderCheckpoints(rt.store)
	if err != nil {
		return err
	}
	names, _ := pseudonymsOf(rt) // none: erasures park in the DLQ
	rec, err := streams.NewRecommender(streams.RecommenderConfig{Catalog: catalog, Checkpoints: ckpts, Publisher: pub,
		Mastery: rt.mastery, Success: rt.mastery, Source: source, Share: true, Pseudonyms: names, Logger: rt.log})
	if err != nil {
		return err
	}
	sub, err := rt.subscriber(rt.group("recommender"), rec)
	if err != nil {
		return err
	}
	items, err := rt.subscriber("", nil)
	if err != nil {
		return err
	}
	rt.cleanups = append(rt.cleanups, func() { sub.Close() }, func() { items.Close() })
	consumer := &streams.Consumer{Name: "recommender", Subscriber: sub, Topic: streams.TopicStatements, Handler: rec, DLQ: rt.pub, Logger: rt.log}
	itemsConsumer := &streams.Consumer{Name: "recommender-items", Subscriber: items, Topic: streams.TopicItemFactors,
		Handler: streams.ItemFactorsHandler{R: rec}, DLQ: rt.pub, Logger: rt.log}
	lag := &streams.LagMonitor{Consumer: "recommender", Brokers: rt.brokers, Topic: streams.TopicStatements, Offsets: rec,
		Interval: time.Second, Logger: rt.log}
	if g := rt.group("recommender"); g != "" {
		lag.Owned = func() []int { return sub.Assigned(streams.TopicStatements) }
	}
	rt.goRun(func(ctx context.Context) {
		consumer.Run(ctx)
		// A last checkpoint, so a restart re-applies nothing.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Close(cctx); err != nil {
			rt.log.Warn("recommender: final checkpoint", "err", err)
		}
	})
	rt.goRun(func(ctx context.Context) { itemsConsumer.Run(ctx) })
	rt.goRun(rec.Run)
	rt.goRun(lag.Run)
	return nil
}
