package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/analytics"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// The analytics role: the sink that keeps ClickHouse current. It reads the
// statements, recommendations, adaptive and catalog topics in the consumer
// group <prefix>-analytics, flattens each event into rows
// (analytics.Sink) and inserts them in batches; the group's offsets advance
// only after ClickHouse accepted a batch. It runs only with a ClickHouse
// address, and never holds up the rest of the process: while ClickHouse is
// unreachable it waits (and the LRS keeps ingesting), then catches up from
// its committed offsets.
func init() { roleStarters = append(roleStarters, startAnalytics) }

// pseudonymSecretName is the store key under which earlier releases kept
// the generated pseudonym secret.
const pseudonymSecretName = "analytics-pseudonym-secret"

// analyticsConfig are the analytics role's flags.
type analyticsConfig struct {
	clickhouseFlags
	batchRows       int
	flushInterval   time.Duration
	pseudonymize    bool
	pseudonymSecret string
}

func (c *analyticsConfig) flags(fs *flag.FlagSet) {
	c.clickhouseFlags.flags(fs)
	fs.IntVar(&c.batchRows, "analytics-batch", 10000, "analytics: most rows in one ClickHouse insert")
	fs.DurationVar(&c.flushInterval, "analytics-flush-interval", time.Second, "analytics: longest an event waits before its batch is inserted")
	fs.BoolVar(&c.pseudonymize, "analytics-pseudonymize", true, "analytics: store learners as per-tenant pseudonyms; false stores learner keys and names as sent")
	fs.StringVar(&c.pseudonymSecret, "analytics-pseudonym-secret", "", "analytics: secret the per-tenant pseudonym salts derive from (prefer LEARNSTREAM_ANALYTICS_PSEUDONYM_SECRET); empty: a random one generated once and kept in --data-dir")
}

func (c *analyticsConfig) validate() []error {
	var errs []error
	if c.batchRows < 1 {
		errs = append(errs, fmt.Errorf("--analytics-batch: must be at least 1, got %d", c.batchRows))
	}
	if c.flushInterval <= 0 {
		errs = append(errs, fmt.Errorf("--analytics-flush-interval: must be positive, got %s", c.flushInterval))
	}
	return errs
}

var analyticsSchemaAttempts = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_analytics_schema_attempts_total",
	Help: "Attempts of the analytics role to reach ClickHouse and apply the schema migrations, by result.",
}, []string{"result"})

// analyticsConsumer names the analytics sink in erasure answers.
const analyticsConsumer = "analytics"

func startAnalytics(rt *runtime, roles map[string]bool) error {
	if !roles["analytics"] {
		return nil
	}
	cfg := rt.cfg.analyticsConfig
	if cfg.addr == "" {
		rt.log.Info("analytics: off: no ClickHouse address (--clickhouse-addr or LEARNSTREAM_CLICKHOUSE_ADDR)")
		return nil
	}
	enc, err := analyticsEncoder(rt, cfg)
	if err != nil {
		return err
	}
	// Erasures wait for the sink's answer (its ClickHouse deletes).
	rt.expectErasureAnswer(analyticsConsumer)
	analytics.Default = enc
	if enc.Pseudonymizer.Private() {
		// Only with the privacy pseudonyms can the sink find an erased
		// learner's rows, and answer.
		rt.expectErasureAnswer(analyticsConsumer)
	}
	log := rt.log.With("clickhouse", cfg.addr, "database", cfg.database)
	optOuts, err := projections.NewAnalyticsOptOuts(rt.store)
	if err != nil {
		return err
	}
	// The consent read model seeds the sink's opt-outs: they are in the
	// projections directory, the sink's offsets in Kafka.
	consents, _, err := consentProjection(rt)
	if err != nil {
		return err
	}
	rt.goRun(func(ctx context.Context) {
		w, err := connectAnalytics(ctx, log, cfg.config())
		if err != nil {
			return // shutting down before ClickHouse was ever reachable
		}
		defer w.Close()
		pub := streams.EventPublisher{Publisher: rt.pub}
		sink := analytics.NewSink(analytics.SinkConfig{Encoder: enc, Writer: w,
			Batch: analytics.BatcherConfig{MaxRows: cfg.batchRows}, Logger: log, OptOuts: optOuts,
			// The answer goes out after the deletes and before the offsets.
			OnErasure: func(ctx context.Context, tenant string, le privacy.LearnerErased, removed map[string]int64) error {
				return streams.AnswerErasure(ctx, pub, rt.source(), tenant, analyticsConsumer, le, removed)
			}})
		if err := sink.LoadOptOuts(); err != nil {
			log.Error("analytics: sink not started", "err", err)
			return
		}
		if err := seedOptOuts(ctx, rt, consents, sink); err != nil {
			if ctx.Err() == nil {
				log.Error("analytics: sink not started: consent opt-outs", "err", err)
			}
			return
		}
		c := &streams.BatchConsumer{Name: "analytics", Brokers: rt.brokers, Group: rt.cfg.groupPrefix + "-analytics",
			Topics:  []string{streams.TopicStatements, streams.TopicRecommendations, streams.TopicAdaptive, streams.TopicCatalog},
			Handler: sink, DLQ: rt.pub, MaxBatch: cfg.batchRows, MaxWait: cfg.flushInterval, MaxMessageBytes: rt.maxMessageBytes,
			Logger: log,
			// Its rows are ReplacingMergeTrees keyed by event: reading the
			// log again after a loss collapses into the rows it has.
			ResetBeyondEnd: rt.cfg.onLogLoss == onLogLossRebuild}
		stop := make(chan struct{})
		defer close(stop)
		go reportSink(log, sink, stop)
		if err := c.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("analytics: sink stopped", "err", err)
		}
	})
	return nil
}

// analyticsEncoder builds the row encoder from the pseudonymisation flags.
// The secret is never logged.
func analyticsEncoder(rt *runtime, cfg analyticsConfig) (*analytics.Encoder, error) {
	if !cfg.pseudonymize {
		rt.log.Warn("analytics: pseudonymisation is off (--analytics-pseudonymize=false): learner keys and names are stored as sent")
		return analytics.NewEncoder(analytics.NoPseudonymization()), nil
	}
	// The privacy pseudonyms, when the install has them: a LearnerErased
	// names the learner by them, and the sink deletes by them.
	if names, err := pseudonymsOf(rt); err == nil {
		if cfg.pseudonymSecret != "" {
			rt.log.Warn("analytics: --analytics-pseudonym-secret is not used: learners are stored under their privacy pseudonyms")
		}
		return analytics.NewEncoder(analytics.NewPrivacyPseudonymizer(names)), nil
	}
	secret := []byte(cfg.pseudonymSecret)
	if len(secret) == 0 {
		s, err := pseudonymSecret(rt)
		if err != nil {
			return nil, fmt.Errorf("analytics: pseudonym secret: %w", err)
		}
		secret = s
	}
	return analytics.NewEncoder(analytics.NewPseudonymizer(secret)), nil
}

// pseudonymFile keeps the pseudonym secret of an install that generated
// one before pseudonyms derived from the signing key (hex, mode 0600).
const pseudonymFile = "pseudonym.secret"

// pseudonymSecret is the secret pseudonyms are made with when none is
// given. It must never change (a learner would get a second pseudonym),
// so it is not kept in the projections store, which an operator may
// delete and rebuild: it derives from the signing key, the same for every
// instance of an install. A secret an earlier release generated into the
// store moves to the data dir and stays in use.
func pseudonymSecret(rt *runtime) ([]byte, error) {
	path := filepath.Join(rt.cfg.dataDir, pseudonymFile)
	if b, err := os.ReadFile(path); err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < 16 {
			return nil, fmt.Errorf("%s: not a hex secret of at least 16 bytes", path)
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	legacy, ok, err := rt.store.LegacySecret(pseudonymSecretName)
	if err != nil {
		return nil, err
	}
	if ok {
		if _, err := secretFile(path, func() string { return hex.EncodeToString(legacy) + "\n" }); err != nil {
			return nil, err
		}
		rt.log.Info("analytics: the pseudonym secret moved from the projections store to the data dir", "file", path)
		return legacy, nil
	}
	if len(rt.signingKey) == 0 {
		return nil, errors.New("no signing key to derive it from")
	}
	h := hmac.New(sha256.New, rt.signingKey)
	h.Write([]byte("learnstream analytics pseudonyms v1"))
	return h.Sum(nil), nil
}

// connectAnalytics opens ClickHouse and applies the migrations, retrying
// with capped exponential backoff until it succeeds or ctx ends.
func connectAnalytics(ctx context.Context, log *slog.Logger, cfg analytics.Config) (*analytics.ClickHouseWriter, error) {
	// Few attempts per call: this loop, and after it the batch consumer,
	// do the long waiting, and a down server is reported early.
	cfg.MaxAttempts = 3
	delay := time.Second
	for attempt := 1; ; attempt++ {
		w, err := analytics.Open(ctx, cfg)
		if err == nil {
			if err = analytics.Migrate(ctx, w); err == nil {
				analyticsSchemaAttempts.WithLabelValues("ok").Inc()
				log.Info("analytics: ClickHouse schema is current; the sink is starting")
				return w, nil
			}
			w.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		analyticsSchemaAttempts.WithLabelValues("error").Inc()
		log.Warn("analytics: ClickHouse is not usable yet; the sink waits (ingest goes on) and catches up later",
			"attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// reportSink logs the sink's progress at info once a minute while it moves.
func reportSink(log *slog.Logger, sink *analytics.Sink, stop <-chan struct{}) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last analytics.SinkStats
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st := sink.Stats()
		if st != last {
			log.Info("analytics: progress", "batches", st.Batches-last.Batches, "rows", st.Rows-last.Rows,
				"ignored_events", st.Ignored-last.Ignored, "opted_out_events", st.OptedOut-last.OptedOut, "rows_total", st.Rows)
			last = st
		}
	}
}

// seedOptOuts waits until the consent read model has applied the
// statements topic up to its end as of now (every withdrawal the sink's
// committed offsets may be past), then gives the sink every withdrawal of
// consent to analytics it holds.
func seedOptOuts(ctx context.Context, rt *runtime, consents *projections.Consents, sink *analytics.Sink) error {
	ends, err := streams.EndOffsets(ctx, rt.brokers, streams.TopicStatements)
	if err != nil {
		return err
	}
	waitingSince := time.Now()
	for {
		behind := false
		for part, end := range ends {
			next, _, err := consents.NextOffset(ctx, streams.TopicStatements, part)
			if err != nil {
				return err
			}
			if next < end {
				behind = true
			}
		}
		if !behind {
			break
		}
		if time.Since(waitingSince) > 30*time.Second {
			rt.log.Warn("analytics: the sink waits for the consent read model to catch up with the statements topic", "ends", ends)
			waitingSince = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	withdrawn, err := consents.AnalyticsWithdrawn(ctx)
	if err != nil {
		return err
	}
	for _, l := range withdrawn {
		if err := sink.SeedOptOut(l.Tenant, l.Learner); err != nil {
			return err
		}
	}
	return nil
}
