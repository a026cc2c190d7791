package streams_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// Single-read views of the read models, hiding their batch reads: the
// recommender then reads per statement and per learner, as before batch
// reads existed.
type (
	catalogOnly struct{ streams.CatalogView }
	masteryOnly struct{ streams.MasteryReader }
	successOnly struct{ streams.SuccessPredictor }
)

type discardSink struct{}

func (discardSink) PublishEvents(context.Context, string, ...event.Event) error { return nil }

// BenchmarkRecommenderReads: the recommender learning and ranking fetched
// batches of 500 statements (1,000 learners, 200 activities) with a real
// catalog and adaptive read model in Badger, reading them per statement
// and learner (the code path before batch reads) or once per batch, on an
// idle store and on one where the statements projection commits batches
// of 100 statements all the time, as during an ingest load: a Badger read
// transaction waits for the commits in flight. events/s is wall clock.
func BenchmarkRecommenderReads(b *testing.B) {
	const learners, items, batch = 1000, 200, 500
	for _, reads := range []string{"per-learner", "per-batch"} {
		for _, load := range []string{"idle", "committing"} {
			b.Run(reads+"/"+load, func(b *testing.B) {
				store, err := projections.Open(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer store.Close()
				cat, err := projections.NewCatalog(store, nil)
				if err != nil {
					b.Fatal(err)
				}
				ad, err := projections.NewAdaptive(store, 0.9)
				if err != nil {
					b.Fatal(err)
				}
				ck, err := projections.NewRecommenderCheckpoints(store)
				if err != nil {
					b.Fatal(err)
				}
				cfg := streams.RecommenderConfig{Catalog: cat, Mastery: ad, Success: ad, Checkpoints: ck, Publisher: discardSink{},
					CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour}
				if reads == "per-learner" {
					cfg.Catalog, cfg.Mastery, cfg.Success = catalogOnly{cat}, masteryOnly{ad}, successOnly{ad}
				}
				r, err := streams.NewRecommender(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				defer wg.Wait()
				defer cancel()
				if load == "committing" {
					st, err := projections.NewStatements(store, projections.NewWaiters())
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for off := 0; ctx.Err() == nil; off += 100 {
							pos := make([]streams.Position, 100)
							evs := make([]event.Event, 100)
							for i := range evs {
								pos[i] = streams.Position{Topic: "writes", Offset: int64(off + i)}
								evs[i] = roleStatement(b, 10_000_000+off+i, learners, items)
							}
							if _, err := st.Projection.HandleBatch(ctx, pos, evs); err != nil && ctx.Err() == nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				evs := make([]event.Event, b.N)
				pos := make([]streams.Position, b.N)
				for i := range evs {
					evs[i] = roleStatement(b, i, learners, items)
					pos[i] = streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					j := min(b.N, i+batch)
					if n, err := r.HandleBatch(ctx, pos[i:j], evs[i:j]); err != nil || n != j-i {
						b.Fatalf("%d of %d learned: %v", n, j-i, err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
