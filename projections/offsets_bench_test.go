package projections

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// BenchmarkStoredOffsets reads the offsets every start checks against the
// log, in a store whose spaces hold many model keys beside them (a store
// of 10M statements holds tens of millions). The baseline is the walk of
// the whole keyspace it replaced, which grew with the store.
func BenchmarkStoredOffsets(b *testing.B) {
	for _, keys := range []int{10_000, 300_000} {
		s := openStore(b)
		for _, name := range []string{"statements", "progress", "recommender"} {
			sp, err := s.currentSpace(name)
			if err != nil {
				b.Fatal(err)
			}
			for part := range 4 {
				_, err := s.apply(sp, "t", part, 41, func(txn *badger.Txn) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			wb := s.db.NewWriteBatch()
			for i := range keys / 3 {
				for _, k := range []string{"a", "z"} {
					if err := wb.Set(sp.Key(k, fmt.Sprintf("%09d", i)), make([]byte, 16)); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := wb.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("keys=%d/seek", keys), func(b *testing.B) {
			for b.Loop() {
				offs, err := s.StoredOffsets()
				if err != nil || len(offs) != 12 {
					b.Fatalf("%d offsets, %v", len(offs), err)
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/baseline-walk", keys), func(b *testing.B) {
			for b.Loop() {
				n := 0
				err := s.db.View(func(txn *badger.Txn) error {
					opts := badger.DefaultIteratorOptions
					opts.Prefix = []byte{prefixSpace, 0}
					it := txn.NewIterator(opts)
					defer it.Close()
					for it.Rewind(); it.Valid(); it.Next() {
						if _, ok := parseOffsetKey(it.Item().Key()); ok {
							n++
						}
					}
					return nil
				})
				if err != nil || n != 12 {
					b.Fatalf("%d offsets, %v", n, err)
				}
			}
		})
	}
}

// parseOffsetKey reads p\x00<projection>\x00<gen>\x00o\x00<topic>\x00<partition>
// from any key, as the baseline's walk of the whole keyspace must.
func parseOffsetKey(k []byte) (StoredOffset, bool) {
	sp, ok := spaceOf(k)
	if !ok {
		return StoredOffset{}, false
	}
	rest, ok := bytes.CutPrefix(k, sp.Prefix("o"))
	if !ok {
		return StoredOffset{}, false
	}
	return offsetAt(sp, rest)
}
