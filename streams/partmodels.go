package streams

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

var ckptSize = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "learnstream_model_checkpoint_bytes",
	Help: "Size of a model consumer's last checkpoint (the models of the partitions it wrote: one for a periodic checkpoint, every one otherwise); the next periodic one waits for at least this / 256 events.",
}, []string{"consumer"})

// ModelCheckpoints stores per-partition model snapshots with the input
// offset they were taken at (projections.RecommenderCheckpoints is one).
type ModelCheckpoints interface {
	Load(topic string, partition int) (projections.PartitionCheckpoint, bool, error)
	// Save writes them, with the consumer's answers to the erasures they
	// apply, in one transaction.
	Save(topic string, cps map[int]projections.PartitionCheckpoint, answers ...projections.PendingAnswer) error
}

// partModels keeps a model consumer's state: per input partition, one
// model per tenant and the partition's next offset, checkpointed together.
// A partition's learners live in one model, so re-applying the partition's
// events after a checkpoint rebuilds the same state. The owner serialises
// access (its own mutex).
type partModels[T any] struct {
	name     string // the consumer, for errors and logs
	consumer string // the consumer's name in metrics
	topic    string // the input topic the offsets are of
	ckpts    ModelCheckpoints
	fresh    func() T
	snapshot func(T) ([]byte, error)
	restore  func([]byte) (T, error)
	log      *slog.Logger
	parts    map[int]*partModel[T]
	// saves counts the checkpoints written; a partition's savedAt is the
	// count when it was last written (0: not by this process).
	saves uint64
}

type partModel[T any] struct {
	next    int64
	tenants map[string]T
	savedAt uint64
	// savedNext is the next offset of the last checkpoint written or
	// restored: the partition has events to write while next differs.
	savedNext int64
}

// dirty says whether a partition applied events since its checkpoint.
func (ps *partModel[T]) dirty() bool { return ps.next != ps.savedNext }

// part returns a partition's state, restoring it from its checkpoint the
// first time.
func (p *partModels[T]) part(partition int) (*partModel[T], error) {
	if ps := p.parts[partition]; ps != nil {
		return ps, nil
	}
	ps := &partModel[T]{tenants: map[string]T{}}
	cp, ok, err := p.ckpts.Load(p.topic, partition)
	if err != nil {
		return nil, fmt.Errorf("%s: load checkpoint of partition %d: %w", p.name, partition, err)
	}
	if ok {
		ps.next, ps.savedNext = cp.Next, cp.Next
		for tenant, snap := range cp.Tenants {
			m, err := p.restore(snap)
			if err != nil {
				// A snapshot this build cannot read: rebuild the partition
				// from offset 0 rather than run on a model that lacks part
				// of its history.
				p.log.Error(p.name+": checkpoint unreadable, replaying the partition", "partition", partition, "tenant", tenant, "err", err)
				ps = &partModel[T]{tenants: map[string]T{}}
				break
			}
			ps.tenants[tenant] = m
		}
	}
	if p.parts == nil {
		p.parts = map[int]*partModel[T]{}
	}
	p.parts[partition] = ps
	return ps, nil
}

// tenant returns the partition's model of tenant, creating it.
func (p *partModels[T]) tenant(ps *partModel[T], tenant string) T {
	m, ok := ps.tenants[tenant]
	if !ok {
		m = p.fresh()
		ps.tenants[tenant] = m
	}
	return m
}

// nextOffset says where to resume a partition (OffsetStore).
func (p *partModels[T]) nextOffset(partition int) (int64, bool, error) {
	ps, err := p.part(partition)
	if err != nil {
		return 0, false, err
	}
	return ps.next, ps.next > 0, nil
}

// skip moves past an event parked in the DLQ.
func (p *partModels[T]) skip(pos Position) error {
	ps, err := p.part(pos.Partition)
	if err != nil {
		return err
	}
	if pos.Offset >= ps.next {
		ps.next = pos.Offset + 1
	}
	return nil
}

// toWrite returns the partitions a checkpoint writes. A periodic one (all
// false) writes only one, round robin (oldest): the consumer handles
// nothing while it encodes and writes, and the whole of a large
// population's models took it 0.5-2 s (100,000 learners, 4 partitions),
// every statement meanwhile waiting. Each partition's models are
// checkpointed with their own offset, so a partition written later
// resumes from its own. Erasure answers (answers > 0) say the erasure is
// durable in every partition: with them, every partition is written.
func (p *partModels[T]) toWrite(all bool, answers int) map[int]*partModel[T] {
	if all || answers > 0 || len(p.parts) <= 1 {
		return p.parts
	}
	part, ps := p.oldest()
	return map[int]*partModel[T]{part: ps}
}

// save writes the models and next offsets of parts (toWrite) in one
// checkpoint, with answers to the erasures they apply, and returns the
// bytes of the models written.
func (p *partModels[T]) save(parts map[int]*partModel[T], answers ...projections.PendingAnswer) (size int, err error) {
	cps := make(map[int]projections.PartitionCheckpoint, len(parts))
	for part, ps := range parts {
		cp := projections.PartitionCheckpoint{Next: ps.next, Tenants: make(map[string][]byte, len(ps.tenants))}
		for tenant, m := range ps.tenants {
			snap, err := p.snapshot(m)
			if err != nil {
				return 0, fmt.Errorf("%s: snapshot partition %d tenant %s: %w", p.name, part, tenant, err)
			}
			cp.Tenants[tenant] = snap
			size += len(snap)
		}
		cps[part] = cp
	}
	if err := p.ckpts.Save(p.topic, cps, answers...); err != nil {
		return 0, fmt.Errorf("%s: save checkpoint: %w", p.name, err)
	}
	p.saves++
	for part, ps := range parts {
		ps.savedAt, ps.savedNext = p.saves, cps[part].Next
	}
	ckptSize.WithLabelValues(p.consumer).Set(float64(size))
	return size, nil
}

// dirty says whether any partition applied events since its checkpoint.
func (p *partModels[T]) dirty() bool {
	for _, ps := range p.parts {
		if ps.dirty() {
			return true
		}
	}
	return false
}

// oldest returns the partition a periodic checkpoint writes: of those
// that applied events since their checkpoint (of all, when none did), the
// one written longest ago, the lowest-numbered among those never written
// by this process. p.parts is not empty.
func (p *partModels[T]) oldest() (int, *partModel[T]) {
	best, bestPS := 0, (*partModel[T])(nil)
	for part, ps := range p.parts {
		switch {
		case bestPS == nil:
		case ps.dirty() != bestPS.dirty():
			if !ps.dirty() {
				continue
			}
		case ps.savedAt > bestPS.savedAt, ps.savedAt == bestPS.savedAt && part > best:
			continue
		}
		best, bestPS = part, ps
	}
	return best, bestPS
}

// orDefault sets *s to v when it is empty.
func orDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// pacingDefaults fills a model consumer's unset bounds: a checkpoint every
// 5000 events or 5 s, a flush of published events every flushEvents events
// or 5 ms, and the default logger.
func pacingDefaults(ckptEvery *int, ckptInterval *time.Duration, flush *int, flushInterval *time.Duration, flushEvents int, log **slog.Logger) {
	if *ckptEvery <= 0 {
		*ckptEvery = 5000
	}
	if *ckptInterval <= 0 {
		*ckptInterval = 5 * time.Second
	}
	if *flush <= 0 {
		*flush = flushEvents
	}
	if *flushInterval <= 0 {
		*flushInterval = 5 * time.Millisecond
	}
	if *log == nil {
		*log = slog.Default()
	}
}

// ckptCostFactor spaces a model consumer's periodic checkpoints by what
// they cost. A checkpoint writes every partition's whole model, which
// grows with learners and items: at a fixed count of events (5,000 at
// 5,000 statements/s is one a second) it took a growing share of the
// consumer's time, the share during which nothing is learned, and past
// some population (about 50,000 learners) all of it, so the lag grew
// without bound. The next periodic checkpoint waits until the consumer
// has spent ckptCostFactor times the last one's duration handling
// batches: at most a tenth of its working time goes to checkpoints, also
// when it gets little CPU (spacing by wall time let checkpoints take
// 40% of a starved recommender's CPU), and what a crash re-applies is
// bounded by the same multiple. Checkpoints that must happen at once
// (after an erasure) do not wait; an idle consumer's periodic checkpoint
// is spaced by wall time.
const ckptCostFactor = 9

// ckptBytesPerEvent spaces periodic checkpoints by their size as well: the
// next waits for at least the last one's bytes / ckptBytesPerEvent events.
// A checkpoint rewrites whole models into the store's value log, where
// the replaced ones stay on disk until the next collection: with the load
// tool's 1,000 learners a recommender checkpoint is 5.6 MB, and one every
// 5,000 events wrote 1.1 KB per statement, more than the statement itself,
// growing with the population. Bounded, checkpoints write at most this
// much per event, and a crash replays at most bytes / ckptBytesPerEvent
// events (22,000 for the same 5.6 MB).
const ckptBytesPerEvent = 256

// ckptDue says whether a periodic checkpoint is due: since events or the
// interval since the last, once its cost has been paid back by busy, the
// time spent handling batches since the last, and its size by events
// (ckptBytesPerEvent).
func ckptDue(since, every int, last time.Time, interval, cost, busy time.Duration, size int, now time.Time) bool {
	if busy < ckptCostFactor*cost || since < size/ckptBytesPerEvent {
		return false
	}
	return since >= every || now.Sub(last) >= interval
}

// idleCkptDue says whether the periodic timer should checkpoint: once the
// input has stopped for an interval, nine times the last checkpoint's
// duration after it; while batches still come (HandleBatch's own
// checkpoints are spaced by working time, which thin input accumulates
// slowly), four times later than that, so that item factors are still
// exchanged and replay stays bounded in wall time, at under 3% of it.
// stopped says the input stopped: then the checkpoint writes every
// partition, as nothing waits on an idle consumer; while thin input still
// comes, one, as HandleBatch's (partModels.toWrite).
func idleCkptDue(lastBatch, last time.Time, interval, cost time.Duration, now time.Time) (due, stopped bool) {
	since := now.Sub(last)
	if now.Sub(lastBatch) >= interval {
		return since >= ckptCostFactor*cost, true
	}
	return since >= max(interval, 4*ckptCostFactor*cost), false
}

// graphMemo keeps the catalog graph of each tenant for the length of one
// fetched batch: reading it checks the catalog projection's freshness in
// Badger, which per statement was a visible share of a model consumer's
// time, while a batch is a few milliseconds of input.
type graphMemo map[string]*graph.Graph

func (m *graphMemo) reset() { clear(*m) }

func (m *graphMemo) get(c interface {
	Graph(tenant string) (*graph.Graph, error)
}, tenant string) (*graph.Graph, error) {
	if g, ok := (*m)[tenant]; ok {
		return g, nil
	}
	g, err := c.Graph(tenant)
	if err != nil {
		return nil, err
	}
	if *m == nil {
		*m = graphMemo{}
	}
	(*m)[tenant] = g
	return g, nil
}

// Forgetting in model consumers (docs/privacy.md, "What each consumer
// removes"). A LearnerErased reaches a model consumer on the statements
// topic, keyed by the pseudonym, so in the partition whose model holds the
// learner; it names the learner only by pseudonym, which the consumer
// matches against the learners of the tenant's models. The forgetting is
// durable with the next checkpoint, which the consumer writes at once; the
// answer (ErasureApplied) is published after it. A crash before the
// checkpoint re-applies the event (its offset is not saved), and the
// consumer answers then.

// errNoPseudonyms parks a LearnerErased a consumer cannot match.
var errNoPseudonyms = event.Reject(errors.New("learner erased, but this consumer has no pseudonyms (privacy is off): the learner cannot be found"))

// matchPseudonym returns the learner among learners whose pseudonym in
// tenant is pseudonym.
func matchPseudonym(ps privacy.Pseudonyms, tenant, pseudonym string, learners iter.Seq[string]) (string, bool) {
	for l := range learners {
		if ps.Pseudonym(tenant, l) == pseudonym {
			return l, true
		}
	}
	return "", false
}

// isPrivacyType reports whether e is of privacy event type t (any major
// version: a wrong one is the decoder's to reject).
func isPrivacyType(e event.Event, t string) bool {
	name, _, err := event.SplitType(e.Type)
	want, _, _ := event.SplitType(t)
	return err == nil && name == want
}

// dropLearnerEvents removes from an outbox the events of learner in tenant
// not published yet, and returns the kept ones (with their parallel
// slice, when there is one): published after the erasure, they would
// bring the learner back.
func dropLearnerEvents[T any](evs []event.Event, at []T, tenant, learner string) ([]event.Event, []T, int) {
	kept, keptAt := evs[:0], at[:0]
	n := 0
	for i, e := range evs {
		if e.Tenant == tenant && e.Key == learner {
			n++
			continue
		}
		kept = append(kept, e)
		if at != nil {
			keptAt = append(keptAt, at[i])
		}
	}
	clear(evs[len(kept):])
	return kept, keptAt, n
}
