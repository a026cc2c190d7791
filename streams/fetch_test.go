package streams_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// sizeRecorder keeps the size of each event's data, in the order applied.
type sizeRecorder struct {
	*recorder
	mu    sync.Mutex
	sizes []int
}

func (s *sizeRecorder) Handle(ctx context.Context, pos streams.Position, e event.Event) error {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(e.Data))
	s.mu.Unlock()
	return s.recorder.Handle(ctx, pos, e)
}

// Consumers fetch at most streams.FetchMaxBytes per partition, which bounds
// what the broker holds for them, yet a record several times larger still
// arrives whole and in order between small ones: a broker answers the first
// batch of a fetch even when it is over the fetch's limit.
func TestRecordLargerThanAFetchArrivesWhole(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		topic := kafkatest.Unique("ls.fetch")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: topic, Partitions: 1, Replication: 1}}); err != nil {
			t.Fatal(err)
		}
		large := 3*streams.FetchMaxBytes + 12345
		want := []int{}
		var evs []event.Event
		for i, n := range []int{10, large, 10, large, 10} {
			data := `"` + strings.Repeat("x", n-2) + `"`
			evs = append(evs, newEvent(t, fmt.Sprintf("e%d", i), "k", data))
			want = append(want, n)
		}
		publish(t, c.Brokers, topic, evs)
		rec := &sizeRecorder{recorder: newRecorder()}
		stop := runConsumer(t, c, topic, "", rec, rec)
		defer stop()
		waitFor(t, "every record applied", 30*time.Second, func() bool { return rec.count() == len(evs) })
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if fmt.Sprint(rec.sizes) != fmt.Sprint(want) {
			t.Errorf("applied record sizes %v, want %v", rec.sizes, want)
		}
	})
}
