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
	// MaxMessageBytes is the largest message (key, value and headers) the
	// publisher sends; larger ones fail with a MessageTooLargeError before
	// reaching the broker. 0 means DefaultMaxMessageBytes. Topics must
	// accept it: see TopicMessageBytes.
	MaxMessageBytes int
}

// MessageTooLargeError is a message over the publisher's or the broker's
// size limit. Retrying never helps, so callers answer it as a client error.
type MessageTooLargeError struct {
	Topic       string
	Size, Limit int
}

func (e *MessageTooLargeError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("message of %d bytes for %s exceeds the limit of %d bytes", e.Size, e.Topic, e.Limit)
	}
	return fmt.Sprintf("the broker refused a message for %s as too large (the producer limit is %d bytes; check the topic's max.message.bytes)", e.Topic, e.Limit)
}

// TooLarge returns the message size (0 when only the broker knew it) and
// the limit, for callers that match on behaviour rather than type.
func (e *MessageTooLargeError) TooLarge() (size, limit int) { return e.Size, e.Limit }

// Publisher is a watermill message.Publisher over kafka-go. Publish returns
// only when every message is acknowledged by all in-sync replicas.
type Publisher struct {
	w        *kafka.Writer
	timeout  time.Duration
	maxBytes int
	// key signs the events EventPublisher writes through this publisher
	// (the cluster's Security.SigningKey). Raw messages (DLQ copies,
	// replayed dead letters) keep the signature they came with.
	key []byte
	// brokers find the cluster's key store (UseKeys) when EventPublisher
	// publishes: looked up then, as the vault may be registered after.
	brokers []string
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
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return &Publisher{
		w: &kafka.Writer{
			Addr:      kafka.TCP(cfg.Brokers...),
			Transport: Transport(cfg.Brokers),
			// Murmur2 matches the Java client's default partitioner, so
			// other producers keyed by learner land on the same partitions.
			Balancer:     kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: cfg.BatchTimeout,
			BatchSize:    1000,
			// kafka-go's default of 1 MiB would refuse every larger
			// message; one request may carry one message of the full size.
			BatchBytes:   int64(cfg.MaxMessageBytes),
			WriteTimeout: cfg.WriteTimeout,
			MaxAttempts:  5,
			// LZ4 per batch: with bench ingest's statements the statements
			// topic took 0.27 KB per statement instead of 1.36 KB, for no
			// CPU cost that could be told from noise; every Kafka client
			// and the embedded broker (compaction included) read it.
			Compression: kafka.Lz4,
		},
		timeout:  cfg.WriteTimeout,
		maxBytes: cfg.MaxMessageBytes,
		key:      signingKey(cfg.Brokers),
		brokers:  cfg.Brokers,
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
		if n := messageSize(kms[i]); n > p.maxBytes {
			return &MessageTooLargeError{Topic: topic, Size: n, Limit: p.maxBytes}
		}
	}
	if err := p.w.WriteMessages(ctx, kms...); err != nil {
		var tooLarge kafka.MessageTooLargeError
		if errors.Is(err, kafka.MessageSizeTooLarge) || errors.As(err, &tooLarge) {
			return fmt.Errorf("publish %d message(s) to %s: %w", len(msgs), topic, &MessageTooLargeError{Topic: topic, Limit: p.maxBytes})
		}
		return fmt.Errorf("publish %d message(s) to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// messageSize is a message's size as a record: key, value, headers and
// their framing (varints, at most a few bytes each).
func messageSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 32
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// Close flushes pending writes and releases connections.
func (p *Publisher) Close() error { return p.w.Close() }
