package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
)

var (
	batchFlushes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_batch_flushes_total",
		Help: "Batches a batch consumer wrote, by result.",
	}, []string{"consumer", "result"})
	batchRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_batch_events_total",
		Help: "Events a batch consumer wrote durably.",
	}, []string{"consumer"})
)

// BatchHandler writes events in batches to a store outside Kafka (such as
// ClickHouse), where the consumer group's committed offsets are the only
// record of progress.
type BatchHandler interface {
	// Add decodes e into the pending batch. An error for which
	// event.Retryable holds is retried; any other parks e in its topic's
	// DLQ with the batch (after its flush, before its commit); either way
	// the batch is unchanged.
	Add(e event.Event, pos Position) error
	// Flush writes the pending batch durably and empties it. It must be
	// safe to call again with the same batch after an error.
	Flush(ctx context.Context) error
}

// BatchFuller is implemented by a BatchHandler that bounds its batch itself
// (in rows or bytes rather than events, as the analytics sink does): the
// consumer flushes as soon as Full reports true, besides MaxBatch.
type BatchFuller interface {
	Full() bool
}

// BatchConsumer feeds a BatchHandler from topics through a consumer group.
// Offsets are committed only after a flush succeeded, so an event is never
// lost; after a crash or rebalance the events since the last commit are
// written again, so the handler's store must make duplicates harmless
// (ClickHouse ReplacingMergeTree on the event id, for the analytics sink).
type BatchConsumer struct {
	Name    string
	Brokers []string
	Group   string
	Topics  []string
	Handler BatchHandler
	DLQ     *Publisher
	// MaxBatch flushes when this many events are pending.
	MaxBatch int
	// MaxWait flushes when the oldest pending event waited this long.
	MaxWait time.Duration
	// MaxBackoff caps the pause between failed flushes (exponential, with
	// jitter). A flush is retried until it succeeds: the consumer waits
	// out an unreachable store and then catches up.
	MaxBackoff time.Duration
	// MaxMessageBytes is the largest message expected (0: the default
	// producer limit); fetches are sized so that one always fits.
	MaxMessageBytes int
	Logger          *slog.Logger
	// Health receives failing flushes (at the oldest pending event) and
	// each step forward; nil means DefaultHealth.
	Health *Health
	// ResetBeyondEnd decides what Run does with a committed offset beyond
	// its partition's log end (the log lost events the group had read):
	// true moves it to the log start, so the handler's store gets what the
	// log holds again (duplicates must be harmless anyway); false holds
	// the partition, reported, until the log reaches the offset.
	ResetBeyondEnd bool
}

// Run consumes until ctx ends. Pending events are flushed on the way out
// when the store accepts them; otherwise they are read again next time.
func (c *BatchConsumer) Run(ctx context.Context) error {
	if c.Handler == nil || c.DLQ == nil || c.Group == "" || len(c.Topics) == 0 {
		return errors.New("batch consumer: handler, DLQ, group and topics are required")
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", c.Name)
	health := c.Health
	if health == nil {
		health = DefaultHealth
	}
	defer health.Forget(c.Name)
	// Looked up once: the registry is behind a lock, and add runs per
	// message.
	verify := verifierFor(c.Brokers)
	maxBatch, maxWait, maxBackoff := c.MaxBatch, c.MaxWait, c.MaxBackoff
	if maxBatch <= 0 {
		maxBatch = 10_000
	}
	if maxWait <= 0 {
		maxWait = time.Second
	}
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	if err := c.checkCommitted(ctx, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// The check never blocks the start: kafka-go reaches the broker
		// on its own, and the error logger below still reports a loss.
		log.Warn("batch consumer: could not compare committed offsets with the log ends", "err", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.Brokers,
		Dialer:         Dialer(c.Brokers),
		GroupID:        c.Group,
		GroupTopics:    c.Topics,
		StartOffset:    kafka.FirstOffset,
		MinBytes:       1,
		MaxBytes:       FetchMaxBytes,
		MaxWait:        200 * time.Millisecond,
		CommitInterval: 0, // commits are explicit, after each flush
		SessionTimeout: 10 * time.Second,
		// kafka-go retries an offset beyond the log end forever and says
		// so only here: a log that loses its tail while the group reads
		// (checkCommitted covers the start) must not stall the sink
		// without a word.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			text := fmt.Sprintf(msg, args...)
			if strings.Contains(text, "Offset Out Of Range") || strings.Contains(text, "past the last offset") {
				log.Error("consumer group offset beyond the log end: the log lost events this group had read; "+
					"reset the group's offsets (docs/operations.md)", "group", c.Group, "detail", text)
			}
		}),
	})
	defer r.Close()

	full := func() bool { return false }
	if f, ok := c.Handler.(BatchFuller); ok {
		full = f.Full
	}
	var pending []kafka.Message // every message since the last commit, DLQ'd ones included
	// The rejected messages among pending, bound for their DLQs. They are
	// published with the batch's flush, not as they are read: until the
	// batch is committed a restart reads them again, and a DLQ record
	// written earlier would be written twice (a store that is down for a
	// while, with restarts, would park the same event again each time).
	var dead []kafka.Message
	var oldest time.Time
	flush := func(ctx context.Context) error {
		if len(pending) == 0 {
			return nil
		}
		for attempt := 0; ; attempt++ {
			err := c.Handler.Flush(ctx)
			if err == nil {
				break
			}
			batchFlushes.WithLabelValues(c.Name, "error").Inc()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			health.Failed(c.Name, pending[0].Topic, pending[0].Partition, pending[0].Offset, err)
			d := min(maxBackoff, 100*time.Millisecond<<min(attempt, 10))
			d = d/2 + rand.N(d/2+1)
			log.Warn("batch consumer: flush failed; will retry", "events", len(pending), "attempt", attempt+1, "in", d, "err", err)
			if !sleep(ctx, d) {
				return ctx.Err()
			}
		}
		if err := c.park(ctx, dead, pending[0], health); err != nil {
			return err
		}
		batchFlushes.WithLabelValues(c.Name, "ok").Inc()
		batchRows.WithLabelValues(c.Name).Add(float64(len(pending)))
		health.Progressed(c.Name, pending[0].Topic, pending[0].Partition)
		// The batch's DLQ records are written: its offsets are committed
		// even when the consumer is stopping meanwhile, or a restart would
		// park its rejected events again.
		cctx, cancel := uncancelled(ctx, 10*time.Second)
		err := r.CommitMessages(cctx, pending...)
		cancel()
		if err != nil {
			// The batch is durable; only the record of it is not. It will
			// be written again after a restart, harmlessly.
			log.Warn("batch consumer: commit failed after a successful flush", "err", err)
		}
		pending, dead, oldest = pending[:0], dead[:0], time.Time{}
		return nil
	}

	for {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if len(pending) > 0 {
			fctx, cancel = context.WithDeadline(ctx, oldest.Add(maxWait))
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// Shutting down: write what we have if the store takes it
				// promptly; otherwise it is read again on restart.
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				flush(fctx)
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if err := flush(ctx); err != nil {
					return err
				}
				continue
			}
			log.Warn("batch consumer: fetch", "err", err)
			if !sleep(ctx, time.Second) {
				return ctx.Err()
			}
			continue
		}
		if len(pending) == 0 {
			oldest = time.Now()
		}
		pending = append(pending, m)
		d, err := c.add(ctx, m, verify, health, maxBackoff)
		if err != nil {
			return err
		}
		if d != nil {
			dead = append(dead, *d)
		}
		if len(pending) >= maxBatch || full() {
			if err := flush(ctx); err != nil {
				return err
			}
		}
	}
}

// add decodes m into the batch, or returns the record to park in its
// topic's DLQ. It returns an error only when ctx ends.
func (c *BatchConsumer) add(ctx context.Context, m kafka.Message, verify *verifier, health *Health, maxBackoff time.Duration) (*kafka.Message, error) {
	msg := fromKafka(ctx, m, verify)
	pos := Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time}
	e, err := Event(msg)
	for attempt := 0; event.Retryable(err); attempt++ {
		// The key store could not open the event yet: wait, as for a
		// failing store.
		health.Failed(c.Name, m.Topic, m.Partition, m.Offset, err)
		if !sleep(ctx, min(maxBackoff, 100*time.Millisecond<<min(attempt, 10))) {
			return nil, ctx.Err()
		}
		e, err = Event(msg)
	}
	if err == nil && e.Erased {
		// The learner's data key is destroyed: nothing of it reaches the
		// store; the offset moves on with the batch.
		SkipErased(m.Topic)
		health.Progressed(c.Name, m.Topic, m.Partition)
		return nil, nil
	}
	for attempt := 0; err == nil; attempt++ {
		err = c.Handler.Add(e, pos)
		if err == nil {
			health.Progressed(c.Name, m.Topic, m.Partition)
			return nil, nil
		}
		if !event.Retryable(err) {
			break
		}
		health.Failed(c.Name, m.Topic, m.Partition, m.Offset, err)
		d := min(maxBackoff, 100*time.Millisecond<<min(attempt, 10))
		if !sleep(ctx, d) {
			return nil, ctx.Err()
		}
		err = nil
	}
	dead := toKafka(DLQ(m.Topic), msg)
	dead.Headers = append(dead.Headers,
		kafka.Header{Key: event.HeaderDLQReason, Value: []byte(event.RedactReason(err.Error()))},
		kafka.Header{Key: "dlq_topic", Value: []byte(m.Topic)},
		kafka.Header{Key: "dlq_partition", Value: fmt.Appendf(nil, "%d", m.Partition)},
		kafka.Header{Key: "dlq_offset", Value: fmt.Appendf(nil, "%d", m.Offset)},
		kafka.Header{Key: "dlq_consumer", Value: []byte(c.Name)})
	return &dead, nil
}

// park publishes a flushed batch's rejected records to their DLQs, one
// write per DLQ, retrying until each is written: the batch's offsets are
// committed only after that. It returns an error only when ctx ends.
func (c *BatchConsumer) park(ctx context.Context, dead []kafka.Message, first kafka.Message, health *Health) error {
	for len(dead) > 0 {
		// The records of one DLQ, in the order they were read.
		topic, n := dead[0].Topic, 0
		var rest []kafka.Message
		for _, d := range dead {
			if d.Topic == topic {
				dead[n] = d
				n++
			} else {
				rest = append(rest, d)
			}
		}
		for {
			// A write in flight finishes even when the consumer is
			// stopping: cut off, it may be stored without the consumer
			// knowing, and parked again after the restart.
			wctx, cancel := uncancelled(ctx, 10*time.Second)
			werr := c.DLQ.writer(topic).WriteMessages(wctx, dead[:n]...)
			cancel()
			if werr == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			health.Failed(c.Name, first.Topic, first.Partition, first.Offset, fmt.Errorf("send to DLQ: %w", werr))
			if !sleep(ctx, time.Second) {
				return ctx.Err()
			}
		}
		dead = rest
	}
	return nil
}

// uncancelled is ctx without its cancellation, for a step that must not
// be cut off half done: it ends after d, or at ctx's deadline if that
// comes first (a shutdown's bounded flush stays bounded).
func uncancelled(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), end)
}

// checkCommitted compares the group's committed offsets with the log ends
// before the group is joined: a committed offset beyond the end is moved
// to the log start (ResetBeyondEnd) or held, reported, until the log
// reaches it. A group that committed nothing passes.
func (c *BatchConsumer) checkCommitted(ctx context.Context, log *slog.Logger) error {
	client := newClient(c.Brokers, 10*time.Second)
	for _, topic := range c.Topics {
		ends, err := EndOffsets(ctx, c.Brokers, topic)
		if err != nil {
			return fmt.Errorf("batch consumer %s: %w", c.Name, err)
		}
		parts := make([]int, 0, len(ends))
		for p := range ends {
			parts = append(parts, p)
		}
		var resp *kafka.OffsetFetchResponse
		err = retryCoordinator(ctx, func() error {
			var err error
			resp, err = client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.Group, Topics: map[string][]int{topic: parts}})
			if err == nil {
				err = resp.Error
				for _, po := range resp.Topics[topic] {
					err = errors.Join(err, po.Error)
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("batch consumer %s: committed offsets of group %s: %w", c.Name, c.Group, err)
		}
		for _, po := range resp.Topics[topic] {
			end, ok := ends[po.Partition]
			if !ok || po.CommittedOffset <= end {
				continue
			}
			if !c.ResetBeyondEnd {
				if !holdBeyondEnd(ctx, log, c.Brokers, "group "+c.Group, c.Group, topic, po.Partition, po.CommittedOffset) {
					return ctx.Err()
				}
				continue
			}
			err := retryCoordinator(ctx, func() error {
				cr, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: c.Group, GenerationID: -1,
					Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: po.Partition, Offset: 0}}}})
				if err == nil {
					for _, pc := range cr.Topics[topic] {
						err = errors.Join(err, pc.Error)
					}
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("batch consumer %s: move group %s on %s/%d back to the log start (stop the group's other members first): %w",
					c.Name, c.Group, topic, po.Partition, err)
			}
			log.Error("group offset was beyond the log end: the log lost events this group had read; reading the partition again from its start (--on-log-loss=rebuild)",
				"group", c.Group, "topic", topic, "partition", po.Partition, "committed", po.CommittedOffset, "log_end", end)
		}
	}
	return nil
}

// retryCoordinator runs a group request until it no longer fails with a
// temporary Kafka error (a group coordinator that is loading or moving,
// as on a broker that has just started), for up to 15 seconds.
func retryCoordinator(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		err := f()
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || !kerr.Temporary() {
			return err
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return err
		}
	}
}
