package streams_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// Single-read views of the read models, hiding their batch reads: the
// recommender then reads per statement and per learner, as before batch
// reads existed. Each counts the calls that open a read transaction.
type (
	catalogOnly struct {
		streams.CatalogView
		n *atomic.Int64
	}
	masteryOnly struct {
		streams.MasteryReader
		n *atomic.Int64
	}
	successOnly struct {
		streams.SuccessPredictor
		n *atomic.Int64
	}
)

func (c catalogOnly) LearnerRole(tenant, learner string) (string, error) {
	c.n.Add(1)
	return c.CatalogView.LearnerRole(tenant, learner)
}

func (m masteryOnly) Mastery(ctx context.Context, tenant, learner string) (map[string]float64, error) {
	m.n.Add(1)
	return m.MasteryReader.Mastery(ctx, tenant, learner)
}

func (s successOnly) PredictSuccess(ctx context.Context, tenant, learner string, items []string) ([]float64, error) {
	s.n.Add(1)
	return s.SuccessPredictor.PredictSuccess(ctx, tenant, learner, items)
}

// batchReader counts the batch reads, each one read transaction.
type batchReader struct {
	cat *projections.Catalog
	ad  *projections.Adaptive
	n   *atomic.Int64
}

func (b batchReader) Graph(tenant string) (*graph.Graph, error) { return b.cat.Graph(tenant) }
func (b batchReader) LearnerRole(tenant, learner string) (string, error) {
	b.n.Add(1)
	return b.cat.LearnerRole(tenant, learner)
}
func (b batchReader) LearnerRoles(tenant string) (func(string) string, error) {
	b.n.Add(1)
	return b.cat.LearnerRoles(tenant)
}
func (b batchReader) Mastery(ctx context.Context, tenant, learner string) (map[string]float64, error) {
	b.n.Add(1)
	return b.ad.Mastery(ctx, tenant, learner)
}
func (b batchReader) MasteryOf(ctx context.Context, tenant string, learners []string) (map[string][]projections.SkillLevel, error) {
	b.n.Add(1)
	return b.ad.MasteryOf(ctx, tenant, learners)
}
func (b batchReader) SkillName(n int32) string { return b.ad.SkillName(n) }
func (b batchReader) PredictSuccess(ctx context.Context, tenant, learner string, items []string) ([]float64, error) {
	b.n.Add(1)
	return b.ad.PredictSuccess(ctx, tenant, learner, items)
}
func (b batchReader) SuccessPredictorFor(ctx context.Context, tenant string, learners []string) (func(context.Context, string, []string) ([]float64, error), error) {
	b.n.Add(1)
	return b.ad.SuccessPredictorFor(ctx, tenant, learners)
}

type discardSink struct{}

func (discardSink) PublishEvents(context.Context, string, ...event.Event) error { return nil }

// BenchmarkRecommenderReads: the recommender learning and ranking fetched
// batches of 500 statements (1,000 learners, 200 activities) with a real
// catalog and adaptive read model in Badger, reading them per statement
// and learner (the code path before batch reads) or once per batch, on an
// idle store and on one where the statements projection commits batches
// of 100 statements all the time, as during an ingest load: a Badger read
// transaction waits for the commits in flight. events/s is wall clock
// (on a busy machine, mostly the scheduler's); cpu-µs/event is the
// process's CPU per statement, on the idle store only;
// reads/event counts the read model calls that open a read transaction
// (the difficulty cache's refreshes not included).
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
				var n atomic.Int64
				br := batchReader{cat, ad, &n}
				cfg := streams.RecommenderConfig{Catalog: br, Mastery: br, Success: br, Checkpoints: ck, Publisher: discardSink{},
					CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour}
				if reads == "per-learner" {
					cfg.Catalog, cfg.Mastery, cfg.Success = catalogOnly{cat, &n}, masteryOnly{ad, &n}, successOnly{ad, &n}
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
				cpu0 := cpuTime()
				for i := 0; i < b.N; i += batch {
					j := min(b.N, i+batch)
					if n, err := r.HandleBatch(ctx, pos[i:j], evs[i:j]); err != nil || n != j-i {
						b.Fatalf("%d of %d learned: %v", n, j-i, err)
					}
				}
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				if load == "idle" {
					// The process's CPU is the recommender's alone only
					// without the writer.
					b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
				}
				b.ReportMetric(float64(n.Load())/float64(b.N), "reads/event")
			})
		}
	}
}
