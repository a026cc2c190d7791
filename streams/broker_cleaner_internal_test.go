package streams

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The embedded broker's cleaner (which runs once any topic is compacted)
// also applies time retention to every topic. Kafka's default of seven
// days would drop old statements, the log every projection is rebuilt
// from; the embedded broker keeps every record of a non-compacted topic
// and of the catalog (UncompactTruth), and the latest record per key of a
// compacted topic of derived state, however old, and compacts on its own
// every CompactEvery.
func TestEmbeddedCleanerKeepsOldRecords(t *testing.T) {
	b, err := StartEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Partitions: 1,
		CompactEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := []string{b.Addr()}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Created compacted, as releases before UncompactTruth did.
	if err := EnsureTopics(ctx, brokers, DefaultTopics(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := UncompactTruth(ctx, brokers); err != nil {
		t.Fatal(err)
	}
	// Topics learnstream creates say so themselves, for Apache Kafka too;
	// the broker's own setting covers topics created before they did.
	resp, err := newClient(brokers, 10*time.Second).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: TopicStatements,
			ConfigNames: []string{"retention.ms"}}}})
	if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].ConfigEntries) != 1 ||
		resp.Resources[0].ConfigEntries[0].ConfigValue != "-1" {
		t.Fatalf("retention.ms of %s: %+v, %v; want -1", TopicStatements, resp, err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, tc := range []struct {
		topic string
		sent  []kafka.Message // each produced in its own batch
		want  []string        // values left after the cleaner ran
	}{
		{TopicStatements,
			[]kafka.Message{{Key: []byte("a"), Value: []byte("s1"), Time: old}, {Key: []byte("a"), Value: []byte("s2"), Time: old},
				{Key: []byte("b"), Value: []byte("s3")}},
			[]string{"s1", "s2", "s3"}},
		{TopicCatalog,
			[]kafka.Message{{Key: []byte("x"), Value: []byte("c1"), Time: old}, {Key: []byte("y"), Value: []byte("c2"), Time: old},
				{Key: []byte("x"), Value: []byte("c3"), Time: old}, {Key: []byte("z"), Value: []byte("c4")}},
			[]string{"c1", "c2", "c3", "c4"}},
		{TopicRecommendations,
			[]kafka.Message{{Key: []byte("x"), Value: []byte("r1"), Time: old}, {Key: []byte("y"), Value: []byte("r2"), Time: old},
				{Key: []byte("x"), Value: []byte("r3"), Time: old}, {Key: []byte("z"), Value: []byte("r4")}},
			[]string{"r2", "r3", "r4"}},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: tc.topic, RequiredAcks: kafka.RequireAll, BatchSize: 1}
			defer w.Close()
			for _, m := range tc.sent {
				if err := w.WriteMessages(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			// Two cleaner runs on its own timer.
			time.Sleep(time.Second)
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: tc.topic, Partition: 0, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			var got []string
			for len(got) < len(tc.want) {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read after %v: %v", got, err)
				}
				got = append(got, string(m.Value))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("after the cleaner the log holds %v, want %v", got, tc.want)
			}
		})
	}
}

// A cleaner run holds the whole embedded broker: runs that take long are
// spaced so that the cleaner takes at most a tenth of the broker's time,
// and runs that are quick come every interval.
func TestCleanerSpacesLongRuns(t *testing.T) {
	for _, tc := range []struct {
		name          string
		run, every    time.Duration
		minRuns, most int
	}{
		// 30 ms runs: at least 270 ms between them, so 2 or 3 in 700 ms
		// where the interval alone would allow 20.
		{"long runs", 30 * time.Millisecond, 5 * time.Millisecond, 2, 3},
		// Instant runs every 50 ms: about 14 in 700 ms.
		{"quick runs", 0, 50 * time.Millisecond, 8, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
			defer cancel()
			runs := 0
			cleaner(ctx, func() { runs++; time.Sleep(tc.run) }, func() int64 { return -1 }, nil, tc.every, time.Hour, nil)
			if runs < tc.minRuns || runs > tc.most {
				t.Errorf("%d runs of %v in 700 ms with interval %v, want %d to %d", runs, tc.run, tc.every, tc.minRuns, tc.most)
			}
		})
	}
}

// After its first run, the cleaner runs only once at least half of what
// the compacted topics hold is new since the last (Kafka's
// min.cleanable.dirty.ratio): with a large live set, most times it is due
// it finds too little to clean and waits; with the size unknown it runs
// every time, as it did before it measured.
func TestCleanerWaitsForHalfTheLogNew(t *testing.T) {
	for _, tc := range []struct {
		name       string
		live, grow int64 // bytes left by a run; bytes written between two checks
		per        int   // times due per run
	}{
		// Left 1,000, checked after 100 more: 1,100 clean, and a run when
		// 100k >= (1,100 + 100k) / 2, at the 11th time due.
		{"large live set", 1000, 100, 11},
		// Left 100: 200 clean, a run at the 2nd.
		{"small live set", 100, 100, 2},
		{"size unknown", -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			cur, runs, asked := tc.live, 0, 0
			compact := func() { runs++; cur = tc.live }
			size := func() int64 {
				asked++
				if tc.live < 0 {
					return -1
				}
				cur += tc.grow
				return cur
			}
			cleaner(ctx, compact, size, nil, time.Millisecond, time.Hour, nil)
			if tc.live < 0 {
				if runs < 50 {
					t.Errorf("%d runs in 300 ms at 1 ms, want one each time due", runs)
				}
				return
			}
			// The cleaner asks the size after each run and, from the
			// second time due on, once each time due.
			due := asked - runs + 1
			if runs < 3 {
				t.Fatalf("%d runs in 300 ms, want at least 3", runs)
			}
			if got := (due - 1) / tc.per; got != runs-1 {
				t.Errorf("%d runs in %d times due, want one every %d", runs, due, tc.per)
			}
		})
	}
}

// However little is written, the cleaner runs at least every maxLag, so
// that a superseded record (an erased learner's older list) does not
// stay for ever on a quiet install.
func TestCleanerRunsAtLeastEveryMaxLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	runs := 0
	cleaner(ctx, func() { runs++ }, func() int64 { return 1000 }, nil, time.Millisecond, 30*time.Millisecond, nil)
	// Every 30 ms (the first after 1 ms): about 10, where the interval
	// alone would allow 300 and the ratio none after the first.
	if runs < 4 || runs > 11 {
		t.Errorf("%d runs in 300 ms with nothing written and a 30 ms lag bound, want about 10", runs)
	}
}

// A run due while the process is busy (the store merging level 0) waits
// for that to end, and no longer than maxCleanerDefer: a store merging
// without pause still has its derived topics compacted.
func TestCleanerWaitsOutBusy(t *testing.T) {
	defer func(d time.Duration) { maxCleanerDefer = d }(maxCleanerDefer)
	maxCleanerDefer = 400 * time.Millisecond
	for _, tc := range []struct {
		name     string
		busyFor  time.Duration // busy from the start for this long
		from, to time.Duration // when the first run must start
	}{
		{"never busy", 0, 0, 250 * time.Millisecond},
		{"busy 250 ms", 250 * time.Millisecond, 250 * time.Millisecond, 600 * time.Millisecond},
		{"always busy", time.Hour, 400 * time.Millisecond, 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			var first time.Duration
			compact := func() {
				if first == 0 {
					first = time.Since(start)
				}
				cancel()
			}
			busy := func() bool { return time.Since(start) < tc.busyFor }
			cleaner(ctx, compact, func() int64 { return -1 }, busy, time.Millisecond, time.Hour, nil)
			if first < tc.from || first > tc.to {
				t.Errorf("first run after %v, want between %v and %v", first, tc.from, tc.to)
			}
		})
	}
}

// A cleaner stopped while it waits out a busy store ends without a run.
func TestCleanerStopsWhileDeferred(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	runs := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		cleaner(ctx, func() { runs++ }, func() int64 { return -1 }, func() bool { return true }, time.Millisecond, time.Hour, nil)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the cleaner did not stop while deferred")
	}
	if runs != 0 {
		t.Errorf("%d runs while always busy and stopped before the bound", runs)
	}
}

// The size that paces the cleaner is the broker's own log of the derived
// topics: it grows with what is written there, and not with other topics.
func TestLogBytesFollowsTheDerivedTopics(t *testing.T) {
	dir := t.TempDir()
	if got := logBytes(dir, derivedTopics); got != -1 {
		t.Errorf("before the broker made its log: %d, want -1 (unknown)", got)
	}
	b, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1, CompactEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	brokers := []string{b.Addr()}
	if err := EnsureTopics(ctx, brokers, DefaultTopics(1, 1)); err != nil {
		t.Fatal(err)
	}
	write := func(topic string, n int) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchSize: 1}
		defer w.Close()
		for i := range n {
			if err := w.WriteMessages(ctx, kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, 1000)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(TopicStatements, 20)
	if got := logBytes(dir, []string{TopicStatements}); got < 20*1000 {
		t.Errorf("after 20 KB of statements, their log: %d bytes, want at least 20000", got)
	}
	if got := logBytes(dir, derivedTopics); got != 0 {
		t.Errorf("after writing statements only, the derived topics' log: %d bytes, want 0", got)
	}
	write(TopicRecommendations, 20)
	if got := logBytes(dir, derivedTopics); got < 20*1000 {
		t.Errorf("after 20 KB of recommendations: %d bytes, want at least 20000", got)
	}
}
