package streams

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

var (
	auditRecords = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_audit_records_total",
		Help: "Access-audit records by outcome: published, or dropped (queued but never published: the process stopped while the log refused them).",
	}, []string{"outcome"})
	auditQueue = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "learnstream_audit_queue",
		Help: "Access-audit records reserved or queued and not yet published.",
	})
	auditRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_audit_refused_reads_total",
		Help: "Reads of learner data refused (503) because the access-audit queue was full.",
	})
)

// AccessAuditConfig configures an AccessAuditor.
type AccessAuditConfig struct {
	Publisher interface {
		PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
	}
	Topic  string // default TopicAudit
	Source string
	// QueueSize bounds the records held in memory (default 10000).
	QueueSize int
	// Batch and Linger bound one publish: at most Batch records, sent at
	// most Linger after the first was queued (defaults 500, 50 ms).
	Batch  int
	Linger time.Duration
	// ReserveWait is how long a read waits for room in a full queue
	// before it is refused (default 2 s).
	ReserveWait time.Duration
	Logger      *slog.Logger
}

// AccessAuditor publishes access-audit records off the read path: a read
// reserves a slot before it touches learner data, then queues its record;
// Run publishes the queue in batches. When the queue is full (the log
// refuses writes for longer than the queue lasts) reads wait ReserveWait
// for a slot and are then refused, so no read is served that cannot be
// recorded: the audit never drops silently. A record is lost only when
// the process stops while the log still refuses it; that is counted
// (learnstream_audit_records_total{outcome="dropped"}) and logged.
type AccessAuditor struct {
	cfg   AccessAuditConfig
	slots chan struct{}
	queue chan event.Event
}

// NewAccessAuditor fills cfg's defaults.
func NewAccessAuditor(cfg AccessAuditConfig) *AccessAuditor {
	orDefault(&cfg.Topic, TopicAudit)
	orDefault(&cfg.Source, "learnstream")
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 50 * time.Millisecond
	}
	if cfg.ReserveWait <= 0 {
		cfg.ReserveWait = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &AccessAuditor{cfg: cfg, slots: make(chan struct{}, cfg.QueueSize), queue: make(chan event.Event, cfg.QueueSize)}
}

// Reserve takes room for one record, waiting at most ReserveWait; false
// means the queue is full and the read must not be served. A reserved slot
// must be given to Record.
func (a *AccessAuditor) Reserve(ctx context.Context) bool {
	select {
	case a.slots <- struct{}{}:
		auditQueue.Inc()
		return true
	default:
	}
	t := time.NewTimer(a.cfg.ReserveWait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		auditQueue.Inc()
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	auditRefused.Inc()
	return false
}

// Record queues the record of a reserved slot; it never blocks (the slot
// is its room in the queue).
func (a *AccessAuditor) Record(tenant string, r privacy.AccessRecorded) {
	if r.ID == "" {
		r.ID = watermill.NewUUID()
	}
	key := tenant
	if len(r.Learners) > 0 {
		key = r.Learners[0]
	}
	data, _ := json.Marshal(r) // plain strings, ints and times: cannot fail
	a.queue <- event.Event{ID: r.ID, Type: privacy.TypeAccessRecorded, Source: a.cfg.Source, Time: r.At.UTC(),
		Tenant: tenant, ContentType: event.ContentTypeJSON, Key: key, Data: data}
}

// Run publishes queued records until ctx ends, then publishes what is
// left (bounded by 10 s), counting what it could not as dropped.
func (a *AccessAuditor) Run(ctx context.Context) {
	for {
		batch, open := a.next(ctx)
		if len(batch) > 0 {
			a.publish(ctx, batch)
		}
		if !open {
			break
		}
	}
	// The HTTP server has drained: no read reserves a slot any more.
	var rest []event.Event
	for {
		select {
		case e := <-a.queue:
			rest = append(rest, e)
			continue
		default:
		}
		break
	}
	if len(rest) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(rest) > 0 {
		n := min(len(rest), a.cfg.Batch)
		if err := a.cfg.Publisher.PublishEvents(fctx, a.cfg.Topic, rest[:n]...); err != nil {
			a.cfg.Logger.Error("access audit: records not published at shutdown", "dropped", len(rest), "topic", a.cfg.Topic, "err", err)
			auditRecords.WithLabelValues("dropped").Add(float64(len(rest)))
			a.release(len(rest))
			return
		}
		auditRecords.WithLabelValues("published").Add(float64(n))
		a.release(n)
		rest = rest[n:]
	}
}

// next collects one batch: it waits for a first record, then at most
// Linger for more. open is false once ctx ended.
func (a *AccessAuditor) next(ctx context.Context) (batch []event.Event, open bool) {
	select {
	case e := <-a.queue:
		batch = append(batch, e)
	case <-ctx.Done():
		return nil, false
	}
	t := time.NewTimer(a.cfg.Linger)
	defer t.Stop()
	for len(batch) < a.cfg.Batch {
		select {
		case e := <-a.queue:
			batch = append(batch, e)
		case <-t.C:
			return batch, true
		case <-ctx.Done():
			return batch, false
		}
	}
	return batch, true
}

// publish sends one batch, retrying until the log takes it or ctx ends;
// then the batch is left to Run's final flush.
func (a *AccessAuditor) publish(ctx context.Context, batch []event.Event) {
	wait := 100 * time.Millisecond
	for {
		err := a.cfg.Publisher.PublishEvents(ctx, a.cfg.Topic, batch...)
		if err == nil {
			auditRecords.WithLabelValues("published").Add(float64(len(batch)))
			a.release(len(batch))
			return
		}
		a.cfg.Logger.Warn("access audit: publish failed, retrying; reads wait for room once the queue is full",
			"records", len(batch), "queued", len(a.queue), "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			// Back into the queue for the final flush: it has room, since
			// these records still hold their slots.
			for _, e := range batch {
				a.queue <- e
			}
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (a *AccessAuditor) release(n int) {
	for range n {
		<-a.slots
	}
	auditQueue.Sub(float64(n))
}
