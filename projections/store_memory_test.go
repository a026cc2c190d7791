package projections

import "testing"

// TestStoreMemoryBounds: the store opens with the bounds docs/operations.md
// ("Memory") gives for Badger's part of the fixed resident set, whatever
// Badger's own defaults (5 memtables of 64 MB, a 256 MB block cache, 4
// compactors) are.
func TestStoreMemoryBounds(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := s.db.Opts()
	for _, tc := range []struct {
		what      string
		got, want int64
	}{
		{"memtables (count x size)", int64(o.NumMemtables) * o.MemTableSize, 48 << 20},
		{"block cache", o.BlockCacheSize, 64 << 20},
		{"compactors", int64(o.NumCompactors), 2},
		{"base table size (compaction builders)", o.BaseTableSize, 2 << 20},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, docs/operations.md says %d", tc.what, tc.got, tc.want)
		}
	}
}
