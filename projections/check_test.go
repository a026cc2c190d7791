package projections

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// storeWithTable makes a store with one table on disk and returns its dir
// and the table's path.
func storeWithTable(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.DB().Update(func(txn *badger.Txn) error {
		for i := range 2000 {
			if err := txn.Set(fmt.Appendf(nil, "k%d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) != 1 {
		t.Fatalf("want one table, have %v", ssts)
	}
	return dir, ssts[0]
}

// A damaged table never panics the process: Open answers an error naming
// the file and the recovery. (Truncated by a byte, Badger panicked in a
// goroutine of its own.)
func TestOpenDamagedTableNamesFileAndRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		size func(int64) int64
	}{
		{"one byte short", func(n int64) int64 { return n - 1 }},
		{"four bytes short", func(n int64) int64 { return n - 4 }},
		{"half", func(n int64) int64 { return n / 2 }},
		{"ten bytes left", func(int64) int64 { return 10 }},
		{"empty", func(int64) int64 { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, sst := storeWithTable(t)
			fi, _ := os.Stat(sst)
			if err := os.Truncate(sst, tc.size(fi.Size())); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, nil)
			if err == nil {
				s.Close()
				t.Fatal("opened a store with a damaged table")
			}
			var oe *OpenError
			if !errors.As(err, &oe) || oe.File != sst {
				t.Errorf("error names file %q, want %s: %v", oe.File, sst, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "mv "+dir) || !strings.Contains(msg, "rebuilds from the log") {
				t.Errorf("error lacks the recovery: %s", msg)
			}
			probs, err := CheckFiles(dir, true)
			if err != nil || len(probs) != 1 || probs[0].File != sst {
				t.Errorf("CheckFiles = %v, %v", probs, err)
			}
		})
	}
}

// A process killed during a flush or a compaction leaves the table it was
// writing, empty or cut short, before the manifest lists it: not damage,
// and the store opens (Badger deletes the file). A table the manifest
// lists, damaged alike, is still refused (the test above).
func TestUnlistedTableIsNotDamage(t *testing.T) {
	for _, tc := range []struct {
		name string
		size func(int64) int64
	}{
		{"empty", func(int64) int64 { return 0 }},
		{"half written", func(n int64) int64 { return n / 2 }},
		{"whole", func(n int64) int64 { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, sst := storeWithTable(t)
			data, err := os.ReadFile(sst)
			if err != nil {
				t.Fatal(err)
			}
			unlisted := filepath.Join(dir, "000999.sst")
			if err := os.WriteFile(unlisted, data[:tc.size(int64(len(data)))], 0o644); err != nil {
				t.Fatal(err)
			}
			if probs, err := CheckFiles(dir, true); err != nil || len(probs) != 0 {
				t.Fatalf("CheckFiles = %v, %v; want no problem", probs, err)
			}
			s, err := Open(dir, nil)
			if err != nil {
				t.Fatalf("open with an unlisted table: %v", err)
			}
			defer s.Close()
			if _, err := os.Stat(unlisted); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the unlisted table is still there: %v", err)
			}
			err = s.DB().View(func(txn *badger.Txn) error {
				_, err := txn.Get([]byte("k1999"))
				return err
			})
			if err != nil {
				t.Errorf("the store's own table: %v", err)
			}
		})
	}
}

// A manifest that cannot be read is named; nothing says which tables are
// the store's then, so every table is checked.
func TestCheckFilesDamagedManifest(t *testing.T) {
	dir, sst := storeWithTable(t)
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sst, 10); err != nil {
		t.Fatal(err)
	}
	probs, err := CheckFiles(dir, false)
	if err != nil || len(probs) != 2 || probs[0].File != sst || probs[1].File != filepath.Join(dir, "MANIFEST") {
		t.Fatalf("CheckFiles = %v, %v; want the manifest and the table", probs, err)
	}
}

func TestCheckFilesIntactStore(t *testing.T) {
	dir, _ := storeWithTable(t)
	if probs, err := CheckFiles(dir, true); err != nil || len(probs) != 0 {
		t.Fatalf("intact store: %v %v", probs, err)
	}
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestOpenLockedStoreSaysWhoHoldsIt(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "another process is using it") || strings.Contains(err.Error(), "mv ") {
		t.Fatalf("second open: %v", err)
	}
}

// StoredOffsets lists the live generation's offsets of every projection,
// whatever bytes the partition number holds, and ResetProjection drops a
// projection's state and offsets so that it starts from the log's start.
func TestStoredOffsetsAndReset(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := s.currentSpace("alpha")
	b, _ := s.currentSpace("beta")
	// Model keys on both sides of the offsets (the walk seeks past them),
	// one of them 8 bytes long like an offset.
	model := func(sp Space) func(txn *badger.Txn) error {
		return func(txn *badger.Txn) error {
			for _, k := range []string{"a", "n", "oa", "p", "z"} {
				if err := txn.Set(sp.Key(k, "learner"), []byte("12345678")); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for _, w := range []struct {
		sp     Space
		topic  string
		part   int
		offset int64
	}{{a, "t.one", 0, 41}, {a, "t.one", 256, 7}, {b, "t.two", 1, 99}} {
		if _, err := s.apply(w.sp, w.topic, w.part, w.offset, model(w.sp)); err != nil {
			t.Fatal(err)
		}
	}
	// A rebuild generation's offsets are not what the consumer resumes from;
	// nor are those of a projection whose name the live one's starts with.
	if _, err := s.apply(newSpace("alpha", 1), "t.one", 0, 500, model(newSpace("alpha", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.apply(newSpace("alphabet", 3), "t.one", 0, 600, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.StoredOffsets()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"alpha t.one 0": 42, "alpha t.one 256": 8, "beta t.two 1": 100}
	if len(got) != len(want) {
		t.Fatalf("StoredOffsets = %+v, want %v", got, want)
	}
	for _, o := range got {
		if k := fmt.Sprint(o.Projection, " ", o.Topic, " ", o.Partition); want[k] != o.Next {
			t.Errorf("%s: next %d, want %d", k, o.Next, want[k])
		}
	}
	if err := s.ResetProjection("alpha"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.StoredOffsets()
	if len(got) != 1 || got[0].Projection != "beta" {
		t.Errorf("after resetting alpha: %+v", got)
	}
}

// A store at rest is not merging: the broker's cleaner, which waits out
// merges, does not wait on an idle store.
func TestIdleStoreIsNotMerging(t *testing.T) {
	dir, _ := storeWithTable(t)
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Merging() {
		t.Errorf("a store with one table says it is merging level 0: %v", s.DB().Levels()[0])
	}
}

// A store whose tables were written in Badger's 4 KB blocks, as releases
// before the 16 KB blocks wrote them, checks, opens and reads whole, and
// keeps doing so once tables of the new size sit beside the old ones.
func TestOpenStoreOfSmallerBlocks(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithBlockSize(4 << 10).WithNumVersionsToKeep(1))
	if err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte { return []byte(strings.Repeat(fmt.Sprintf("value of key %d, ", i), 10)) }
	put := func(db *badger.DB, from, to int) {
		t.Helper()
		wb := db.NewWriteBatch()
		for i := from; i < to; i++ {
			if err := wb.Set(fmt.Appendf(nil, "k%06d", i), value(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	put(db, 0, 20_000)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	readAll := func(s *Store, n int) {
		t.Helper()
		err := s.DB().View(func(txn *badger.Txn) error {
			for i := range n {
				item, err := txn.Get(fmt.Appendf(nil, "k%06d", i))
				if err != nil {
					return fmt.Errorf("k%06d: %w", i, err)
				}
				if err := item.Value(func(v []byte) error {
					if string(v) != string(value(i)) {
						return fmt.Errorf("k%06d = %q", i, v)
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		if probs, err := CheckFiles(dir, true); err != nil || len(probs) != 0 {
			t.Fatalf("round %d: check: %v %v", round, probs, err)
		}
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		readAll(s, 20_000*(round+1))
		if round == 1 {
			// The tables this store wrote index 16 KB blocks: fewer
			// index bytes a key than the 4 KB tables beside them.
			ts := s.DB().Tables()
			slices.SortFunc(ts, func(a, b badger.TableInfo) int { return cmp.Compare(a.ID, b.ID) })
			perKey := func(ti badger.TableInfo) float64 {
				return float64(ti.IndexSz-ti.BloomFilterSize) / float64(ti.KeyCount)
			}
			oldest, newest := ts[0], ts[len(ts)-1]
			if !(perKey(newest) < perKey(oldest)/2) {
				t.Errorf("index bytes a key: %.2f in the new table, %.2f in the old", perKey(newest), perKey(oldest))
			}
		}
		if round == 0 {
			put(s.DB(), 20_000, 40_000) // tables of the new size on close
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(ssts) < 2 {
		t.Fatalf("want tables of both sizes, have %v", ssts)
	}
}
