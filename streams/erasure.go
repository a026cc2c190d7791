package streams

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

// LearnerTopics are the topics that carry learner events: an erasure
// publishes LearnerErased on each (docs/privacy.md).
var LearnerTopics = []string{TopicStatements, TopicDocuments, TopicCatalog, TopicAdaptive, TopicRecommendations, TopicPrivacy}

// privacyEvent builds an event of the privacy design: JSON data, keyed by
// key, with a deterministic id so that publishing it again (a resumed
// erasure, a consumer answering twice) writes the same record.
func privacyEvent(id, typ, source, tenant, key string, at time.Time, data any) (event.Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return event.Event{}, err
	}
	return event.Event{ID: id, Type: typ, Source: source, Time: at.UTC(), Tenant: tenant,
		ContentType: event.ContentTypeJSON, Key: key, Data: b}, nil
}

// ErasureAppliedEvent is the event of a consumer's answer to an erasure:
// keyed by the pseudonym (in order with the erasure's other records on the
// privacy topic), its id derived from the erasure and the consumer.
func ErasureAppliedEvent(source, tenant string, a privacy.ErasureApplied) (event.Event, error) {
	return privacyEvent(DerivedID("erasure-applied", a.Erasure+"\x00"+a.Consumer), privacy.TypeErasureApplied,
		source, tenant, a.Pseudonym, a.At, a)
}

// AnswerErasure publishes a consumer's answer directly: for consumers that
// keep no state in the projections store (the analytics sink), which call
// it after their deletion is durable and before committing their offset.
// A crash in between makes the consumer apply the LearnerErased again and
// answer again with what was left (the receipt keeps the first answer).
func AnswerErasure(ctx context.Context, pub EventPublisher, source, tenant, consumer string, le privacy.LearnerErased, removed map[string]int64) error {
	if removed == nil {
		removed = map[string]int64{}
	}
	e, err := ErasureAppliedEvent(source, tenant, privacy.ErasureApplied{Erasure: le.Erasure, Consumer: consumer,
		Pseudonym: le.Pseudonym, Removed: removed, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := pub.PublishEvents(ctx, TopicPrivacy, e); err != nil {
		return fmt.Errorf("answer erasure %s for %s: %w", le.Erasure, consumer, err)
	}
	return nil
}

// ErasureAnswers publishes the answers consumers recorded in the store
// (projections.RecordErasureApplied) and forgets each once the broker has
// it. One runs per process with a projections store.
type ErasureAnswers struct {
	Store     *projections.Store
	Publisher EventPublisher
	Source    string
	// Interval between looks at the store (default 500ms).
	Interval time.Duration
	Logger   *slog.Logger
	// Published, when set, hears the erasures (id to tenant) whose
	// answers were published: their deletions are durable in the store,
	// which a purge can now clear from disk.
	Published func(erasures map[string]string)
}

// Run publishes pending answers until ctx ends.
func (a *ErasureAnswers) Run(ctx context.Context) {
	if a.Interval <= 0 {
		a.Interval = 500 * time.Millisecond
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	for {
		if err := a.Flush(ctx); err != nil && ctx.Err() == nil {
			log.Warn("publish erasure answers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Flush publishes every pending answer once.
func (a *ErasureAnswers) Flush(ctx context.Context) error {
	pending, err := a.Store.PendingErasureAnswers()
	if err != nil || len(pending) == 0 {
		return err
	}
	evs := make([]event.Event, 0, len(pending))
	for _, p := range pending {
		e, err := ErasureAppliedEvent(a.Source, p.Tenant, p.Answer)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	if err := a.Publisher.PublishEvents(ctx, TopicPrivacy, evs...); err != nil {
		return err
	}
	ids := make(map[string]string, len(pending))
	for _, p := range pending {
		if err := a.Store.ForgetErasureAnswer(p.Answer.Erasure, p.Answer.Consumer); err != nil {
			return err
		}
		ids[p.Answer.Erasure] = p.Tenant
	}
	if a.Published != nil {
		a.Published(ids)
	}
	return nil
}

// StorePurgedEvent is the record of a purge of a projections store after
// erasures of tenant, keyed by the store.
func StorePurgedEvent(source, tenant string, p privacy.StorePurged) (event.Event, error) {
	return privacyEvent(DerivedID("store-purged", p.Store+"\x00"+tenant+"\x00"+p.At.Format(time.RFC3339Nano)), privacy.TypeStorePurged,
		source, tenant, p.Store, p.At, p)
}

// KeyDestroyer destroys a learner's data keys (streams.Vault).
type KeyDestroyer interface {
	DestroyLearner(ctx context.Context, tenant, pseudonym string) (kids []string, err error)
}

// Eraser orchestrates erasures: it records the request, destroys the
// learner's keys, publishes LearnerErased on every learner topic and marks
// the erasure published, each step after the previous one is durable.
// Every record it writes has a deterministic id and content, so an erasure
// resumed after a crash (Run picks up every erasure the receipts show as
// open) writes the same records again and consumers apply them
// idempotently.
type Eraser struct {
	Receipts   *projections.Erasures
	Keys       KeyDestroyer
	Pseudonyms privacy.Pseudonyms
	Publisher  interface {
		PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
	}
	Source string
	// Topics default to LearnerTopics.
	Topics []string
	// Ready reports whether the receipts have caught up with the privacy
	// topic; Run resumes nothing before (nil: always ready).
	Ready func() bool
	// Interval between looks for open erasures (default 500ms).
	Interval time.Duration
	Logger   *slog.Logger
	// AfterStep, when set, is called after each step (tests stop a
	// process there).
	AfterStep func(erasure, step string)

	mu        sync.Mutex
	done      map[string]bool
	finalDone map[string]bool
	wake      chan struct{}
}

func (x *Eraser) init() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
		x.done, x.finalDone = map[string]bool{}, map[string]bool{}
	}
}

// Request records an erasure of learner (a learner key) of tenant and
// returns its id; Run carries it out.
func (x *Eraser) Request(ctx context.Context, tenant, learner, by string, consumers []string) (string, error) {
	x.init()
	id, err := newUUID()
	if err != nil {
		return "", err
	}
	pseudonym := x.Pseudonyms.Pseudonym(tenant, learner)
	now := time.Now().UTC()
	e, err := privacyEvent(id, privacy.TypeErasureRequested, x.Source, tenant, pseudonym, now, privacy.ErasureRequested{
		Erasure: id, Pseudonym: pseudonym, By: by, At: now, Reason: "request", Tenant: tenant, Consumers: consumers})
	if err != nil {
		return "", err
	}
	if err := x.Publisher.PublishEvents(ctx, TopicPrivacy, e); err != nil {
		return "", fmt.Errorf("record erasure request: %w", err)
	}
	select {
	case x.wake <- struct{}{}:
	default:
	}
	return id, nil
}

// Run carries out open erasures until ctx ends.
func (x *Eraser) Run(ctx context.Context) {
	x.init()
	if x.Interval <= 0 {
		x.Interval = 500 * time.Millisecond
	}
	log := x.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(x.Interval)
	defer t.Stop()
	for {
		if x.Ready == nil || x.Ready() {
			if err := x.RunOnce(ctx); err != nil && ctx.Err() == nil {
				log.Warn("erasure", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-x.wake:
		}
	}
}

// RunOnce carries out every open erasure once.
func (x *Eraser) RunOnce(ctx context.Context) error {
	x.init()
	open, err := x.Receipts.Open(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range open {
		x.mu.Lock()
		done := x.done[o.ID]
		x.mu.Unlock()
		if done {
			continue // published; the receipts will show it
		}
		if err := x.erase(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("erasure %s: %w", o.ID, err))
			continue
		}
		x.mu.Lock()
		x.done[o.ID] = true
		x.mu.Unlock()
	}
	// Once every consumer answered, nothing of this install publishes for
	// the learner any more: destroy the keys once more, so a key a model
	// made for output it computed before meeting the erasure cannot open
	// that output in a replay.
	finishing, err := x.Receipts.Finishing(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, o := range finishing {
		x.mu.Lock()
		done := x.finalDone[o.ID]
		x.mu.Unlock()
		if done {
			continue
		}
		if err := x.finish(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("erasure %s: %w", o.ID, err))
			continue
		}
		x.mu.Lock()
		x.finalDone[o.ID] = true
		x.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (x *Eraser) log() *slog.Logger {
	if x.Logger == nil {
		return slog.Default()
	}
	return x.Logger
}

func (x *Eraser) finish(ctx context.Context, o projections.OpenErasure) error {
	var kids []string
	if x.Keys != nil {
		var err error
		if kids, err = x.Keys.DestroyLearner(ctx, o.Tenant, o.Pseudonym); err != nil {
			return fmt.Errorf("destroy keys made during the erasure: %w", err)
		}
	}
	now := time.Now().UTC()
	e, err := privacyEvent(DerivedID("erasure-keys-final", o.ID), privacy.TypeErasureKeysDestroyed, x.Source, o.Tenant, o.Pseudonym, now,
		privacy.ErasureKeysDestroyed{Erasure: o.ID, Pseudonym: o.Pseudonym, Keys: len(kids), At: now, Final: true})
	if err != nil {
		return err
	}
	if err := x.Publisher.PublishEvents(ctx, TopicPrivacy, e); err != nil {
		return fmt.Errorf("record the final key destruction: %w", err)
	}
	x.step(o.ID, "final-keys")
	return nil
}

func (x *Eraser) step(erasure, name string) {
	if x.AfterStep != nil {
		x.AfterStep(erasure, name)
	}
}

func (x *Eraser) erase(ctx context.Context, o projections.OpenErasure) error {
	if !o.KeysDestroyed {
		var kids []string
		if x.Keys != nil {
			var err error
			if kids, err = x.Keys.DestroyLearner(ctx, o.Tenant, o.Pseudonym); err != nil {
				return fmt.Errorf("destroy keys: %w", err)
			}
		}
		x.step(o.ID, "keys")
		now := time.Now().UTC()
		e, err := privacyEvent(DerivedID("erasure-keys", o.ID), privacy.TypeErasureKeysDestroyed, x.Source, o.Tenant, o.Pseudonym, now,
			privacy.ErasureKeysDestroyed{Erasure: o.ID, Pseudonym: o.Pseudonym, Keys: len(kids), At: now})
		if err != nil {
			return err
		}
		if err := x.Publisher.PublishEvents(ctx, TopicPrivacy, e); err != nil {
			return fmt.Errorf("record destroyed keys: %w", err)
		}
		x.step(o.ID, "keys-recorded")
	}
	topics := x.Topics
	if len(topics) == 0 {
		topics = LearnerTopics
	}
	le := privacy.LearnerErased{Erasure: o.ID, Pseudonym: o.Pseudonym, At: o.RequestedAt}
	for _, topic := range topics {
		// The same record whenever it is published: the request's time,
		// an id of the erasure and topic.
		e, err := privacyEvent(DerivedID("learner-erased", o.ID+"\x00"+topic), privacy.TypeLearnerErased, x.Source, o.Tenant,
			o.Pseudonym, o.RequestedAt, le)
		if err != nil {
			return err
		}
		if err := x.Publisher.PublishEvents(ctx, topic, e); err != nil {
			return fmt.Errorf("publish LearnerErased on %s: %w", topic, err)
		}
		x.step(o.ID, "published "+topic)
	}
	// A write of the learner accepted between the destruction and now got
	// a fresh key; its record precedes the LearnerErased in its partition
	// (consumers delete it), and its key goes now, so the log cannot
	// open it either.
	if x.Keys != nil {
		kids, err := x.Keys.DestroyLearner(ctx, o.Tenant, o.Pseudonym)
		if err != nil {
			return fmt.Errorf("destroy keys made during the erasure: %w", err)
		}
		if len(kids) > 0 {
			x.log().Info("destroyed keys a racing write made during an erasure", "erasure", o.ID, "keys", len(kids))
		}
	}
	now := time.Now().UTC()
	e, err := privacyEvent(DerivedID("erasure-completed", o.ID), privacy.TypeErasureCompleted, x.Source, o.Tenant, o.Pseudonym, now,
		privacy.ErasureCompleted{Erasure: o.ID, Pseudonym: o.Pseudonym, Topics: slices.Clone(topics), At: now})
	if err != nil {
		return err
	}
	if err := x.Publisher.PublishEvents(ctx, TopicPrivacy, e); err != nil {
		return fmt.Errorf("record erasure published: %w", err)
	}
	x.step(o.ID, "completed")
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
