package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

var (
	retentionKeys = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_retention_keys_destroyed_total",
		Help: "Data keys the retention role destroyed.",
	})
	retentionRuns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_retention_runs_total",
		Help: "Retention passes over one tenant, by outcome (applied, unchanged, failed).",
	}, []string{"outcome"})
	retentionBefore = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "learnstream_retention_applied_before_seconds",
		Help: "Per tenant, the start (Unix seconds) of the month before which its data was last destroyed.",
	}, []string{"tenant"})
)

// MonthKeyDestroyer destroys a tenant's data keys of the months before a date
// (Vault.DestroyBefore).
type MonthKeyDestroyer interface {
	DestroyBefore(ctx context.Context, tenant string, before time.Time) ([]string, error)
}

// RetentionConfig configures the retention role.
type RetentionConfig struct {
	// Keys is the key store; nil when privacy is off (nothing was
	// sealed): consumers still delete what they derived, the log keeps
	// the events.
	Keys MonthKeyDestroyer
	// Settings lists the tenants with a retention period.
	Settings interface {
		All(ctx context.Context) ([]privacy.RetentionSet, error)
	}
	Publisher interface {
		PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
	}
	// Consents, when set, lists the consent settings set before a cutoff:
	// they are set again (a new ConsentSet, sealed under this month's
	// key) before the keys they were sealed with are destroyed, so a
	// rebuild after retention still honours them.
	Consents interface {
		SetBefore(ctx context.Context, tenant string, t time.Time) ([]projections.ConsentState, error)
	}
	// Topics receive RetentionApplied: every topic with learner events
	// and the privacy topic.
	Topics []string
	// StateFile keeps, per tenant, the cutoff last applied in full, so a
	// restart resumes rather than repeats (a repeat is harmless: keys are
	// destroyed once, the events have the same ids).
	StateFile string
	Every     time.Duration
	Source    string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Retention is the scheduled role that applies each tenant's retention
// period: it destroys the tenant's data keys of every month wholly before
// now-period and tells every consumer (RetentionApplied) to delete what it
// holds from before that month.
type Retention struct {
	cfg  RetentionConfig
	done map[string]time.Time // tenant -> cutoff applied
}

// RetentionTopics are the topics RetentionApplied goes to.
var RetentionTopics = []string{TopicStatements, TopicDocuments, TopicCatalog, TopicAdaptive, TopicRecommendations, TopicPrivacy}

// NewRetention checks cfg and loads the state file.
func NewRetention(cfg RetentionConfig) (*Retention, error) {
	if cfg.Settings == nil || cfg.Publisher == nil || cfg.StateFile == "" {
		return nil, errors.New("retention: settings, publisher and state file are required")
	}
	if cfg.Topics == nil {
		cfg.Topics = RetentionTopics
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	orDefault(&cfg.Source, "learnstream")
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Retention{cfg: cfg, done: map[string]time.Time{}}
	b, err := os.ReadFile(cfg.StateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("retention: %w", err)
	default:
		if err := json.Unmarshal(b, &r.done); err != nil {
			return nil, fmt.Errorf("retention: state file %s is not JSON of tenant to time (delete it to re-apply every tenant's retention, which is harmless): %w", cfg.StateFile, err)
		}
	}
	return r, nil
}

// RetentionEventID is the id of the RetentionApplied of tenant and
// cutoff on one topic: the same on every retry.
func RetentionEventID(tenant string, before time.Time, topic string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + before.UTC().Format(time.RFC3339) + "\x00" + topic))
	return "retention-" + hex.EncodeToString(h[:16])
}

// Run applies retention now and then every Every until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		if err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("retention: pass failed; retried at the next", "every", r.cfg.Every, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce applies every tenant's retention period once.
func (r *Retention) RunOnce(ctx context.Context) error {
	settings, err := r.cfg.Settings.All(ctx)
	if err != nil {
		return fmt.Errorf("retention settings: %w", err)
	}
	now := r.cfg.Now()
	var errs []error
	for _, s := range settings {
		before := privacy.RetentionCutoff(now, s.Days)
		if before.IsZero() || !before.After(r.done[s.Tenant]) {
			retentionRuns.WithLabelValues("unchanged").Inc()
			continue
		}
		if err := r.apply(ctx, s.Tenant, before, now); err != nil {
			retentionRuns.WithLabelValues("failed").Inc()
			errs = append(errs, fmt.Errorf("tenant %s: %w", s.Tenant, err))
			continue
		}
		retentionRuns.WithLabelValues("applied").Inc()
	}
	return errors.Join(errs...)
}

func (r *Retention) apply(ctx context.Context, tenant string, before, now time.Time) error {
	log := r.cfg.Logger.With("tenant", tenant, "before", before.Format("2006-01"))
	if n, err := r.keepConsents(ctx, tenant, before, now); err != nil {
		return fmt.Errorf("set consents again: %w", err)
	} else if n > 0 {
		log.Info("retention: consent settings set again before their month is destroyed", "learners", n)
	}
	destroyed := 0
	if r.cfg.Keys != nil {
		kids, err := r.cfg.Keys.DestroyBefore(ctx, tenant, before)
		if err != nil {
			return fmt.Errorf("destroy keys before %s: %w", before.Format("2006-01"), err)
		}
		destroyed = len(kids)
		retentionKeys.Add(float64(destroyed))
		log.Info("retention: data keys destroyed", "keys", destroyed)
	} else {
		log.Warn("retention: no key store (privacy off): consumers delete what they derived, the log keeps the events")
	}
	data, err := json.Marshal(privacy.RetentionApplied{Tenant: tenant, Before: before, At: now.UTC()})
	if err != nil {
		return err
	}
	for _, topic := range r.cfg.Topics {
		e, err := event.New(RetentionEventID(tenant, before, topic), privacy.TypeRetentionApplied, r.cfg.Source, tenant, tenant, now, data)
		if err != nil {
			return err
		}
		if err := r.cfg.Publisher.PublishEvents(ctx, topic, e); err != nil {
			return fmt.Errorf("publish on %s: %w", topic, err)
		}
		log.Debug("retention: RetentionApplied published", "topic", topic)
	}
	r.done[tenant] = before
	if err := r.save(); err != nil {
		return err
	}
	retentionBefore.WithLabelValues(tenant).Set(float64(before.Unix()))
	log.Info("retention applied", "keys_destroyed", destroyed, "topics", len(r.cfg.Topics))
	return nil
}

// keepConsents publishes again, on the statements topic, every consent
// setting of tenant set before the cutoff, with ids derived from tenant,
// learner and cutoff (a retried pass writes the same ones).
func (r *Retention) keepConsents(ctx context.Context, tenant string, before, now time.Time) (int, error) {
	if r.cfg.Consents == nil {
		return 0, nil
	}
	sts, err := r.cfg.Consents.SetBefore(ctx, tenant, before)
	if err != nil {
		return 0, err
	}
	for _, st := range sts {
		data, err := json.Marshal(privacy.ConsentSet{Learner: st.Learner, Personalisation: st.Personalisation, Analytics: st.Analytics,
			By: st.By, At: now.UTC()})
		if err != nil {
			return 0, err
		}
		h := sha256.Sum256([]byte(tenant + "\x00" + st.Learner + "\x00" + before.UTC().Format(time.RFC3339)))
		e, err := event.New("consent-kept-"+hex.EncodeToString(h[:16]), privacy.TypeConsentSet, r.cfg.Source, tenant, st.Learner, now, data)
		if err != nil {
			return 0, err
		}
		if err := r.cfg.Publisher.PublishEvents(ctx, TopicStatements, e); err != nil {
			return 0, err
		}
	}
	return len(sts), nil
}

// save writes the state file atomically (a crash leaves the old one).
func (r *Retention) save() error {
	b, err := json.Marshal(r.done)
	if err != nil {
		return err
	}
	tmp := r.cfg.StateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(r.cfg.StateFile), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("retention state: %w", err)
	}
	if err := os.Rename(tmp, r.cfg.StateFile); err != nil {
		return fmt.Errorf("retention state: %w", err)
	}
	return nil
}
