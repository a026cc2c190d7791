package streams

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures the in-process broker.
type EmbeddedConfig struct {
	// DataDir holds the broker's log segments; they survive restarts.
	DataDir string
	// Listen is the TCP address to serve the Kafka protocol on. Port 0 picks
	// a free port. The address is also what the broker advertises, so it
	// must be reachable by clients (prefer a concrete host over 0.0.0.0).
	Listen string
	// Partitions is the default partition count for created topics.
	Partitions int
	// Fsync makes every produced batch durable on disk before the ack. Off,
	// a batch reaches the OS before the ack: it survives a process crash but
	// not a power loss, as with Kafka's defaults.
	Fsync bool
	// MaxMessageBytes is the broker's message.max.bytes, the limit of
	// topics created without their own (0: TopicMessageBytes(0)).
	MaxMessageBytes int
	// CompactEvery is how often the broker's cleaner runs: it keeps the
	// latest record per key of compacted topics (recommendations, item
	// factors), so that they grow with learners and items rather than with
	// events. 0: DefaultCompactEvery. The cleaner rewrites a partition's
	// segments in place, and a crash during that rewrite loses the
	// partition, which is why UncompactTruth keeps the topics nothing can
	// rebuild out of its reach.
	//
	// A run reads every compacted partition whole, twice, and rewrites
	// what survives, so it costs what the topics hold, not what they took
	// in since the last run: after the first, a run waits until at least
	// half of what the topics hold is new since the last one (Kafka's
	// min.cleanable.dirty.ratio of 0.5), so that the cleaner's work
	// follows what is written and the topics stay within about twice
	// their compacted size; and at least every 30 intervals however
	// little was written (Kafka's max.compaction.lag.ms), so that a
	// superseded record does not stay. The broker serves nothing while
	// its cleaner runs (one loop serves every request); a run that takes
	// long (many learners and items) also spaces the next to keep the
	// cleaner under a tenth of the broker's time (see cleaner).
	CompactEvery time.Duration
	// Busy, when set, says that the process is in a burst of work that
	// takes the cores (the projections store merging level 0): a cleaner
	// run due then waits, up to maxCleanerDefer, for it to end. A run
	// holds the broker, and one that met a merge held it about three
	// times as long (docs/benchmarks.md, "Thirteenth pass"). Nil: never.
	Busy func() bool
	// Checked says the caller ran ScanLog on DataDir and dealt with what
	// it found. Otherwise StartEmbedded scans and refuses a damaged log:
	// the broker would truncate it at the damage with only a warning.
	Checked bool
	// User and Password, when set, make the broker refuse every client that
	// does not authenticate as User with SASL/SCRAM-SHA-256: the only
	// Kafka user of the broker (no anonymous access at all).
	User, Password string
	Logger         *slog.Logger
}

// FetchMaxBytes is what one fetch of a learnstream consumer asks for, per
// partition. The embedded broker builds a fetch's whole answer in memory
// and holds it until the consumer has read it off the socket, which a
// consumer behind on its work does slowly: at the message limit (17 MiB)
// per partition and dozens of partition readers, a load left hundreds of
// megabytes of answers waiting (docs/operations.md, "Memory"). A larger
// record still arrives whole: brokers answer the first record batch of a
// fetch even when it is over the limit (KIP-74; the embedded broker does
// the same). One MiB is Kafka's own default per partition and holds about
// 700 statements, far more than a consumer's batch.
const FetchMaxBytes = 1 << 20

// DefaultCompactEvery is the embedded broker's cleaner interval.
const DefaultCompactEvery = 10 * time.Second

// cleanerShare bounds the share of the broker's time its cleaner takes:
// after a run of d, the next waits at least d*(1/cleanerShare - 1).
const cleanerShare = 0.1

// cleanableRatio is the share of the compacted topics' log that must be
// new since the last run before the next: Kafka's default
// min.cleanable.dirty.ratio.
const cleanableRatio = 0.5

// maxLagIntervals bounds how long a superseded record (a learner's older
// list, one an erasure replaced) waits for the cleaner when little is
// written: a run at least every maxLagIntervals intervals (5 minutes at
// the default), as Kafka's max.compaction.lag.ms does.
const maxLagIntervals = 30

// maxCleanerDefer bounds how long a due cleaner run waits for Busy to
// end, so that a store merging without pause does not keep the derived
// topics from being compacted. A level-0 merge took 1 to 3 s at 100,000
// learners. A variable for tests.
var maxCleanerDefer = 5 * time.Second

// cleanerDeferStep is how often a deferred run asks Busy again.
const cleanerDeferStep = 100 * time.Millisecond

// derivedTopics are the topics the embedded broker's cleaner compacts:
// the derived state (UncompactTruth keeps the other compacted topics
// whole). Their size on disk paces it.
var derivedTopics = []string{TopicRecommendations, TopicItemFactors}

var brokerCompaction = promauto.NewHistogram(prometheus.HistogramOpts{
	Name: "learnstream_broker_compaction_seconds",
	Help: "Runs of the embedded broker's cleaner (compacting the recommendation and item-factor topics): while one runs, the broker answers no produce or fetch.",
	// From a few ms (a small install) to seconds (a large live set).
	Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
})

var brokerCompactionDeferred = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "learnstream_broker_compaction_deferred_seconds",
	Help:    "How long due runs of the embedded broker's cleaner waited for the projections store's level-0 merge to end (at most 5 s), one observation per run that waited.",
	Buckets: prometheus.ExponentialBuckets(0.1, 2, 7),
})

var brokerCompactionSkips = promauto.NewCounter(prometheus.CounterOpts{
	Name: "learnstream_broker_compaction_skipped_total",
	Help: "Times the embedded broker's cleaner was due but did not run: less than half of the compacted topics' log was new since its last run.",
})

// Embedded is a single-node Kafka-protocol broker running in this process.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
	ln      *memListener
	stop    context.CancelFunc
	cleaned chan struct{}
}

// StartEmbedded starts the broker and returns once it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("embedded broker: data dir must be set")
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:9092"
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen address %q: %w", listen, err)
	}
	if host == "" {
		// ":0" would advertise an empty host that clients cannot dial.
		listen = "127.0.0.1" + listen
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if !cfg.Checked {
		scan, err := ScanLog(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		if len(scan.Damage) > 0 {
			return nil, fmt.Errorf("embedded broker: the log in %s is damaged (%s); not started, so nothing was truncated: "+
				"learnstream doctor shows the damage, learnstream serve keeps it aside and asks what to do (docs/operations.md)",
				cfg.DataDir, scan.Damage[0])
		}
	}
	tcp, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", listen, err)
	}
	// The roles of this process reach the broker in memory (memconn.go).
	ln := newMemListener(tcp)
	parts := cfg.Partitions
	if parts <= 0 {
		parts = 4
	}
	compactEvery := cfg.CompactEvery
	if compactEvery <= 0 {
		compactEvery = DefaultCompactEvery
	}
	msgBytes := cfg.MaxMessageBytes
	if msgBytes <= 0 {
		msgBytes = TopicMessageBytes(0)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("learnstream-embedded"),
		kfake.DataDir(filepath.Clean(cfg.DataDir)),
		kfake.DefaultNumPartitions(parts),
		kfake.AllowAutoTopicCreation(),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": strconv.Itoa(msgBytes),
			// The broker's cleaner, which runs once any topic is
			// compacted, applies time retention to every topic, with
			// Kafka's default of seven days unless told otherwise: it
			// would drop old statements, the log every projection is
			// rebuilt from. Nothing expires here; compacted topics keep
			// the latest record per key.
			"log.retention.ms": "-1",
			// The broker's own cleaner timer (Kafka's name for its
			// back-off when there is nothing to clean) is pushed out of
			// the way: cleaner runs it, timed and spaced.
			"log.cleaner.backoff.ms": strconv.FormatInt((365 * 24 * time.Hour).Milliseconds(), 10),
		}),
		// The listener is opened above so that a bad address fails here with
		// a clear error and the advertised address is the one asked for.
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
	}
	if cfg.Fsync {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.User != "" || cfg.Password != "" {
		if cfg.User == "" || len(cfg.Password) < 16 {
			ln.Close()
			return nil, fmt.Errorf("embedded broker: SASL needs a user and a password of at least 16 characters")
		}
		// The broker would reload the users it saved last time over the
		// ones given here; the configuration is the only source.
		if err := os.Remove(filepath.Join(cfg.DataDir, "sasl.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			ln.Close()
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(SASLScramSHA256, cfg.User, cfg.Password))
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Embedded{cluster: c, addr: c.ListenAddrs()[0], ln: ln, stop: stop, cleaned: make(chan struct{})}
	registerLocal(e.addr, ln)
	go func() {
		defer close(e.cleaned)
		dir := filepath.Clean(cfg.DataDir)
		cleaner(ctx, c.Compact, func() int64 { return logBytes(dir, derivedTopics) }, cfg.Busy, compactEvery, maxLagIntervals*compactEvery, cfg.Logger)
	}()
	return e, nil
}

// cleaner runs compact every interval once the compacted topics hold at
// least cleanableRatio of new bytes since the last run (size is their
// size on disk, -1 when unknown: then the interval alone paces it) or
// maxLag has passed since it, or less often when runs take long: the next
// run waits at least (1/cleanerShare - 1) times the last one, so that the
// cleaner, which holds the whole broker, takes at most a tenth of its
// time. While busy (nil: never) says the process is busy, a due run waits
// for that to end, at most maxCleanerDefer. Each run is measured
// (learnstream_broker_compaction_seconds) and one that held the broker for
// over a second is logged.
func cleaner(ctx context.Context, compact func(), size func() int64, busy func() bool, every, maxLag time.Duration, log *slog.Logger) {
	wait := every
	clean := int64(-1) // the topics' size after the last run
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if clean > 0 && time.Since(last) < maxLag {
			if s := size(); s >= 0 && float64(s-clean) < cleanableRatio*float64(s) {
				brokerCompactionSkips.Inc()
				wait = every
				continue
			}
		}
		if !waitIdle(ctx, busy) {
			return
		}
		start := time.Now()
		compact()
		last = time.Now()
		d := last.Sub(start)
		brokerCompaction.Observe(d.Seconds())
		if d > time.Second && log != nil {
			log.Info("broker: compacting the derived-state topics held the broker", "took", d.Round(time.Millisecond))
		}
		clean = size()
		wait = max(every, time.Duration(float64(d)*(1/cleanerShare-1)))
	}
}

// waitIdle waits while busy says so, at most maxCleanerDefer, and records
// the wait. It is false when ctx ended meanwhile.
func waitIdle(ctx context.Context, busy func() bool) bool {
	if busy == nil || !busy() {
		return true
	}
	start := time.Now()
	defer func() { brokerCompactionDeferred.Observe(time.Since(start).Seconds()) }()
	t := time.NewTicker(cleanerDeferStep)
	defer t.Stop()
	for time.Since(start) < maxCleanerDefer {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if !busy() {
			return true
		}
	}
	return true
}

// logBytes is the size of the topics' log segments under the broker's
// data dir, or -1 when it cannot be read.
func logBytes(dataDir string, topics []string) int64 {
	root := filepath.Join(dataDir, "partitions")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return -1
	}
	var n int64
	for _, d := range dirs {
		topic, _, ok := parsePartDir(d.Name())
		if !ok || !d.IsDir() || !slices.Contains(topics, topic) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			return -1
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".dat") {
				continue
			}
			// A segment the broker dropped since the listing is no
			// longer part of the log.
			if info, err := f.Info(); err == nil {
				n += info.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return -1
			}
		}
	}
	return n
}

// Addr is the bootstrap address clients use.
func (e *Embedded) Addr() string { return e.addr }

// Close stops the broker and flushes its state to the data dir. A
// cleaner run in progress finishes first.
func (e *Embedded) Close() {
	unregisterLocal(e.addr, e.ln)
	e.stop()
	<-e.cleaned
	e.cluster.Close()
}

// kfakeLogger routes the broker's warnings and errors to slog; its debug
// chatter stays out of operators' logs.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Log(context.Background(), slog.LevelError, "broker: "+fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		k.l.Log(context.Background(), slog.LevelWarn, "broker: "+fmt.Sprintf(msg, args...))
	}
}
