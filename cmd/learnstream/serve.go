package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["serve"] = command{summary: "run learnstream (all roles by default)", run: runServe}
}

// roles a process can take.
var allRoles = []string{"api", "projector", "recommender", "adaptive", "analytics", "retention", "webhooks"}

type serveConfig struct {
	dataDir            string
	httpAddr           string
	kafka              string
	brokerListen       string
	brokerFsync        bool
	brokerCompactEvery time.Duration
	partitions         int
	replication        int
	dev                bool
	roles              string
	publicURL          string
	consistencyTimeout time.Duration
	stuckAfter         time.Duration
	maxBody            int64
	maxBatch           int
	maxLag             int64
	logLevel           string
	logFormat          string
	tenant             string
	groupPrefix        string
	onLogLoss          string
	retentionEvery     time.Duration
	security           kafkaSecurity
	pprof              string
	memoryLimit        string
	statementCache     string
	procs              string
	privacy            privacyConfig
	erasure            erasureConfig
	analyticsConfig
	contentConfig
	webhooksConfig
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "./data", "where learnstream keeps its state (projections, embedded broker log)")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.kafka, "kafka", "", "comma-separated Kafka bootstrap brokers; empty runs the embedded broker")
	fs.StringVar(&c.brokerListen, "broker-listen", "127.0.0.1:9092", "embedded broker listen address (:0 picks a free port)")
	fs.BoolVar(&c.brokerFsync, "broker-fsync", false, "embedded broker: fsync every produced batch before acknowledging it")
	fs.DurationVar(&c.brokerCompactEvery, "broker-compact-every", streams.DefaultCompactEvery, "embedded broker: how often the compacted topics of derived state (recommendations, item factors) are compacted")
	fs.IntVar(&c.partitions, "partitions", 4, "partitions of the topics learnstream creates")
	fs.IntVar(&c.replication, "replication", 1, "replication factor of the topics learnstream creates")
	fs.BoolVar(&c.dev, "dev", false, "development mode: generate and print an admin credential when none is configured")
	fs.StringVar(&c.roles, "roles", strings.Join(allRoles, ","), "comma-separated roles to run: "+strings.Join(allRoles, ","))
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients use to reach this server (default http://<--http>)")
	fs.DurationVar(&c.consistencyTimeout, "consistency-timeout", 10*time.Second, "how long a write waits for the statements projection before answering")
	fs.DurationVar(&c.stuckAfter, "stuck-after", streams.DefaultStuckAfter, "a consumer failing at one offset for longer than this is reported stuck (/readyz, learnstream_consumer_stuck)")
	fs.Int64Var(&c.maxBody, "max-body-bytes", 16<<20, "largest request body accepted")
	fs.IntVar(&c.maxBatch, "max-batch", 1000, "most statements accepted in one POST")
	fs.Int64Var(&c.maxLag, "max-lag", 50000, "writes answer 503 while the statements projection is more events behind than this (0: never)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.tenant, "tenant", "default", "tenant of the bootstrap admin credential")
	fs.StringVar(&c.groupPrefix, "group-prefix", "learnstream", "prefix of the Kafka consumer groups of partitioned roles")
	fs.StringVar(&c.pprof, "pprof", "", "serve Go's pprof profiles on this loopback host:port (off when empty)")
	fs.StringVar(&c.procs, "procs", procsAuto, "goroutines running at once (GOMAXPROCS): a number, or auto: GOMAXPROCS if set, else the cores (or the container's CPU limit) but at least 8, so that the store's merges do not hold every processor (docs/operations.md, \"Where a write's time goes\")")
	fs.StringVar(&c.memoryLimit, "memory-limit", memoryLimitAuto, "soft limit of the Go heap and runtime, e.g. 2GiB: the garbage collector works harder near it (auto: GOMEMLIMIT if set, else 90% of the container's memory limit, else none; off: none)")
	fs.StringVar(&c.statementCache, "statement-cache", "256MiB", "memory for stored statements that queries read again, e.g. 1GiB (0: none; docs/operations.md, \"Memory\")")
	fs.StringVar(&c.onLogLoss, "on-log-loss", onLogLossRefuse, "when the event log holds less than the consumers have read (a damaged segment, a lost partition tail): "+
		"refuse to start, naming what was lost, or rebuild the affected projections from what the log still holds (refuse, rebuild)")
	fs.DurationVar(&c.retentionEvery, "retention-every", time.Hour, "retention role: how often each tenant's retention period is applied (it destroys whole months of data keys)")
	c.security.flags(fs, true)
	c.analyticsConfig.flags(fs)
	c.erasure.flags(fs)
	c.contentConfig.flags(fs)
	c.privacy.flags(fs)
	c.webhooksConfig.flags(fs)
}

func (c *serveConfig) validate() error {
	var errs []error
	if err := c.privacy.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.dataDir == "" {
		errs = append(errs, errors.New("--data-dir: must not be empty"))
	}
	if _, ok := parseSize(c.statementCache); !ok {
		errs = append(errs, fmt.Errorf("--statement-cache: %q is not a size such as 64MiB or 256MiB (units B, KiB, MiB, GiB, TiB; 0 for none)", c.statementCache))
	}
	if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http: %q is not host:port", c.httpAddr))
	}
	if c.kafka == "" {
		if _, _, err := net.SplitHostPort(c.brokerListen); err != nil {
			errs = append(errs, fmt.Errorf("--broker-listen: %q is not host:port", c.brokerListen))
		}
	} else {
		for _, b := range c.brokers() {
			if _, _, err := net.SplitHostPort(b); err != nil {
				errs = append(errs, fmt.Errorf("--kafka: %q is not host:port", b))
			}
		}
	}
	errs = append(errs,
		atLeast("partitions", c.partitions, 1),
		atLeast("replication", c.replication, 1),
		atLeast("max-body-bytes", c.maxBody, 1024),
		atLeast("max-batch", c.maxBatch, 1))
	if c.maxLag < 0 {
		errs = append(errs, fmt.Errorf("--max-lag: must not be negative, got %d", c.maxLag))
	}
	if c.consistencyTimeout <= 0 {
		errs = append(errs, errors.New("--consistency-timeout: must be positive"))
	}
	if c.retentionEvery <= 0 {
		errs = append(errs, errors.New("--retention-every: must be positive"))
	}
	if c.stuckAfter <= 0 {
		errs = append(errs, errors.New("--stuck-after: must be positive"))
	}
	if c.brokerCompactEvery < time.Second {
		// The broker pauses for each run of its cleaner.
		errs = append(errs, fmt.Errorf("--broker-compact-every: must be at least 1s, got %v", c.brokerCompactEvery))
	}
	if c.pprof != "" {
		if err := loopbackAddr(c.pprof); err != nil {
			errs = append(errs, fmt.Errorf("--pprof: %w", err))
		}
	}
	if _, err := c.roleSet(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseMemoryLimit(c.memoryLimit); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := procsFor(c.procs, func(string) string { return "" }, 1); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	if c.onLogLoss != onLogLossRefuse && c.onLogLoss != onLogLossRebuild {
		errs = append(errs, fmt.Errorf("--on-log-loss: %q is not refuse or rebuild", c.onLogLoss))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: %q is not text or json", c.logFormat))
	}
	errs = append(errs, c.security.validate(c.kafka != "")...)
	errs = append(errs, c.analyticsConfig.validate()...)
	errs = append(errs, c.erasure.validate()...)
	errs = append(errs, c.contentConfig.validate()...)
	errs = append(errs, c.webhooksConfig.validate()...)
	return errors.Join(errs...)
}

func (c *serveConfig) brokers() []string {
	var out []string
	for _, b := range strings.Split(c.kafka, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (c *serveConfig) roleSet() (map[string]bool, error) {
	set := map[string]bool{}
	for _, r := range strings.Split(c.roles, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("--roles: %q is not a role (%s)", r, strings.Join(allRoles, ", "))
		}
		set[r] = true
	}
	if len(set) == 0 {
		return nil, errors.New("--roles: at least one role is required")
	}
	return set, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	level, _ := parseLevel(cfg.logLevel)
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if cfg.logFormat == "json" {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)
	slog.SetDefault(log)
	// The limit is the whole process's, so it is set here, once, from the
	// command line, and not by serve, which tests run several of at once.
	if err := applyMemoryLimit(cfg.memoryLimit, log); err != nil {
		return err
	}
	if err := applyProcs(cfg.procs, log); err != nil {
		return err
	}
	exportSchedulingLatency()
	return serve(ctx, cfg, log, stdout)
}

// serve runs until ctx ends, then shuts down in dependency order: stop
// taking requests (in-flight writes finish), stop consumers, close stores.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer) (err error) {
	roles, _ := cfg.roleSet()
	streams.DefaultHealth.StuckAfter = cfg.stuckAfter
	if err := os.MkdirAll(cfg.dataDir, 0o750); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	adminKey, adminSecret := os.Getenv("LEARNSTREAM_ADMIN_KEY"), os.Getenv("LEARNSTREAM_ADMIN_SECRET")
	if (adminKey == "") != (adminSecret == "") {
		return errors.New("LEARNSTREAM_ADMIN_KEY and LEARNSTREAM_ADMIN_SECRET must be set together")
	}
	if adminKey == "" && !cfg.dev {
		return errors.New("no admin credential: set LEARNSTREAM_ADMIN_KEY and LEARNSTREAM_ADMIN_SECRET " +
			"(an all-scopes HTTP Basic credential created at start), or run with --dev to generate one")
	}

	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	if cfg.pprof != "" {
		stopPprof, err := servePprof(cfg.pprof, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopPprof)
	}

	brokers := cfg.brokers()
	embedded := len(brokers) == 0
	if err := cfg.privacy.preflight(embedded); err != nil {
		return err
	}
	// One message limit everywhere (producer, topics, broker, fetches), so
	// that the body limit is the real limit of a statement.
	maxMsg := streams.MaxMessageBytesFor(cfg.maxBody)

	// Starting on a large data dir takes a while (the store's tables, the
	// log's check, the broker's load of its log: 6–21 s over 10M
	// statements, docs/operations.md); each step says what it took, and
	// the step under way is the one not logged yet.
	started, step := time.Now(), time.Now()
	// The log's check reads only the broker's files: it runs while the
	// store opens, and is waited for before anything uses either.
	var (
		scan     streams.LogScan
		scanErr  error
		scanDone chan struct{}
	)
	if embedded {
		scanDone = make(chan struct{})
		go func() {
			defer close(scanDone)
			scan, scanErr = checkLog(log, filepath.Join(cfg.dataDir, "kafka"))
		}()
	}
	var store *projections.Store
	// Labelled for profiles, as the broker, the API and each consumer are:
	// the goroutines the store starts (its writes, flushes and merges)
	// carry it (docs/operations.md, "Profiles").
	pprof.Do(ctx, pprof.Labels("role", "store"), func(context.Context) {
		store, err = projections.Open(filepath.Join(cfg.dataDir, "projections"), log)
	})
	if err != nil {
		if embedded {
			<-scanDone
		}
		return err
	}
	log.Info("projections store opened", "took", time.Since(step).Round(time.Millisecond))
	cacheSize, _ := parseSize(cfg.statementCache) // validated
	store.SetStatementCache(cacheSize)
	cleanups = append(cleanups, func() {
		if err := store.Close(); err != nil {
			log.Error("close projections store", "err", err)
		}
	})
	// The log is checked before the embedded broker loads it (it truncates
	// damage) and before any consumer resumes from its stored offsets.
	var health *logHealth
	if embedded {
		<-scanDone
		if scanErr != nil {
			return scanErr
		}
		if health, err = prepareLog(ctx, cfg, log, store, scan, nil); err != nil {
			return err
		}
	}
	var sec streams.Security
	var brokerCredPath string
	if embedded {
		// The embedded broker admits only this credential: a local process
		// without it cannot write (or read) the log.
		password, path, err := brokerCredential(cfg.dataDir)
		if err != nil {
			return err
		}
		brokerCredPath = path
		step = time.Now()
		var b *streams.Embedded
		pprof.Do(ctx, pprof.Labels("role", "broker"), func(context.Context) {
			b, err = streams.StartEmbedded(streams.EmbeddedConfig{
				DataDir: filepath.Join(cfg.dataDir, "kafka"), Listen: cfg.brokerListen,
				Partitions: cfg.partitions, Fsync: cfg.brokerFsync, CompactEvery: cfg.brokerCompactEvery, Busy: store.Merging, Logger: log,
				MaxMessageBytes: streams.TopicMessageBytes(maxMsg), Checked: true,
				User: brokerUser, Password: password,
			})
		})
		if err != nil {
			return err
		}
		cleanups = append(cleanups, b.Close)
		log.Info("embedded broker loaded its log", "took", time.Since(step).Round(time.Millisecond))
		brokers = []string{b.Addr()}
		sec = streams.Security{Mechanism: streams.SASLScramSHA256, User: brokerUser, Password: password}
	} else if sec, err = cfg.security.externalSecurity(); err != nil {
		return err
	}
	step = time.Now()
	if err := streams.Secure(brokers, sec); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	topics := streams.DefaultTopics(cfg.partitions, cfg.replication)
	for i := range topics {
		topics[i].MaxMessageBytes = streams.TopicMessageBytes(maxMsg)
	}
	if err := streams.EnsureTopics(startCtx, brokers, topics); err != nil {
		return fmt.Errorf("kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	if embedded {
		// Its cleaner rewrites compacted partitions in place; the topics
		// nothing can rebuild stay out of its reach.
		if err := streams.UncompactTruth(startCtx, brokers); err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
	}
	// Every event is signed from here on, and checked by every consumer.
	if sec.SigningKey, err = cfg.security.signingKeyOf(cfg.dataDir, embedded, func() error {
		below, err := recordUnsignedBelow(startCtx, cfg.dataDir, brokers, topics)
		if err == nil && len(below) > 0 {
			log.Info("events written before this install signed its events stay trusted", "topics", len(below))
		}
		return err
	}); err != nil {
		return err
	}
	// With --kafka the file is only there if the operator put it there
	// (docs/operations.md, upgrading a cluster).
	if sec.UnsignedBelow, err = unsignedBelow(cfg.dataDir); err != nil {
		return err
	}
	if err := streams.Secure(brokers, sec); err != nil {
		return err
	}
	if err := streams.RaiseMessageLimits(startCtx, brokers, topics); err != nil {
		// Not fatal: statements up to the old limit still work, larger ones
		// answer 413 naming the limit.
		log.Warn("topics keep a smaller message limit than --max-body-bytes needs; statements above it answer 413",
			"want_max_message_bytes", streams.TopicMessageBytes(maxMsg), "err", err)
	}
	if !embedded {
		ends := func(topic string) (map[int]int64, bool, error) {
			e, err := streams.EndOffsets(startCtx, brokers, topic)
			if err != nil {
				// A model topic not created yet has nothing to lose.
				log.Warn("log end offsets", "topic", topic, "err", err)
				return nil, false, nil
			}
			return e, true, nil
		}
		if health, err = prepareLog(ctx, cfg, log, store, streams.LogScan{}, ends); err != nil {
			return err
		}
	}

	// The key store opens before any publisher or subscriber exists: each
	// seals and opens with what is registered when it is made.
	vault, err := cfg.privacy.openKeyStore(startCtx, log, cfg.dataDir, embedded, brokers, true)
	if err != nil {
		return err
	}
	if vault != nil {
		cleanups = append(cleanups, func() { streams.UseKeys(brokers, nil); vault.Close() })
	}

	pcfg := streams.PublisherConfig{Brokers: brokers, MaxMessageBytes: maxMsg}
	if vault != nil {
		// Sealed, a list is ciphertext that compression cannot shrink
		// (PublisherConfig.Uncompressed); in the clear it shrinks.
		pcfg.Uncompressed = []string{streams.TopicRecommendations}
	}
	pub, err := streams.NewPublisher(pcfg)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { pub.Close() })

	// Consumers run under their own context so that they outlive the HTTP
	// server during shutdown: in-flight writes wait for their projection.
	consumeCtx, stopConsumers := context.WithCancel(context.Background())
	var consumers sync.WaitGroup
	cleanups = append(cleanups, func() { stopConsumers(); consumers.Wait() })
	adm := &admin{brokers: brokers, log: log, ctx: consumeCtx, wg: &consumers, projs: map[string]*managed{}}

	rt := &runtime{cfg: cfg, log: log, brokers: brokers, embedded: embedded, store: store, pub: pub, signingKey: sec.SigningKey, maxMessageBytes: maxMsg,
		consumeCtx: consumeCtx, consumers: &consumers, admin: adm}
	if vault != nil {
		rt.vault, rt.pseudonyms, rt.monthKeys = vault, vault, vault
	}
	defer func() { cleanups = append(cleanups, rt.cleanups...) }()
	// Projections find an erased learner by pseudonym (projections
	// privacy.go); without a signing key there are none, and an erasure
	// parks in the DLQ instead of passing unapplied.
	if names, err := pseudonymsOf(rt); err == nil {
		store.SetPseudonyms(names)
	}
	project := rt.project

	waiters := projections.NewWaiters()
	var statements *projections.Statements
	var statementsLag *streams.LagMonitor
	if roles["api"] {
		// The statements projection is the API's read model: every API
		// process keeps all of it.
		if statements, err = projections.NewStatements(store, waiters); err != nil {
			return err
		}
		rt.statements = statements
		statementsLag, err = project(statements.Projection, streams.TopicStatements, "",
			func(ctx context.Context, tenant string) (map[string]int64, error) {
				n, err := statements.Count(ctx, tenant)
				return map[string]int64{"statements": int64(n)}, err
			})
		if err != nil {
			return err
		}
	}
	var progress *projections.Progress
	if roles["projector"] {
		if progress, err = projections.NewProgress(store); err != nil {
			return err
		}
		group := ""
		if !embedded {
			group = cfg.groupPrefix + "-" + projections.ProgressName
		}
		if _, err := project(progress.Projection, streams.TopicStatements, group,
			func(ctx context.Context, tenant string) (map[string]int64, error) {
				l, n, err := progress.Totals(ctx, tenant)
				return map[string]int64{"learners": int64(l), "statements": int64(n)}, err
			}); err != nil {
			return err
		}
	}

	for _, start := range roleStarters {
		if err := start(rt, roles); err != nil {
			return err
		}
	}

	creds, err := startCredentials(startCtx, rt)
	if err != nil {
		return err
	}
	if adminKey == "" {
		adminKey = "dev"
		if adminSecret, err = devSecret(cfg.dataDir); err != nil {
			return err
		}
	}
	// The bootstrap credential is the cluster's operator as well as its
	// tenant's administrator and data protection officer.
	if err := creds.Ensure(startCtx, adminKey, adminSecret, "admin", cfg.tenant, []string{"all", projections.ScopeOperator, projections.ScopePrivacy}); err != nil {
		return fmt.Errorf("bootstrap admin credential: %w", err)
	}
	log.Info("roles started", "took", time.Since(step).Round(time.Millisecond))

	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	publicURL := cfg.publicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	health.served = func(name string) bool { _, ok := adm.projs[name]; return ok }
	apiCfg := api.Config{
		Auth:   creds,
		Admin:  adm,
		Ready:  readiness(brokers, streams.DefaultHealth, health.check),
		Logger: log,
		Source: publicURL,
		// /asyncapi.json names the brokers integrators consume from.
		EventBrokers: strings.Join(brokers, ","),
	}
	if progress != nil {
		apiCfg.Progress = progress
	}
	for _, set := range rt.apiConfig {
		set(&apiCfg)
	}
	var srv *api.Server
	if roles["api"] {
		apiCfg.Publisher = streams.EventPublisher{Publisher: pub}
		apiCfg.StatementsTopic = streams.TopicStatements
		apiCfg.Statements = statements
		apiCfg.Waiters = waiters
		apiCfg.ConsistencyTimeout = cfg.consistencyTimeout
		apiCfg.MaxBodyBytes = cfg.maxBody
		apiCfg.MaxBatch = cfg.maxBatch
		apiCfg.AuthorityHome = strings.TrimRight(publicURL, "/") + "/"
		apiCfg.Backlog = func() int64 { n, _, _ := statementsLag.Lag(); return n }
		apiCfg.MaxBacklog = cfg.maxLag
		apiCfg.StatementEnds = func() (map[int]int64, bool) {
			_, parts, at := statementsLag.Lag()
			if at.IsZero() {
				return nil, false
			}
			ends := make(map[int]int64, len(parts))
			for _, p := range parts {
				ends[p.Partition] = p.End
			}
			return ends, true
		}
		if err := wireLRS(rt, statements, waiters, &apiCfg, nil); err != nil {
			return err
		}
		srv = api.New(apiCfg)
	} else {
		srv = api.NewOps(apiCfg)
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	for _, f := range rt.onShutdown {
		httpSrv.RegisterOnShutdown(f)
	}
	serveErr := make(chan error, 1)
	go func() {
		// The label follows every connection's goroutine into a profile.
		pprof.Do(context.Background(), pprof.Labels("role", "api"), func(context.Context) { serveErr <- httpSrv.Serve(ln) })
	}()

	mode := "embedded broker"
	if !embedded {
		mode = "external"
	}
	fmt.Fprintf(stdout, "learnstream listening on %s\n", publicURL)
	fmt.Fprintf(stdout, "data in %s\n", cfg.dataDir)
	if embedded {
		// For tools (kcat, Kafka's console clients): the broker admits
		// nobody without this credential.
		mode += fmt.Sprintf("; SASL %s user %s, password in %s", streams.SASLScramSHA256, brokerUser, brokerCredPath)
	}
	fmt.Fprintf(stdout, "kafka bootstrap %s (%s)\n", strings.Join(brokers, ","), mode)
	fmt.Fprintf(stdout, "roles %s\n", cfg.roles)
	if cfg.dev && os.Getenv("LEARNSTREAM_ADMIN_KEY") == "" {
		fmt.Fprintf(stdout, "dev credential (all scopes): key %s secret %s\n", adminKey, adminSecret)
		fmt.Fprintf(stdout, "  try: curl -u %s:%s -H 'X-Experience-API-Version: 1.0.3' %s/xapi/about\n", adminKey, adminSecret, publicURL)
	}
	log.Info("serving", "version", binaryVersion(), "http", publicURL, "data_dir", cfg.dataDir, "kafka", strings.Join(brokers, ","), "roles", cfg.roles,
		"started_in", time.Since(started).Round(time.Millisecond))

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelShut()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	return nil
}

// startCredentials runs the credentials projection (every process keeps
// all of it: every process authenticates) and moves credentials an earlier
// release kept only in the store onto the topic.
func startCredentials(ctx context.Context, rt *runtime) (*projections.Credentials, error) {
	creds, err := projections.NewCredentials(rt.store, projections.NewWaiters(), projections.CredentialsConfig{
		Publisher: streams.EventPublisher{Publisher: rt.pub}, Topic: streams.TopicCredentials, Source: "learnstream"})
	if err != nil {
		return nil, err
	}
	if _, err := rt.project(creds.Projection, streams.TopicCredentials, "",
		func(ctx context.Context, tenant string) (map[string]int64, error) {
			l, err := creds.List(ctx, tenant)
			return map[string]int64{"credentials": int64(len(l))}, err
		}); err != nil {
		return nil, err
	}
	// Serve only once every credential written before this start is
	// known: a rebuilt or new store would otherwise answer 401 to valid
	// keys until the projection caught up. A broker too slow for that is
	// logged and the server starts anyway (the keys arrive as it catches
	// up).
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = streams.WaitCaughtUp(wctx, rt.brokers, streams.TopicCredentials, creds.Projection, 20*time.Millisecond)
	cancel()
	if err != nil {
		rt.log.Warn("credentials: serving before the projection caught up", "err", err)
	}
	n, err := creds.ImportLegacy(ctx)
	if err != nil {
		return nil, fmt.Errorf("move credentials onto %s: %w", streams.TopicCredentials, err)
	}
	if n > 0 {
		rt.log.Info("credentials moved from the projections store onto the log", "count", n, "topic", streams.TopicCredentials)
	}
	return creds, nil
}

// readiness checks that no consumer of this process is stuck on one offset
// (consumers names each, with its partition, offset and last error), then
// that the broker answers metadata requests and the log is healthy, caching
// that answer briefly so probes do not load the broker.
func readiness(brokers []string, consumers *streams.Health, logHealth func(context.Context) error) func(context.Context) error {
	var mu sync.Mutex
	var last time.Time
	var lastErr error
	return func(ctx context.Context) error {
		if err := consumers.Check(ctx); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 2*time.Second {
			return lastErr
		}
		_, lastErr = streams.Partitions(ctx, brokers, streams.TopicStatements)
		if lastErr != nil {
			lastErr = fmt.Errorf("kafka: %w", lastErr)
		} else {
			lastErr = logHealth(ctx)
		}
		last = time.Now()
		return lastErr
	}
}

// devSecretFile holds the secret of the --dev credential, so that a restart
// keeps the credential the user already copied.
const devSecretFile = "dev-credential-secret"

// devSecret returns the --dev credential's secret, generating it into the
// data dir (mode 0600) on first use. A file others can read is refused
// rather than used: the credential has every scope.
func devSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, devSecretFile)
	if _, err := secretFile(path, func() string { return projections.GenerateSecret() + "\n" }); err != nil {
		return "", fmt.Errorf("--dev: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--dev: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--dev: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--dev: %s is readable by others (mode %v): chmod 600 it, or delete it to get a new secret", path, fi.Mode().Perm())
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 8 {
		return "", fmt.Errorf("--dev: %s holds no secret (at least 8 characters): delete it to get a new one", path)
	}
	return s, nil
}
