package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// managed is one projection this process runs, with what replay and status
// need to know about it.
type managed struct {
	proj   *projections.Projection
	topic  string
	lag    *streams.LagMonitor
	counts func(ctx context.Context, tenant string) (map[string]int64, error)

	mu     sync.Mutex
	replay *api.ReplayStatus
}

// admin implements api.Admin over the projections of this process.
type admin struct {
	brokers []string
	log     *slog.Logger
	// ctx bounds replays: they end when the process shuts down.
	ctx   context.Context
	wg    *sync.WaitGroup
	projs map[string]*managed
}

func (a *admin) add(m *managed) { a.projs[m.proj.Name()] = m }

func (a *admin) Projections(ctx context.Context, tenant string, counts bool) ([]api.ProjectionStatus, error) {
	names := make([]string, 0, len(a.projs))
	for n := range a.projs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]api.ProjectionStatus, 0, len(names))
	for _, n := range names {
		m := a.projs[n]
		if err := m.lag.Measure(ctx); err != nil {
			return nil, fmt.Errorf("projection %s: %w", n, err)
		}
		total, parts, _ := m.lag.Lag()
		st := api.ProjectionStatus{Name: n, Generation: m.proj.Space().Generation(), Topic: m.topic, Lag: total}
		for _, p := range parts {
			st.Partitions = append(st.Partitions, api.PartitionInfo{Partition: p.Partition, Next: p.Next, End: p.End, Lag: p.Lag})
		}
		if counts && m.counts != nil {
			c, err := m.counts(ctx, tenant)
			if err != nil {
				return nil, fmt.Errorf("projection %s: counts: %w", n, err)
			}
			st.Counts = c
		}
		m.mu.Lock()
		if m.replay != nil {
			r := *m.replay
			st.Replay = &r
		}
		m.mu.Unlock()
		out = append(out, st)
	}
	return out, nil
}

func (a *admin) Replay(_ context.Context, name string) (api.ProjectionStatus, error) {
	m, ok := a.projs[name]
	if !ok {
		return api.ProjectionStatus{}, api.ErrUnknownProjection
	}
	rb, err := m.proj.StartRebuild()
	if errors.Is(err, projections.ErrRebuildRunning) {
		return api.ProjectionStatus{}, api.ErrReplayRunning
	}
	if err != nil {
		return api.ProjectionStatus{}, err
	}
	status := &api.ReplayStatus{State: "running", Started: time.Now().UTC().Format(time.RFC3339)}
	m.mu.Lock()
	m.replay = status
	m.mu.Unlock()
	a.log.Info("replay started", "projection", name, "generation", rb.Space().Generation())
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := streams.Replay(a.ctx, a.brokers, m.topic, rb, func(p streams.ReplayProgress) {
			m.mu.Lock()
			status.Done, status.Total = p.Done, p.Total
			m.mu.Unlock()
		}, a.log)
		m.mu.Lock()
		defer m.mu.Unlock()
		status.Finished = time.Now().UTC().Format(time.RFC3339)
		if err != nil {
			status.State, status.Error = "failed", err.Error()
			a.log.Error("replay failed", "projection", name, "err", err)
			return
		}
		status.State = "done"
		a.log.Info("replay done", "projection", name, "generation", m.proj.Space().Generation(), "events", status.Total)
	}()
	m.mu.Lock()
	snap := *status
	m.mu.Unlock()
	return api.ProjectionStatus{Name: name, Generation: m.proj.Space().Generation(), Topic: m.topic, Replay: &snap}, nil
}
