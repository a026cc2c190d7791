package streams

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
)

// Metadata keys the transport sets or reads on watermill messages. Every
// other metadata entry travels as a Kafka header of the same name.
const (
	// MetaKey is the Kafka record key (the partition key). Not a header.
	MetaKey       = "_kafka_key"
	MetaTopic     = "_kafka_topic"
	MetaPartition = "_kafka_partition"
	MetaOffset    = "_kafka_offset"
)

// NewMessage wraps an event as a watermill message ready to publish.
func NewMessage(e event.Event) *message.Message {
	m := message.NewMessage(e.ID, e.Data)
	for _, h := range e.Headers() {
		m.Metadata.Set(h.Key, string(h.Value))
	}
	m.Metadata.Set(MetaKey, e.Key)
	return m
}

// Event decodes the CloudEvents envelope of a received message.
func Event(m *message.Message) (event.Event, error) {
	hs := make([]event.Header, 0, len(m.Metadata))
	for k, v := range m.Metadata {
		hs = append(hs, event.Header{Key: k, Value: []byte(v)})
	}
	return event.FromHeaders(hs, []byte(m.Metadata.Get(MetaKey)), m.Payload)
}

// Position is where a received message sits in Kafka.
type Position = event.Position

// PositionOf returns the Kafka position of a message the Subscriber delivered.
func PositionOf(m *message.Message) (Position, error) {
	p, err := strconv.Atoi(m.Metadata.Get(MetaPartition))
	if err != nil {
		return Position{}, fmt.Errorf("message %s: no kafka partition in metadata", m.UUID)
	}
	o, err := strconv.ParseInt(m.Metadata.Get(MetaOffset), 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("message %s: no kafka offset in metadata", m.UUID)
	}
	return Position{Topic: m.Metadata.Get(MetaTopic), Partition: p, Offset: o}, nil
}

func toKafka(topic string, m *message.Message) kafka.Message {
	km := kafka.Message{Topic: topic, Value: m.Payload}
	if k := m.Metadata.Get(MetaKey); k != "" {
		km.Key = []byte(k)
	}
	for k, v := range m.Metadata {
		if k == MetaKey || k == MetaTopic || k == MetaPartition || k == MetaOffset {
			continue
		}
		km.Headers = append(km.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	return km
}

func fromKafka(km kafka.Message) *message.Message {
	uuid := ""
	for _, h := range km.Headers {
		if h.Key == event.HeaderID {
			uuid = string(h.Value)
		}
	}
	if uuid == "" {
		uuid = fmt.Sprintf("%s/%d/%d", km.Topic, km.Partition, km.Offset)
	}
	m := message.NewMessage(uuid, km.Value)
	for _, h := range km.Headers {
		m.Metadata.Set(h.Key, string(h.Value))
	}
	m.Metadata.Set(MetaKey, string(km.Key))
	m.Metadata.Set(MetaTopic, km.Topic)
	m.Metadata.Set(MetaPartition, strconv.Itoa(km.Partition))
	m.Metadata.Set(MetaOffset, strconv.FormatInt(km.Offset, 10))
	return m
}

// EventPublisher publishes events through any watermill publisher.
type EventPublisher struct {
	Publisher message.Publisher
}

// PublishEvents publishes evs to topic in one call, under ctx.
func (p EventPublisher) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		msgs[i] = NewMessage(e)
		msgs[i].SetContext(ctx)
	}
	return p.Publisher.Publish(topic, msgs...)
}
