package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/learnstream/learnstream/domain/event"
)

// Handler applies events to a consumer's state.
type Handler interface {
	// Handle applies e, read at pos. An error for which event.Retryable
	// holds (infrastructure: mark it with event.Transient) is retried;
	// any other sends the event to the DLQ at once, with the error as the
	// reason.
	Handle(ctx context.Context, pos Position, e event.Event) error
	// Skip records that pos was consumed without effect, because its event
	// went to the DLQ, so a restart does not meet it again. Its errors are
	// always retried.
	Skip(ctx context.Context, pos Position) error
}

// ParkObserver is implemented by a Handler that wants to know which event
// it stepped past (after Skip), such as a projection whose writers wait
// for their events.
type ParkObserver interface {
	Parked(e event.Event)
}

// Consumer drives a Handler from a topic: it decodes envelopes, sends
// poison events to the topic's DLQ with the reason in a header, and acks a
// message only after its effect (or its DLQ copy) is durable.
type Consumer struct {
	Name       string
	Subscriber message.Subscriber
	Topic      string
	Handler    Handler
	// DLQ receives poison events. Required: a consumer must never stop on,
	// or silently drop, a bad event.
	DLQ    message.Publisher
	Logger *slog.Logger
	// RetryBackoff is the pause before a failed Handle is tried again.
	RetryBackoff time.Duration
	// OnError, if set, observes every handling error (for metrics).
	OnError func(poison bool)
	// Health receives every retried failure and every step forward, so a
	// partition stuck on one offset shows in /readyz and the metrics;
	// nil means DefaultHealth.
	Health *Health
}

func (c *Consumer) health() *Health {
	if c.Health != nil {
		return c.Health
	}
	return DefaultHealth
}

// Run consumes until ctx ends. Its goroutine, and every goroutine it
// starts, carries the profiler labels consumer=Name and topic=Topic (two
// consumers may share a name on different topics), so that a CPU profile
// of the server splits by consumer (docs/operations.md, "Profiles").
func (c *Consumer) Run(ctx context.Context) (err error) {
	pprof.Do(ctx, pprof.Labels("consumer", c.Name, "topic", c.Topic), func(ctx context.Context) { err = c.run(ctx) })
	return err
}

func (c *Consumer) run(ctx context.Context) error {
	if c.DLQ == nil || c.Handler == nil || c.Subscriber == nil {
		return errors.New("consumer: subscriber, handler and DLQ are required")
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", c.Name, "topic", c.Topic)
	backoff := c.RetryBackoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	health := c.health()
	defer health.Forget(c.Name)
	if bs, ok := c.Subscriber.(BatchSubscriber); ok {
		return c.runBatches(ctx, bs, log, backoff)
	}
	msgs, err := c.Subscriber.Subscribe(ctx, c.Topic)
	if err != nil {
		return fmt.Errorf("consumer %s: subscribe %s: %w", c.Name, c.Topic, err)
	}
	// One message is a batch of one: the same decoding, parking and
	// retrying as runBatches, with the handler's HandleBatch when it has one.
	for m := range msgs {
		d, err := receivedOf(m)
		if err != nil {
			// The subscriber sets positions; without one the message
			// cannot be recorded as consumed anywhere.
			log.Error("consumer: message without position", "err", err)
			m.Nack()
			continue
		}
		if err := c.handleBatch(ctx, []*received{d}, log, backoff); err != nil {
			m.Nack() // shutting down
			continue
		}
		health.Progressed(c.Name, d.pos.Topic, d.pos.Partition)
		m.Ack()
	}
	return ctx.Err()
}

// park sends a malformed envelope, or an event that fails the same way
// however often it is tried, to the DLQ and records its offset as
// consumed.
func (c *Consumer) park(ctx context.Context, pos Position, m *message.Message, err error) error {
	if c.OnError != nil {
		c.OnError(true)
	}
	dead := message.NewMessage(m.UUID, m.Payload)
	for k, v := range m.Metadata {
		switch k {
		case MetaTopic, MetaPartition, MetaOffset:
		default:
			dead.Metadata.Set(k, v)
		}
	}
	dead.Metadata.Set(event.HeaderDLQReason, event.RedactReason(err.Error()))
	dead.Metadata.Set("dlq_topic", pos.Topic)
	dead.Metadata.Set("dlq_partition", fmt.Sprint(pos.Partition))
	dead.Metadata.Set("dlq_offset", fmt.Sprint(pos.Offset))
	dead.Metadata.Set("dlq_consumer", c.Name)
	dead.SetContext(ctx)
	if perr := c.DLQ.Publish(DLQ(c.Topic), dead); perr != nil {
		return event.Transient(fmt.Errorf("send to DLQ: %w (event error: %v)", perr, err))
	}
	if c.Logger != nil {
		c.Logger.Warn("consumer: event sent to DLQ", "consumer", c.Name, "topic", c.Topic,
			"partition", pos.Partition, "offset", pos.Offset, "reason", err)
	}
	if serr := c.Handler.Skip(ctx, pos); serr != nil {
		return event.Transient(fmt.Errorf("step past the parked event: %w", serr))
	}
	if po, ok := c.Handler.(ParkObserver); ok {
		if e, derr := Event(m); derr == nil {
			po.Parked(e)
		}
	}
	return nil
}
