package streams

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// Every role of a process reads the same topics (statements above all)
// through its own subscription: without sharing, each decodes the
// envelope, checks the HMAC, opens the sealed fields and decodes the
// statement of every record again, which was a quarter of the CPU of a
// serve with every role. receivedCache keeps what one subscription made
// of a record for the others that read it soon after.
//
// What a record becomes is a function of its bytes, its position (the
// signature rule for records older than signing), the cluster's
// verifier and, for a sealed event, which data keys still exist. An
// entry is used only for a record with the same position and the same
// bytes under the same verifier, and a sealed event is opened again
// when a key was destroyed since it was opened (see DestroyEpoch):
// what a consumer gets from the cache is what it would have decoded
// itself at that moment.
//
// The cache is direct-mapped, by position: consecutive offsets of a
// partition take consecutive slots, so subscriptions within a few
// thousand records of each other share, and one far behind only costs
// the others a decode now and then. An entry leaves when every
// subscription reading its partition took it, or when a later record
// takes its slot: memory stays below receivedSlots entries (a few KB
// each) and is near zero when the roles keep pace.
//
// Shared events and what they hold (Data, Extensions, the decoded
// statement behind event.Decoder) are read by several goroutines at once:
// consumers must not change them.
type receivedCache struct {
	slots []atomic.Pointer[receivedRecord]

	mu      sync.Mutex
	readers map[readerKey]int32

	// off keeps nothing: every subscription decodes for itself, as
	// before the cache (benchmarks compare the two in one run).
	off atomic.Bool
}

// receivedSlots bounds the cache: about 4,000 records of 1 KB, a few
// KB each once decoded.
const receivedSlots = 1 << 12

var records = &receivedCache{slots: make([]atomic.Pointer[receivedRecord], receivedSlots), readers: map[readerKey]int32{}}

var (
	receivedDecoded = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_received_records_decoded_total",
		Help: "Records a subscription decoded (envelope, signature, opening) itself: once per record and process when the roles keep pace.",
	})
	receivedShared = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_received_records_shared_total",
		Help: "Records a subscription took as another subscription of the process had decoded them (opened again if a key was destroyed since).",
	})
)

// readerKey is one partition as the subscriptions of one verifier read it.
type readerKey struct {
	v         *verifier
	topic     string
	partition int
}

// reading registers a subscription reading partition of topic with v
// until release is called: entries of that partition are kept until
// every registered reader took them.
func (c *receivedCache) reading(v *verifier, topic string, partition int) (release func()) {
	k := readerKey{v, topic, partition}
	c.mu.Lock()
	c.readers[k]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.readers[k]--; c.readers[k] <= 0 {
				delete(c.readers, k)
			}
		})
	}
}

func (c *receivedCache) readersOf(v *verifier, topic string, partition int) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readers[readerKey{v, topic, partition}]
}

func (c *receivedCache) slot(topic string, partition int, offset int64) *atomic.Pointer[receivedRecord] {
	h := uint64(14695981039346656037) // FNV-1a of the topic
	for i := 0; i < len(topic); i++ {
		h ^= uint64(topic[i])
		h *= 1099511628211
	}
	h += uint64(partition) * 0x9E3779B97F4A7C15
	return &c.slots[(h+uint64(offset))&uint64(len(c.slots)-1)]
}

// receivedRecord is a record as the subscriber decoded it. It does not
// change once in the cache, but for reads.
type receivedRecord struct {
	v         *verifier
	topic     string
	partition int
	offset    int64
	// The record's bytes, as fetched (kafka-go gives every record its
	// own): an entry serves only a record equal to them.
	key, value []byte
	headers    []kafka.Header

	// uuid and meta are the id and metadata of the record's messages,
	// made when the first is (metadata): a kept record's messages share
	// them.
	metaOnce sync.Once
	uuid     string
	meta     message.Metadata
	kept     bool // in the cache (or made from an entry of it): shared

	rejected string // the rule of a signature that did not verify
	verified bool   // the signature verified under the cluster's key
	// sealed is the event before opening, err why the record is no
	// acceptable event (then e is zero).
	sealed event.Event
	// e and err are the event handed to consumers: opened, and Shared so
	// that its statement is decoded once.
	e   event.Event
	err error
	// epoch is the key store's DestroyEpoch read before opening; opened
	// says e and err hold the outcome of opening, valid while the epoch
	// stays (always, for an event that is not sealed).
	epoch      uint64
	opened     bool
	sealedOpen bool // opening depended on the key store

	readers int32 // subscriptions reading the partition when it was made
	reads   atomic.Int32
}

// destroyEpocher is a key store that tells when keys are destroyed
// (Vault). Opened events of any other are not kept.
type destroyEpocher interface{ DestroyEpoch() uint64 }

func (r *receivedRecord) matches(v *verifier, km kafka.Message) bool {
	if r.v != v || r.offset != km.Offset || r.partition != km.Partition || r.topic != km.Topic ||
		!bytes.Equal(r.value, km.Value) || !bytes.Equal(r.key, km.Key) || len(r.headers) != len(km.Headers) {
		return false
	}
	for i, h := range km.Headers {
		if r.headers[i].Key != h.Key || !bytes.Equal(r.headers[i].Value, h.Value) {
			return false
		}
	}
	return true
}

// receive decodes km as fromKafka delivers it: from the cache when
// another subscription of v decoded the same record, else decoded here
// (and kept for the others when there are any).
func receive(ctx context.Context, km kafka.Message, v *verifier) *receivedRecord {
	c := records
	slot := c.slot(km.Topic, km.Partition, km.Offset)
	if r := slot.Load(); r != nil && r.matches(v, km) {
		receivedShared.Inc()
		if r.opened && (!r.sealedOpen || r.epoch == v.keys.(destroyEpocher).DestroyEpoch()) {
			if r.reads.Add(1) >= r.readers {
				slot.CompareAndSwap(r, nil)
			}
			return r
		}
		// A key was destroyed since it was opened, or opening is not
		// kept (a key store failure, or one that does not tell of
		// destroys): open it again, from the checked record.
		n := r.reopen(ctx)
		n.reads.Store(r.reads.Add(1))
		switch {
		case n.reads.Load() >= n.readers:
			slot.CompareAndSwap(r, nil)
		case n.opened:
			slot.CompareAndSwap(r, n)
		}
		return n
	}
	receivedDecoded.Inc()
	r := &receivedRecord{v: v, topic: km.Topic, partition: km.Partition, offset: km.Offset,
		key: km.Key, value: km.Value, headers: km.Headers}
	e, fe, decodeErr := decodeRecord(km, v)
	switch {
	case fe != nil:
		r.rejected = fe.Rule
		r.err = &event.FieldError{Field: event.HeaderSignature, Rule: fe.Rule}
	case decodeErr != nil:
		r.err = decodeErr
	default:
		r.verified = v != nil && v.key != nil && hasHeader(km, event.HeaderSignature)
		e.Verified = r.verified
		r.sealed = e
	}
	if r.err != nil {
		r.opened = true
	} else {
		r.open(ctx)
	}
	if r.readers = c.readersOf(v, km.Topic, km.Partition); r.readers > 1 && !c.off.Load() {
		r.reads.Store(1)
		r.kept = true
		old := slot.Load()
		// A subscription far behind the others does not take the slot
		// of a later record of its partition that they have yet to read.
		if old == nil || old.v != v || old.topic != km.Topic || old.partition != km.Partition || old.offset < km.Offset {
			slot.CompareAndSwap(old, r)
		}
	}
	return r
}

// open sets e and err from sealed: opened with v's key store, after the
// signature verified (it covers the sealed record, and a record that
// fails it is not opened at all).
func (r *receivedRecord) open(ctx context.Context) {
	if r.v == nil || r.v.keys == nil || !privacy.Sealed(r.sealed) {
		r.e, r.opened = event.Shared(r.sealed), true
		return
	}
	ep, ok := r.v.keys.(destroyEpocher)
	if ok {
		// Read before opening: a key destroyed after this read changes
		// the epoch, and the entry is opened again.
		r.epoch = ep.DestroyEpoch()
	}
	e, err := openEvent(ctx, r.v.keys, r.topic, r.sealed)
	if err == nil {
		e = event.Shared(e)
	}
	r.e, r.err, r.sealedOpen = e, err, true
	// Kept only when it stays right: a key store that tells of
	// destroys, and not a failure of the key store itself (retried).
	r.opened = ok && (err == nil || !event.Retryable(err))
}

// reopen is r opened again (r itself does not change).
func (r *receivedRecord) reopen(ctx context.Context) *receivedRecord {
	n := &receivedRecord{v: r.v, topic: r.topic, partition: r.partition, offset: r.offset,
		key: r.key, value: r.value, headers: r.headers,
		rejected: r.rejected, verified: r.verified, sealed: r.sealed, readers: r.readers, kept: true}
	n.open(ctx)
	return n
}
