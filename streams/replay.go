package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Rebuilder is a projection generation being rebuilt from the log.
type Rebuilder interface {
	Handler
	OffsetStore
	// Finish swaps the rebuilt generation in once it has caught up with
	// the live one.
	Finish(ctx context.Context, topic string, partitions []int) error
	// Abandon drops the rebuilt generation.
	Abandon() error
}

// ReplayProgress reports a replay's advance over the events that were in
// the log when it started.
type ReplayProgress struct {
	Done, Total int64
}

// Replay feeds topic from offset 0 into target, reports progress, and swaps
// the new generation in when it has caught up. Events the live projection
// sent to the DLQ are skipped again, not sent twice. On error or
// cancellation the rebuilt generation is dropped and the live one stays.
func Replay(ctx context.Context, brokers []string, topic string, target Rebuilder, progress func(ReplayProgress), log *slog.Logger) (err error) {
	if log == nil {
		log = slog.Default()
	}
	defer func() {
		if err != nil {
			if aerr := target.Abandon(); aerr != nil {
				err = errors.Join(err, fmt.Errorf("abandon rebuild: %w", aerr))
			}
		}
	}()
	ends, err := EndOffsets(ctx, brokers, topic)
	if err != nil {
		return err
	}
	parts := make([]int, 0, len(ends))
	var total int64
	for p, end := range ends {
		parts = append(parts, p)
		total += end
	}
	// The swap waits for the rebuild to reach the live generation's
	// offsets; beyond the log end, it never would.
	if live, ok := target.(interface {
		LiveNextOffset(ctx context.Context, topic string, partition int) (int64, bool, error)
	}); ok {
		nexts := make(map[int]int64, len(ends))
		for p := range ends {
			if nexts[p], _, err = live.LiveNextOffset(ctx, topic, p); err != nil {
				return err
			}
		}
		// Ends taken after the live offsets: what the live projection
		// applied while serving is below them, so only a real loss shows.
		now, err := EndOffsets(ctx, brokers, topic)
		if err != nil {
			return err
		}
		var lost []string
		for p, next := range nexts {
			if end := now[p]; next > end {
				lost = append(lost, fmt.Sprintf("partition %d: read up to %d, the log ends at %d", p, next, end))
			}
		}
		if len(lost) > 0 {
			slices.Sort(lost)
			return fmt.Errorf("the live projection has read events the log no longer holds (%s): a replay could never catch up with it; "+
				"restart the server with --on-log-loss=rebuild to rebuild from what the log holds (docs/operations.md)", strings.Join(lost, "; "))
		}
	}
	sub, err := NewSubscriber(SubscriberConfig{Brokers: brokers, Offsets: target, Logger: log})
	if err != nil {
		return err
	}
	defer sub.Close()
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	cons := &Consumer{Name: "replay", Subscriber: sub, Topic: topic, Handler: target, DLQ: discard{}, Logger: log}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cons.Run(cctx)
	}()

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var done int64
		for p, end := range ends {
			next, _, err := target.NextOffset(ctx, topic, p)
			if err != nil {
				return err
			}
			done += min(next, end)
		}
		if progress != nil {
			progress(ReplayProgress{Done: done, Total: total})
		}
		if done >= total {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	// The live projection kept going meanwhile; Finish waits for the
	// rebuild to reach it (the rebuild consumer still runs) and swaps.
	return target.Finish(ctx, topic, parts)
}

// discard is the DLQ of a replay: the live projection already parked every
// poison event once.
type discard struct{}

func (discard) Publish(string, ...*message.Message) error { return nil }
func (discard) Close() error                              { return nil }
