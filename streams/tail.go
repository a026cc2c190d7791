package streams

import (
	"context"
	"log/slog"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"
)

// Shared fetch. Every role of a process subscribes to the statements topic
// (and a few others) on its own, and each subscription used to fetch every
// partition with its own reader: the broker answered the same fetch once
// per role, and each reader parsed the same record batches into messages
// of its own, which was a tenth of a serve's CPU and a third of what it
// allocated. A partition's subscriptions now share one reader, the
// partition's tail: it fetches the partition once and keeps a window of
// the latest messages, and each subscription reads the window with a
// cursor of its own.
//
// A subscription never waits for another: the tail fetches as fast as the
// broker answers and forgets the oldest messages once the window is full,
// whatever the cursors' positions. A cursor that falls behind the window
// (a lagging role, a replay) reads on with a reader of its own, and goes
// back to the tail once it is in the window's newer half again. One ahead
// of the tail (the tail was started by a cursor further back) moves the
// tail forward; the cursors it leaves behind read on their own.
//
// Messages in the window are shared by the cursors: no consumer may change
// a fetched message (fromKafka copies what it changes).

// tailWindowBytes bounds a tail's window: at 4,000 statements/s spread
// over 4 partitions, about 1.3 s of input per partition. Partitions of
// quiet topics hold a few messages.
var tailWindowBytes = 2 << 20

// tailJump is how far ahead of the tail a cursor must be before the tail
// jumps to it instead of fetching its way there.
const tailJump = 4096

var tailReaders = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_subscriber_readers",
	Help: "Partition readers open: shared (one per partition a process subscribes to, feeding every role) and private (a subscription behind its partition's shared window, reading on its own).",
}, []string{"kind"})

var tailPrivateOpened = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_subscriber_private_readers_opened_total",
	Help: "Private partition readers opened, by topic: a subscription fell behind its partition's shared window (or started before the partition's first message) and read on its own.",
}, []string{"topic"})

// readerOpts is how a partition is fetched.
type readerOpts struct {
	brokers   []string
	topic     string
	partition int
}

func (o readerOpts) open(start int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   o.brokers,
		Dialer:    Dialer(o.brokers),
		Topic:     o.topic,
		Partition: o.partition,
		MinBytes:  1,
		MaxBytes:  FetchMaxBytes,
		MaxWait:   200 * time.Millisecond,
	})
	if err := r.SetOffset(start); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

type tailKey struct {
	brokers   string
	topic     string
	partition int
}

// tailSet keeps the process's tails, one per partition with a cursor open.
type tailSet struct {
	mu sync.Mutex
	m  map[tailKey]*tail
}

var tails = &tailSet{m: map[tailKey]*tail{}}

// open returns a cursor on the partition, to read from start (an offset,
// or kafka.FirstOffset: the partition's first message). Close it.
func (s *tailSet) open(o readerOpts, start int64, log *slog.Logger) *tailCursor {
	k := tailKey{strings.Join(o.brokers, ","), o.topic, o.partition}
	s.mu.Lock()
	t := s.m[k]
	if t == nil {
		t = &tail{opts: o, log: log, pos: map[*tailCursor]int64{}, wake: make(chan struct{})}
		s.m[k] = t
	}
	t.refs++
	s.mu.Unlock()
	c := &tailCursor{set: s, key: k, t: t, next: start}
	// Held from now on: what the cursor has yet to read stays in the
	// window while the others read on.
	t.mu.Lock()
	if !t.started || start >= t.lo {
		t.pos[c] = start
	}
	t.mu.Unlock()
	return c
}

// release drops a cursor's reference; the last one stops the tail.
func (s *tailSet) release(k tailKey, t *tail) {
	s.mu.Lock()
	t.refs--
	last := t.refs == 0
	if last {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if last {
		t.stop()
	}
}

// tail is one partition's shared reader and its window.
type tail struct {
	opts readerOpts
	log  *slog.Logger
	refs int // guarded by tailSet.mu

	mu   sync.Mutex
	msgs []kafka.Message       // the window, in offset order
	size int                   // bytes of msgs
	pos  map[*tailCursor]int64 // the next offset of each cursor reading the tail
	// started is set by the first cursor to read, at its offset. lo is
	// the first offset the tail has every message from (msgs and what it
	// fetches next); next is the offset after the last fetched. Both are
	// kafka.FirstOffset (below every offset) when the tail starts from the
	// partition's first message, until it forgets or fetches one.
	started   bool
	lo, next  int64
	moving    bool // the reader is to move to want
	want      int64
	wake      chan struct{} // closed when messages arrive or the tail moves
	stopFetch context.CancelFunc
	cancel    context.CancelFunc
	done      chan struct{}
}

// startAt starts the tail's reader at offset (t.mu held).
func (t *tail) startAt(offset int64) {
	t.started = true
	t.position(offset)
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	tailReaders.WithLabelValues("shared").Inc()
	// Its own label in profiles (docs/operations.md, "Profiles"): the
	// tail serves every consumer of the partition, not the one whose
	// cursor happened to start it.
	go pprof.Do(ctx, pprof.Labels("role", "fetch"), t.run)
}

// moveTo moves the running reader to offset (t.mu held).
func (t *tail) moveTo(offset int64) {
	t.position(offset)
	if t.stopFetch != nil {
		t.stopFetch()
	}
	t.notify()
}

// position empties the window and asks the reader to move to offset
// (t.mu held).
func (t *tail) position(offset int64) {
	clear(t.msgs)
	t.msgs, t.size = t.msgs[:0], 0
	t.lo, t.next, t.want, t.moving = offset, offset, offset, true
}

// index is where the first message at or after offset is in the window
// (t.mu held).
func (t *tail) index(offset int64) int {
	return sort.Search(len(t.msgs), func(i int) bool { return t.msgs[i].Offset >= offset })
}

func (t *tail) notify() {
	close(t.wake)
	t.wake = make(chan struct{})
}

func (t *tail) stop() {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
		tailReaders.WithLabelValues("shared").Dec()
	}
}

// run fetches the partition into the window until the tail stops.
func (t *tail) run(ctx context.Context) {
	defer close(t.done)
	log := t.log.With("topic", t.opts.topic, "partition", t.opts.partition)
	var r *kafka.Reader
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	for {
		t.mu.Lock()
		want, move := t.want, t.moving
		t.moving = false
		fctx, interrupt := context.WithCancel(ctx)
		t.stopFetch = interrupt
		t.mu.Unlock()
		if move {
			var err error
			if r == nil {
				r, err = t.opts.open(want)
			} else {
				err = r.SetOffset(want)
			}
			if err != nil {
				interrupt()
				log.Error("subscriber: shared reader: set offset", "offset", want, "err", err)
				t.mu.Lock()
				if !t.moving {
					t.want, t.moving = want, true
				}
				t.mu.Unlock()
				if !sleep(ctx, time.Second) {
					return
				}
				continue
			}
		}
		km, err := r.FetchMessage(fctx)
		interrupt()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return
			case fctx.Err() != nil: // moved: take the new position
			default:
				log.Warn("subscriber: fetch", "err", err)
				if !sleep(ctx, time.Second) {
					return
				}
			}
			continue
		}
		t.append(km)
	}
}

// append adds a fetched message to the window, forgetting the oldest past
// tailWindowBytes (the newest always stays): a cursor that far behind
// reads on its own.
func (t *tail) append(km kafka.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.moving || km.Offset < t.next {
		return // fetched before a move, or again
	}
	t.msgs = append(t.msgs, km)
	t.size += windowSize(km)
	t.next = km.Offset + 1
	for t.size > tailWindowBytes && len(t.msgs) > 1 {
		t.dropFirst()
	}
	t.notify()
}

// windowSize is what a message holds in the window: its bytes, the
// message and its headers.
func windowSize(km kafka.Message) int {
	return messageSize(km) + 160 + 48*len(km.Headers)
}

// dropFirst forgets the window's oldest message (t.mu held).
func (t *tail) dropFirst() {
	t.size -= windowSize(t.msgs[0])
	t.lo = t.msgs[0].Offset + 1
	t.msgs[0] = kafka.Message{}
	t.msgs = t.msgs[1:]
}

// forgetRead forgets the messages every cursor on the tail has read, so
// that while the subscriptions keep pace the window holds only the
// stretch between the slowest and the fastest (t.mu held).
func (t *tail) forgetRead() {
	if len(t.msgs) == 0 {
		return
	}
	low := t.next
	for _, p := range t.pos {
		low = min(low, p)
	}
	for len(t.msgs) > 0 && t.msgs[0].Offset < low {
		t.dropFirst()
	}
}

// read returns the first message at or after c.next, waiting for the tail
// to fetch it; ok is false when c.next is behind the window (read it
// elsewhere).
func (t *tail) read(ctx context.Context, c *tailCursor) (km kafka.Message, ok bool, err error) {
	offset := c.next
	t.mu.Lock()
	for {
		switch {
		case !t.started:
			t.startAt(offset)
		case offset < t.lo:
			delete(t.pos, c)
			t.forgetRead()
			t.mu.Unlock()
			return kafka.Message{}, false, nil
		case offset > t.next+tailJump:
			t.moveTo(offset)
		case offset < t.next:
			km = t.msgs[t.index(offset)] // offset >= lo, and next is past the last message
			prev, held := t.pos[c]
			t.pos[c] = km.Offset + 1
			if !held || prev <= t.msgs[0].Offset {
				// Only the cursor holding the oldest message frees any.
				t.forgetRead()
			}
			t.mu.Unlock()
			return km, true, nil
		}
		t.pos[c] = offset
		wake := t.wake
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return kafka.Message{}, false, ctx.Err()
		}
		t.mu.Lock()
	}
}

// rejoin says whether a cursor reading on its own at offset should read
// from the tail again: the tail has not started (the cursor starts it
// there), or offset is in the window's newer half or beyond it. A cursor
// just inside the window's older end would fall out of it again at once
// while the tail fetches faster than the cursor reads (a replay of a long
// log), and each fall opens a reader.
func (t *tail) rejoin(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started || offset >= t.next {
		return true
	}
	if offset < t.lo {
		return false
	}
	return t.index(offset) >= len(t.msgs)/2
}

// leave forgets a closed cursor's position.
func (t *tail) leave(c *tailCursor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pos, c)
	t.forgetRead()
}

// tailCursor is one subscription's position on a partition: it reads the
// partition's tail, or a reader of its own while behind it.
type tailCursor struct {
	set     *tailSet
	key     tailKey
	t       *tail
	next    int64 // the next offset to read; kafka.FirstOffset before the first
	private *kafka.Reader
}

// FetchMessage returns the partition's next message.
func (c *tailCursor) FetchMessage(ctx context.Context) (kafka.Message, error) {
	if c.private == nil && c.next != kafka.LastOffset {
		km, ok, err := c.t.read(ctx, c)
		if err != nil {
			return kafka.Message{}, err
		}
		if ok {
			c.next = km.Offset + 1
			return km, nil
		}
	}
	if c.private == nil {
		r, err := c.t.opts.open(c.next)
		if err != nil {
			return kafka.Message{}, err
		}
		c.private = r
		tailReaders.WithLabelValues("private").Inc()
		tailPrivateOpened.WithLabelValues(c.t.opts.topic).Inc()
	}
	km, err := c.private.FetchMessage(ctx)
	if err != nil {
		return kafka.Message{}, err
	}
	c.next = km.Offset + 1
	if c.t.rejoin(c.next) {
		c.closePrivate()
	}
	return km, nil
}

func (c *tailCursor) closePrivate() {
	if c.private != nil {
		c.private.Close()
		c.private = nil
		tailReaders.WithLabelValues("private").Dec()
	}
}

// Close ends the cursor (the tail too, when it was the last).
func (c *tailCursor) Close() {
	c.closePrivate()
	c.t.leave(c)
	c.set.release(c.key, c.t)
}
