package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

var sinkRows = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_analytics_rows_total",
	Help: "Rows the analytics sink wrote to ClickHouse, by table.",
}, []string{"table"})

// Writer stores a batch of rows durably: it returns nil only once every row
// was accepted. ClickHouseWriter is the production Writer.
type Writer interface {
	Write(ctx context.Context, rows []Row) error
}

// storedTypes are the event type names (without the major version) the
// sink turns into rows. Everything else on its topics (attachments,
// documents, item factors, types added later) is not analytics data.
var storedTypes = map[string]bool{}

func init() {
	for _, t := range []string{event.TypeStatementStored, TypeRecommendationsUpdated, TypeMasteryUpdated, TypeDifficultyAdjusted,
		TypeCatalogSkillPut, TypeCatalogSkillDeleted, TypeCatalogPrerequisitePut, TypeCatalogPrerequisiteDeleted,
		TypeCatalogActivityPut, TypeCatalogActivityDeleted, TypeCatalogActivitySeen, TypeCatalogRolePut,
		TypeCatalogRoleDeleted, TypeCatalogLearnerRolePut} {
		storedTypes[strings.TrimSuffix(t, ".v1")] = true
	}
}

// Stores reports whether the sink writes rows for events of type typ (any
// major version: an unknown major version of a stored type is rejected,
// not ignored).
func Stores(typ string) bool {
	name, _, err := event.SplitType(typ)
	return err == nil && storedTypes[name]
}

// Sink is the analytics role's batch handler (it implements
// streams.BatchHandler): Add encodes an event into the pending batch, Flush
// writes the batch. The consumer commits its offsets only after a
// successful Flush, so an event is never lost; a flush that fails keeps the
// batch and is retried whole, which can write some rows twice, harmlessly:
// every table collapses rows of the same fact (see docs/analytics.md).
// Not safe for concurrent use.
type Sink struct {
	enc   *Encoder
	w     Writer
	batch *Batcher
	log   *slog.Logger

	// forgets are the erasures and retentions added since the last
	// Flush, run by it after the rows, in order.
	forgets   []forget
	onErasure func(ctx context.Context, tenant string, e privacy.LearnerErased, removed map[string]int64) error

	// optOuts keeps the learners without consent to analytics (tenant NUL
	// row pseudonym) durably; optOut is its copy in memory, and tenants
	// counts the opt-outs per tenant, so that tenants without any pay
	// nothing per event.
	optOuts   OptOutStore
	optOut    map[string]bool
	optTenant map[string]int
	optedOut  atomic.Int64

	ignored atomic.Int64
	batches atomic.Int64
	rows    atomic.Int64
}

// SinkConfig configures a Sink.
type SinkConfig struct {
	Encoder *Encoder // default Default
	Writer  Writer   // required
	// Batch bounds the pending rows (MaxRows, MaxBytes); the consumer asks
	// Full to flush early. MaxWait is the consumer's business.
	Batch  BatcherConfig
	Logger *slog.Logger
	// OnErasure answers a LearnerErased with what it removed, once the
	// deletes are done and before the offsets advance
	// (streams.AnswerErasure); an error fails the Flush, to be retried.
	// The default logs. The erasure reaches the sink on every topic it
	// reads and is applied whole each time: rows a lagging topic wrote
	// after the first are deleted by its own, and its answer counts what
	// was left (a receipt keeps the first answer).
	OnErasure func(ctx context.Context, tenant string, e privacy.LearnerErased, removed map[string]int64) error
	// OptOuts, when set, makes the sink honour consent to analytics
	// (privacy.ConsentSet on the statements topic): a learner who
	// withdraws it is left out from then on, and their rows are deleted
	// as on erasure (docs/privacy.md, Consent).
	OptOuts OptOutStore
}

// OptOutStore keeps the learners who withdrew consent to analytics
// (projections.AnalyticsOptOuts).
type OptOutStore interface {
	All() (map[string]bool, error)
	Set(tenant, pseudonym string, out bool) error
}

// forget is a LearnerErased or a RetentionApplied waiting for Flush.
type forget struct {
	tenant    string
	erased    *privacy.LearnerErased
	retention *privacy.RetentionApplied
	// optOut is the row pseudonym of a learner who withdrew consent to
	// analytics.
	optOut string
}

// NewSink returns a sink writing through c.Writer.
func NewSink(c SinkConfig) *Sink {
	if c.Encoder == nil {
		c.Encoder = Default
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	s := &Sink{enc: c.Encoder, w: c.Writer, batch: NewBatcher(c.Batch), log: c.Logger, onErasure: c.OnErasure,
		optOuts: c.OptOuts, optOut: map[string]bool{}, optTenant: map[string]int{}}
	if s.onErasure == nil {
		s.onErasure = func(_ context.Context, _ string, e privacy.LearnerErased, removed map[string]int64) error {
			s.log.Info("analytics sink: erasure applied", "erasure", e.Erasure, "removed", removed)
			return nil
		}
	}
	return s
}

// LoadOptOuts reads the opt-outs kept by the OptOutStore; call it once
// before the first Add.
func (s *Sink) LoadOptOuts() error {
	if s.optOuts == nil {
		return nil
	}
	all, err := s.optOuts.All()
	if err != nil {
		return fmt.Errorf("analytics sink: consent opt-outs: %w", err)
	}
	for k := range all {
		s.optOut[k] = true
		tenant, _, _ := strings.Cut(k, "\x00")
		s.optTenant[tenant]++
	}
	return nil
}

// SeedOptOut records the opt-out of a learner (learner key) known
// elsewhere (the consent read model): the sink's own record of it may have
// been lost with the projections directory, while its offsets, in Kafka,
// are past the withdrawal.
func (s *Sink) SeedOptOut(tenant, learner string) error {
	if s.optOuts == nil {
		return nil
	}
	p, err := s.enc.Pseudonymizer.Pseudonym(tenant, learner)
	if err != nil {
		return err
	}
	return s.setOptOut(tenant, p, true)
}

func (s *Sink) setOptOut(tenant, pseudo string, out bool) error {
	k := tenant + "\x00" + pseudo
	if s.optOut[k] == out {
		return nil
	}
	if err := s.optOuts.Set(tenant, pseudo, out); err != nil {
		return fmt.Errorf("analytics sink: consent opt-out: %w", err)
	}
	if out {
		s.optOut[k] = true
		s.optTenant[tenant]++
	} else {
		delete(s.optOut, k)
		s.optTenant[tenant]--
	}
	return nil
}

// consent applies a ConsentSet: the opt-out is kept before the event's
// offset can be committed, and a withdrawal deletes the learner's rows at
// the next Flush, after the rows added before it.
func (s *Sink) consent(e event.Event) error {
	if _, major, _ := event.SplitType(e.Type); major != 1 {
		return event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want 1)", major, consentName))
	}
	c, err := privacy.DecodeConsentSet(e.Data)
	if err != nil {
		return event.Reject(err)
	}
	p, err := s.enc.Pseudonymizer.Pseudonym(e.Tenant, c.Learner)
	if err != nil {
		return err
	}
	if err := s.setOptOut(e.Tenant, p, !c.Analytics); err != nil {
		return err
	}
	if !c.Analytics {
		// Also when the opt-out was known: a crash may have come between
		// keeping it and deleting the rows.
		s.forgets = append(s.forgets, forget{tenant: e.Tenant, optOut: p})
	}
	return nil
}

// optedOut reports whether e is about a learner without consent to
// analytics. Learner events are keyed by the learner key (the transport
// restores it from the pseudonym), learner roles by learner_role:<key>.
func (s *Sink) optedOutOf(e event.Event) (bool, error) {
	if s.optTenant[e.Tenant] == 0 {
		return false, nil
	}
	key := strings.TrimPrefix(e.Key, "learner_role:")
	p, err := s.enc.Pseudonymizer.Pseudonym(e.Tenant, key)
	if err != nil {
		return false, err
	}
	return s.optOut[e.Tenant+"\x00"+p], nil
}

// Add encodes e into the pending batch. Events of a type the sink does not
// store are skipped. A malformed event of a stored type returns an error
// wrapped by event.Reject (the consumer dead-letters it and goes on) and
// leaves the batch unchanged: every row of an event is encoded before any
// is added. A *ConfigError (pseudonymisation without a secret) is not the
// event's fault and is returned as is, to stop the consumer.
func (s *Sink) Add(e event.Event, _ event.Position) error {
	if f, ok, err := s.decodeForget(e); ok || err != nil {
		if err != nil {
			return err
		}
		if f.erased != nil && s.optOuts != nil {
			// Nothing of the learner is kept, not even their opt-out.
			if err := s.setOptOut(f.tenant, f.erased.Pseudonym, false); err != nil {
				return err
			}
		}
		s.forgets = append(s.forgets, f)
		return nil
	}
	if s.optOuts != nil {
		if name, _, _ := event.SplitType(e.Type); name == consentName {
			return s.consent(e)
		}
	}
	if !Stores(e.Type) {
		s.ignored.Add(1)
		return nil
	}
	if out, err := s.optedOutOf(e); err != nil || out {
		if out {
			s.optedOut.Add(1)
		}
		return err
	}
	rows, err := s.enc.Rows(e)
	if err != nil {
		return err
	}
	s.batch.Add(rows...)
	return nil
}

// decodeForget reports whether e is a LearnerErased or RetentionApplied,
// and checks it: a malformed one is rejected naming the field.
func (s *Sink) decodeForget(e event.Event) (forget, bool, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return forget{}, false, nil
	}
	eName, _, _ := event.SplitType(privacy.TypeLearnerErased)
	rName, _, _ := event.SplitType(privacy.TypeRetentionApplied)
	if name != eName && name != rName {
		return forget{}, false, nil
	}
	if major != 1 {
		return forget{}, true, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want 1)", major, name))
	}
	f := forget{tenant: e.Tenant}
	if name == eName {
		d, err := privacy.DecodeLearnerErased(e)
		if err != nil {
			return forget{}, true, err
		}
		if !s.enc.Pseudonymizer.Private() {
			// Its rows carry the sink's own pseudonyms, which the event's
			// cannot find: park it until the sink runs with privacy on.
			return forget{}, true, event.Reject(errors.New("learner erased, but the sink does not use the privacy pseudonyms (privacy is off): its rows cannot be found"))
		}
		f.erased = &d
		return f, true, nil
	}
	d, err := privacy.DecodeRetentionApplied(e)
	if err != nil {
		return forget{}, true, err
	}
	f.tenant, f.retention = d.Tenant, &d
	return f, true, nil
}

var consentName, _, _ = event.SplitType(privacy.TypeConsentSet)

// Full reports whether the pending batch reached its row or byte bound, so
// the consumer flushes before adding more.
func (s *Sink) Full() bool { return s.batch.Full() }

// Pending is the number of rows waiting for Flush.
func (s *Sink) Pending() int { return s.batch.Len() }

// Flush writes every pending row and empties the batch only when the
// writer accepted all of them; after an error the same rows are written
// again by the next Flush.
func (s *Sink) Flush(ctx context.Context) error {
	if err := s.flushRows(ctx); err != nil {
		return err
	}
	// After the rows, so that rows of an erased learner added before the
	// erasure are deleted with the rest.
	for len(s.forgets) > 0 {
		if err := s.runForget(ctx, s.forgets[0]); err != nil {
			return err
		}
		s.forgets = s.forgets[1:]
	}
	return nil
}

func (s *Sink) runForget(ctx context.Context, f forget) error {
	fg, ok := s.w.(Forgetter)
	if !ok {
		return &ConfigError{"the writer cannot delete rows (not a Forgetter): erasure and retention cannot be applied"}
	}
	if f.optOut != "" {
		if !privacy.IsPseudonym(f.optOut) {
			s.log.Warn("analytics sink: a learner withdrew consent to analytics; their new rows are left out, but rows written before cannot be found without the privacy pseudonyms (privacy is off)", "tenant", f.tenant)
			return nil
		}
		removed, err := EraseLearner(ctx, fg, f.tenant, f.optOut)
		if err != nil {
			return err
		}
		s.log.Info("analytics sink: consent to analytics withdrawn; the learner's rows deleted", "tenant", f.tenant, "removed", removed)
		return nil
	}
	if f.erased != nil {
		removed, err := EraseLearner(ctx, fg, f.tenant, f.erased.Pseudonym)
		if err != nil {
			return err
		}
		return s.onErasure(ctx, f.tenant, *f.erased, removed)
	}
	removed, err := ApplyRetention(ctx, fg, f.tenant, f.retention.Before)
	if err != nil {
		return err
	}
	s.log.Info("analytics sink: retention applied", "tenant", f.tenant, "before", f.retention.Before, "removed", removed)
	return nil
}

func (s *Sink) flushRows(ctx context.Context) error {
	rows := s.batch.Rows()
	if len(rows) == 0 {
		return nil
	}
	start := time.Now()
	if err := s.w.Write(ctx, rows); err != nil {
		return fmt.Errorf("analytics sink: write %d rows: %w", len(rows), err)
	}
	s.batch.Take()
	perTable := map[string]int{}
	for _, r := range rows {
		perTable[r.Table()]++
	}
	for t, n := range perTable {
		sinkRows.WithLabelValues(t).Add(float64(n))
	}
	b, n := s.batches.Add(1), s.rows.Add(int64(len(rows)))
	s.log.Debug("analytics sink: batch written", "rows", len(rows), "tables", len(perTable),
		"took", time.Since(start).Round(time.Millisecond), "batches_total", b, "rows_total", n)
	return nil
}

// SinkStats are a sink's running totals.
type SinkStats struct {
	Batches, Rows, Ignored int64
	// OptedOut counts the events left out for want of consent.
	OptedOut int64
}

// Stats returns the totals so far; safe to call from any goroutine.
func (s *Sink) Stats() SinkStats {
	return SinkStats{Batches: s.batches.Load(), Rows: s.rows.Load(), Ignored: s.ignored.Load(), OptedOut: s.optedOut.Load()}
}
