package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/learnstream/learnstream/domain/event"
)

// batchFeed is a BatchSubscriber whose batches the test sends.
type batchFeed struct{ ch chan *Batch }

func (f batchFeed) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	return nil, errors.New("batches only")
}
func (f batchFeed) Close() error { return nil }
func (f batchFeed) SubscribeBatches(context.Context, string) (<-chan *Batch, error) {
	return f.ch, nil
}

// runs records the runs of positions a consumer handed its handler.
type runs struct {
	mu    sync.Mutex
	calls [][]Position
}

func (r *runs) Handle(ctx context.Context, pos Position, e event.Event) error {
	_, err := r.HandleBatch(ctx, []Position{pos}, []event.Event{e})
	return err
}
func (r *runs) Skip(context.Context, Position) error { return nil }
func (r *runs) HandleBatch(_ context.Context, pos []Position, evs []event.Event) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, slices.Clone(pos))
	return len(evs), nil
}

func (r *runs) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, c := range r.calls {
		out = append(out, len(c))
	}
	return out
}

// partitionBatch is a batch of n events of partition p from offset from.
func partitionBatch(t *testing.T, p, from, n int) *Batch {
	t.Helper()
	msgs := make([]*message.Message, n)
	for i := range msgs {
		e, err := event.New(fmt.Sprintf("p%d-%d", p, from+i), "test.event.v1", "test", "t", "k", time.Now(), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		m := NewMessage(e)
		m.Metadata.Set(MetaTopic, "topic")
		m.Metadata.Set(MetaPartition, strconv.Itoa(p))
		m.Metadata.Set(MetaOffset, strconv.Itoa(from+i))
		msgs[i] = m
	}
	return newBatch(msgs)
}

// acked waits for b's acknowledgement.
func acked(t *testing.T, b *Batch) {
	t.Helper()
	select {
	case ok := <-b.done:
		if !ok {
			t.Fatal("batch asked for again")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("batch not acknowledged")
	}
}

// A consumer hands the batches of other partitions that are waiting when
// it takes one to its handler with it, as one run, and acknowledges each
// batch once its events are applied; a batch that comes later is a run
// of its own.
func TestConsumerMergesPartitionBatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		late bool // the third batch comes after the others were applied
		want []int
	}{
		{name: "waiting batches go together", want: []int{6}},
		{name: "a late batch goes alone", late: true, want: []int{4, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := batchFeed{ch: make(chan *Batch, 8)}
			h := &runs{}
			c := &Consumer{Name: "merge", Subscriber: feed, Topic: "topic", Handler: h, DLQ: dropDLQ{}, Health: NewHealth()}
			bs := []*Batch{partitionBatch(t, 0, 0, 3), partitionBatch(t, 1, 10, 1), partitionBatch(t, 2, 5, 2)}
			feed.ch <- bs[0]
			feed.ch <- bs[1]
			if !tc.late {
				feed.ch <- bs[2]
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			first := 0
			if tc.late {
				acked(t, bs[0])
				acked(t, bs[1])
				first = 2
				feed.ch <- bs[2]
			}
			for _, b := range bs[first:] {
				acked(t, b)
			}
			if got := h.sizes(); !slices.Equal(got, tc.want) {
				t.Errorf("runs of %v events, want %v", got, tc.want)
			}
			// A run keeps each partition's events together and in order.
			for _, call := range h.calls {
				for i := 1; i < len(call); i++ {
					if call[i].Partition == call[i-1].Partition && call[i].Offset != call[i-1].Offset+1 {
						t.Errorf("run %v: partition %d out of order", call, call[i].Partition)
					}
				}
			}
			cancel()
			close(feed.ch)
			<-done
		})
	}
}

// A run that cannot be applied because the consumer stops asks for every
// batch in it again.
func TestConsumerMergedBatchesNackedOnShutdown(t *testing.T) {
	feed := batchFeed{ch: make(chan *Batch, 8)}
	block := make(chan struct{})
	h := &blocking{release: block, started: make(chan struct{})}
	c := &Consumer{Name: "merge", Subscriber: feed, Topic: "topic", Handler: h, DLQ: dropDLQ{}, RetryBackoff: time.Hour,
		Health: NewHealth()}
	bs := []*Batch{partitionBatch(t, 0, 0, 2), partitionBatch(t, 1, 0, 2)}
	for _, b := range bs {
		feed.ch <- b
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-h.started
	cancel()
	close(block)
	for i, b := range bs {
		select {
		case ok := <-b.done:
			if ok {
				t.Errorf("batch %d acknowledged, though its events failed", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("batch %d neither acknowledged nor asked for again", i)
		}
	}
	close(feed.ch)
	<-done
}

// blocking fails its first run with a transient error once released, so
// that the consumer retries after its back-off, which shutdown ends.
type blocking struct {
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

func (b *blocking) Handle(context.Context, Position, event.Event) error { return nil }
func (b *blocking) Skip(context.Context, Position) error                { return nil }
func (b *blocking) HandleBatch(context.Context, []Position, []event.Event) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return 0, event.Transient(errors.New("store unavailable"))
}

// dropDLQ is a DLQ the tests above never reach.
type dropDLQ struct{}

func (dropDLQ) Publish(string, ...*message.Message) error { return errors.New("no DLQ in this test") }
func (dropDLQ) Close() error                              { return nil }
