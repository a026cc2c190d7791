package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

var produceSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "learnstream_produce_seconds",
	Help:    "Produce calls of a process's publisher (every role's records, the group commit's shared calls), until the broker acknowledged them.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
})

// PublisherConfig configures the kafka-go producer.
type PublisherConfig struct {
	Brokers []string
	// BatchTimeout is how long a produce request waits for more records
	// before it is sent. Concurrent publishes share produce requests
	// without it (group commit: those that arrive while one is in flight
	// go together in the next), so the default is as short as kafka-go
	// allows; kafka-go's own default of one second would dominate every
	// write.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce, retries included.
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest message (key, value and headers) the
	// publisher sends; larger ones fail with a MessageTooLargeError before
	// reaching the broker. 0 means DefaultMaxMessageBytes. Topics must
	// accept it: see TopicMessageBytes.
	MaxMessageBytes int
	// Uncompressed are topics produced without compression, for values
	// it cannot shrink: a sealed RecommendationsUpdated is one base64
	// ciphertext, and LZ4 saved a tenth of such a topic (all of it in the
	// records' headers) while every consumer, and the embedded broker's
	// cleaner twice a run, paid to decompress it. Every other topic is
	// produced with LZ4.
	Uncompressed []string
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
	maxBytes int
	// key signs the events EventPublisher writes through this publisher
	// (the cluster's Security.SigningKey). Raw messages (DLQ copies,
	// replayed dead letters) keep the signature they came with.
	key []byte
	// brokers find the cluster's key store (UseKeys) when EventPublisher
	// publishes: looked up then, as the vault may be registered after.
	brokers []string
	// lz4 produces every topic but those in plain, which the plain lane
	// produces uncompressed. A topic is in one lane only, so its
	// partitions' records reach the broker in order.
	lz4, plain  *lane
	plainTopics map[string]bool
}

// lane is a group commit and the writers it produces with, which differ
// only in BatchSize (tiers, smallest first). kafka-go gives every batch
// room for BatchSize messages up front (1,000 of about 150 bytes: 150 KB
// zeroed per produce request), which for single statements was most of
// what a write allocated; produce picks the smallest that holds a write
// whole. Writes are serialised by the group commit, so records of one
// partition still reach the broker in order across tiers.
type lane struct {
	// group joins concurrent publishes into one write (see groupCommit).
	group   groupCommit
	tiers   []*kafka.Writer
	timeout time.Duration
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher; it connects lazily on first use.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("publisher: no brokers")
	}
	if cfg.BatchTimeout <= 0 {
		// kafka-go reads zero as its default of one second; a microsecond
		// sends each write's records as soon as they are queued.
		cfg.BatchTimeout = time.Microsecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 15 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	writer := func(batchSize int, codec kafka.Compression) *kafka.Writer {
		return &kafka.Writer{
			Addr:      kafka.TCP(cfg.Brokers...),
			Transport: Transport(cfg.Brokers),
			// Murmur2 matches the Java client's default partitioner, so
			// other producers keyed by learner land on the same partitions.
			Balancer:     kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: cfg.BatchTimeout,
			BatchSize:    batchSize,
			// kafka-go's default of 1 MiB would refuse every larger
			// message; one request may carry one message of the full size.
			BatchBytes:   int64(cfg.MaxMessageBytes),
			WriteTimeout: cfg.WriteTimeout,
			MaxAttempts:  5,
			Compression:  codec,
		}
	}
	newLane := func(codec kafka.Compression) *lane {
		return &lane{
			tiers:   []*kafka.Writer{writer(16, codec), writer(128, codec), writer(1000, codec)},
			timeout: cfg.WriteTimeout,
			group:   groupCommit{limit: groupInFlight},
		}
	}
	p := &Publisher{
		// LZ4 per batch: with bench ingest's statements the statements
		// topic took 0.27 KB per statement instead of 1.36 KB, for no
		// CPU cost that could be told from noise; every Kafka client
		// and the embedded broker (compaction included) read it.
		lz4:      newLane(kafka.Lz4),
		maxBytes: cfg.MaxMessageBytes,
		key:      signingKey(cfg.Brokers),
		brokers:  cfg.Brokers,
	}
	if len(cfg.Uncompressed) > 0 {
		p.plain = newLane(0)
		p.plainTopics = make(map[string]bool, len(cfg.Uncompressed))
		for _, t := range cfg.Uncompressed {
			p.plainTopics[t] = true
		}
	}
	return p, nil
}

// Publish writes msgs to topic. It returns when every message is
// acknowledged (or the write failed), bounded by the write timeout;
// concurrent calls share produce requests (groupCommit), and a message
// over the size limit fails the call before anything is written.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = toKafka(topic, m)
	}
	return p.write(msgs[0].Context(), topic, kms)
}

// write produces kms, which all name topic, through the group commit.
func (p *Publisher) write(ctx context.Context, topic string, kms []kafka.Message) error {
	for i := range kms {
		if n := messageSize(kms[i]); n > p.maxBytes {
			return &MessageTooLargeError{Topic: topic, Size: n, Limit: p.maxBytes}
		}
	}
	l := p.laneOf(topic)
	if err := l.group.write(ctx, l.produce, kms); err != nil {
		if isTooLarge(err) {
			return fmt.Errorf("publish %d message(s) to %s: %w", len(kms), topic, &MessageTooLargeError{Topic: topic, Limit: p.maxBytes})
		}
		return fmt.Errorf("publish %d message(s) to %s: %w", len(kms), topic, err)
	}
	return nil
}

// laneOf is the lane that produces topic.
func (p *Publisher) laneOf(topic string) *lane {
	if p.plainTopics[topic] {
		return p.plain
	}
	return p.lz4
}

// writer is the largest writer of topic's lane, for the few writes that
// bypass the group commit (a dead letter, a replayed one): they retry on
// their own and wait on their caller's context.
func (p *Publisher) writer(topic string) *kafka.Writer {
	tiers := p.laneOf(topic).tiers
	return tiers[len(tiers)-1]
}

// produce is one produce of kms (of any of the lane's topics), bounded
// by the write timeout. It is not tied to any caller's context: it writes
// for every caller of a group, and a caller that went away does not
// cancel the others' records.
func (l *lane) produce(kms []kafka.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	defer func(start time.Time) { produceSeconds.Observe(time.Since(start).Seconds()) }(time.Now())
	w := l.tiers[len(l.tiers)-1]
	for _, t := range l.tiers {
		if len(kms) <= t.BatchSize {
			w = t
			break
		}
	}
	return w.WriteMessages(ctx, kms...)
}

// groupCommit joins concurrent writes: a write that finds fewer than
// limit writes in flight produces at once; those that arrive when limit
// are in flight queue, and when one ends the first of them produces
// everything queued in one call. Under load a produce request carries
// many callers' records, one round trip per partition answers them all,
// and nobody waits on a timer; alone, a write costs one round trip as
// before. The leader is always a caller, so there is no goroutine to own
// or stop.
type groupCommit struct {
	// limit is how many writes may be in flight at once (0 means 1).
	// Two would keep a request queued behind the one in flight at every
	// partition, but made smaller groups: on the quiet 2-core machine one
	// carried 3% more single-statement POSTs at 32 clients for 3% less
	// CPU per statement (docs/benchmarks.md), so the publisher uses one.
	limit    int
	mu       sync.Mutex
	inflight int
	pending  []*groupWrite
}

// groupInFlight is the publisher's groupCommit.limit.
const groupInFlight = 1

// groupWrite is one caller's records and where its outcome is sent: nil
// or its error, or lead (it is to produce for everyone queued).
type groupWrite struct {
	msgs []kafka.Message
	done chan groupOutcome
}

type groupOutcome struct {
	err  error
	lead bool
}

// write produces msgs with produce, sharing the call with concurrent
// writers, and returns msgs' own outcome: an error of another caller's
// records never fails this one's. A caller whose ctx ends while its
// records are still queued leaves with nothing written; once they are
// being produced it waits for their outcome, which produce bounds with
// the write timeout, so the answer says whether they are in the log.
func (g *groupCommit) write(ctx context.Context, produce func([]kafka.Message) error, msgs []kafka.Message) error {
	me := &groupWrite{msgs: msgs, done: make(chan groupOutcome, 1)}
	g.mu.Lock()
	lead := g.inflight < max(g.limit, 1)
	if lead {
		g.inflight++
	} else {
		g.pending = append(g.pending, me)
	}
	g.mu.Unlock()
	if !lead {
		var o groupOutcome
		select {
		case o = <-me.done:
		case <-ctx.Done():
			var left bool
			if o, left = g.leave(me); left {
				return fmt.Errorf("waiting to produce: %w (nothing was written)", context.Cause(ctx))
			}
		}
		if !o.lead {
			return o.err
		}
	}
	// The leader is out of the queue (it never joined it, or was taken
	// off it when told to lead) and goes first: it queued first.
	g.mu.Lock()
	writes := append([]*groupWrite{me}, g.pending...)
	g.pending = nil
	g.mu.Unlock()

	g.produce(produce, writes)

	g.mu.Lock()
	if len(g.pending) > 0 {
		// Hand over to the first writer that queued meanwhile, taking it
		// off the queue so that no other leader picks it as well.
		next := g.pending[0]
		g.pending = g.pending[1:]
		next.done <- groupOutcome{lead: true}
	} else {
		g.inflight--
	}
	g.mu.Unlock()
	return (<-me.done).err
}

// leave takes me out of the queue if it is still there (left), or else
// returns its outcome: it was told to lead, or its records are being
// produced and the outcome is awaited.
func (g *groupCommit) leave(me *groupWrite) (o groupOutcome, left bool) {
	g.mu.Lock()
	select {
	case o = <-me.done:
		g.mu.Unlock()
		return o, false
	default:
	}
	if i := slices.Index(g.pending, me); i >= 0 {
		g.pending = slices.Delete(g.pending, i, i+1)
		g.mu.Unlock()
		return groupOutcome{}, true
	}
	g.mu.Unlock()
	return <-me.done, false
}

// produce writes the records of writes in one call and tells each writer
// its outcome. A failure of the whole call that one writer's records may
// have caused (kafka-go refuses a call outright for one message over its
// limit) is retried per writer, so it fails only the writer it belongs to.
func (g *groupCommit) produce(produce func([]kafka.Message) error, writes []*groupWrite) {
	if len(writes) == 1 {
		writes[0].done <- groupOutcome{err: produce(writes[0].msgs)}
		return
	}
	n := 0
	for _, w := range writes {
		n += len(w.msgs)
	}
	all := make([]kafka.Message, 0, n)
	for _, w := range writes {
		all = append(all, w.msgs...)
	}
	err := produce(all)
	var perMessage kafka.WriteErrors
	switch {
	case err == nil:
		for _, w := range writes {
			w.done <- groupOutcome{}
		}
	case errors.As(err, &perMessage) && len(perMessage) == n:
		i := 0
		for _, w := range writes {
			var first error
			for _, e := range perMessage[i : i+len(w.msgs)] {
				if e != nil {
					first = e
					break
				}
			}
			i += len(w.msgs)
			w.done <- groupOutcome{err: first}
		}
	case isTooLarge(err):
		for _, w := range writes {
			w.done <- groupOutcome{err: produce(w.msgs)}
		}
	default:
		// Anything else (a timeout, a closed writer) is the call's, not
		// one writer's: trying again per writer would only wait again.
		for _, w := range writes {
			w.done <- groupOutcome{err: err}
		}
	}
}

// isTooLarge reports whether err is kafka-go's or the broker's refusal of
// a message as too large.
func isTooLarge(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.As(err, &tooLarge)
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
func (p *Publisher) Close() error {
	var errs []error
	for _, l := range []*lane{p.lz4, p.plain} {
		if l == nil {
			continue
		}
		for _, t := range l.tiers {
			errs = append(errs, t.Close())
		}
	}
	return errors.Join(errs...)
}
