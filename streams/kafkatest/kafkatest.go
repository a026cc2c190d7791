// Package kafkatest gives tests the brokers they should run against: always
// an embedded broker in a temp dir, and a real Apache Kafka broker when
// LEARNSTREAM_KAFKA_BROKERS names one (the test script starts it).
//
// When LEARNSTREAM_REQUIRE_SERVICES=1 (CI), a missing real broker fails the
// test instead of skipping it, so CI cannot pass without real Kafka.
package kafkatest

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams"
)

// Cluster is one broker setup under test.
type Cluster struct {
	Name    string
	Brokers []string
	// Embedded is set for the in-process broker, so tests can restart it.
	Embedded *streams.Embedded
	// DataDir is the embedded broker's data dir.
	DataDir string
}

// EnvBrokers names the real broker's bootstrap addresses.
const EnvBrokers = "LEARNSTREAM_KAFKA_BROKERS"

// EnvRequire makes absent services a failure.
const EnvRequire = "LEARNSTREAM_REQUIRE_SERVICES"

// Required reports whether absent services must fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Embedded starts an embedded broker on a free loopback port, closed at the
// end of the test.
func Embedded(t testing.TB) Cluster {
	t.Helper()
	dir := t.TempDir()
	b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 4})
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	return Cluster{Name: "embedded", Brokers: []string{b.Addr()}, Embedded: b, DataDir: dir}
}

// Real returns the real Kafka broker, or skips (fails under
// LEARNSTREAM_REQUIRE_SERVICES=1) when none is configured.
func Real(t testing.TB) Cluster {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		msg := EnvBrokers + " is not set: no real Apache Kafka broker to test against (make test starts one)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return Cluster{Name: "kafka", Brokers: strings.Split(v, ",")}
}

// Each runs f as a subtest against the embedded broker and real Kafka.
func Each(t *testing.T, f func(t *testing.T, c Cluster)) {
	t.Run("embedded", func(t *testing.T) { f(t, Embedded(t)) })
	t.Run("kafka", func(t *testing.T) { f(t, Real(t)) })
}

var seq atomic.Int64

// Unique returns a name unique to this test run, for topics and groups on a
// shared real broker.
func Unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}
