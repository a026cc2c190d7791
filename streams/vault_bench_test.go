package streams_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// BenchmarkVaultMemory is what the key store keeps in memory per data key
// (one per learner and month, for as long as the months are retained):
// in the process that created the keys, once its follower read them back,
// and in a process that started after them and read the topic whole.
func BenchmarkVaultMemory(b *testing.B) {
	const learners = 20_000
	c := kafkatest.Embedded(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := keysTopic(b, ctx, c)
	m := masterKeys(b, keyLine("m1", 1))
	base, baseObj := heapAndObjects()
	v := openVault(b, ctx, c, topic, m)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < learners; i += 16 {
				if _, err := v.For(ctx, "t1", fmt.Sprintf("mbox:mailto:learner%d@example.com", i), march); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if err := v.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	created, createdObj := heapAndObjects()
	v.Close()
	closed, closedObj := heapAndObjects()
	r, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Topic: topic, Master: m})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	read, readObj := heapAndObjects()
	b.ReportMetric(float64(created-base)/learners, "B/key")
	b.ReportMetric(float64(createdObj-baseObj)/learners, "objects/key")
	b.ReportMetric(float64(int64(read)-int64(closed))/learners, "B/key-read")
	b.ReportMetric(float64(int64(readObj)-int64(closedObj))/learners, "objects/key-read")
	runtime.KeepAlive(v)
	runtime.KeepAlive(r)
}
