package streams

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStuckAfter is how long a consumer may keep failing at one offset
// before it counts as stuck: long enough for a broker leader election or a
// brief store hiccup, short enough that an operator hears of a real outage
// within a minute.
const DefaultStuckAfter = 30 * time.Second

// Failing is a partition where a consumer keeps failing at one offset.
type Failing struct {
	Consumer  string    `json:"consumer"`
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Since     time.Time `json:"since"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
}

// For says how long the partition has been failing at now.
func (f Failing) For(now time.Time) time.Duration { return now.Sub(f.Since) }

type failingKey struct {
	consumer, topic string
	partition       int
}

// Health records, for the consumers of a process, the partitions whose
// current offset keeps failing (errors that are retried: the event is
// neither applied nor parked). A consumer reports each failure and each
// success; a partition counts as stuck once it has failed at the same
// offset for longer than StuckAfter. /readyz and the
// learnstream_consumer_stuck metrics read it.
type Health struct {
	// StuckAfter is the bound; zero means DefaultStuckAfter.
	StuckAfter time.Duration

	mu  sync.Mutex
	now func() time.Time
	m   map[failingKey]*Failing
	// failing is len(m), readable without mu: Progressed runs for every
	// batch or message of every consumer, and nothing is failing almost
	// always. A consumer reports its own failures and progress from one
	// goroutine, so it never misses its own entry.
	failing atomic.Int32
}

// DefaultHealth is the Health every consumer reports to unless given its
// own; it is registered with Prometheus.
var DefaultHealth = NewHealth()

func init() { prometheus.MustRegister(DefaultHealth) }

// NewHealth returns an empty Health.
func NewHealth() *Health { return &Health{now: time.Now, m: map[failingKey]*Failing{}} }

func (h *Health) bound() time.Duration {
	if h.StuckAfter > 0 {
		return h.StuckAfter
	}
	return DefaultStuckAfter
}

// Failed records a failure at offset; a failure at another offset than
// the last one starts the clock again (the partition moved).
func (h *Health) Failed(consumer, topic string, partition int, offset int64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := failingKey{consumer, topic, partition}
	f := h.m[k]
	if f == nil || f.Offset != offset {
		f = &Failing{Consumer: consumer, Topic: topic, Partition: partition, Offset: offset, Since: h.now()}
		h.m[k] = f
	}
	f.Attempts++
	if err != nil {
		f.LastError = err.Error()
	}
	h.failing.Store(int32(len(h.m)))
}

// Progressed records that the partition moved on (an event applied or
// parked).
func (h *Health) Progressed(consumer, topic string, partition int) {
	if h.failing.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, failingKey{consumer, topic, partition})
	h.failing.Store(int32(len(h.m)))
}

// Forget drops what a consumer reported, when it stops.
func (h *Health) Forget(consumer string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.m {
		if k.consumer == consumer {
			delete(h.m, k)
		}
	}
	h.failing.Store(int32(len(h.m)))
}

// Failing returns every partition failing now, stuck or not yet, ordered
// by consumer, topic and partition.
func (h *Health) Failing() []Failing {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Failing, 0, len(h.m))
	for _, f := range h.m {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Failing) int {
		if c := strings.Compare(a.Consumer, b.Consumer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	return out
}

// Stuck returns the partitions failing for longer than the bound.
func (h *Health) Stuck() []Failing {
	now, bound := h.now(), h.bound()
	var out []Failing
	for _, f := range h.Failing() {
		if f.For(now) > bound {
			out = append(out, f)
		}
	}
	return out
}

// Check is a readiness check: an error naming every stuck consumer,
// partition and offset with its last error, or nil.
func (h *Health) Check(context.Context) error {
	stuck := h.Stuck()
	if len(stuck) == 0 {
		return nil
	}
	now := h.now()
	parts := make([]string, len(stuck))
	for i, f := range stuck {
		parts[i] = fmt.Sprintf("consumer %s stuck on %s/%d at offset %d for %s (%d attempts): %s",
			f.Consumer, f.Topic, f.Partition, f.Offset, f.For(now).Round(time.Second), f.Attempts, f.LastError)
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

var (
	stuckSecondsDesc = prometheus.NewDesc("learnstream_consumer_stuck_seconds",
		"How long a consumer has been failing to apply (or park) the event at its current offset in a partition; absent when the partition progresses.",
		[]string{"consumer", "topic", "partition"}, nil)
	stuckDesc = prometheus.NewDesc("learnstream_consumer_stuck",
		"1 for a partition whose consumer has failed at one offset for longer than the stuck bound (--stuck-after), else 0.",
		[]string{"consumer", "topic", "partition"}, nil)
)

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	ch <- stuckSecondsDesc
	ch <- stuckDesc
}

// Collect implements prometheus.Collector: the values are taken at scrape
// time, so a consumer that stopped trying still shows its age.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	now, bound := h.now(), h.bound()
	for _, f := range h.Failing() {
		labels := []string{f.Consumer, f.Topic, strconv.Itoa(f.Partition)}
		d := f.For(now)
		ch <- prometheus.MustNewConstMetric(stuckSecondsDesc, prometheus.GaugeValue, d.Seconds(), labels...)
		stuck := 0.0
		if d > bound {
			stuck = 1
		}
		ch <- prometheus.MustNewConstMetric(stuckDesc, prometheus.GaugeValue, stuck, labels...)
	}
}
