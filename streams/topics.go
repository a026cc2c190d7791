package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/privacy"
)

// Default topic names. Each is configurable; these are what docs/events.md
// documents.
const (
	TopicStatements      = "learnstream.statements.v1"
	TopicDocuments       = "learnstream.documents.v1"
	TopicCatalog         = "learnstream.catalog.v1"
	TopicRecommendations = "learnstream.recommendations.v1"
	TopicAdaptive        = "learnstream.adaptive.v1"
	// TopicCredentials holds the API's credentials (hashed secrets only),
	// compacted and keyed by credential key: the credentials projection is
	// rebuilt from it like any other.
	TopicCredentials = "learnstream.credentials.v1"
	// TopicPrivacy carries erasure requests and receipts and retention
	// settings (docs/privacy.md).
	TopicPrivacy = privacy.TopicPrivacy
	// TopicAudit records every read of a learner's data through the API.
	TopicAudit = privacy.TopicAudit
	// TopicWebhooks holds the webhook subscriptions (secrets sealed),
	// keyed by subscription id: every process reads all of it.
	TopicWebhooks = "learnstream.webhooks.v1"
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
	// MaxMessageBytes is the topic's max.message.bytes: the largest record
	// batch the broker accepts. 0 means TopicMessageBytes(0).
	MaxMessageBytes int
	// SegmentBytes is the topic's segment.bytes; 0 leaves the broker's.
	SegmentBytes int
}

// DefaultMaxMessageBytes is the largest single message learnstream produces
// by default: the default 16 MiB request body plus room for what the API
// adds (id, stored, authority) and the event's headers. Kafka's own default
// (about 1 MB) would turn every statement between 1 MiB and the body limit
// into a permanent produce error.
const DefaultMaxMessageBytes = 17 << 20

// MaxMessageBytesFor returns the message limit that lets a request body of
// maxBody bytes through as one event.
func MaxMessageBytesFor(maxBody int64) int {
	return max(int(maxBody)+1<<20, DefaultMaxMessageBytes)
}

// batchOverhead is what a record batch adds around its records (header,
// record framing); topic limits leave room for it above the producer's.
const batchOverhead = 64 << 10

// TopicMessageBytes is the max.message.bytes a topic needs so that every
// message a producer limited to producerMax bytes sends is accepted.
func TopicMessageBytes(producerMax int) int {
	if producerMax <= 0 {
		producerMax = DefaultMaxMessageBytes
	}
	return producerMax + batchOverhead
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
		{TopicCredentials, true},
		{TopicPrivacy, false},
		{TopicAudit, false},
		{TopicWebhooks, true},
	} {
		specs = append(specs,
			TopicSpec{Name: t.name, Partitions: partitions, Replication: replication, Compact: t.compact},
			TopicSpec{Name: DLQ(t.name), Partitions: 1, Replication: replication})
	}
	// The key store: its records are no events, so it has no DLQ.
	return append(specs, KeysTopic(replication))
}

// UncompactTruth turns compaction off for the compacted topics that hold
// what nothing else can rebuild (the catalog, the credentials, the webhook
// subscriptions), keeping
// every record of them instead (retention.ms=-1): for the embedded broker,
// whose cleaner rewrites a compacted partition in place (a crash during
// the rewrite would lose it). Topics of derived state (recommendations,
// item factors) stay compacted: what a crash there loses, replay rebuilds.
// Idempotent; the topics must exist.
func UncompactTruth(ctx context.Context, brokers []string) error {
	req := &kafka.IncrementalAlterConfigsRequest{}
	for _, t := range []string{TopicCatalog, TopicCredentials, TopicWebhooks} {
		req.Resources = append(req.Resources, kafka.IncrementalAlterConfigsRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{
				{Name: "cleanup.policy", Value: "delete", ConfigOperation: kafka.ConfigOperationSet},
				{Name: "retention.ms", Value: "-1", ConfigOperation: kafka.ConfigOperationSet},
			}})
	}
	resp, err := newClient(brokers, 30*time.Second).IncrementalAlterConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("keep the catalog, credentials and webhooks topics uncompacted: %w", err)
	}
	var errs []error
	for _, r := range resp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("keep topic %s uncompacted: %w", r.ResourceName, r.Error))
		}
	}
	return errors.Join(errs...)
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are: changing partition counts is an operator's decision.
func EnsureTopics(ctx context.Context, brokers []string, specs []TopicSpec) error {
	client := newClient(brokers, 30*time.Second)
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Partitions < 1 {
			return fmt.Errorf("topic %s: partitions must be at least 1, got %d", s.Name, s.Partitions)
		}
		if s.Replication < 1 {
			return fmt.Errorf("topic %s: replication must be at least 1, got %d", s.Name, s.Replication)
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.Replication,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(s.messageBytes())}}}
		if s.SegmentBytes > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(s.SegmentBytes)})
		}
		if s.Compact {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		} else {
			// The log is the truth and replay starts at offset 0: a
			// broker's default time retention (seven days on Kafka) would
			// delete it from under the projections.
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"})
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
				return waitTopics(ctx, client, specs)
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

// waitTopics returns once the brokers serve every topic of specs with a
// leader for each partition. Apache Kafka answers CreateTopics when the
// controller has the topic; a broker learns of it a little later, and a
// produce in between fails with UNKNOWN_TOPIC_OR_PARTITION. Topics that
// already existed pass at once.
func waitTopics(ctx context.Context, client *kafka.Client, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		missing := ""
		if err != nil {
			missing = err.Error()
		} else {
			missing = unreadyTopic(md.Topics, names)
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics created but not served by the brokers: %s: %w", missing, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unreadyTopic names the first topic of names that md does not show with
// a leader for every partition, or returns "".
func unreadyTopic(md []kafka.Topic, names []string) string {
	seen := make(map[string]kafka.Topic, len(md))
	for _, t := range md {
		seen[t.Name] = t
	}
	for _, n := range names {
		t, ok := seen[n]
		if !ok || t.Error != nil || len(t.Partitions) == 0 {
			return n
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Sprintf("%s/%d", n, p.ID)
			}
		}
	}
	return ""
}

func (s TopicSpec) messageBytes() int {
	if s.MaxMessageBytes > 0 {
		return s.MaxMessageBytes
	}
	return TopicMessageBytes(0)
}

// RaiseMessageLimits raises max.message.bytes of topics created before
// learnstream set it (or with a smaller value) to what specs ask for. It
// never lowers a limit an operator set higher.
func RaiseMessageLimits(ctx context.Context, brokers []string, specs []TopicSpec) error {
	client := newClient(brokers, 30*time.Second)
	req := &kafka.DescribeConfigsRequest{}
	want := map[string]int{}
	for _, s := range specs {
		want[s.Name] = s.messageBytes()
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: []string{"max.message.bytes"}})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	alter := &kafka.IncrementalAlterConfigsRequest{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return fmt.Errorf("describe config of topic %s: %w", r.ResourceName, r.Error)
		}
		have := -1
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				have, _ = strconv.Atoi(e.ConfigValue)
			}
		}
		if w, ok := want[r.ResourceName]; ok && have < w {
			alter.Resources = append(alter.Resources, kafka.IncrementalAlterConfigsRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: r.ResourceName,
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{
					Name: "max.message.bytes", Value: strconv.Itoa(w), ConfigOperation: kafka.ConfigOperationSet}},
			})
		}
	}
	if len(alter.Resources) == 0 {
		return nil
	}
	aresp, err := client.IncrementalAlterConfigs(ctx, alter)
	if err != nil {
		return fmt.Errorf("raise max.message.bytes: %w", err)
	}
	var errs []error
	for _, r := range aresp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("raise max.message.bytes of topic %s to %d: %w", r.ResourceName, want[r.ResourceName], r.Error))
		}
	}
	return errors.Join(errs...)
}

// Partitions returns the partition ids of topic.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	client := newClient(brokers, 10*time.Second)
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
