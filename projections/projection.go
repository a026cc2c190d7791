package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
)

// Model is the logic of one read model: how an event changes its keys.
type Model interface {
	// Name identifies the projection (offsets, replay, metrics, CLI).
	Name() string
	// Apply applies e inside txn, writing only keys of sp. It returns what
	// the event did, for writers waiting on it. An error that is the
	// event's own (event.Reject says so explicitly) sends the event to the
	// DLQ; only the store's failures are retried (see storeFailure).
	Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error)
}

var applied = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_projection_events_total",
	Help: "Events consumed by a projection, by outcome.",
}, []string{"projection", "outcome"})

var batchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "learnstream_projection_batch_seconds",
	Help:    "A projection's fetched batches, applied and committed (writes waiting for read-your-writes wait for the statements projection's).",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
}, []string{"projection"})

// Projection runs a Model over its live generation, and rebuilds it into a
// new generation on demand.
type Projection struct {
	store   *Store
	model   Model
	waiters *Waiters
	// batchTime is learnstream_projection_batch_seconds of this projection.
	batchTime prometheus.Observer

	// mu guards live: Handle holds it shared, a swap exclusively, so no
	// live event is applied to a generation that is being retired.
	mu      sync.RWMutex
	live    Space
	rebuild *Rebuild

	// appliedAt holds, per partition, the time (ce_time) of the last
	// event the live generation applied: for the LRS's writes, the
	// statement's stored time. It bounds what a lagging partition holds.
	atMu      sync.Mutex
	appliedAt map[partitionKey]time.Time
}

type partitionKey struct {
	topic     string
	partition int
}

func (p *Projection) noteApplied(pos event.Position, at time.Time) {
	p.atMu.Lock()
	if p.appliedAt == nil {
		p.appliedAt = map[partitionKey]time.Time{}
	}
	p.appliedAt[partitionKey{pos.Topic, pos.Partition}] = at
	p.atMu.Unlock()
}

// countApplied adds a batch's applied events to the metric, one counter
// update per outcome rather than a label lookup per event.
func (p *Projection) countApplied(done []bool, outcomes []Outcome) {
	var byOutcome [Parked + 1]int
	for i, ok := range done {
		if !ok {
			continue
		}
		if o := outcomes[i]; o >= 0 && o <= Parked {
			byOutcome[o]++
		} else {
			applied.WithLabelValues(p.Name(), o.String()).Inc()
		}
	}
	for o, c := range byOutcome {
		if c > 0 {
			applied.WithLabelValues(p.Name(), Outcome(o).String()).Add(float64(c))
		}
	}
}

// noteAppliedBatch is noteApplied for the applied events of a batch, under
// one lock: the last applied event of each partition is what counts.
func (p *Projection) noteAppliedBatch(pos []event.Position, evs []event.Event, done []bool) {
	p.atMu.Lock()
	defer p.atMu.Unlock()
	if p.appliedAt == nil {
		p.appliedAt = map[partitionKey]time.Time{}
	}
	for i, ok := range done {
		if ok {
			p.appliedAt[partitionKey{pos[i].Topic, pos[i].Partition}] = evs[i].Time
		}
	}
}

// AppliedTime returns the event time of the last event the live
// generation applied from a partition since this process started.
func (p *Projection) AppliedTime(topic string, partition int) (time.Time, bool) {
	p.atMu.Lock()
	defer p.atMu.Unlock()
	t, ok := p.appliedAt[partitionKey{topic, partition}]
	return t, ok
}

// Parked tells a writer waiting for e that it was parked in the DLQ
// (streams.ParkObserver), and stops its write holding reads back.
func (p *Projection) Parked(e event.Event) { p.waiters.done(e.ID, Parked) }

// NewProjection loads the live generation of model's projection.
func NewProjection(store *Store, model Model, waiters *Waiters) (*Projection, error) {
	sp, err := store.currentSpace(model.Name())
	if err != nil {
		return nil, fmt.Errorf("projection %s: %w", model.Name(), err)
	}
	return &Projection{store: store, model: model, waiters: waiters, live: sp,
		batchTime: batchSeconds.WithLabelValues(model.Name())}, nil
}

// Name is the model's name.
func (p *Projection) Name() string { return p.model.Name() }

// Space is the live generation, for reads.
func (p *Projection) Space() Space {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.live
}

// version is the live generation's version (offsetCache.version): it
// moves whenever applied events may have changed its state. A read model
// that only applied events change compares it to know whether what it
// read before is still current, without reading the store.
func (p *Projection) version() spaceVersion { return p.store.offsets.version(p.Space()) }

// View runs fn in a read transaction over the live generation.
func (p *Projection) View(fn func(txn *badger.Txn, sp Space) error) error {
	sp := p.Space()
	return p.store.db.View(func(txn *badger.Txn) error { return fn(txn, sp) })
}

// Update runs fn in a read-write transaction over the live generation:
// for state a consumer changes beside its events, such as a delivery queue
// whose head is removed once delivered.
func (p *Projection) Update(fn func(txn *badger.Txn, sp Space) error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	sp := p.live
	return p.store.updateTxn(func(txn *badger.Txn) error { return fn(txn, sp) })
}

// CountKeys counts the live generation's keys under the prefix of parts
// (keys only: values stay on disk).
func (p *Projection) CountKeys(parts ...string) (int, error) {
	n := 0
	err := p.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = sp.Prefix(parts...)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// NextOffset is where the live generation resumes in a partition.
func (p *Projection) NextOffset(_ context.Context, topic string, partition int) (int64, bool, error) {
	return p.store.spaceOffset(p.Space(), topic, partition)
}

// Handle applies a live event.
func (p *Projection) Handle(_ context.Context, pos event.Position, e event.Event) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.handle(p.live, pos, e, true)
}

// HandleBatch applies live events in one transaction with their offsets
// (streams.BatchApplier): a fetched batch costs one commit, not one per
// event. It returns how many, from the first, are applied.
func (p *Projection) HandleBatch(_ context.Context, pos []event.Position, evs []event.Event) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.handleBatch(p.live, pos, evs, true)
}

// Skip advances the live offset past an event sent to the DLQ.
func (p *Projection) Skip(_ context.Context, pos event.Position) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	applied.WithLabelValues(p.Name(), "rejected").Inc()
	_, err := p.store.apply(p.live, pos.Topic, pos.Partition, pos.Offset, nil)
	return event.Transient(err)
}

func (p *Projection) handle(sp Space, pos event.Position, e event.Event, live bool) error {
	for {
		if err := p.handleOnce(sp, pos, e, live); !errors.Is(err, errMoreDeletes) {
			return err
		}
	}
}

func (p *Projection) handleOnce(sp Space, pos event.Position, e event.Event, live bool) error {
	var outcome Outcome
	var modelErr error
	hooks, apply := stagedHooks(p.store, sp, p.model)
	ok, err := p.store.applyHooked(sp, pos.Topic, pos.Partition, pos.Offset, func(txn *badger.Txn) error {
		outcome, modelErr = apply(txn, e)
		return modelErr
	}, hooks)
	if err != nil {
		if event.IsRejected(err) {
			return err
		}
		err = fmt.Errorf("projection %s: apply %s at %s/%d@%d: %w", p.Name(), e.ID, pos.Topic, pos.Partition, pos.Offset, err)
		// What failed outside the model (reading or committing the
		// offset, the commit itself) is the store's failure, and so is a
		// store error the model passed on.
		if modelErr == nil || storeFailure(modelErr) {
			err = event.Transient(err)
		}
		return err
	}
	if ok {
		if live {
			applied.WithLabelValues(p.Name(), outcome.String()).Inc()
			p.noteApplied(pos, e.Time)
		}
		// A rebuild running ahead of the live generation may apply a fresh
		// write first; whoever applies it tells the writer.
		p.waiters.done(e.ID, outcome)
	}
	return nil
}

func (p *Projection) handleBatch(sp Space, pos []event.Position, evs []event.Event, live bool) (int, error) {
	done := 0
	for {
		// An event that deleted more than its transaction takes committed
		// a part and asks to be applied again (errMoreDeletes); the events
		// before it are committed.
		n, err := p.handleBatchOnce(sp, pos[done:], evs[done:], live)
		done += n
		if !errors.Is(err, errMoreDeletes) {
			return done, err
		}
	}
}

func (p *Projection) handleBatchOnce(sp Space, pos []event.Position, evs []event.Event, live bool) (int, error) {
	start := time.Now()
	defer func() { p.batchTime.Observe(time.Since(start).Seconds()) }()
	outcomes := make([]Outcome, len(evs))
	hooks, apply := stagedHooks(p.store, sp, p.model)
	done, n, fnErr, err := p.store.applyBatch(sp, pos, func(txn *badger.Txn, i int) error {
		var err error
		outcomes[i], err = apply(txn, evs[i])
		return err
	}, hooks)
	if live {
		p.countApplied(done[:n], outcomes[:n])
		p.noteAppliedBatch(pos[:n], evs[:n], done[:n])
	}
	p.waiters.doneBatch(evs[:n], done[:n], outcomes[:n])
	switch {
	case err != nil:
		// Outside the models: the offsets or the commit, the store's.
		return n, event.Transient(fmt.Errorf("projection %s: apply batch at %s/%d@%d: %w", p.Name(), pos[n].Topic, pos[n].Partition, pos[n].Offset, err))
	case fnErr != nil && event.IsRejected(fnErr):
		return n, fnErr
	case fnErr != nil:
		err = fmt.Errorf("projection %s: apply %s at %s/%d@%d: %w", p.Name(), evs[n].ID, pos[n].Topic, pos[n].Partition, pos[n].Offset, fnErr)
		if storeFailure(fnErr) {
			err = event.Transient(err)
		}
		return n, err
	}
	return n, nil
}

// storeFailure reports whether err, returned by a model, is Badger telling
// that the store cannot serve now rather than that this event cannot be
// applied: a conflict with a concurrent transaction, a closed or blocked
// database. Errors about the event's writes themselves (a transaction too
// big, a key Badger refuses) are the event's, and I/O errors are found by
// event.Retryable itself.
func storeFailure(err error) bool {
	for _, target := range []error{badger.ErrConflict, badger.ErrDBClosed, badger.ErrBlockedWrites,
		badger.ErrTruncateNeeded} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// spaceInitializer is a Model that writes something into each new,
// empty generation before events are applied to it (the statements
// projection records its key format).
type spaceInitializer interface {
	initSpace(s *Store, sp Space) error
}

// ErrRebuildRunning is returned when a rebuild is asked for during another.
var ErrRebuildRunning = errors.New("a rebuild is already running")

// StartRebuild prepares the next generation, empty, for a consumer that
// reads the topic from offset 0 into it.
func (p *Projection) StartRebuild() (*Rebuild, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rebuild != nil {
		return nil, ErrRebuildRunning
	}
	next := newSpace(p.Name(), p.live.gen+1)
	// Leftovers of an earlier, abandoned rebuild must not leak in.
	if err := p.store.dropSpace(next); err != nil {
		return nil, fmt.Errorf("projection %s: clear generation %d: %w", p.Name(), next.gen, err)
	}
	if in, ok := p.model.(spaceInitializer); ok {
		if err := in.initSpace(p.store, next); err != nil {
			return nil, fmt.Errorf("projection %s: initialise generation %d: %w", p.Name(), next.gen, err)
		}
	}
	if _, ok := p.model.(countedModel); ok {
		if err := markCounted(p.store, next); err != nil {
			return nil, fmt.Errorf("projection %s: initialise generation %d: %w", p.Name(), next.gen, err)
		}
	}
	p.rebuild = &Rebuild{p: p, space: next, started: time.Now()}
	return p.rebuild, nil
}

// Rebuild is a generation being built beside the live one. It implements
// the consumer's Handler and the subscriber's OffsetStore.
type Rebuild struct {
	p       *Projection
	space   Space
	started time.Time
}

// Space is the generation being built.
func (r *Rebuild) Space() Space { return r.space }

// Handle applies an event to the new generation.
func (r *Rebuild) Handle(_ context.Context, pos event.Position, e event.Event) error {
	return r.p.handle(r.space, pos, e, false)
}

// HandleBatch applies events to the new generation in one transaction.
func (r *Rebuild) HandleBatch(_ context.Context, pos []event.Position, evs []event.Event) (int, error) {
	return r.p.handleBatch(r.space, pos, evs, false)
}

// Skip steps over an event the live projection already sent to the DLQ.
func (r *Rebuild) Skip(_ context.Context, pos event.Position) error {
	_, err := r.p.store.apply(r.space, pos.Topic, pos.Partition, pos.Offset, nil)
	return event.Transient(err)
}

// NextOffset is where the rebuild resumes (0 at first).
func (r *Rebuild) NextOffset(_ context.Context, topic string, partition int) (int64, bool, error) {
	return r.p.store.spaceOffset(r.space, topic, partition)
}

// LiveNextOffset is the live generation's next offset, which the rebuild
// must reach before the swap.
func (r *Rebuild) LiveNextOffset(_ context.Context, topic string, partition int) (int64, bool, error) {
	return r.p.store.spaceOffset(r.p.Space(), topic, partition)
}

// CaughtUp reports whether the rebuild has reached the live generation's
// offsets on every partition.
func (r *Rebuild) CaughtUp(topic string, partitions []int) (bool, error) {
	return r.caughtUp(r.p.Space(), topic, partitions)
}

func (r *Rebuild) caughtUp(live Space, topic string, partitions []int) (bool, error) {
	for _, part := range partitions {
		want, _, err := r.p.store.spaceOffset(live, topic, part)
		if err != nil {
			return false, err
		}
		got, _, err := r.p.store.spaceOffset(r.space, topic, part)
		if err != nil {
			return false, err
		}
		if got < want {
			return false, nil
		}
	}
	return true, nil
}

// Finish swaps the new generation in once it has caught up with the live
// one. Live events wait during the swap (only while the rebuild applies the
// few events it still lacks), so the swap loses none; reads see the old
// generation until the instant of the swap, then the new one.
func (r *Rebuild) Finish(ctx context.Context, topic string, partitions []int) error {
	for {
		ok, err := r.CaughtUp(topic, partitions)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	// Live is paused now; the rebuild may still be a few events short of
	// what live applied since the check above.
	for {
		ok, err := r.caughtUp(r.p.live, topic, partitions)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	old := r.p.live
	if err := r.p.store.swapSpace(old, r.space); err != nil {
		return fmt.Errorf("projection %s: swap to generation %d: %w", r.p.Name(), r.space.gen, err)
	}
	r.p.live = r.space
	r.p.rebuild = nil
	return nil
}

// Abandon drops the new generation; the live one stays.
func (r *Rebuild) Abandon() error {
	r.p.mu.Lock()
	r.p.rebuild = nil
	r.p.mu.Unlock()
	return r.p.store.dropSpace(r.space)
}
