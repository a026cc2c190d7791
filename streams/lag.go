package streams

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

var consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_consumer_lag",
	Help: "Events in a partition not yet applied by a consumer (log end offset minus the consumer's next offset).",
}, []string{"consumer", "topic", "partition"})

// PartitionLag is one partition's position and backlog for a consumer.
type PartitionLag struct {
	Partition int   `json:"partition"`
	Next      int64 `json:"next_offset"`
	End       int64 `json:"end_offset"`
	Lag       int64 `json:"lag"`
}

// LagMonitor measures how far a consumer is behind the log, from the log's
// end offsets and the consumer's own stored offsets. It works the same for
// consumers in a group and for those that read every partition.
type LagMonitor struct {
	Consumer string
	Brokers  []string
	Topic    string
	Offsets  OffsetStore
	Interval time.Duration
	Logger   *slog.Logger
	// Owned, when set, limits the measurement to the partitions this
	// instance owns (a consumer group member); nil measures them all.
	Owned func() []int

	mu    sync.Mutex
	parts []PartitionLag
	at    time.Time
}

// Run measures every Interval until ctx ends.
func (m *LagMonitor) Run(ctx context.Context) {
	d := m.Interval
	if d <= 0 {
		d = time.Second
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := m.Measure(ctx); err != nil && ctx.Err() == nil && m.Logger != nil {
			m.Logger.Warn("lag monitor", "consumer", m.Consumer, "topic", m.Topic, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Measure takes one measurement now.
func (m *LagMonitor) Measure(ctx context.Context) error {
	ends, err := EndOffsets(ctx, m.Brokers, m.Topic)
	if err != nil {
		return err
	}
	if m.Owned != nil {
		owned := m.Owned()
		for p := range ends {
			if !slices.Contains(owned, p) {
				delete(ends, p)
				consumerLag.DeleteLabelValues(m.Consumer, m.Topic, strconv.Itoa(p))
			}
		}
	}
	parts := make([]PartitionLag, 0, len(ends))
	for p, end := range ends {
		next, ok, err := m.Offsets.NextOffset(ctx, m.Topic, p)
		if err != nil {
			return err
		}
		if !ok {
			next = 0
		}
		lag := max(end-next, 0)
		parts = append(parts, PartitionLag{Partition: p, Next: next, End: end, Lag: lag})
		consumerLag.WithLabelValues(m.Consumer, m.Topic, strconv.Itoa(p)).Set(float64(lag))
	}
	slices.SortFunc(parts, func(a, b PartitionLag) int { return a.Partition - b.Partition })
	m.mu.Lock()
	m.parts, m.at = parts, time.Now()
	m.mu.Unlock()
	return nil
}

// Lag returns the last measurement: the total backlog, the per-partition
// detail and when it was taken (zero before the first).
func (m *LagMonitor) Lag() (total int64, parts []PartitionLag, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.parts {
		total += p.Lag
	}
	return total, slices.Clone(m.parts), m.at
}

// EndOffsets returns the log end offset (the next offset to be written) of
// every partition of topic.
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	parts, err := Partitions(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	req := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		req[i] = kafka.LastOffsetOf(p)
	}
	client := newClient(brokers, 10*time.Second)
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// WaitCaughtUp waits until offsets has reached, in every partition of
// topic, the log end offsets as they were when it was called, polling
// every interval. It returns ctx's error if that does not happen first.
// A process that serves from a projection only once it holds what was
// written before it started (the credentials it authenticates with)
// calls it before serving.
func WaitCaughtUp(ctx context.Context, brokers []string, topic string, offsets OffsetStore, interval time.Duration) error {
	ends, err := EndOffsets(ctx, brokers, topic)
	if err != nil {
		return err
	}
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	for {
		behind := 0
		for p, end := range ends {
			next, ok, err := offsets.NextOffset(ctx, topic, p)
			if err != nil {
				return err
			}
			if !ok {
				next = 0
			}
			if next < end {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d partitions not caught up: %w", topic, behind, ctx.Err())
		case <-time.After(interval):
		}
	}
}
