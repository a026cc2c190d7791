package projections

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// BenchmarkStatementsStorage is the statements projection's bytes on disk
// per statement: b.N statements shaped like the load tool's (1,000
// learners, 200 activities, a fresh registration each, a parent and a
// category), applied in batches of 100, the store closed, its files
// summed.
func BenchmarkStatementsStorage(b *testing.B) {
	dir := b.TempDir()
	store, p := openStatementsIn(b, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	verbs := []string{"experienced", "attempted", "answered", "completed", "passed", "failed"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	uid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
	}
	ctx := context.Background()
	var pos []event.Position
	var evs []event.Event
	flush := func() {
		if len(evs) == 0 {
			return
		}
		if n, err := p.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
			b.Fatalf("HandleBatch = %d, %v", n, err)
		}
		pos, evs = pos[:0], evs[:0]
	}
	b.ResetTimer()
	for i := range b.N {
		l, a := rng.IntN(1000), rng.IntN(200)
		at := t0.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		data := fmt.Sprintf(`{"id":%q,"actor":{"objectType":"Agent","name":"Learner %d","mbox":"mailto:learner%d@example.com"},`+
			`"verb":{"id":"http://adlnet.gov/expapi/verbs/%s","display":{"en-US":"%s"}},`+
			`"object":{"objectType":"Activity","id":"https://example.com/activities/%d","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":"Lesson %d"}}},`+
			`"context":{"registration":%q,"platform":"learnstream bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/%d"}],"category":[{"objectType":"Activity","id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}},`+
			`"timestamp":%q,"stored":%q,"version":"1.0.0","authority":{"objectType":"Agent","account":{"homePage":"http://lrs.example/","name":"bench"}}}`,
			uid(), l, l, verbs[i%len(verbs)], verbs[i%len(verbs)], a, a, uid(), a/10, at, at)
		e, err := event.New(fmt.Sprint("e", i), event.TypeStatementStored, "test", "default", fmt.Sprint("mbox:mailto:learner", l), t0, []byte(data))
		if err != nil {
			b.Fatal(err)
		}
		pos = append(pos, event.Position{Topic: "s", Partition: i % 4, Offset: int64(i / 4)})
		evs = append(evs, e)
		if len(evs) == 100 {
			flush()
		}
	}
	flush()
	b.StopTimer()
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	var size int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return err
	})
	b.ReportMetric(float64(size)/float64(b.N), "disk-B/stmt")
}
