package main

import (
	"context"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// The adaptive role, and the adaptive read model the api role serves:
//
//   - adaptive: the model consumer of learnstream.statements.v1 in the
//     consumer group <prefix>-adaptive (Elo, BKT and the combined
//     predictor per partition, checkpointed to Badger with the offsets),
//     publishing MasteryUpdated and DifficultyAdjusted on
//     learnstream.adaptive.v1; it reads the catalog projection for the
//     item → skills mapping;
//   - api: the adaptive read model (every partition of
//     learnstream.adaptive.v1), GET /v1/learners/{id}/mastery and /next,
//     effect evaluation in /progress, GET /v1/courses/{id}/effectiveness;
//     and rt.mastery for the recommender and the path planner.
//
// Go runs init functions in file-name order, so this starter is registered
// (and runs) before role_recommender.go's: rt.mastery is set by the time
// the recommender starter passes it on, and whichever of the two needs the
// catalog first starts it (rt.catalogProjection) for both.
func init() { roleStarters = append(roleStarters, startAdaptive) }

func startAdaptive(rt *runtime, roles map[string]bool) error {
	if !roles["api"] && !roles["adaptive"] {
		return nil
	}
	catalog, _, err := rt.catalogProjection()
	if err != nil {
		return err
	}
	if roles["api"] {
		readModel, err := projections.NewAdaptive(rt.store, projections.DefaultMasteryThreshold)
		if err != nil {
			return err
		}
		if _, err := rt.project(readModel.Projection, streams.TopicAdaptive, "", readModel.Counts); err != nil {
			return err
		}
		rt.mastery = readModel
		mod := &api.AdaptiveModule{Adaptive: readModel, Catalog: catalog, Logger: rt.log}
		rt.apiConfig = append(rt.apiConfig, func(c *api.Config) {
			if rt.consents != nil { // started by role_privacy.go, after this starter
				mod.Consents = rt.consents
			}
			mod.Progress = c.Progress
			c.Modules = append(c.Modules, mod)
		})
	}
	if !roles["adaptive"] {
		return nil
	}
	ckpts, err := projections.NewModelCheckpoints(rt.store, projections.AdaptiveModelName)
	if err != nil {
		return err
	}
	source := rt.cfg.publicURL
	if source == "" {
		source = "http://" + rt.cfg.httpAddr
	}
	names, _ := pseudonymsOf(rt) // none: erasures park in the DLQ
	model, err := streams.NewAdaptive(streams.AdaptiveConfig{Catalog: catalog, Checkpoints: ckpts,
		Publisher: streams.EventPublisher{Publisher: rt.pub}, Source: source, Pseudonyms: names, Logger: rt.log})
	if err != nil {
		return err
	}
	group := rt.group("adaptive")
	sub, err := rt.subscriber(group, model)
	if err != nil {
		return err
	}
	rt.cleanups = append(rt.cleanups, func() { sub.Close() })
	consumer := &streams.Consumer{Name: "adaptive", Subscriber: sub, Topic: streams.TopicStatements, Handler: model, DLQ: rt.pub, Logger: rt.log}
	lag := &streams.LagMonitor{Consumer: "adaptive", Brokers: rt.brokers, Topic: streams.TopicStatements, Offsets: model,
		Interval: time.Second, Logger: rt.log}
	if group != "" {
		lag.Owned = func() []int { return sub.Assigned(streams.TopicStatements) }
	}
	// Flushing and periodic checkpoints run beside the consumer; both end
	// with the consumers' context, then the consumer writes a last
	// checkpoint so a restart re-applies nothing.
	rt.goRun(func(ctx context.Context) {
		consumer.Run(ctx)
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := model.Close(cctx); err != nil {
			rt.log.Warn("adaptive consumer: final checkpoint", "err", err)
		}
	})
	rt.goRun(model.Run)
	rt.goRun(lag.Run)
	return nil
}
