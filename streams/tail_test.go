package streams_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// tailTopic creates a one-partition topic holding n events of about size
// bytes each.
func tailTopic(t *testing.T, c kafkatest.Cluster, n, size int) string {
	t.Helper()
	topic := kafkatest.Unique("ls.tail")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, c, topic, 0, n, size)
	return topic
}

func publishN(t *testing.T, c kafkatest.Cluster, topic string, from, n, size int) {
	t.Helper()
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pad := strings.Repeat("x", size)
	for i := from; i < from+n; i += 500 {
		var msgs []*message.Message
		for j := i; j < min(i+500, from+n); j++ {
			msgs = append(msgs, streams.NewMessage(newEvent(t, fmt.Sprintf("e%d", j), "k", fmt.Sprintf(`"%d %s"`, j, pad))))
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// readTail reads offsets from start to end (exclusive) and fails on any
// gap, repeat or disorder. pause, when set, is called after each message.
func readTail(ctx context.Context, cur streams.TailCursor, start, end int64, pause func(int64)) error {
	want := start
	for want < end {
		km, err := cur.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("at offset %d: %w", want, err)
		}
		if km.Offset != want {
			return fmt.Errorf("got offset %d, want %d", km.Offset, want)
		}
		if !strings.HasPrefix(string(km.Value), fmt.Sprintf(`"%d `, want)) {
			return fmt.Errorf("offset %d: value %.20q, want event %d's", want, km.Value, want)
		}
		want++
		if pause != nil {
			pause(km.Offset)
		}
	}
	return nil
}

// Subscriptions of a process reading a partition at different positions
// share one reader, and each gets every message from its position on, in
// order, including those published while they read.
func TestTailCursorsShareOneReader(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		topic := tailTopic(t, c, 300, 50)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		opened := streams.PrivateReadersOpened(topic)
		// The first cursor to read starts the tail where it is; cursors
		// behind that read on their own (TestTailSlowCursor).
		first := streams.OpenTailCursor(c.Brokers, topic, 0, 0)
		defer first.Close()
		if err := readTail(ctx, first, 0, 1, nil); err != nil {
			t.Fatal(err)
		}
		// Every cursor is open before any reads on: one opened after the
		// first had read past its start would be behind the window from
		// the outset.
		starts := []int64{1, 100, 250}
		cursors := []streams.TailCursor{first}
		for _, start := range starts[1:] {
			cur := streams.OpenTailCursor(c.Brokers, topic, 0, start)
			defer cur.Close()
			cursors = append(cursors, cur)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(starts))
		for i, start := range starts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- readTail(ctx, cursors[i], start, 400, nil)
			}()
		}
		time.Sleep(200 * time.Millisecond)
		publishN(t, c, topic, 300, 100, 50)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n := streams.PrivateReadersOpened(topic) - opened; n != 0 {
			t.Errorf("%d private readers opened; the three cursors were within one window", n)
		}
	})
	if n := streams.TailsOpen(); n != 0 {
		t.Errorf("%d tails still open after every cursor closed", n)
	}
	if shared, private := streams.TailReaders(); shared != 0 || private != 0 {
		t.Errorf("readers open after every cursor closed: %d shared, %d private", shared, private)
	}
}

// A slow subscription never holds the others. One that stops reading
// (stalled) falls behind the tail's window, which forgets what it has not
// read, and reads on with a reader of its own, in order, then comes back
// to the tail. One reading a long history more slowly than the tail
// fetches it (slower) falls behind a few times, not once per window (each
// fall opens a reader: a connection and a fetch).
func TestTailSlowCursor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		window, n int
		// pause runs after the slow cursor's message at off; fastDone is
		// closed once the fast cursor has read everything.
		pause              func(off int64, fastDone <-chan struct{})
		minOpened, maxOpen int
	}{
		{"stalled", 8 << 10, 2000, func(off int64, fastDone <-chan struct{}) {
			if off == 0 {
				<-fastDone
			}
		}, 1, 10},
		{"slower", 16 << 10, 5000, func(off int64, _ <-chan struct{}) {
			if off%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}, 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer streams.SetTailWindow(tc.window)()
			kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
				topic := tailTopic(t, c, tc.n, 100)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				opened := streams.PrivateReadersOpened(topic)
				slow := streams.OpenTailCursor(c.Brokers, topic, 0, 0)
				defer slow.Close()
				fast := streams.OpenTailCursor(c.Brokers, topic, 0, 0)
				defer fast.Close()
				fastDone := make(chan struct{})
				slowErr := make(chan error, 1)
				go func() {
					slowErr <- readTail(ctx, slow, 0, int64(tc.n), func(off int64) { tc.pause(off, fastDone) })
				}()
				if err := readTail(ctx, fast, 0, int64(tc.n), nil); err != nil {
					t.Fatalf("fast cursor: %v", err)
				}
				close(fastDone)
				if err := <-slowErr; err != nil {
					t.Fatalf("slow cursor: %v", err)
				}
				if got := streams.PrivateReadersOpened(topic) - opened; got < tc.minOpened || got > tc.maxOpen {
					t.Errorf("%d private readers opened over %d records, want %d to %d", got, tc.n, tc.minOpened, tc.maxOpen)
				}
				// Caught up, the slow cursor is back on the tail.
				publishN(t, c, topic, tc.n, 10, 100)
				if err := readTail(ctx, slow, int64(tc.n), int64(tc.n+10), nil); err != nil {
					t.Fatalf("slow cursor after catching up: %v", err)
				}
				if _, private := streams.TailReaders(); private != 0 {
					t.Errorf("%d private readers open after the slow cursor caught up", private)
				}
			})
		})
	}
}

// A cursor far ahead of the tail moves it forward rather than waiting for
// it to fetch its way there; the cursor left behind reads on its own.
func TestTailMovesToACursorAhead(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		const n = 6000
		topic := tailTopic(t, c, n, 10)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		behind := streams.OpenTailCursor(c.Brokers, topic, 0, 0)
		defer behind.Close()
		if err := readTail(ctx, behind, 0, 1, nil); err != nil {
			t.Fatal(err)
		}
		ahead := streams.OpenTailCursor(c.Brokers, topic, 0, n-10)
		defer ahead.Close()
		if err := readTail(ctx, ahead, n-10, n, nil); err != nil {
			t.Fatalf("cursor ahead: %v", err)
		}
		if err := readTail(ctx, behind, 1, n, nil); err != nil {
			t.Fatalf("cursor behind: %v", err)
		}
	})
}

// Cursors from the partition's first message (consumers with no stored
// offset, as every one of a new install) share the tail from there, on a
// partition with records and on one that gets its first later.
func TestTailCursorFromFirstOffset(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		for _, n := range []int{50, 0} {
			topic := tailTopic(t, c, n, 10)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			opened := streams.PrivateReadersOpened(topic)
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for range 2 {
				cur := streams.OpenTailCursor(c.Brokers, topic, 0, kafka.FirstOffset)
				defer cur.Close()
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- readTail(ctx, cur, 0, 60, nil)
				}()
			}
			time.Sleep(100 * time.Millisecond)
			publishN(t, c, topic, n, 60-n, 10)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("%d records first: %v", n, err)
				}
			}
			if got := streams.PrivateReadersOpened(topic) - opened; got != 0 {
				t.Errorf("%d records first: %d private readers opened, want none", n, got)
			}
		}
	})
}
