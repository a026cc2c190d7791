package streams

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/learnstream/learnstream/domain/event"
)

// BatchApplier is implemented by handlers that apply several events at
// once, such as projections writing a fetched batch in one Badger
// transaction with its offsets. The events are in partition order; a
// partition's events are consecutive offsets.
type BatchApplier interface {
	// HandleBatch applies evs (read at pos) and returns how many of them,
	// from the first, are applied durably. When it returns an error,
	// evs[n] is the event that failed: an error for which
	// event.Retryable holds is retried from evs[n], any other sends
	// evs[n] to the DLQ at once (as Handler.Handle). n < len(evs) then.
	HandleBatch(ctx context.Context, pos []Position, evs []event.Event) (n int, err error)
}

// BatchSubscriber delivers a partition's messages in batches: each batch
// holds what was fetched and waiting, in order, and the next batch of the
// partition comes only after this one is acknowledged. Subscriber is one.
type BatchSubscriber interface {
	SubscribeBatches(ctx context.Context, topic string) (<-chan *Batch, error)
}

// Batch is consecutive records of one partition.
type Batch struct {
	recs []*received
	once sync.Once
	done chan bool // true: acknowledged; false: deliver again
}

func newBatch(recs []*received) *Batch {
	return &Batch{recs: recs, done: make(chan bool, 1)}
}

// Messages returns the batch's records as watermill messages (Event and
// PositionOf read them), made on the first call; a redelivered batch
// returns the same messages. Their metadata may be shared with the
// process's other subscriptions: read it, do not change it.
func (b *Batch) Messages() []*message.Message {
	msgs := make([]*message.Message, len(b.recs))
	for i, d := range b.recs {
		msgs[i] = d.message()
	}
	return msgs
}

// Ack reports every message of the batch consumed.
func (b *Batch) Ack() { b.once.Do(func() { b.done <- true }) }

// Nack asks for the batch again (after the subscriber's back-off).
func (b *Batch) Nack() { b.once.Do(func() { b.done <- false }) }

// runBatches is Run over a batch subscriber: a batch's events go to the
// handler together, and the batch is acknowledged once every event in it
// is applied or parked in the DLQ.
func (c *Consumer) runBatches(ctx context.Context, bs BatchSubscriber, log *slog.Logger, backoff time.Duration) error {
	batches, err := bs.SubscribeBatches(ctx, c.Topic)
	if err != nil {
		return fmt.Errorf("consumer %s: subscribe %s: %w", c.Name, c.Topic, err)
	}
	health := c.health()
	for b := range batches {
		if err := c.handleBatch(ctx, b.recs, log, backoff); err != nil {
			b.Nack() // shutting down
			continue
		}
		if len(b.recs) > 0 {
			health.Progressed(c.Name, b.recs[0].pos.Topic, b.recs[0].pos.Partition)
		}
		b.Ack()
	}
	return ctx.Err()
}

// handleBatch applies recs in order, parking bad ones, retrying failures
// until they succeed; it returns an error only when ctx ends.
func (c *Consumer) handleBatch(ctx context.Context, recs []*received, log *slog.Logger, backoff time.Duration) error {
	pos := make([]Position, len(recs))
	evs := make([]event.Event, len(recs))
	bad := make([]error, len(recs))
	for i, d := range recs {
		pos[i] = d.pos
		evs[i], bad[i] = d.event()
	}
	health := c.health()
	retry := func(i int, err error) error {
		if c.OnError != nil {
			c.OnError(false)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		health.Failed(c.Name, pos[i].Topic, pos[i].Partition, pos[i].Offset, err)
		log.Warn("consumer: will retry", "partition", pos[i].Partition, "offset", pos[i].Offset, "err", err)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		return nil
	}
	for i := 0; i < len(recs); {
		if bad[i] != nil && event.Retryable(bad[i]) {
			// The key store could not open the event yet: the event is
			// not at fault, so it waits rather than go to the DLQ.
			if rerr := retry(i, bad[i]); rerr != nil {
				return rerr
			}
			evs[i], bad[i] = recs[i].event()
			continue
		}
		if bad[i] == nil && evs[i].Erased {
			// The learner's data key is destroyed: nothing of the event
			// may be applied, and the offset moves on.
			if err := c.Handler.Skip(ctx, pos[i]); err != nil {
				if rerr := retry(i, event.Transient(fmt.Errorf("step past an erased event: %w", err))); rerr != nil {
					return rerr
				}
				continue
			}
			SkipErased(pos[i].Topic)
			i++
			continue
		}
		if bad[i] != nil {
			if err := c.park(ctx, pos[i], recs[i].message(), bad[i]); err != nil {
				if rerr := retry(i, err); rerr != nil {
					return rerr
				}
				continue
			}
			i++
			continue
		}
		j := i
		for j < len(recs) && bad[j] == nil && !evs[j].Erased {
			j++
		}
		n, err := c.apply(ctx, pos[i:j], evs[i:j])
		if err != nil && n >= j-i {
			// A handler must name the event that failed; one that counts
			// them all applied gets its last again.
			n = j - i - 1
		}
		i += n
		if err == nil {
			continue
		}
		if !event.Retryable(err) {
			if perr := c.park(ctx, pos[i], recs[i].message(), err); perr != nil {
				if rerr := retry(i, perr); rerr != nil {
					return rerr
				}
				continue
			}
			i++
			continue
		}
		if rerr := retry(i, err); rerr != nil {
			return rerr
		}
	}
	return nil
}

// apply hands a run of decoded events to the handler, all at once when it
// can take them.
func (c *Consumer) apply(ctx context.Context, pos []Position, evs []event.Event) (int, error) {
	if ba, ok := c.Handler.(BatchApplier); ok {
		return ba.HandleBatch(ctx, pos, evs)
	}
	for i := range evs {
		if err := c.Handler.Handle(ctx, pos[i], evs[i]); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}
