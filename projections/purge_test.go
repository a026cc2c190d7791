package projections

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// grepDir counts the files under dir that contain needle.
func grepDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestPurgeDropsDeletedBytes(t *testing.T) {
	for _, size := range []int{100} { // in the tables; in the value log
		dir := t.TempDir()
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		secret := bytes.Repeat([]byte("ann@example.com "), size/16)
		kept := []byte("bob@example.com stays")
		if err := s.DB().Update(func(txn *badger.Txn) error {
			if err := txn.Set([]byte("p\x00k1"), secret); err != nil {
				return err
			}
			return txn.Set([]byte("p\x00k2"), kept)
		}); err != nil {
			t.Fatal(err)
		}
		// Overwritten (a redaction) and deleted (an erasure).
		if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Set([]byte("p\x00k1"), []byte("redacted")) }); err != nil {
			t.Fatal(err)
		}
		if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Delete([]byte("p\x00k1")) }); err != nil {
			t.Fatal(err)
		}
		if hits := grepDir(t, dir, []byte("ann@example.com")); len(hits) == 0 {
			t.Fatalf("size %d: the deleted value is not on disk before the purge: the test shows nothing", size)
		}
		st, err := s.Purge(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("purge: %+v", st)
		if hits := grepDir(t, dir, []byte("ann@example.com")); len(hits) != 0 && size < 1<<20 {
			t.Errorf("size %d: after the purge, deleted bytes in %v", size, hits)
		} else if len(hits) != 0 {
			t.Logf("size %d: a value in the newest value-log file stays until it rotates: %v", size, hits)
		}
		if hits := grepDir(t, dir, kept); len(hits) == 0 {
			t.Errorf("size %d: the purge lost a live value", size)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A purge and a replay's generation swap (both block Badger's writes)
// never run at once: neither fails with ErrBlockedWrites.
func TestPurgeBesideReplays(t *testing.T) {
	s := openStore(t)
	p, err := NewStatements(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() {
		for range 5 {
			if _, err := s.Purge(ctx); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for range 20 {
			r, err := p.StartRebuild()
			if err != nil {
				errs <- err
				return
			}
			if err := r.Abandon(); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
