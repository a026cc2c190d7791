package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"
)

// OffsetStore is implemented by consumers that keep their input offsets
// with their own state (projections write both in one transaction). The
// subscriber then starts each partition where the consumer's state ends,
// not where the group's committed offset says.
type OffsetStore interface {
	// NextOffset returns the next offset to read, or ok=false when the
	// consumer has no state for the partition yet.
	NextOffset(ctx context.Context, topic string, partition int) (offset int64, ok bool, err error)
}

// SubscriberConfig configures a kafka-go consumer.
type SubscriberConfig struct {
	Brokers []string
	// Group is the consumer group; members of a group split the partitions.
	// Empty means this subscriber reads every partition itself, which is
	// right when one process owns all state (the embedded broker) and
	// avoids waiting out a crashed member's session on restart.
	Group string
	// Offsets, when set, decides where each assigned partition starts.
	Offsets OffsetStore
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to others.
	SessionTimeout time.Duration
	// CommitInterval is how often acknowledged offsets are committed to the
	// group (for lag monitoring and for consumers without an OffsetStore).
	CommitInterval time.Duration
	// NackBackoff is the pause before a nacked message is redelivered.
	NackBackoff time.Duration
	// MaxMessageBytes is the largest message expected (0: the default
	// producer limit); fetches are sized so that one always fits.
	MaxMessageBytes int
	Logger          *slog.Logger
}

// Subscriber is a watermill message.Subscriber over kafka-go. Each
// partition has at most one message in flight: the next is delivered after
// the previous is acked, so per-key order holds. A nacked message is
// redelivered after NackBackoff.
type Subscriber struct {
	cfg    SubscriberConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	assigned map[string][]int // topic -> partitions this member owns now
}

// Assigned returns the partitions of topic this subscriber reads now (all of
// them without a group; the group's assignment otherwise).
func (s *Subscriber) Assigned(topic string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.assigned[topic])
}

func (s *Subscriber) setAssigned(topic string, parts []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assigned == nil {
		s.assigned = map[string][]int{}
	}
	s.assigned[topic] = slices.Clone(parts)
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber validates cfg and returns a subscriber.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("subscriber: no brokers")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.NackBackoff <= 0 {
		cfg.NackBackoff = 500 * time.Millisecond
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// Subscribe starts consuming topic. The channel closes when ctx ends or the
// subscriber is closed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, errors.New("subscriber: closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer stop()
		defer cancel()
		if s.cfg.Group == "" {
			s.runDirect(ctx, topic, out)
		} else {
			s.runGroup(ctx, topic, out)
		}
	}()
	return out, nil
}

// Close stops every subscription and waits for their goroutines.
func (s *Subscriber) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Subscriber) runDirect(ctx context.Context, topic string, out chan<- *message.Message) {
	var parts []int
	for {
		var err error
		parts, err = Partitions(ctx, s.cfg.Brokers, topic)
		if err == nil {
			break
		}
		s.cfg.Logger.Warn("subscriber: waiting for topic metadata", "topic", topic, "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	s.setAssigned(topic, parts)
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.consumePartition(ctx, topic, p, kafka.FirstOffset, out, nil)
		}()
	}
	wg.Wait()
}

func (s *Subscriber) runGroup(ctx context.Context, topic string, out chan<- *message.Message) {
	for ctx.Err() == nil {
		group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                    s.cfg.Group,
			Brokers:               s.cfg.Brokers,
			Topics:                []string{topic},
			SessionTimeout:        s.cfg.SessionTimeout,
			RebalanceTimeout:      s.cfg.SessionTimeout,
			HeartbeatInterval:     s.cfg.SessionTimeout / 5,
			WatchPartitionChanges: true,
			StartOffset:           kafka.FirstOffset,
			JoinGroupBackoff:      time.Second,
		})
		if err != nil {
			s.cfg.Logger.Error("subscriber: consumer group", "group", s.cfg.Group, "err", err)
			return
		}
		s.consumeGenerations(ctx, group, topic, out)
		s.setAssigned(topic, nil)
		group.Close()
	}
}

func (s *Subscriber) consumeGenerations(ctx context.Context, group *kafka.ConsumerGroup, topic string, out chan<- *message.Message) {
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("subscriber: next generation", "group", s.cfg.Group, "err", err)
			}
			return
		}
		assigned := gen.Assignments[topic]
		ids := make([]int, len(assigned))
		for i, a := range assigned {
			ids[i] = a.ID
		}
		s.setAssigned(topic, ids)
		s.cfg.Logger.Info("subscriber: partitions assigned", "group", s.cfg.Group, "topic", topic,
			"generation", gen.ID, "partitions", ids)
		for _, a := range assigned {
			gen.Start(func(gctx context.Context) {
				// The generation's context ends on rebalance; ours on shutdown.
				pctx, cancel := context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(gctx, cancel)
				defer stop()
				s.consumePartition(pctx, topic, a.ID, a.Offset, out, gen)
			})
		}
	}
}

// consumePartition delivers one partition's messages in order, one in
// flight, from the consumer's own offset if it has one.
func (s *Subscriber) consumePartition(ctx context.Context, topic string, partition int, start int64,
	out chan<- *message.Message, gen *kafka.Generation) {
	log := s.cfg.Logger.With("topic", topic, "partition", partition)
	if s.cfg.Offsets != nil {
		for {
			off, ok, err := s.cfg.Offsets.NextOffset(ctx, topic, partition)
			if err == nil {
				if ok {
					start = off
				} else {
					start = kafka.FirstOffset
				}
				break
			}
			log.Error("subscriber: reading stored offset", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
		}
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   s.cfg.Brokers,
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  max(16<<20, TopicMessageBytes(s.cfg.MaxMessageBytes)),
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		log.Error("subscriber: set offset", "offset", start, "err", err)
		return
	}

	var mu sync.Mutex
	acked := int64(-1)
	if gen != nil {
		commitDone := make(chan struct{})
		defer func() { <-commitDone }()
		go func() {
			defer close(commitDone)
			last := int64(-1)
			commit := func() {
				mu.Lock()
				a := acked
				mu.Unlock()
				if a > last {
					if err := gen.CommitOffsets(map[string]map[int]int64{topic: {partition: a + 1}}); err != nil {
						log.Warn("subscriber: commit offset", "offset", a+1, "err", err)
						return
					}
					last = a
				}
			}
			t := time.NewTicker(s.cfg.CommitInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					commit()
					return
				case <-t.C:
					commit()
				}
			}
		}()
	}

	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("subscriber: fetch", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if !s.deliver(ctx, km, out) {
			return
		}
		mu.Lock()
		acked = km.Offset
		mu.Unlock()
	}
}

// deliver hands km to the consumer until it is acked; false on shutdown.
func (s *Subscriber) deliver(ctx context.Context, km kafka.Message, out chan<- *message.Message) bool {
	for {
		m := fromKafka(km)
		m.SetContext(ctx)
		select {
		case out <- m:
		case <-ctx.Done():
			return false
		}
		select {
		case <-m.Acked():
			return true
		case <-m.Nacked():
			if !sleep(ctx, s.cfg.NackBackoff) {
				return false
			}
		case <-ctx.Done():
			return false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// String describes the subscriber for logs.
func (s *Subscriber) String() string {
	if s.cfg.Group == "" {
		return "subscriber(all partitions)"
	}
	return fmt.Sprintf("subscriber(group %s)", s.cfg.Group)
}
