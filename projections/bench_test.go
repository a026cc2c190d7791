package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// BenchmarkStatementsApply is the statements projection's apply rate: parse
// and check each event, write statement and offset in one transaction.
func BenchmarkStatementsApply(b *testing.B) {
	store := openStore(b)
	p, _ := NewStatements(store, nil)
	evs := benchEvents(b, 1000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := evs[i%len(evs)]
		e.Data = withID(e.Data, i)
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProgressApply is the progress projection's apply rate
// (read-modify-write per learner and activity).
func BenchmarkProgressApply(b *testing.B) {
	store := openStore(b)
	p, _ := NewProgress(store)
	evs := benchEvents(b, 1000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBadgerBaseline writes the same bytes with no projection logic:
// one transaction per event holding the value and an offset, as apply does.
func BenchmarkBadgerBaseline(b *testing.B) {
	store := openStore(b)
	evs := benchEvents(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := evs[i%len(evs)]
		err := store.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set([]byte(fmt.Sprintf("k%d", i)), e.Data); err != nil {
				return err
			}
			return txn.Set([]byte("offset"), []byte{byte(i)})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchEvents(b *testing.B, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = stmtEvent(b, fmt.Sprintf("e%d", i), uuid(i), fmt.Sprintf("https://example.com/a%d", i%50))
	}
	return evs
}

// withID gives each applied statement a fresh id, so the benchmark measures
// inserts rather than no-op duplicates.
func withID(data []byte, i int) []byte {
	out := make([]byte, len(data))
	copy(out, data)
	id := []byte(fmt.Sprintf("%012d", i%1_000_000_000_000))
	copy(out[len(`{"id":"00000000-0000-4000-8000-`):], id)
	return out
}

// nopModel applies nothing: with it, HandleBatch measures what the
// projection does around the model per event (offsets, metrics, the
// applied-time note, waking writers) and one commit per batch.
type nopModel struct{}

func (nopModel) Name() string { return "nop" }
func (nopModel) Apply(*badger.Txn, Space, event.Event) (Outcome, error) {
	return Stored, nil
}

// BenchmarkHandleBatchOverhead is the projection's own cost per event of a
// batch of 500 (one partition, as the subscriber delivers them), the
// model's work left out.
func BenchmarkHandleBatchOverhead(b *testing.B) {
	const batch = 500
	p, err := NewProjection(openStore(b), nopModel{}, NewWaiters())
	if err != nil {
		b.Fatal(err)
	}
	handleBatches(b, p, benchEvents(b, batch), 0)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
}

// handleBatches is the loop of the batch benchmarks: p handles evs as
// batches of partition 1, at offsets from off on.
func handleBatches(b *testing.B, p *Projection, evs []event.Event, off int64) {
	pos := make([]event.Position, len(evs))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for i := range pos {
			pos[i] = event.Position{Topic: "s", Partition: 1, Offset: off}
			off++
		}
		if n, err := p.HandleBatch(ctx, pos, evs); err != nil || n != len(evs) {
			b.Fatalf("HandleBatch = %d, %v", n, err)
		}
	}
}

// fillOther writes n keys of 200 bytes into another space, one
// transaction each (as consumers commit), in an order that spreads them
// over the key range; between calls to between, every 10,000 keys.
// The memtables they fill go down the tree's levels.
func fillOther(b *testing.B, store *Store, n int, between func()) {
	other := newSpace("other", 0)
	value := make([]byte, 200)
	for i := range n {
		if i%10_000 == 0 && between != nil {
			between()
		}
		if err := store.db.Update(func(txn *badger.Txn) error {
			return txn.Set(other.Key("k", fmt.Sprintf("%08d", i*7919%n)), value)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleSmallBatches is the projection's own cost per batch of
// 10 events, as a consumer that keeps up gets them, the model's work left
// out, in a store where the partition's offset has older versions in the
// tree's levels, as in a server's: a Badger lookup of a key goes on
// through every level even when a memtable holds it.
func BenchmarkHandleSmallBatches(b *testing.B) {
	const batch = 10
	store := openStore(b)
	p, err := NewProjection(store, nopModel{}, NewWaiters())
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(b, batch)
	off := int64(0)
	// Offsets written among 300,000 other keys: each memtable goes down
	// the levels with a version of the offset in it.
	fillOther(b, store, 300_000, func() {
		if _, err := p.HandleBatch(context.Background(), []event.Position{{Topic: "s", Partition: 1, Offset: off}}, evs[:1]); err != nil {
			b.Fatal(err)
		}
		off++
	})
	handleBatches(b, p, evs, off)
}

// BenchmarkCatalogGraph is a model consumer's read of an unchanged
// tenant graph, as each of its batches does, in a store whose tree holds
// 300,000 other keys.
func BenchmarkCatalogGraph(b *testing.B) {
	store := openStore(b)
	c, err := NewCatalog(store, nil)
	if err != nil {
		b.Fatal(err)
	}
	e, err := event.New("id", TypeSkillPut, "test", "t1", "k", time.Now(), []byte(`{"id":"s","name":"S"}`))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Handle(context.Background(), event.Position{Topic: "catalog"}, e); err != nil {
		b.Fatal(err)
	}
	fillOther(b, store, 300_000, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Graph("t1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistentThrough is the consistency header's work in every
// POST: the applied offset of each of the statements topic's 4
// partitions (the server's default), in a store where the offsets have
// older versions in the tree's levels among 300,000 other keys.
func BenchmarkConsistentThrough(b *testing.B) {
	const partitions = 4
	store := openStore(b)
	p, err := NewStatements(store, NewWaiters())
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(b, partitions)
	off := int64(0)
	apply := func() {
		for part := range partitions {
			pos := []event.Position{{Topic: "s", Partition: part, Offset: off}}
			if _, err := p.HandleBatch(context.Background(), pos, evs[part:part+1]); err != nil {
				b.Fatal(err)
			}
		}
		off++
	}
	fillOther(b, store, 300_000, apply)
	apply()
	ends := map[int]int64{}
	for part := range partitions {
		ends[part] = off
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if got := p.ConsistentThrough(context.Background(), now, "s", ends, true); !got.Equal(now) {
			b.Fatalf("ConsistentThrough = %v, want %v", got, now)
		}
	}
}

// BenchmarkAuthenticate is what every request pays to check its HTTP
// Basic credential once the secret was verified, in a store whose tree
// holds 300,000 other keys.
func BenchmarkAuthenticate(b *testing.B) {
	l := &applyingLog{}
	store := openStore(b)
	c, err := NewCredentials(store, NewWaiters(), CredentialsConfig{Publisher: l, Iterations: 1000})
	if err != nil {
		b.Fatal(err)
	}
	l.creds = c
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "a-secret-1", "k", "t1", []string{"all"}); err != nil {
		b.Fatal(err)
	}
	fillOther(b, store, 300_000, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Authenticate(ctx, "k", "a-secret-1"); err != nil {
			b.Fatal(err)
		}
	}
}
