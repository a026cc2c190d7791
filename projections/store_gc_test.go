package projections

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// valueLogFiles counts the value-log files; the one being written is
// preallocated, so sizes say little.
func valueLogFiles(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// TestValueLogCollected: checkpoints above the value threshold, each
// replacing the last, leave dead value-log files that collectValueLog
// rewrites away, keeping the live value.
func TestValueLogCollected(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 3 << 20 // above the value threshold
	for i := range 40 {
		v := bytes.Repeat([]byte{byte(i)}, size)
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("p\x00checkpoint"), v) }); err != nil {
			t.Fatal(err)
		}
	}
	// Compactions record what is dead (as a running server's do): flush
	// the memtables into level 0 and compact it down.
	for i := range s.db.Opts().NumLevelZeroTables + 1 {
		if err := s.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set(purgeKey(i), nil); err != nil {
				return err
			}
			return txn.Set(flushKey, nil)
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.db.DropPrefix(flushKey); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	before := valueLogFiles(t, dir)
	n, err := s.collectValueLog()
	if err != nil {
		t.Fatal(err)
	}
	after := valueLogFiles(t, dir)
	t.Logf("rewrote %d files: %d value-log files -> %d", n, before, after)
	if before < 2 || n == 0 || after != 1 {
		t.Errorf("%d value-log files -> %d after %d rewrites: want the dead ones gone, the one being written left", before, after, n)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("p\x00checkpoint"))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != size || v[0] != 39 {
				t.Errorf("live checkpoint: %d bytes of %d, want %d of 39", len(v), v[0], size)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
