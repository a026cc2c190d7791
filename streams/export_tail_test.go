package streams

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/segmentio/kafka-go"
)

// SetTailWindow sets the shared tails' window (bytes) and returns a
// function restoring it.
func SetTailWindow(n int) (restore func()) {
	old := tailWindowBytes
	tailWindowBytes = n
	return func() { tailWindowBytes = old }
}

// TailCursor is a subscription's cursor on a partition's shared tail.
type TailCursor interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	Close()
}

// OpenTailCursor opens a cursor on a partition from start.
func OpenTailCursor(brokers []string, topic string, partition int, start int64) TailCursor {
	return tails.open(readerOpts{brokers: brokers, topic: topic, partition: partition}, start, slog.Default())
}

// TailReaders returns the partition readers open: shared and private.
func TailReaders() (shared, private int) {
	return int(metricValue(tailReaders.WithLabelValues("shared"))), int(metricValue(tailReaders.WithLabelValues("private")))
}

func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// PrivateReadersOpened counts the private readers opened so far on topic
// (a test's own: another test's subscriptions, still stopping, may open
// readers on theirs meanwhile).
func PrivateReadersOpened(topic string) int {
	return int(metricValue(tailPrivateOpened.WithLabelValues(topic)))
}

// TailsOpen counts the partitions with a cursor open.
func TailsOpen() int {
	tails.mu.Lock()
	defer tails.mu.Unlock()
	return len(tails.m)
}
