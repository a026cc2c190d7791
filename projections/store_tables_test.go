package projections

import "testing"

// The store's tables are as large as a level-0 table at every level: a
// merge into the base level then runs as two parts rather than five,
// leaving the requests a core, and the table builders Badger pools do not
// grow with the store (operations.md, "Memory"). Badger's defaults, 2 MB
// doubling at each level below the base, fail this.
func TestStoreTablesAreOneSizeAtEveryLevel(t *testing.T) {
	s := openStore(t)
	levels := s.db.Levels()
	if len(levels) < 2 {
		t.Fatalf("%d levels", len(levels))
	}
	for _, l := range levels {
		if l.TargetFileSize != memTableSize {
			t.Errorf("level %d: tables of %d bytes, want %d (a memtable's)", l.Level, l.TargetFileSize, memTableSize)
		}
	}
}
