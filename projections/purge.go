package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Physical purge. Badger deletes by writing a tombstone: the deleted
// value stays in the memtable's write-ahead file (.mem) until the memtable
// is flushed, and in the tables (.sst) until a compaction merges the
// tombstone with it (with NumVersionsToKeep 1 it also drops the older
// versions a redaction overwrote), and a large value in the value log
// (.vlog) until value-log GC rewrites its file. Purge forces all three, so
// after an erasure no byte of the learner is left in any file of the
// store.

// purgeKeys are keys Purge writes to give each forced flush a table
// (prefix 'z', outside every projection).
func purgeKey(i int) []byte { return []byte("z\x00purge\x00" + strconv.Itoa(i)) }

var flushKey = []byte("z\x00flush")

// PurgeStats says what a purge did.
type PurgeStats struct {
	At             time.Time     `json:"at"`
	Took           time.Duration `json:"took"`
	LSMBytesBefore int64         `json:"lsm_bytes_before"`
	LSMBytesAfter  int64         `json:"lsm_bytes_after"`
	VlogRewrites   int           `json:"vlog_rewrites"`
}

// Purge flushes the memtables, compacts every level into one (dropping
// deleted and overwritten versions no open transaction can still read)
// and rewrites value-log files holding deleted values. Writes wait while
// the memtables are flushed; consumers retry what they could not commit.
func (s *Store) Purge(ctx context.Context) (PurgeStats, error) {
	// Replays' generation swaps drop prefixes too: one at a time. A caller
	// that gives up stops waiting for the one in progress.
	for !s.dropMu.TryLock() {
		select {
		case <-ctx.Done():
			return PurgeStats{}, fmt.Errorf("purge: waiting for a drop in progress: %w", context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
	defer s.dropMu.Unlock()
	start := time.Now()
	st := PurgeStats{At: start.UTC()}
	st.LSMBytesBefore, _ = s.db.Size()
	// Flatten compacts down only when more than one level holds tables,
	// or when level 0 holds more tables than NumLevelZeroTables: a small
	// store lives in level 0 alone, so give level 0 enough tables, each
	// a forced flush (DropPrefix flushes every memtable before it drops).
	for i := range s.db.Opts().NumLevelZeroTables + 1 {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := s.updateTxn(func(txn *badger.Txn) error {
			if err := txn.Set(purgeKey(i), []byte(st.At.Format(time.RFC3339Nano))); err != nil {
				return err
			}
			return txn.Set(flushKey, nil)
		}); err != nil {
			return st, fmt.Errorf("purge: %w", err)
		}
		if err := s.dropPrefixNow(flushKey); err != nil {
			return st, fmt.Errorf("purge: flush memtables: %w", err)
		}
	}
	if err := s.db.Flatten(2); err != nil {
		return st, fmt.Errorf("purge: compact: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := s.db.RunValueLogGC(0.01)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("purge: value log: %w", err)
		}
		st.VlogRewrites++
	}
	st.LSMBytesAfter, _ = s.db.Size()
	st.Took = time.Since(start)
	return st, nil
}
