package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
	// ResumeFromGroup starts a partition at the group's committed offset
	// (where its previous owner got to) when Offsets has no state for it,
	// instead of the log's beginning, or state older than that offset:
	// for consumers whose effect goes outside the process (webhook
	// deliveries), a partition moving between members must not be done
	// again from where this member last was.
	ResumeFromGroup bool
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to others.
	SessionTimeout time.Duration
	// CommitInterval is how often acknowledged offsets are committed to the
	// group (for lag monitoring and for consumers without an OffsetStore).
	CommitInterval time.Duration
	// NackBackoff is the pause before a nacked message is redelivered.
	NackBackoff time.Duration
	// MaxBatch bounds the messages of one partition SubscribeBatches
	// delivers at once (default 500).
	MaxBatch int
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
	// verify checks every record's signature (nil: no check).
	verify *verifier
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
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{cfg: cfg, ctx: ctx, cancel: cancel, verify: verifierFor(cfg.Brokers)}, nil
}

// Subscribe starts consuming topic. The channel closes when ctx ends or the
// subscriber is closed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	err := s.start(ctx, topic, func() { close(out) }, func(ctx context.Context, kms []kafka.Message) int {
		if !s.deliver(ctx, kms[0], out) {
			return 0
		}
		return 1
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubscribeBatches starts consuming topic in batches: each holds a
// partition's messages fetched and waiting (at most MaxBatch), and the
// partition's next batch comes after this one is acknowledged. The channel
// closes when ctx ends or the subscriber is closed.
func (s *Subscriber) SubscribeBatches(ctx context.Context, topic string) (<-chan *Batch, error) {
	out := make(chan *Batch)
	err := s.start(ctx, topic, func() { close(out) }, func(ctx context.Context, kms []kafka.Message) int {
		if !s.deliverBatch(ctx, kms, out) {
			return 0
		}
		return len(kms)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deliverFunc hands the first messages of kms to the consumer and returns
// how many were acknowledged (0 on shutdown).
type deliverFunc func(ctx context.Context, kms []kafka.Message) int

func (s *Subscriber) start(ctx context.Context, topic string, closeOut func(), deliver deliverFunc) error {
	if err := s.ctx.Err(); err != nil {
		return errors.New("subscriber: closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer closeOut()
		defer stop()
		defer cancel()
		if s.cfg.Group == "" {
			s.runDirect(ctx, topic, deliver)
		} else {
			s.runGroup(ctx, topic, deliver)
		}
	}()
	return nil
}

// Close stops every subscription and waits for their goroutines.
func (s *Subscriber) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Subscriber) runDirect(ctx context.Context, topic string, deliver deliverFunc) {
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
			s.consumePartition(ctx, topic, p, kafka.FirstOffset, deliver, nil)
		}()
	}
	wg.Wait()
}

func (s *Subscriber) runGroup(ctx context.Context, topic string, deliver deliverFunc) {
	for ctx.Err() == nil {
		group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                    s.cfg.Group,
			Brokers:               s.cfg.Brokers,
			Dialer:                Dialer(s.cfg.Brokers),
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
		s.consumeGenerations(ctx, group, topic, deliver)
		s.setAssigned(topic, nil)
		group.Close()
	}
}

func (s *Subscriber) consumeGenerations(ctx context.Context, group *kafka.ConsumerGroup, topic string, deliver deliverFunc) {
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
				s.consumePartition(pctx, topic, a.ID, a.Offset, deliver, gen)
			})
		}
	}
}

// consumePartition delivers one partition's messages in order, one in
// flight, from the consumer's own offset if it has one.
func (s *Subscriber) consumePartition(ctx context.Context, topic string, partition int, start int64,
	deliver deliverFunc, gen *kafka.Generation) {
	log := s.cfg.Logger.With("topic", topic, "partition", partition)
	if s.cfg.Offsets != nil {
		for {
			off, ok, err := s.cfg.Offsets.NextOffset(ctx, topic, partition)
			if err == nil {
				switch {
				case ok && s.cfg.ResumeFromGroup && gen != nil && start > off:
					// Another member went further since this one last
					// owned the partition: what it did is done.
				case ok:
					start = off
				case s.cfg.ResumeFromGroup && gen != nil:
					// start stays the group's committed offset.
				default:
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
	if start >= 0 && !s.waitForLog(ctx, log, topic, partition, start) {
		return
	}
	// The partition's subscriptions in this process share one reader
	// (tail.go).
	r := tails.open(readerOpts{brokers: s.cfg.Brokers, topic: topic, partition: partition}, start, s.cfg.Logger)
	defer r.Close()
	// Counted among the partition's readers: the other subscriptions of
	// the process keep what they decode for this one (receivedCache).
	defer records.reading(s.verify, topic, partition)()

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

	// A fetcher keeps a buffer of fetched messages, so that delivery can
	// take everything waiting as one batch without blocking.
	buf := make(chan kafka.Message, s.cfg.MaxBatch)
	fetchDone := make(chan struct{})
	defer func() { <-fetchDone }()
	go func() {
		defer close(fetchDone)
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
			select {
			case buf <- km:
			case <-ctx.Done():
				return
			}
		}
	}()

	var pending []kafka.Message
	for {
		if len(pending) == 0 {
			select {
			case km := <-buf:
				pending = append(pending, km)
			case <-ctx.Done():
				return
			}
		}
	fill:
		for len(pending) < s.cfg.MaxBatch {
			select {
			case km := <-buf:
				pending = append(pending, km)
			default:
				break fill
			}
		}
		n := deliver(ctx, pending)
		if n == 0 {
			return
		}
		mu.Lock()
		acked = pending[n-1].Offset
		mu.Unlock()
		pending = append(pending[:0], pending[n:]...)
	}
}

// deliverBatch hands kms to the consumer as one batch until it is acked;
// false on shutdown.
func (s *Subscriber) deliverBatch(ctx context.Context, kms []kafka.Message, out chan<- *Batch) bool {
	// Decoded (and their signatures checked) once; a redelivery sends
	// the same records again.
	recs := make([]*received, len(kms))
	for i, km := range kms {
		recs[i] = newReceived(ctx, km, s.verify)
	}
	for {
		b := newBatch(recs)
		select {
		case out <- b:
		case <-ctx.Done():
			return false
		}
		select {
		case ok := <-b.done:
			if ok {
				return true
			}
			if !sleep(ctx, s.cfg.NackBackoff) {
				return false
			}
		case <-ctx.Done():
			return false
		}
	}
}

var beyondEnd = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_consumer_offset_beyond_log_end",
	Help: "Offsets by which a consumer's next offset is beyond its partition's log end: the log lost events the consumer had read, and it waits instead of consuming.",
}, []string{"topic", "partition"})

var stalled struct {
	sync.Mutex
	m map[string]string
}

// StalledPartitions describes the partitions whose consumers wait because
// their offset is beyond the log end, for readiness checks.
func StalledPartitions() []string {
	stalled.Lock()
	defer stalled.Unlock()
	out := make([]string, 0, len(stalled.m))
	for _, v := range stalled.m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func setStalled(key, reason string) {
	stalled.Lock()
	defer stalled.Unlock()
	if stalled.m == nil {
		stalled.m = map[string]string{}
	}
	if reason == "" {
		delete(stalled.m, key)
	} else {
		stalled.m[key] = reason
	}
}

// waitForLog holds a partition whose start offset is beyond the log end
// (see holdBeyondEnd); false on shutdown.
func (s *Subscriber) waitForLog(ctx context.Context, log *slog.Logger, topic string, partition int, start int64) bool {
	return holdBeyondEnd(ctx, log, s.cfg.Brokers, fmt.Sprint(s), fmt.Sprintf("%p", s), topic, partition, start)
}

// holdBeyondEnd holds a consumer's partition whose start offset is beyond
// the log end: reading from there would skip every event written below
// it, and kafka-go would wait there without a word. It reports the loss
// loudly (log, metric, readiness) and checks again until the log reaches
// the offset (a lagging replica came back) or ctx ends; false on shutdown.
// who names the consumer, id tells its instances apart.
func holdBeyondEnd(ctx context.Context, log *slog.Logger, brokers []string, who, id, topic string, partition int, start int64) bool {
	key := fmt.Sprintf("%s/%d/%s", topic, partition, id)
	defer setStalled(key, "")
	for n := 0; ; n++ {
		ends, err := EndOffsets(ctx, brokers, topic)
		if err != nil {
			// The fetch loop reports an unreachable broker; nothing is
			// known to be lost.
			return ctx.Err() == nil
		}
		end, ok := ends[partition]
		if !ok || start <= end {
			beyondEnd.DeleteLabelValues(topic, strconv.Itoa(partition))
			return true
		}
		reason := fmt.Sprintf("%s partition %d: %s would resume at offset %d but the log ends at %d: the log lost %d event(s) it had read; "+
			"restart with --on-log-loss=rebuild to rebuild from what the log holds (see docs/operations.md)", topic, partition, who, start, end, start-end)
		setStalled(key, reason)
		beyondEnd.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(start - end))
		if n%12 == 0 {
			log.Error("consumer offset beyond the log end; not consuming this partition", "next_offset", start, "log_end", end,
				"hint", "restart with --on-log-loss=rebuild (docs/operations.md)")
		}
		if !sleep(ctx, 5*time.Second) {
			return false
		}
	}
}

// deliver hands km to the consumer until it is acked; false on shutdown.
func (s *Subscriber) deliver(ctx context.Context, km kafka.Message, out chan<- *message.Message) bool {
	// Converted (and its signature checked) once; a watermill message
	// acks or nacks only once, so a redelivery sends a copy.
	m := fromKafka(ctx, km, s.verify)
	for {
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
			// Decoded (and opened) again: an open that failed for want
			// of the key store may succeed now.
			m = fromKafka(ctx, km, s.verify)
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
