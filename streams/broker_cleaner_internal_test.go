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
			cleaner(ctx, func() { runs++; time.Sleep(tc.run) }, tc.every, nil)
			if runs < tc.minRuns || runs > tc.most {
				t.Errorf("%d runs of %v in 700 ms with interval %v, want %d to %d", runs, tc.run, tc.every, tc.minRuns, tc.most)
			}
		})
	}
}
