package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Default topic names. Each is configurable; these are what docs/events.md
// documents.
const (
	TopicStatements      = "learnstream.statements.v1"
	TopicDocuments       = "learnstream.documents.v1"
	TopicCatalog         = "learnstream.catalog.v1"
	TopicRecommendations = "learnstream.recommendations.v1"
	TopicAdaptive        = "learnstream.adaptive.v1"
)

// DLQ returns the dead-letter topic of topic.
func DLQ(topic string) string { return topic + ".dlq" }

// TopicSpec describes one topic to create.
type TopicSpec struct {
	Name        string
	Partitions  int
	Replication int
	// Compact keeps only the latest record per key (entity topics).
	Compact bool
}

// DefaultTopics returns the topics learnstream needs, with their DLQs.
func DefaultTopics(partitions, replication int) []TopicSpec {
	var specs []TopicSpec
	for _, t := range []struct {
		name    string
		compact bool
	}{
		{TopicStatements, false},
		{TopicDocuments, false},
		{TopicCatalog, true},
		{TopicRecommendations, true},
		{TopicAdaptive, false},
	} {
		specs = append(specs,
			TopicSpec{Name: t.name, Partitions: partitions, Replication: replication, Compact: t.compact},
			TopicSpec{Name: DLQ(t.name), Partitions: 1, Replication: replication})
	}
	return specs
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are: changing partition counts is an operator's decision.
func EnsureTopics(ctx context.Context, brokers []string, specs []TopicSpec) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Partitions < 1 {
			return fmt.Errorf("topic %s: partitions must be at least 1, got %d", s.Name, s.Partitions)
		}
		if s.Replication < 1 {
			return fmt.Errorf("topic %s: replication must be at least 1, got %d", s.Name, s.Replication)
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.Replication}
		if s.Compact {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		req.Topics = append(req.Topics, tc)
	}
	// A broker that just started may not have elected a controller yet; retry
	// briefly rather than fail the whole start.
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		resp, err := client.CreateTopics(ctx, req)
		if err == nil {
			lastErr = nil
			for name, terr := range resp.Errors {
				if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
					lastErr = fmt.Errorf("create topic %s: %w", name, terr)
				}
			}
			if lastErr == nil {
				return nil
			}
		} else {
			lastErr = fmt.Errorf("create topics: %w", err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return lastErr
}

// Partitions returns the partition ids of topic.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata for %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata for %s: %w", topic, t.Error)
		}
		ids := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("metadata for %s: topic not found", topic)
}
