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
	"github.com/learnstream/learnstream/domain/privacy"
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
	Tenant          string    `json:"tenant,omitempty"`
	// Erased says the record is of a learner who was erased: its value
	// is not shown (sealed under destroyed keys, it could not be read) and
	// it is never replayed.
	Erased bool `json:"erased,omitempty"`
	// Copy says an earlier record of the DLQ parks the same source record
	// for the same consumer: one parked again after a crash between its
	// park and the commit past it (parking is at least once). A replay
	// sends the record once, and an erasure's answer counts it once.
	Copy  bool   `json:"copy,omitempty"`
	Value []byte `json:"value,omitempty"`
}

// parked identifies what d parks: its consumer and source record; false
// for a record that does not name its source position.
func (d DeadLetter) parked() (string, bool) {
	if d.SourceTopic == "" || d.SourcePartition < 0 || d.SourceOffset < 0 {
		return "", false
	}
	return d.Consumer + "\x00" + d.SourceTopic + "\x00" + strconv.Itoa(d.SourcePartition) + "\x00" + strconv.FormatInt(d.SourceOffset, 10), true
}

// firstParked tells the copies (DeadLetter.Copy) among dead letters read in
// order: the records of one source record share its key, and so its DLQ
// partition, where the first comes first.
type firstParked map[string]bool

// copy reports whether d parks what an earlier record passed to it did.
func (f firstParked) copy(d DeadLetter) bool {
	k, ok := d.parked()
	if !ok {
		return false
	}
	if f[k] {
		return true
	}
	f[k] = true
	return false
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
		case event.HeaderTenant:
			d.Tenant = v
		}
	}
	if d.SourceTopic == "" {
		d.SourceTopic = strings.TrimSuffix(m.Topic, ".dlq")
	}
	return d
}

// ListDLQ returns up to limit records of the DLQ of topic, oldest first;
// those of erased learners without their value.
func ListDLQ(ctx context.Context, brokers []string, topic string, limit int) ([]DeadLetter, error) {
	erased, err := ErasedLearners(ctx, brokers)
	if err != nil {
		return nil, err
	}
	dlq := DLQ(topic)
	ends, err := EndOffsets(ctx, brokers, dlq)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	seen := firstParked{}
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
			d := deadLetter(m)
			if erased.Has(d.Tenant, d.Key) {
				d.Erased, d.Value = true, nil
			}
			d.Copy = seen.copy(d)
			out = append(out, d)
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
// consumers that were fixed to apply them. It returns how many it sent,
// and how many it passed over without sending: those of erased learners
// (skipped) and the later records of an event parked twice (copies).
func ReplayDLQ(ctx context.Context, brokers []string, topic string, pub *Publisher) (sent, skipped, copies int, err error) {
	erased, err := ErasedLearners(ctx, brokers)
	if err != nil {
		return 0, 0, 0, err
	}
	dlq := DLQ(topic)
	ends, err := EndOffsets(ctx, brokers, dlq)
	if err != nil {
		return 0, 0, 0, err
	}
	// The copies among all the records, also of an original an earlier
	// replay sent.
	seen, copyAt := firstParked{}, map[[2]int64]bool{}
	if err := scanTopic(ctx, brokers, dlq, ends, func(m kafka.Message) {
		if seen.copy(deadLetter(m)) {
			copyAt[[2]int64{int64(m.Partition), m.Offset}] = true
		}
	}); err != nil {
		return 0, 0, 0, err
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
		return 0, 0, 0, fmt.Errorf("offsets of %s: %w", DLQReplayGroup, err)
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
	for sent+skipped+copies < left {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return sent, skipped, copies, fmt.Errorf("read %s: %w", dlq, err)
		}
		d := deadLetter(m)
		isErased, isCopy := erased.Has(d.Tenant, d.Key), copyAt[[2]int64{int64(m.Partition), m.Offset}]
		if isErased || isCopy {
			if err := r.CommitMessages(ctx, m); err != nil {
				return sent, skipped, copies, fmt.Errorf("commit %s/%d@%d: %w", dlq, m.Partition, m.Offset, err)
			}
			if isErased {
				skipped++
			} else {
				copies++
			}
			continue
		}
		if d.SourceTopic == "" {
			return sent, skipped, copies, errors.New("dead letter without a source topic")
		}
		out := kafka.Message{Topic: d.SourceTopic, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			if !strings.HasPrefix(h.Key, "dlq_") {
				out.Headers = append(out.Headers, h)
			}
		}
		if err := pub.writer(out.Topic).WriteMessages(ctx, out); err != nil {
			return sent, skipped, copies, fmt.Errorf("republish %s/%d@%d: %w", dlq, m.Partition, m.Offset, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return sent, skipped, copies, fmt.Errorf("commit %s/%d@%d: %w", dlq, m.Partition, m.Offset, err)
		}
		sent++
	}
	return sent, skipped, copies, nil
}

// Erased is a set of erased learners: tenant and pseudonym.
type Erased map[string]bool

// Has reports whether the record key key of tenant is an erased learner's
// pseudonym.
func (e Erased) Has(tenant, key string) bool { return e[tenant+"\x00"+key] }

// ErasedLearners reads the erasures recorded on the privacy topic (an
// install without it has none).
func ErasedLearners(ctx context.Context, brokers []string) (Erased, error) {
	out := Erased{}
	ends, err := EndOffsets(ctx, brokers, TopicPrivacy)
	if err != nil {
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return out, nil
		}
		return nil, fmt.Errorf("erasures on %s: %w", TopicPrivacy, err)
	}
	err = scanTopic(ctx, brokers, TopicPrivacy, ends, func(m kafka.Message) {
		var typ, tenant string
		for _, h := range m.Headers {
			switch h.Key {
			case event.HeaderType:
				typ = string(h.Value)
			case event.HeaderTenant:
				tenant = string(h.Value)
			}
		}
		// The request is recorded before the keys go: from it on, the
		// learner's records are as good as unreadable.
		if (typ == privacy.TypeErasureRequested || typ == privacy.TypeLearnerErased) && privacy.IsPseudonym(string(m.Key)) {
			out[tenant+"\x00"+string(m.Key)] = true
		}
	})
	return out, err
}

// scanTopic passes every record of topic up to ends to fn.
func scanTopic(ctx context.Context, brokers []string, topic string, ends map[int]int64, fn func(kafka.Message)) error {
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond, Dialer: Dialer(brokers)})
		r.SetOffset(kafka.FirstOffset)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			fn(m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return nil
}

// DeadLetterTopics are the topics whose DLQs may hold learner records.
var DeadLetterTopics = []string{TopicStatements, TopicDocuments, TopicCatalog, TopicRecommendations, TopicAdaptive}

// CountDeadLetters counts the dead letters of the learner with pseudonym
// in tenant across the DLQs of DeadLetterTopics: what an erasure purged
// there (sealed under the destroyed keys, they can no longer be read, and
// the tools skip them). A record parked twice counts once (Copy).
func CountDeadLetters(ctx context.Context, brokers []string, tenant, pseudonym string) (int64, error) {
	var n int64
	for _, topic := range DeadLetterTopics {
		ends, err := EndOffsets(ctx, brokers, DLQ(topic))
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			continue
		}
		if err != nil {
			return 0, err
		}
		seen := firstParked{}
		err = scanTopic(ctx, brokers, DLQ(topic), ends, func(m kafka.Message) {
			if d := deadLetter(m); d.Key == pseudonym && d.Tenant == tenant && !seen.copy(d) {
				n++
			}
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
