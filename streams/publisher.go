package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"
)

// PublisherConfig configures the kafka-go producer.
type PublisherConfig struct {
	Brokers []string
	// BatchTimeout bounds how long a record waits for others to share its
	// produce request. Small values keep HTTP latency low; kafka-go's
	// default of one second would dominate every write.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce, retries included.
	WriteTimeout time.Duration
}

// Publisher is a watermill message.Publisher over kafka-go. Publish returns
// only when every message is acknowledged by all in-sync replicas.
type Publisher struct {
	w       *kafka.Writer
	timeout time.Duration
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher; it connects lazily on first use.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("publisher: no brokers")
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 15 * time.Second
	}
	return &Publisher{
		w: &kafka.Writer{
			Addr: kafka.TCP(cfg.Brokers...),
			// Murmur2 matches the Java client's default partitioner, so
			// other producers keyed by learner land on the same partitions.
			Balancer:     kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: cfg.BatchTimeout,
			BatchSize:    1000,
			WriteTimeout: cfg.WriteTimeout,
			MaxAttempts:  5,
		},
		timeout: cfg.WriteTimeout,
	}, nil
}

// Publish writes msgs to topic. Messages of one call share a context: the
// first message's, bounded by the write timeout.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(msgs[0].Context(), p.timeout)
	defer cancel()
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = toKafka(topic, m)
	}
	if err := p.w.WriteMessages(ctx, kms...); err != nil {
		return fmt.Errorf("publish %d message(s) to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// Close flushes pending writes and releases connections.
func (p *Publisher) Close() error { return p.w.Close() }
