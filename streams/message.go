package streams

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// Metadata keys the transport sets or reads on watermill messages. Every
// other metadata entry travels as a Kafka header of the same name.
const (
	// MetaKey is the Kafka record key (the partition key). Not a header.
	MetaKey       = "_kafka_key"
	MetaTopic     = "_kafka_topic"
	MetaPartition = "_kafka_partition"
	MetaOffset    = "_kafka_offset"
	// MetaRejected holds why a received record's signature was refused
	// (see Security.SigningKey); Event then rejects the message.
	MetaRejected = "_kafka_rejected"
	// MetaVerified is set when a received record's signature verified
	// under the cluster's signing key; Event then marks the event
	// Verified.
	MetaVerified = "_kafka_verified"
)

// internalMeta reports whether a metadata key is the transport's own,
// never a header.
func internalMeta(k string) bool { return strings.HasPrefix(k, "_kafka_") }

// NewMessage wraps an event as a watermill message ready to publish.
func NewMessage(e event.Event) *message.Message {
	m := message.NewMessage(e.ID, e.Data)
	for _, h := range e.Headers() {
		m.Metadata.Set(h.Key, string(h.Value))
	}
	m.Metadata.Set(MetaKey, e.Key)
	return m
}

// Event decodes the CloudEvents envelope of a received message. A message
// the Subscriber delivered carries its event decoded (its signature
// checked, and opened when sealed) already, once per record; any other is
// decoded here. An open that failed for want of the key store is tried
// again on the next call.
func Event(m *message.Message) (event.Event, error) {
	if d, ok := m.Context().Value(receivedKey{}).(*received); ok && d.m == m {
		return d.event()
	}
	hs := make([]event.Header, 0, len(m.Metadata))
	for k, v := range m.Metadata {
		hs = append(hs, event.Header{Key: k, Value: []byte(v)})
	}
	e, err := event.FromHeaders(hs, []byte(m.Metadata.Get(MetaKey)), m.Payload)
	return finish(m, e, err)
}

// finish applies what the transport recorded in m's metadata to a decoded
// event: a refused signature rejects it, a verified one marks it.
func finish(m *message.Message, e event.Event, err error) (event.Event, error) {
	if err != nil {
		return event.Event{}, err
	}
	if rule := m.Metadata.Get(MetaRejected); rule != "" {
		return event.Event{}, &event.FieldError{Field: event.HeaderSignature, Rule: rule}
	}
	e.Verified = m.Metadata.Get(MetaVerified) == "true"
	return e, nil
}

// received is a record's event as the subscriber decoded it. A message
// made for it carries it in its context, so that Event does not decode
// the envelope again; m ties it to that message: a copy (a redelivery) or
// a message made from another's context decodes for itself. A batch
// consumer reads it without a message, and one is made only when needed
// (the DLQ, Batch.Messages): making one for every record and consumer
// (the message, its two channels, its context) was about 3% of what a
// serve with every role allocated.
type received struct {
	m *message.Message
	// e is the record's event, shared by its consumers, read only (a
	// copy for every consumer made this struct three times the size);
	// Event hands out copies.
	e   *event.Event
	err error
	// reopen opens the sealed event again after a transient failure.
	reopen func() (event.Event, error)
	// pos is the record's position and timestamp.
	pos Position
	// r and ctx make m when it is first needed (message); r is nil for
	// a received made from a message (receivedOf).
	r   *receivedRecord
	ctx context.Context
}

// event is the record's event, opened again first when opening failed
// for want of the key store.
func (d *received) event() (event.Event, error) {
	if d.err != nil && d.reopen != nil && event.Retryable(d.err) {
		e, err := d.reopen()
		d.e, d.err = &e, err
	}
	return *d.e, d.err
}

// message returns the record's message, made on the first call. Its
// metadata is the record's, shared with the process's other
// subscriptions: read it, do not change it. Not safe for concurrent use
// (a batch is handled by one goroutine).
func (d *received) message() *message.Message {
	if d.m == nil {
		uuid, meta := d.r.metadata()
		m := message.NewMessage(uuid, d.r.value)
		m.Metadata = meta
		m.SetContext(context.WithValue(d.ctx, receivedKey{}, d))
		d.m = m
	}
	return d.m
}

// receivedOf is what a consumer reads of m: from its context when the
// Subscriber delivered it, else decoded from its metadata (an error when
// that holds no position).
func receivedOf(m *message.Message) (*received, error) {
	if d, ok := m.Context().Value(receivedKey{}).(*received); ok && d.m == m {
		return d, nil
	}
	pos, err := PositionOf(m)
	if err != nil {
		return nil, err
	}
	e, err := Event(m)
	return &received{m: m, e: &e, err: err, pos: pos}, nil
}

type receivedKey struct{}

// Position is where a received message sits in Kafka.
type Position = event.Position

// PositionOf returns the Kafka position of a message the Subscriber
// delivered, with its record's timestamp.
func PositionOf(m *message.Message) (Position, error) {
	if d, ok := m.Context().Value(receivedKey{}).(*received); ok && d.m == m {
		return d.pos, nil
	}
	// A message rebuilt elsewhere keeps its position in its metadata only.
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
		if internalMeta(k) {
			continue
		}
		km.Headers = append(km.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	return km
}

// decodeRecord decodes a record's event and, with a verifier, checks its
// signature. A record that is not an event at all answers decodeErr.
func decodeRecord(km kafka.Message, v *verifier) (e event.Event, sigErr *event.FieldError, decodeErr error) {
	// FromHeaders keeps nothing of hs: an event's dozen headers fit the
	// stack.
	var arr [16]event.Header
	hs := arr[:0]
	for _, h := range km.Headers {
		hs = append(hs, event.Header{Key: h.Key, Value: h.Value})
	}
	e, decodeErr = event.FromHeaders(hs, km.Key, km.Value)
	if decodeErr != nil || v == nil {
		return e, nil, decodeErr
	}
	return e, v.check(km, e), nil
}

// fromKafka turns a record into a message for ctx. With a verifier, a
// record whose signature does not verify is marked MetaRejected, one whose
// signature does MetaVerified. The event is decoded once per process
// (see receivedCache) and travels in the message's context for Event.
func fromKafka(ctx context.Context, km kafka.Message, v *verifier) *message.Message {
	d := newReceived(ctx, km, v)
	m := d.message()
	if d.r.kept {
		// The record's metadata is shared with the process's other
		// subscriptions; this message may be changed by its handler.
		m.Metadata = maps.Clone(m.Metadata)
	}
	return m
}

// newReceived is a record as a consumer reads it: decoded once per
// process (receive), its message made only when needed.
func newReceived(ctx context.Context, km kafka.Message, v *verifier) *received {
	r := receive(ctx, km, v)
	d := &received{e: &r.e, err: r.err, r: r, ctx: ctx,
		pos: Position{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Time: km.Time}}
	if r.err != nil && r.sealedOpen && event.Retryable(r.err) {
		// The closure takes the topic, not km: km would otherwise be
		// moved to the heap on every call, for every consumer.
		sealed, topic := r.sealed, km.Topic
		d.reopen = func() (event.Event, error) {
			e, err := openEvent(ctx, v.keys, topic, sealed)
			if err == nil {
				e = event.Shared(e)
			}
			return e, err
		}
	}
	return d
}

// metadata is the watermill metadata of the record, made on the first
// call: its headers, and the transport's own entries. Shared by the
// messages made for the record: read only.
func (r *receivedRecord) metadata() (uuid string, md message.Metadata) {
	r.metaOnce.Do(func() {
		md := make(message.Metadata, len(r.headers)+5)
		for _, h := range r.headers {
			md.Set(h.Key, string(h.Value))
			if h.Key == event.HeaderID {
				r.uuid = md[h.Key]
			}
		}
		if r.uuid == "" {
			r.uuid = fmt.Sprintf("%s/%d/%d", r.topic, r.partition, r.offset)
		}
		md.Set(MetaKey, string(r.key))
		md.Set(MetaTopic, r.topic)
		md.Set(MetaPartition, strconv.Itoa(r.partition))
		md.Set(MetaOffset, strconv.FormatInt(r.offset, 10))
		// Only this transport says a record verified, never a header of it.
		delete(md, MetaVerified)
		switch {
		case r.rejected != "":
			md.Set(MetaRejected, r.rejected)
		case r.verified:
			md.Set(MetaVerified, "true")
		}
		r.meta = md
	})
	return r.uuid, r.meta
}

// EventPublisher publishes events through any watermill publisher, signed
// with Key, or else with the signing key of the Publisher's cluster, and
// with personal events sealed with Keys, or else with the key store of
// the Publisher's cluster (UseKeys).
type EventPublisher struct {
	Publisher message.Publisher
	Key       []byte
	Keys      privacy.Keys
}

// PublishEvents publishes evs to topic in one call, under ctx. Personal
// events are sealed before they are signed: the signature covers what
// the log holds. Nothing is published when one does not seal.
func (p EventPublisher) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	key, keys := p.Key, p.Keys
	if pp, ok := p.Publisher.(*Publisher); ok {
		if key == nil {
			key = pp.key
		}
		if keys == nil {
			keys = KeysFor(pp.brokers)
		}
	}
	if keys != nil {
		evs = slices.Clone(evs)
		if err := sealEvents(ctx, keys, evs); err != nil {
			return err
		}
	}
	if pp, ok := p.Publisher.(*Publisher); ok {
		// Straight to records: the watermill message (a metadata map made
		// from the headers and turned back into headers) is only needed
		// by other publishers.
		kms := make([]kafka.Message, len(evs))
		for i, e := range evs {
			if key != nil {
				e = event.Sign(e, key)
			}
			kms[i] = recordOf(topic, e)
		}
		return pp.write(ctx, topic, kms)
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		if key != nil {
			e = event.Sign(e, key)
		}
		msgs[i] = NewMessage(e)
		msgs[i].SetContext(ctx)
	}
	return p.Publisher.Publish(topic, msgs...)
}

// recordOf is the record NewMessage and toKafka make of e, built
// directly: the same key, value and headers.
func recordOf(topic string, e event.Event) kafka.Message {
	hs := e.Headers()
	km := kafka.Message{Topic: topic, Value: e.Data, Headers: make([]kafka.Header, len(hs))}
	if e.Key != "" {
		km.Key = []byte(e.Key)
	}
	for i, h := range hs {
		km.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return km
}
