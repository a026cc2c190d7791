package projections

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	for _, w := range []struct {
		sp     Space
		topic  string
		part   int
		offset int64
	}{{a, "t.one", 0, 41}, {a, "t.one", 256, 7}, {b, "t.two", 1, 99}} {
		if _, err := s.apply(w.sp, w.topic, w.part, w.offset, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A rebuild generation's offsets are not what the consumer resumes from.
	if _, err := s.apply(newSpace("alpha", 1), "t.one", 0, 500, nil); err != nil {
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
