package streams

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

// RecommendationFeed reads the recommendations topic for the SSE endpoint:
// one kafka-go reader per partition per connection.
type RecommendationFeed struct {
	Brokers []string
	Topic   string
}

var _ api.RecommendationFeed = RecommendationFeed{}

// Follow implements api.RecommendationFeed.
func (f RecommendationFeed) Follow(ctx context.Context, from map[int]int64, fromStart bool, out chan<- api.FeedRecord) error {
	ends, err := EndOffsets(ctx, f.Brokers, f.Topic)
	if err != nil {
		return err
	}
	verify := verifierFor(f.Brokers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(ends))
	for part, end := range ends {
		start, ok := from[part]
		switch {
		case ok:
		case fromStart:
			start = kafka.FirstOffset
		default:
			start = end
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: f.Brokers, Topic: f.Topic, Partition: part, Dialer: Dialer(f.Brokers),
				MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond}) // a long poll: the broker answers when data arrives
			defer r.Close()
			if err := r.SetOffset(start); err != nil {
				errs <- fmt.Errorf("partition %d: %w", part, err)
				cancel()
				return
			}
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("partition %d: %w", part, err)
						cancel()
					}
					return
				}
				if !isRecommendations(m) {
					// The erasures and retentions the topic also carries
					// are for its consumers, not the feed's clients.
					continue
				}
				e, fe, derr := decodeRecord(m, verify)
				if verify != nil && (derr != nil || fe != nil) {
					// The recommendations consumer sends it to the DLQ;
					// the feed only leaves it out.
					continue
				}
				data := m.Value
				if verify != nil && verify.keys != nil {
					o, err := openEvent(ctx, verify.keys, m.Topic, e)
					if err != nil && event.Retryable(err) {
						if ctx.Err() == nil {
							errs <- fmt.Errorf("partition %d: %w", part, err)
							cancel()
						}
						return
					}
					if err != nil || o.Erased {
						// Unopenable: the consumer's DLQ has it; erased:
						// nothing of the learner may leave.
						if o.Erased {
							SkipErased(m.Topic)
						}
						continue
					}
					data = o.Data
				}
				rec := api.FeedRecord{Partition: part, Offset: m.Offset, Data: data}
				for _, h := range m.Headers {
					switch h.Key {
					case event.HeaderID:
						rec.ID = string(h.Value)
					case event.HeaderType:
						rec.Type = string(h.Value)
					case event.HeaderTenant:
						rec.Tenant = string(h.Value)
					}
				}
				select {
				case out <- rec:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// isRecommendations reports whether a record of the recommendations topic
// is a RecommendationsUpdated (any major version: the client judges).
func isRecommendations(m kafka.Message) bool {
	want, _, _ := event.SplitType(projections.TypeRecommendationsUpdated)
	for _, h := range m.Headers {
		if h.Key == event.HeaderType {
			name, _, err := event.SplitType(string(h.Value))
			return err == nil && name == want
		}
	}
	return false
}
