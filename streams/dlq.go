package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
)

// DeadLetter is one record parked in a DLQ.
type DeadLetter struct {
	Partition       int       `json:"partition"`
	Offset          int64     `json:"offset"`
	Time            time.Time `json:"time"`
	Key             string    `json:"key"`
	EventID         string    `json:"event_id,omitempty"`
	Type            string    `json:"type,omitempty"`
	Reason          string    `json:"reason"`
	Consumer        string    `json:"consumer,omitempty"`
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int       `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	Value           []byte    `json:"value"`
}

func deadLetter(m kafka.Message) DeadLetter {
	d := DeadLetter{Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: string(m.Key), Value: m.Value,
		SourcePartition: -1, SourceOffset: -1}
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case event.HeaderDLQReason:
			d.Reason = v
		case "dlq_topic":
			d.SourceTopic = v
		case "dlq_partition":
			d.SourcePartition, _ = strconv.Atoi(v)
		case "dlq_offset":
			d.SourceOffset, _ = strconv.ParseInt(v, 10, 64)
		case "dlq_consumer":
			d.Consumer = v
		case event.HeaderID:
			d.EventID = v
		case event.HeaderType:
			d.Type = v
		}
	}
	if d.SourceTopic == "" {
		d.SourceTopic = strings.TrimSuffix(m.Topic, ".dlq")
	}
	return d
}

// ListDLQ returns up to limit records of the DLQ of topic, oldest first.
func ListDLQ(ctx context.Context, brokers []string, topic string, limit int) ([]DeadLetter, error) {
	dlq := DLQ(topic)
	ends, err := EndOffsets(ctx, brokers, dlq)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, Partition: p, MaxWait: 200 * time.Millisecond, Dialer: Dialer(brokers)})
		r.SetOffset(kafka.FirstOffset)
		for len(out) < limit {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", dlq, p, err)
			}
			out = append(out, deadLetter(m))
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out, nil
}

// DLQReplayGroup is the consumer group that remembers how far each DLQ has
// been replayed, so a record is sent back to its topic only once.
const DLQReplayGroup = "learnstream-dlq-replay"

// ReplayDLQ sends the DLQ records of topic that were not replayed before
// back to their source topic (same key, headers without the dlq_ ones), for
// consumers that were fixed to apply them. It returns how many it sent.
func ReplayDLQ(ctx context.Context, brokers []string, topic string, pub *Publisher) (int, error) {
	dlq := DLQ(topic)
	ends, err := EndOffsets(ctx, brokers, dlq)
	if err != nil {
		return 0, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, GroupID: DLQReplayGroup,
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond, CommitInterval: 0, Dialer: Dialer(brokers)})
	defer r.Close()
	// Where the group stands now decides whether anything is left at all.
	client := newClient(brokers, 10*time.Second)
	parts := make([]int, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: DLQReplayGroup, Topics: map[string][]int{dlq: parts}})
	if err != nil {
		return 0, fmt.Errorf("offsets of %s: %w", DLQReplayGroup, err)
	}
	// A partition the group never committed is absent or -1: nothing of
	// it was replayed yet.
	next := make(map[int]int64, len(ends))
	for _, po := range committed.Topics[dlq] {
		if po.Error == nil && po.CommittedOffset > 0 {
			next[po.Partition] = po.CommittedOffset
		}
	}
	left := 0
	for p, end := range ends {
		left += int(max(end-next[p], 0))
	}
	sent := 0
	for sent < left {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return sent, fmt.Errorf("read %s: %w", dlq, err)
		}
		d := deadLetter(m)
		if d.SourceTopic == "" {
			return sent, errors.New("dead letter without a source topic")
		}
		out := kafka.Message{Topic: d.SourceTopic, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			if !strings.HasPrefix(h.Key, "dlq_") {
				out.Headers = append(out.Headers, h)
			}
		}
		if err := pub.w.WriteMessages(ctx, out); err != nil {
			return sent, fmt.Errorf("republish %s/%d@%d: %w", dlq, m.Partition, m.Offset, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return sent, fmt.Errorf("commit %s/%d@%d: %w", dlq, m.Partition, m.Offset, err)
		}
		sent++
	}
	return sent, nil
}
