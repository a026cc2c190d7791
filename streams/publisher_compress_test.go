package streams_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// A topic named in PublisherConfig.Uncompressed reaches the broker in
// uncompressed batches and every other topic in LZ4 ones, while writers
// of both publish at once: each record lands once, in its topic, in the
// order its writer published it.
func TestPublisherCompressesByTopic(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx := context.Background()
		packed, plain := kafkatest.Unique("ls.lz4"), kafkatest.Unique("ls.plain")
		if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
			{Name: packed, Partitions: 2, Replication: 1}, {Name: plain, Partitions: 2, Replication: 1},
		}); err != nil {
			t.Fatal(err)
		}
		pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers, Uncompressed: []string{plain}})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()

		const writers, perWriter = 8, 25
		// Odd writers write the uncompressed topic.
		topicOf := func(w int) string {
			if w%2 == 1 {
				return plain
			}
			return packed
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					// Two messages a publish, so batches carry several.
					msgs := make([]*message.Message, 2)
					for j := range msgs {
						seq := 2*i + j
						msgs[j] = message.NewMessage(fmt.Sprintf("w%d-%d", w, seq), []byte(fmt.Sprintf(`{"writer":%d,"seq":%d,"pad":"%0200d"}`, w, seq, 0)))
						msgs[j].Metadata.Set(streams.MetaKey, fmt.Sprintf("writer-%d", w))
					}
					if err := pub.Publish(topicOf(w), msgs...); err != nil {
						errs <- fmt.Errorf("writer %d publish %d: %w", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumeTopics(packed, plain),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		want := writers * perWriter * 2
		next := map[string]int{} // writer key -> next seq expected
		got := 0
		deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for got < want {
			fs := cl.PollFetches(deadline)
			if deadline.Err() != nil {
				t.Fatalf("read %d of %d records before the deadline", got, want)
			}
			for _, fe := range fs.Errors() {
				t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				codec := r.Attrs.CompressionType()
				switch {
				case r.Topic == plain && codec != 0:
					t.Errorf("%s (uncompressed) holds a record in a batch of codec %d", r.Topic, codec)
				case r.Topic == packed && codec != 3:
					t.Errorf("%s holds a record in a batch of codec %d, want 3 (LZ4)", r.Topic, codec)
				}
				var w, seq int
				if _, err := fmt.Sscanf(string(r.Value), `{"writer":%d,"seq":%d,`, &w, &seq); err != nil {
					t.Fatalf("record %q: %v", r.Value, err)
				}
				if wantTopic := topicOf(w); r.Topic != wantTopic {
					t.Errorf("writer %d's record landed in %s, want %s", w, r.Topic, wantTopic)
				}
				if k := string(r.Key); seq != next[k] {
					t.Errorf("%s: record %d arrived where %d was next", k, seq, next[k])
				} else {
					next[k]++
				}
			})
		}
		if got != want {
			t.Fatalf("read %d records, published %d", got, want)
		}
	})
}
