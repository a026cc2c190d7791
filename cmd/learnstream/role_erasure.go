package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// Erasure (docs/privacy.md, Erasure). Every process publishes the answers
// its consumers recorded (streams.ErasureAnswers) and purges its store
// after erasures; a process running the api role also keeps the receipts
// (the erasures projection over learnstream.privacy.v1), serves DELETE
// /v1/learners/{learner} and GET /v1/erasures/{id}, and carries erasures
// out (streams.Eraser), resuming every open one at start.
func init() { roleStarters = append(roleStarters, startErasure) }

// envFaultErasureKill names an erasure step (keys, keys-recorded,
// published <topic>, completed) after which the process kills itself
// with SIGKILL: how the tests show that an erasure survives a crash
// between any two steps.
const envFaultErasureKill = "LEARNSTREAM_FAULT_ERASURE_KILL"

type erasureConfig struct {
	consumers  string
	purgeEvery time.Duration
}

func (c *erasureConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.consumers, "erasure-consumers", "", "comma-separated consumers every erasure waits for (its receipt lists them); "+
		"default: those of the roles this process runs. Split deployments name every consumer of the install here, on the api processes")
	fs.DurationVar(&c.purgeEvery, "purge-every", 10*time.Minute, "after an erasure, purge the projections store (drop deleted values from disk) at most this often")
}

func (c *erasureConfig) validate() []error {
	var errs []error
	if c.purgeEvery < time.Second {
		errs = append(errs, fmt.Errorf("--purge-every: must be at least 1s, got %v", c.purgeEvery))
	}
	for _, n := range strings.Split(c.consumers, ",") {
		if n = strings.TrimSpace(n); strings.ContainsAny(n, " \t/") {
			errs = append(errs, fmt.Errorf("--erasure-consumers: %q is not a consumer name", n))
		}
	}
	return errs
}

// learnerTopic reports whether topic carries learner events (a projection
// consuming it answers erasures).
func learnerTopic(topic string) bool { return slices.Contains(streams.LearnerTopics, topic) }

// expectErasureAnswer adds a consumer every erasure started by this
// process waits for.
func (rt *runtime) expectErasureAnswer(name string) {
	rt.erasureMu.Lock()
	defer rt.erasureMu.Unlock()
	if !slices.Contains(rt.erasureConsumers, name) {
		rt.erasureConsumers = append(rt.erasureConsumers, name)
	}
}

// expectedErasureAnswers are the consumers an erasure waits for:
// --erasure-consumers, or those this process runs.
func (rt *runtime) expectedErasureAnswers() []string {
	if rt.cfg.erasure.consumers != "" {
		var out []string
		for _, n := range strings.Split(rt.cfg.erasure.consumers, ",") {
			if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out
	}
	rt.erasureMu.Lock()
	defer rt.erasureMu.Unlock()
	return slices.Sorted(slices.Values(rt.erasureConsumers))
}

func startErasure(rt *runtime, roles map[string]bool) error {
	if roles["recommender"] {
		rt.expectErasureAnswer(streams.RecommenderConsumer)
	}
	if roles["adaptive"] {
		rt.expectErasureAnswer(streams.AdaptiveConsumer)
	}
	pub := streams.EventPublisher{Publisher: rt.pub}
	host, _ := os.Hostname()
	p := &purger{store: rt.store, every: rt.cfg.erasure.purgeEvery, pub: pub, source: rt.source(),
		name: host + ":" + rt.cfg.dataDir, log: rt.log, pending: map[string]string{}, running: make(chan struct{}, 1)}
	answers := &streams.ErasureAnswers{Store: rt.store, Publisher: pub, Source: rt.source(), Logger: rt.log, Published: p.note}
	rt.goRun(answers.Run)
	rt.goRun(p.run)
	rt.purger = p
	if !roles["api"] {
		return nil
	}
	receipts, err := projections.NewErasures(rt.store, projections.NewWaiters())
	if err != nil {
		return err
	}
	lag, err := rt.project(receipts.Projection, streams.TopicPrivacy, "", nil)
	if err != nil {
		return err
	}
	names, err := pseudonymsOf(rt)
	if err != nil {
		return err
	}
	eraser := &streams.Eraser{Receipts: receipts, Pseudonyms: names, Publisher: pub, Source: rt.source(), Logger: rt.log,
		// Resume nothing before the receipts have read the privacy topic
		// to its end: an open erasure must be seen with its progress.
		Ready: func() bool { n, _, at := lag.Lag(); return !at.IsZero() && n == 0 }}
	if rt.vault != nil {
		eraser.Keys = rt.vault
	}
	if step := os.Getenv(envFaultErasureKill); step != "" {
		// Fault injection for the crash tests: kill -9 this process right
		// after the named step of an erasure.
		eraser.AfterStep = func(_, done string) {
			if done == step {
				rt.log.Warn("killing the process after an erasure step", "env", envFaultErasureKill, "step", step)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	rt.goRun(eraser.Run)
	mod := api.ErasureModule{Erasing: &erasing{rt: rt, eraser: eraser, receipts: receipts, names: names}, Logger: rt.log,
		Purge: func(ctx context.Context) (any, error) { return p.purgeNow(ctx) }}
	rt.apiConfig = append(rt.apiConfig, func(c *api.Config) { c.Modules = append(c.Modules, mod) })
	return nil
}

// erasing implements api.Erasing over this process's read models.
type erasing struct {
	rt       *runtime
	eraser   *streams.Eraser
	receipts *projections.Erasures
	names    privacy.Pseudonyms
}

// Known: the statements (the learner in any part of any statement) and
// documents read models of the api role.
func (e *erasing) Known(ctx context.Context, tenant, learner string) (bool, error) {
	if s := e.rt.statements; s != nil {
		if ok, err := s.Knows(ctx, tenant, learner); err != nil || ok {
			return ok, err
		}
	}
	if d := e.rt.documents; d != nil {
		return d.Knows(ctx, tenant, learner)
	}
	return false, nil
}

func (e *erasing) Request(ctx context.Context, tenant, learner, by string) (string, error) {
	return e.eraser.Request(ctx, tenant, learner, by, e.rt.expectedErasureAnswers())
}

func (e *erasing) OfLearner(ctx context.Context, tenant, learner string) ([]string, error) {
	// Until the receipts have read the privacy topic, an open erasure of
	// the learner (one whose answer a client lost in a crash) cannot be
	// seen, and a DELETE would start a second: a request just after a
	// start waits for them a while, then is refused (503, try again).
	for wait := time.Now().Add(10 * time.Second); e.eraser.Ready != nil && !e.eraser.Ready(); {
		if time.Now().After(wait) {
			return nil, api.ErrErasuresBehind
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return e.receipts.OfLearner(ctx, tenant, e.names.Pseudonym(tenant, learner))
}

func (e *erasing) Receipt(ctx context.Context, tenant, id string) (projections.Receipt, error) {
	return e.receipts.Receipt(ctx, tenant, id)
}

// purger purges the store after erasures, at most every --purge-every,
// and records each purge on the privacy topic for the receipts.
type purger struct {
	store  *projections.Store
	every  time.Duration
	pub    streams.EventPublisher
	source string
	name   string
	log    interface {
		Info(string, ...any)
		Warn(string, ...any)
	}

	mu      sync.Mutex
	pending map[string]string // erasure -> tenant
	last    time.Time
	// running holds one token: one purge at a time, and a caller that
	// gives up (an HTTP client gone) stops waiting for the one running.
	running chan struct{}
	wake    chan struct{}
}

func (p *purger) note(ids map[string]string) {
	p.mu.Lock()
	maps.Copy(p.pending, ids)
	w := p.wake
	p.mu.Unlock()
	if w != nil {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

func (p *purger) run(ctx context.Context) {
	p.mu.Lock()
	p.wake = make(chan struct{}, 1)
	p.mu.Unlock()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wake:
		}
		p.mu.Lock()
		due := len(p.pending) > 0 && time.Since(p.last) >= p.every
		p.mu.Unlock()
		if due {
			if _, err := p.purgeNow(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("purge after erasure", "err", err)
			}
		}
	}
}

// purgeAnswer is what a purge on demand answers.
type purgeAnswer struct {
	projections.PurgeStats
	Store    string   `json:"store"`
	Erasures []string `json:"erasures"`
}

// purgeNow purges the store and records the purge for the erasures
// applied since the last one.
func (p *purger) purgeNow(ctx context.Context) (purgeAnswer, error) {
	select {
	case p.running <- struct{}{}:
	case <-ctx.Done():
		return purgeAnswer{}, fmt.Errorf("waiting for the purge in progress: %w", context.Cause(ctx))
	}
	defer func() { <-p.running }()
	p.mu.Lock()
	pending := maps.Clone(p.pending)
	p.mu.Unlock()
	ids := slices.Sorted(maps.Keys(pending))
	if ids == nil {
		ids = []string{} // the answer lists none, not null
	}
	st, err := p.store.Purge(ctx)
	if err != nil {
		return purgeAnswer{}, err
	}
	p.mu.Lock()
	p.last = time.Now()
	for _, id := range ids {
		delete(p.pending, id)
	}
	p.mu.Unlock()
	p.log.Info("store purged", "erasures", len(ids), "took", st.Took.Round(time.Millisecond), "lsm_bytes_before", st.LSMBytesBefore, "lsm_bytes_after", st.LSMBytesAfter)
	// One record per tenant: events are a tenant's.
	byTenant := map[string][]string{}
	for _, id := range ids {
		byTenant[pending[id]] = append(byTenant[pending[id]], id)
	}
	var evs []event.Event
	for _, tenant := range slices.Sorted(maps.Keys(byTenant)) {
		e, err := streams.StorePurgedEvent(p.source, tenant, privacy.StorePurged{Store: p.name, Erasures: byTenant[tenant], At: st.At})
		if err != nil {
			return purgeAnswer{}, err
		}
		evs = append(evs, e)
	}
	if len(evs) > 0 {
		if err := p.pub.PublishEvents(ctx, streams.TopicPrivacy, evs...); err != nil {
			// The purge happened; only its record is late. The erasures
			// stay pending and the next purge records them.
			p.mu.Lock()
			maps.Copy(p.pending, pending)
			p.mu.Unlock()
			return purgeAnswer{}, fmt.Errorf("record purge: %w", err)
		}
	}
	return purgeAnswer{PurgeStats: st, Store: p.name, Erasures: ids}, nil
}
