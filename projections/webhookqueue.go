package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
)

// WebhookDeliveriesName is the delivery state's name: the per-subscription
// queues, dead letters and input offsets of this process's webhooks role.
const WebhookDeliveriesName = "webhook-deliveries"

// WebhookLanes is how many queues each subscription has. A learner's
// deliveries always take the same lane, so they go out in order; lanes
// deliver independently, so one learner's failing delivery holds back
// only the learners of its lane.
const WebhookLanes = 8

// Delivery is one message for one subscription, queued or dead.
type Delivery struct {
	// Seq orders a lane; Lane is the queue the delivery waits in.
	Seq  uint64 `json:"-"`
	Lane int    `json:"-"`
	// Message is the webhook-id: the same on every redelivery.
	Message      string    `json:"message"`
	Subscription string    `json:"subscription"`
	Tenant       string    `json:"tenant"`
	Event        string    `json:"event"`
	Type         string    `json:"type"`
	Time         time.Time `json:"time"`
	// Key is the input record's key, Learner the learner the event is
	// about: what an erasure finds the delivery by.
	Key     string `json:"key,omitempty"`
	Learner string `json:"learner,omitempty"`
	// Body is what is sent (a webhook's payload, a forwarded statement).
	Body       json.RawMessage `json:"body"`
	Attempts   int             `json:"attempts"`
	Enqueued   time.Time       `json:"enqueued"`
	LastError  string          `json:"last_error,omitempty"`
	LastStatus int             `json:"last_status,omitempty"`
	Dead       time.Time       `json:"dead,omitzero"`
}

// ID is how the API names a dead letter: its sequence number.
func (d Delivery) ID() string { return strconv.FormatUint(d.Seq, 10) }

// WebhookQueueConfig configures the delivery state.
type WebhookQueueConfig struct {
	// MaxBody bounds a delivery's body; larger events become dead letters
	// at once, with the reason.
	MaxBody int
	// Pseudonyms finds a queued learner's pseudonym for an erasure; nil
	// matches erasures on the record key only.
	Pseudonyms privacy.Pseudonyms
	// Subscriptions reads the subscriptions events are matched against,
	// before each batch: a subscription the API answered for receives
	// every event this consumer reads after it.
	Subscriptions func() ([]webhook.Subscription, error)
	// Erased, when set, is told what an erasure removed, after the removal
	// is durable.
	Erased func(erasure string, removed map[string]int64)
	Now    func() time.Time
}

// WebhookQueue is the webhooks role's delivery state, kept like every
// consumer's: the input offsets and the queue entries an event adds are
// written in one transaction, so a restart neither loses nor re-queues.
// Deliveries wait in Badger, not memory: a receiver that is down for
// hours costs disk, not memory.
type WebhookQueue struct {
	*Projection
	cfg  WebhookQueueConfig
	seq  *badger.Sequence
	subs atomic.Pointer[[]webhook.Subscription]

	// pseudo caches learners' pseudonyms for learner filters.
	pseudoMu sync.Mutex
	pseudo   map[pseudonymKey]string

	mu      sync.Mutex
	touched map[string]bool
	erased  []erasureCount
	wake    func(sub string)

	// started is when this process began matching; known, per input
	// topic, the subscriptions its consumer has matched against (see
	// catchUp).
	started time.Time
	knownMu sync.Mutex
	known   map[string]map[string]bool

	// batchMu makes a refresh of the subscriptions and the batches of
	// every partition one at a time. A refresh that finds a new
	// subscription records where each partition stands, and the events
	// before that are read again for it (catchUp); a batch of another
	// partition still matching against the list from before, and
	// committing past where the refresh saw it, would lose its events
	// for that subscription.
	batchMu sync.Mutex
}

type erasureCount struct {
	erasure string
	removed map[string]int64
}

// NewWebhookQueue opens the delivery state in store.
func NewWebhookQueue(store *Store, cfg WebhookQueueConfig) (*WebhookQueue, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var seq *badger.Sequence
	err := whileBlocked(func() error {
		return store.committing(func() (err error) {
			seq, err = store.db.GetSequence([]byte("webhook-deliveries-seq"), 1000)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	q := &WebhookQueue{cfg: cfg, seq: seq, touched: map[string]bool{}, pseudo: map[pseudonymKey]string{}, started: cfg.Now(), known: map[string]map[string]bool{}}
	p, err := NewProjection(store, webhookQueueModel{q}, NewWaiters())
	if err != nil {
		return nil, err
	}
	q.Projection = p
	empty := []webhook.Subscription{}
	q.subs.Store(&empty)
	return q, nil
}

// refresh reads the subscriptions before a batch of topic.
func (q *WebhookQueue) refresh(topic string) error {
	if q.cfg.Subscriptions == nil {
		return nil
	}
	subs, err := q.cfg.Subscriptions()
	if err != nil {
		return event.Transient(fmt.Errorf("webhook deliveries: read subscriptions: %w", err))
	}
	if err := q.catchUp(topic, subs); err != nil {
		return event.Transient(fmt.Errorf("webhook deliveries: %w", err))
	}
	q.subs.Store(&subs)
	return nil
}

// catchUp records, for each subscription made while this process runs
// that topic's consumer meets for the first time, where the consumer
// stands on each partition: the events before that (and after the
// subscription was made) were read before this process knew of it, so
// the deliverer reads them again from the log (CatchUps) and the
// subscription misses nothing of what happened after it was made, on
// whichever instance. Events from that point on match live, so nothing
// is queued twice.
func (q *WebhookQueue) catchUp(topic string, subs []webhook.Subscription) error {
	q.knownMu.Lock()
	defer q.knownMu.Unlock()
	known := q.known[topic]
	if known == nil {
		known = map[string]bool{}
		q.known[topic] = known
	}
	var fresh []string
	for _, s := range subs {
		if known[s.ID] {
			continue
		}
		// One that existed before this process started was either seen
		// by an earlier run or is matched from the stored offsets on.
		if s.Created.After(q.started) && slices.Contains(webhook.TopicsFor(s.Filter), topic) {
			fresh = append(fresh, s.ID)
		}
	}
	if len(fresh) > 0 {
		err := q.update(func(txn *badger.Txn, sp Space) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = sp.Prefix("o", topic)
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				partition := int(binary.BigEndian.Uint32(k[len(k)-4:]))
				var next int64
				if err := it.Item().Value(func(v []byte) error {
					if len(v) != 8 {
						return fmt.Errorf("offset value of %d bytes", len(v))
					}
					next = int64(binary.BigEndian.Uint64(v))
					return nil
				}); err != nil {
					return err
				}
				for _, id := range fresh {
					if err := txn.Set(sp.Key("c", id, topic, strconv.Itoa(partition)), binary.BigEndian.AppendUint64(nil, uint64(next))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, s := range subs {
		known[s.ID] = true
	}
	return nil
}

// CatchUp is a range of a partition the deliverer reads again for a
// subscription: from the subscription's creation to End (exclusive).
type CatchUp struct {
	Subscription, Topic string
	Partition           int
	End                 int64
}

// CatchUps lists the ranges still to read again.
func (q *WebhookQueue) CatchUps() ([]CatchUp, error) {
	var out []CatchUp
	err := q.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("c")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			parts := bytes.Split(bytes.TrimPrefix(it.Item().Key(), opts.Prefix), []byte{0})
			if len(parts) != 3 {
				return fmt.Errorf("catch-up key %q", it.Item().Key())
			}
			p, err := strconv.Atoi(string(parts[2]))
			if err != nil {
				return fmt.Errorf("catch-up key %q: %w", it.Item().Key(), err)
			}
			c := CatchUp{Subscription: string(parts[0]), Topic: string(parts[1]), Partition: p}
			if err := it.Item().Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("catch-up offset of %d bytes", len(v))
				}
				c.End = int64(binary.BigEndian.Uint64(v))
				return nil
			}); err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// CatchUpDone forgets a range read again.
func (q *WebhookQueue) CatchUpDone(c CatchUp) error {
	return q.update(func(txn *badger.Txn, sp Space) error {
		return txn.Delete(sp.Key("c", c.Subscription, c.Topic, strconv.Itoa(c.Partition)))
	})
}

// OnEnqueue sets what is told, after a commit, which subscriptions got new
// deliveries.
func (q *WebhookQueue) OnEnqueue(fn func(sub string)) {
	q.mu.Lock()
	q.wake = fn
	q.mu.Unlock()
}

// HandleBatch queues the deliveries of a batch with its offsets, then
// wakes the subscriptions that got some.
func (q *WebhookQueue) HandleBatch(ctx context.Context, pos []event.Position, evs []event.Event) (int, error) {
	if len(pos) == 0 {
		return 0, nil
	}
	q.batchMu.Lock()
	defer q.batchMu.Unlock()
	if err := q.refresh(pos[0].Topic); err != nil {
		return 0, err
	}
	n, err := q.Projection.HandleBatch(ctx, pos, evs)
	q.afterCommit()
	return n, err
}

// Handle queues one event's deliveries.
func (q *WebhookQueue) Handle(ctx context.Context, pos event.Position, e event.Event) error {
	q.batchMu.Lock()
	defer q.batchMu.Unlock()
	if err := q.refresh(pos.Topic); err != nil {
		return err
	}
	err := q.Projection.Handle(ctx, pos, e)
	q.afterCommit()
	return err
}

// afterCommit wakes subscriptions and reports erasures once their effect
// is durable (or was rolled back: a spurious wake costs a read).
func (q *WebhookQueue) afterCommit() {
	q.mu.Lock()
	touched, erased, wake := q.touched, q.erased, q.wake
	q.touched, q.erased = map[string]bool{}, nil
	q.mu.Unlock()
	if wake != nil {
		for s := range touched {
			wake(s)
		}
	}
	if q.cfg.Erased != nil {
		for _, e := range erased {
			q.cfg.Erased(e.erasure, e.removed)
		}
	}
}

func laneOf(learner, key string) int {
	h := fnv.New32a()
	if learner != "" {
		h.Write([]byte(learner))
	} else {
		h.Write([]byte(key))
	}
	return int(h.Sum32() % WebhookLanes)
}

func seqHex(s uint64) string { return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, s)) }

func laneName(l int) string { return strconv.Itoa(l) }

func queueKey(sp Space, sub string, lane int, seq uint64) []byte {
	return sp.Key("q", sub, laneName(lane), seqHex(seq))
}

func deadKey(sp Space, sub string, seq uint64) []byte { return sp.Key("d", sub, seqHex(seq)) }

// Payload is the body of a webhook delivery: the event's type, time, id
// and data (Standard Webhooks' recommended shape).
func Payload(e event.Event) ([]byte, error) {
	data := json.RawMessage(e.Data)
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		ID        string          `json:"id"`
		Tenant    string          `json:"tenant"`
		Data      json.RawMessage `json:"data"`
	}{e.Type, e.Time, e.ID, e.Tenant, data})
}

// NewDelivery is the delivery of e to sub.
func NewDelivery(sub *webhook.Subscription, e event.Event, now time.Time) (Delivery, error) {
	it := webhook.Describe(e)
	d := Delivery{Message: webhook.MessageID(sub.ID, e.ID), Subscription: sub.ID, Tenant: e.Tenant, Event: e.ID,
		Type: e.Type, Time: e.Time, Key: e.Key, Learner: it.Learner, Enqueued: now.UTC()}
	d.Lane = laneOf(d.Learner, d.Key)
	if sub.Kind == webhook.KindXAPIForward {
		d.Body = json.RawMessage(e.Data)
		return d, nil
	}
	b, err := Payload(e)
	d.Body = b
	return d, err
}

// put writes d under a new sequence number in its lane (or, dead, in the
// dead letters).
func (q *WebhookQueue) put(txn *badger.Txn, sp Space, d *Delivery) error {
	var s uint64
	// Next leases a new range with a commit of its own now and then.
	err := whileBlocked(func() error {
		return q.store.committing(func() (err error) {
			s, err = q.seq.Next()
			return err
		})
	})
	if err != nil {
		return err
	}
	d.Seq = s + 1 // 0 is never a delivery
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if !d.Dead.IsZero() {
		return txn.Set(deadKey(sp, d.Subscription, d.Seq), b)
	}
	return txn.Set(queueKey(sp, d.Subscription, d.Lane, d.Seq), b)
}

// enqueue queues d for sub, or makes it a dead letter when it is larger
// than a delivery may be.
func (q *WebhookQueue) enqueue(txn *badger.Txn, sp Space, d *Delivery) error {
	if len(d.Body) > q.cfg.MaxBody {
		d.Dead = q.cfg.Now().UTC()
		d.LastError = fmt.Sprintf("body of %d bytes is larger than --webhooks-max-body (%d)", len(d.Body), q.cfg.MaxBody)
		d.Body = json.RawMessage("null")
	}
	if err := q.put(txn, sp, d); err != nil {
		return err
	}
	q.mu.Lock()
	q.touched[d.Subscription] = true
	q.mu.Unlock()
	return nil
}

type webhookQueueModel struct{ q *WebhookQueue }

func (webhookQueueModel) Name() string { return WebhookDeliveriesName }

func (m webhookQueueModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	q := m.q
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		return q.forget(txn, sp, e, pe)
	}
	if e.Erased {
		// The learner's key is gone: nothing of the event may leave.
		return Unchanged, nil
	}
	subs := *q.subs.Load()
	if len(subs) == 0 {
		return Unchanged, nil
	}
	it := webhook.Describe(e)
	now := q.cfg.Now()
	out := Unchanged
	for i := range subs {
		sub := &subs[i]
		// A subscription receives what happened since it was made; a
		// replay delivers older events on request.
		if e.Time.Before(sub.Since()) {
			continue
		}
		q.pseudonymFor(sub, &it)
		if !sub.Matches(it) {
			continue
		}
		d, err := NewDelivery(sub, e, now)
		if err != nil {
			return 0, event.Reject(err)
		}
		if err := q.enqueue(txn, sp, &d); err != nil {
			return 0, err
		}
		out = Stored
	}
	return out, nil
}

// pseudonymFor sets the pseudonym of it's learner when sub filters on
// learners (stored as pseudonyms) and it is not set yet: once per event
// at most, and from a cache, since a learner's events come in runs.
func (q *WebhookQueue) pseudonymFor(sub *webhook.Subscription, it *webhook.Item) {
	if len(sub.Filter.Learners) == 0 || it.Pseudonym != "" || it.Learner == "" {
		return
	}
	ps := q.cfg.Pseudonyms
	if ps == nil {
		ps = q.store.pseudonyms
	}
	if ps == nil {
		return
	}
	k := pseudonymKey{it.Tenant, it.Learner}
	q.pseudoMu.Lock()
	p, ok := q.pseudo[k]
	q.pseudoMu.Unlock()
	if !ok {
		p = ps.Pseudonym(it.Tenant, it.Learner)
		q.pseudoMu.Lock()
		// Bounded: dropped whole when full, rebuilt by the next events.
		if len(q.pseudo) >= pseudonymCacheSize {
			clear(q.pseudo)
		}
		q.pseudo[k] = p
		q.pseudoMu.Unlock()
	}
	it.Pseudonym = p
}

// pseudonymCacheSize bounds the learners whose pseudonyms the delivery
// role keeps in memory.
const pseudonymCacheSize = 1 << 14

type pseudonymKey struct{ tenant, learner string }

// WebhooksConsumer is the name the delivery role answers erasures under.
const WebhooksConsumer = "webhooks"

// forget applies a LearnerErased (every queued delivery and dead letter of
// the learner) or a RetentionApplied (those of the tenant's events before
// Before). A LearnerErased arrives on each topic the role reads; the
// answer counts what all of them removed.
func (q *WebhookQueue) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	if pe.retention != nil {
		r := pe.retention
		_, err := q.purge(txn, sp, func(d *Delivery) bool { return d.Tenant == r.Tenant && d.Time.Before(r.Before) })
		return Stored, err
	}
	le := *pe.erased
	// The cache may hold the erased learner's key: memory forgets it too.
	q.pseudoMu.Lock()
	clear(q.pseudo)
	q.pseudoMu.Unlock()
	pseud := q.cfg.Pseudonyms
	if pseud == nil {
		pseud = q.store.pseudonyms
	}
	removed, err := q.purge(txn, sp, func(d *Delivery) bool {
		return d.Tenant == e.Tenant && (d.Key == le.Pseudonym ||
			pseud != nil && d.Learner != "" && pseud.Pseudonym(e.Tenant, d.Learner) == le.Pseudonym)
	})
	if err != nil {
		return 0, err
	}
	// Earlier copies of this erasure (other topics) counted what they
	// removed; their answer, if not published yet, is added to.
	if item, err := txn.Get(answerKey(le.Erasure, WebhooksConsumer)); err == nil {
		var prev PendingAnswer
		if item.Value(func(v []byte) error { return json.Unmarshal(v, &prev) }) == nil {
			for k, v := range prev.Answer.Removed {
				removed[k] += v
			}
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return 0, err
	}
	if err := RecordErasureApplied(txn, e.Tenant, WebhooksConsumer, le, removed); err != nil {
		return 0, err
	}
	q.mu.Lock()
	q.erased = append(q.erased, erasureCount{le.Erasure, removed})
	q.mu.Unlock()
	return Stored, nil
}

// purge deletes the queued deliveries and dead letters match selects.
func (q *WebhookQueue) purge(txn *badger.Txn, sp Space, match func(*Delivery) bool) (map[string]int64, error) {
	removed := map[string]int64{}
	for _, kind := range []struct{ prefix, name string }{{"q", "pending_deliveries"}, {"d", "dead_letters"}} {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix(kind.prefix)
		it := txn.NewIterator(opts)
		var del [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			var d Delivery
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &d) }); err != nil {
				it.Close()
				return nil, fmt.Errorf("delivery %q: %w", it.Item().Key(), err)
			}
			if match(&d) {
				del = append(del, it.Item().KeyCopy(nil))
			}
		}
		it.Close()
		for _, k := range del {
			if err := txn.Delete(k); err != nil {
				return nil, err
			}
		}
		removed[kind.name] = int64(len(del))
	}
	return removed, nil
}

// update runs fn, retrying Badger's conflicts with the consumer's writes.
func (q *WebhookQueue) update(fn func(txn *badger.Txn, sp Space) error) error {
	for i := 0; ; i++ {
		err := q.Projection.Update(fn)
		if !errors.Is(err, badger.ErrConflict) || i >= 20 {
			return err
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
}

func decodeDelivery(item *badger.Item, lane int) (Delivery, error) {
	var d Delivery
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &d) }); err != nil {
		return d, fmt.Errorf("delivery %q: %w", item.Key(), err)
	}
	k := item.Key()
	if len(k) < 16 {
		return d, fmt.Errorf("delivery key %q is too short", k)
	}
	b, err := hex.DecodeString(string(k[len(k)-16:]))
	if err != nil {
		return d, fmt.Errorf("delivery key %q: %w", k, err)
	}
	d.Seq = binary.BigEndian.Uint64(b)
	d.Lane = lane
	return d, nil
}

// Head returns up to n deliveries at the head of a lane, oldest first.
func (q *WebhookQueue) Head(sub string, lane, n int) ([]Delivery, error) {
	var out []Delivery
	err := q.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("q", sub, laneName(lane))
		opts.PrefetchSize = n
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < n; it.Next() {
			d, err := decodeDelivery(it.Item(), lane)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Delivered removes delivered deliveries from their lane.
func (q *WebhookQueue) Delivered(ds []Delivery) error {
	return q.update(func(txn *badger.Txn, sp Space) error {
		for _, d := range ds {
			if err := txn.Delete(queueKey(sp, d.Subscription, d.Lane, d.Seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Failed records a failed attempt of deliveries still queued. It answers
// false when they are gone (purged, or their subscription deleted).
func (q *WebhookQueue) Failed(ds []Delivery, status int, reason string) (bool, error) {
	present := true
	err := q.update(func(txn *badger.Txn, sp Space) error {
		for i := range ds {
			d := &ds[i]
			k := queueKey(sp, d.Subscription, d.Lane, d.Seq)
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				present = false
				continue
			} else if err != nil {
				return err
			}
			d.Attempts++
			d.LastStatus, d.LastError = status, reason
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := txn.Set(k, b); err != nil {
				return err
			}
		}
		return nil
	})
	return present, err
}

// Kill moves deliveries that used up their attempts to the dead letters.
func (q *WebhookQueue) Kill(ds []Delivery) error {
	now := q.cfg.Now().UTC()
	return q.update(func(txn *badger.Txn, sp Space) error {
		for i := range ds {
			d := ds[i]
			k := queueKey(sp, d.Subscription, d.Lane, d.Seq)
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if err := txn.Delete(k); err != nil {
				return err
			}
			d.Dead = now
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := txn.Set(deadKey(sp, d.Subscription, d.Seq), b); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeadLetters returns up to limit dead letters of sub, oldest first,
// after the one named after (the next page).
func (q *WebhookQueue) DeadLetters(sub string, after uint64, limit int) ([]Delivery, error) {
	var out []Delivery
	err := q.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("d", sub)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(deadKey(sp, sub, after+1)); it.Valid() && len(out) < limit; it.Next() {
			d, err := decodeDelivery(it.Item(), 0)
			if err != nil {
				return err
			}
			d.Lane = laneOf(d.Learner, d.Key)
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Redeliver puts dead letters of sub back at the end of their lanes with
// their attempts reset (ids nil: all of them); it answers how many.
func (q *WebhookQueue) Redeliver(sub string, ids []uint64) (int, error) {
	n := 0
	err := q.moveDead(sub, ids, func(txn *badger.Txn, sp Space, d Delivery) error {
		d.Dead, d.Attempts, d.LastError, d.LastStatus = time.Time{}, 0, "", 0
		d.Lane = laneOf(d.Learner, d.Key)
		n++
		return q.put(txn, sp, &d)
	})
	if err == nil && n > 0 {
		q.mu.Lock()
		wake := q.wake
		q.mu.Unlock()
		if wake != nil {
			wake(sub)
		}
	}
	return n, err
}

// DeleteDeadLetters removes dead letters of sub (ids nil: all of them)
// and answers how many.
func (q *WebhookQueue) DeleteDeadLetters(sub string, ids []uint64) (int, error) {
	n := 0
	err := q.moveDead(sub, ids, func(*badger.Txn, Space, Delivery) error { n++; return nil })
	return n, err
}

// moveDead deletes the named dead letters, handing each to fn in the same
// transaction. Large lists are done in several transactions.
func (q *WebhookQueue) moveDead(sub string, ids []uint64, fn func(txn *badger.Txn, sp Space, d Delivery) error) error {
	if ids == nil {
		for {
			page, err := q.DeadLetters(sub, 0, 500)
			if err != nil || len(page) == 0 {
				return err
			}
			ids := make([]uint64, len(page))
			for i, d := range page {
				ids[i] = d.Seq
			}
			if err := q.moveDead(sub, ids, fn); err != nil {
				return err
			}
		}
	}
	return q.update(func(txn *badger.Txn, sp Space) error {
		for _, id := range ids {
			item, err := txn.Get(deadKey(sp, sub, id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			d, err := decodeDelivery(item, 0)
			if err != nil {
				return err
			}
			if err := txn.Delete(deadKey(sp, sub, id)); err != nil {
				return err
			}
			if err := fn(txn, sp, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Depth counts the deliveries queued for sub, and its dead letters.
func (q *WebhookQueue) Depth(sub string) (queued, dead int, err error) {
	if queued, err = q.CountKeys("q", sub); err != nil {
		return 0, 0, err
	}
	dead, err = q.CountKeys("d", sub)
	return queued, dead, err
}

// Drop forgets everything of a deleted subscription.
func (q *WebhookQueue) Drop(sub string) error {
	sp := q.Space()
	for _, p := range [][]byte{sp.Prefix("q", sub), sp.Prefix("d", sub), sp.Prefix("r", sub), sp.Prefix("c", sub)} {
		if err := q.store.dropPrefix(p); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueReplay queues deliveries of a replay for sub, of the events at
// or after since (no offsets: a replay reads beside the live consumer).
func (q *WebhookQueue) EnqueueReplay(sub *webhook.Subscription, since time.Time, evs []event.Event) (int, error) {
	n := 0
	err := q.update(func(txn *badger.Txn, sp Space) error {
		n = 0
		for _, e := range evs {
			if e.Erased || e.Time.Before(since) {
				continue
			}
			it := webhook.Describe(e)
			q.pseudonymFor(sub, &it)
			if !sub.Matches(it) {
				continue
			}
			d, err := NewDelivery(sub, e, q.cfg.Now())
			if err != nil {
				return err
			}
			if err := q.enqueue(txn, sp, &d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	q.afterCommit()
	return n, err
}

// ReplayDone reports whether this process finished replay id of sub.
func (q *WebhookQueue) ReplayDone(sub, id string) (bool, error) {
	done := false
	err := q.View(func(txn *badger.Txn, sp Space) error {
		_, err := txn.Get(sp.Key("r", sub, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		done = err == nil
		return err
	})
	return done, err
}

// MarkReplayDone records that this process finished replay id of sub.
func (q *WebhookQueue) MarkReplayDone(sub, id string) error {
	return q.update(func(txn *badger.Txn, sp Space) error { return txn.Set(sp.Key("r", sub, id), []byte{1}) })
}
