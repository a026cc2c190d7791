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

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

var consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_consumer_lag",
	Help: "Events in a partition not yet applied by a consumer (log end offset minus the consumer's next offset).",
}, []string{"consumer", "topic", "partition"})

var consumerLagSeconds = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_consumer_lag_seconds",
	Help: "How far behind its input a consumer is, in seconds of input: the age of the oldest event it has not applied, over the partitions measured, to within one lag-monitor interval (0: caught up).",
}, []string{"consumer", "topic"})

var derivedDelay = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name: "learnstream_derived_event_delay_seconds",
	Help: "Time from a statement's write to the log (its record's timestamp, set as it is produced, just before its acknowledgement) to the broker acknowledging an event derived from it, by event: recommendations_updated, mastery_updated.",
	// 1 ms to about 2 minutes, each bucket 1.5 times the last: p99 read
	// from the buckets is within a quarter of the true value.
	Buckets: prometheus.ExponentialBuckets(0.001, 1.5, 30),
}, []string{"event"})

// observeDerived records the delay of events just acknowledged by the
// broker that derive from a statement (RecommendationsUpdated,
// MasteryUpdated), from logged(i), the time the statement of evs[i] was
// written to its log; other events are not counted. The statement's own
// time, which the derived event carries, is the fallback only: stored
// times are distinct milliseconds, so under more than a thousand writes a
// second they run up to 100 ms ahead of the clock, and delays measured
// from them read as nothing.
func observeDerived(evs []event.Event, logged func(i int) time.Time, now time.Time) {
	for i, e := range evs {
		var name string
		switch e.Type {
		case projections.TypeRecommendationsUpdated:
			name = "recommendations_updated"
		case projections.TypeMasteryUpdated:
			name = "mastery_updated"
		default:
			continue
		}
		from := logged(i)
		if from.IsZero() {
			from = e.Time
		}
		derivedDelay.WithLabelValues(name).Observe(max(now.Sub(from).Seconds(), 0))
	}
}

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

	measuring sync.Mutex // one measurement at a time (Run, and callers of Measure)
	mu        sync.Mutex
	parts     []PartitionLag
	at        time.Time
	seconds   float64
	// ends are the log end offsets of earlier measurements, oldest first:
	// when the end passed a consumer's next offset is when that event was
	// appended, which gives the lag in seconds of input without reading
	// the event.
	ends []endSample
}

// endSample is the log end offset of every partition at one time.
type endSample struct {
	at   time.Time
	ends map[int]int64
}

// maxEndSamples bounds the history: at one measurement a second, a lag
// older than an hour reads as an hour.
const maxEndSamples = 3600

// secondsBehind is how long before now the log end of partition passed
// next, from hist (oldest first, the last being now's ends): the age of
// the event at next, interpolated between the two measurements it was
// appended between. An event older than the history is as old as the
// history, at least.
func secondsBehind(hist []endSample, partition int, next int64, now time.Time) float64 {
	if len(hist) == 0 || next >= hist[len(hist)-1].ends[partition] {
		return 0
	}
	for i := len(hist) - 2; i >= 0; i-- {
		lo := hist[i].ends[partition]
		if lo > next {
			continue
		}
		// Appended between hist[i] and hist[i+1]: the appends of the
		// interval are taken as evenly spread.
		hi := hist[i+1].ends[partition]
		frac := (float64(next-lo) + 0.5) / float64(hi-lo)
		at := hist[i].at.Add(time.Duration(frac * float64(hist[i+1].at.Sub(hist[i].at))))
		return max(now.Sub(at).Seconds(), 0)
	}
	return max(now.Sub(hist[0].at).Seconds(), 0)
}

// keepEnds drops the samples no partition's lag needs any more: those
// before the newest sample at or below every partition's next offset.
func keepEnds(hist []endSample, next map[int]int64) []endSample {
	cut := len(hist) - 1
	for p, n := range next {
		i := len(hist) - 1
		for i > 0 && hist[i].ends[p] > n {
			i--
		}
		cut = min(cut, i)
	}
	cut = max(cut, len(hist)-maxEndSamples)
	if cut <= 0 {
		return hist
	}
	return append(hist[:0], hist[cut:]...)
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
	m.measuring.Lock()
	defer m.measuring.Unlock()
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
	now := time.Now()
	m.mu.Lock()
	hist := append(m.ends, endSample{at: now, ends: ends})
	m.mu.Unlock()
	parts := make([]PartitionLag, 0, len(ends))
	nexts := make(map[int]int64, len(ends))
	var seconds float64
	for p, end := range ends {
		next, ok, err := m.Offsets.NextOffset(ctx, m.Topic, p)
		if err != nil {
			return err
		}
		if !ok {
			next = 0
		}
		lag := max(end-next, 0)
		nexts[p] = next
		seconds = max(seconds, secondsBehind(hist, p, next, now))
		parts = append(parts, PartitionLag{Partition: p, Next: next, End: end, Lag: lag})
		consumerLag.WithLabelValues(m.Consumer, m.Topic, strconv.Itoa(p)).Set(float64(lag))
	}
	slices.SortFunc(parts, func(a, b PartitionLag) int { return a.Partition - b.Partition })
	consumerLagSeconds.WithLabelValues(m.Consumer, m.Topic).Set(seconds)
	m.mu.Lock()
	m.parts, m.at, m.seconds = parts, now, seconds
	m.ends = keepEnds(hist, nexts)
	m.mu.Unlock()
	return nil
}

// LagSeconds returns the last measurement's lag in seconds of input: the
// age of the oldest event the consumer has not applied (0: caught up).
func (m *LagMonitor) LagSeconds() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seconds
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
