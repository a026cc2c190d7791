package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/analytics"
	"github.com/learnstream/learnstream/analytics/chdbtest"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// chdbForgetter is chdbWriter that also runs the sink's erasure
// statements: the analytics sink on the real ClickHouse engine.
type chdbForgetter struct{ chdbWriter }

func (c chdbForgetter) Exec(ctx context.Context, q string) error { return c.s.Exec(ctx, q) }

func (c chdbForgetter) Count(_ context.Context, q string) (int64, error) {
	rows, _, err := c.s.Query(q, nil)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		for _, v := range r {
			if f, ok := v.(float64); ok {
				return int64(f), nil
			}
			var n int64
			if _, err := fmt.Sscan(fmt.Sprint(v), &n); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("count: no number in %v", rows)
}

// chAnalytics is the analytics sink of a test, on chDB, fed by a consumer
// group of p's broker that opens sealed events with the install's key
// store, as the analytics role does.
type chAnalytics struct {
	ch      *chdbtest.Session
	vault   *streams.Vault
	mu      sync.Mutex
	answers map[string]map[string]int64 // erasure -> removed
	// stop ends the consumer (before the broker goes).
	stop func()
}

// startChAnalytics runs the sink, or returns nil when no chDB is
// configured (the test then covers the store and the log only).
func startChAnalytics(t *testing.T, p *proc, c kafkatest.Cluster, tenant string) *chAnalytics {
	t.Helper()
	if os.Getenv("LEARNSTREAM_CHDB_PYTHON") == "" && !kafkatest.Required() {
		t.Log("LEARNSTREAM_CHDB_PYTHON is not set: ClickHouse is not part of this run")
		return nil
	}
	ch := chdbtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := analytics.Migrate(ctx, ch); err != nil {
		t.Fatalf("migrations on chDB: %v", err)
	}
	p.secureKafka(t)
	keyFile := filepath.Join(p.dataDir, streams.MasterKeyFile)
	if c.Embedded == nil {
		keyFile = testMasterKeyFile()
	}
	master, _, err := streams.LoadMasterKeys(keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	brokers := []string{p.kafka}
	vault, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: brokers, Master: master})
	if err != nil {
		t.Fatal(err)
	}
	streams.UseKeys(brokers, vault)
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	a := &chAnalytics{ch: ch, vault: vault, answers: map[string]map[string]int64{}}
	sink := analytics.NewSink(analytics.SinkConfig{Writer: chdbForgetter{chdbWriter{ch}},
		Encoder: analytics.NewEncoder(analytics.NewPrivacyPseudonymizer(vault)),
		OnErasure: func(_ context.Context, tn string, e privacy.LearnerErased, removed map[string]int64) error {
			// The erasure reaches the sink on each of its topics; the
			// first application removes everything, later ones count what
			// was left (nothing). The first answer counts, as in a receipt.
			a.mu.Lock()
			if _, ok := a.answers[e.Erasure]; !ok && tn == tenant {
				a.answers[e.Erasure] = removed
			}
			a.mu.Unlock()
			return nil
		}})
	bc := &streams.BatchConsumer{Name: "analytics-test", Brokers: brokers, Group: kafkatest.Unique("erase-analytics"),
		Topics:  []string{streams.TopicStatements, streams.TopicRecommendations, streams.TopicAdaptive, streams.TopicCatalog},
		Handler: sink, DLQ: pub, MaxBatch: 1000, MaxWait: 100 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); bc.Run(ctx) }()
	a.stop = sync.OnceFunc(func() {
		cancel()
		<-done
		pub.Close()
		streams.UseKeys(brokers, nil)
		vault.Close()
	})
	t.Cleanup(a.stop)
	return a
}

// count runs a count query.
func (a *chAnalytics) count(t *testing.T, q string, params map[string]string) int64 {
	t.Helper()
	rows, _, err := a.ch.Query(q, params)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var n int64
	for _, v := range rows[0] {
		fmt.Sscan(fmt.Sprint(v), &n)
	}
	return n
}

// waitRows waits until the learner has statement rows.
func (a *chAnalytics) waitRows(t *testing.T, tenant, pseudonym string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for a.count(t, `SELECT toUInt64(count()) AS n FROM statements WHERE tenant = {t:String} AND actor_pseudo = {p:String}`,
		map[string]string{"t": tenant, "p": pseudonym}) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ClickHouse rows of the learner after 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAnswer waits for the sink's answer to the erasure.
func (a *chAnalytics) waitAnswer(t *testing.T, erasure string) map[string]int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a.mu.Lock()
		r, ok := a.answers[erasure]
		a.mu.Unlock()
		if ok {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("the analytics sink did not apply the erasure in 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scan reports every table of the session's database with a row holding
// a needle. Rows are matched in SQL on their TSV form (aggregate states
// are bytes, which the harness cannot hand back as text).
func (a *chAnalytics) scan(t *testing.T, ns map[string][]byte) []string {
	t.Helper()
	tables, _, err := a.ch.Query(`SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT IN ('MaterializedView', 'View')`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	rowsSeen := int64(0)
	for _, tb := range tables {
		name := fmt.Sprint(tb["name"])
		rowsSeen += a.count(t, "SELECT toUInt64(count()) AS n FROM `"+name+"`", nil)
		for n, needle := range ns {
			if a.count(t, "SELECT toUInt64(count()) AS n FROM `"+name+"` WHERE position(formatRowNoNewline('TSVRaw', *), {n:String}) > 0",
				map[string]string{"n": string(needle)}) > 0 {
				hits = append(hits, "clickhouse "+name+": "+n)
			}
		}
	}
	t.Logf("ClickHouse: %d rows of %d tables scanned", rowsSeen, len(tables))
	return hits
}
