package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// Store is the Badger database every projection of one process shares.
type Store struct {
	db  *badger.DB
	log *slog.Logger

	// pseudonyms serve erasures (privacy.go); set before consumers run.
	pseudonyms privacy.Pseudonyms
	carried    sync.Map // event id \x00 key prefix -> *int deleted by an earlier attempt

	// memos hold staged models' committed values between transactions
	// (staged.go), by space prefix.
	memosMu sync.Mutex
	memos   map[string]*memo
	// learners serve the adaptive model's batch reads (learner_cache.go).
	learners learnerCaches
	// ids filter the statement ids each space of the statements
	// projection holds (statement_ids.go), by space prefix.
	idsMu   sync.Mutex
	ids     map[string]*statementIDs
	lastIDs atomic.Pointer[statementIDs] // the one asked for last
	// bg are the store's background scans (statement_ids.go); bgStop
	// ends them when the store closes.
	bg     sync.WaitGroup
	bgStop chan struct{}
	// offsets keep the partitions' next offsets between the transactions
	// applying them (offsets.go).
	offsets offsetCache

	// dropMu serialises DropPrefix, Purge and value-log collection: a
	// second DropPrefix while the first runs would fail with
	// ErrBlockedWrites.
	dropMu sync.Mutex

	// commits keeps DropPrefix apart from commits (commit holds it for
	// reading, dropPrefixNow for writing). Badger checks that writes are
	// not blocked before it queues a commit's write; a DropPrefix that
	// blocks writes in between stops the writer goroutine and drains the
	// queue before that write lands in it. The commit then waits for a
	// writer that restarts only when the DropPrefix ends, and the
	// DropPrefix waits for the commit (its read transaction waits for
	// every commit with a timestamp): both hang, and every transaction
	// after them. A commit waits out a drop instead.
	commits sync.RWMutex

	// statements keeps stored statements for reads (statements_cache.go);
	// nil in a read-only store.
	statements *statementCache

	// voided holds, by space prefix, the statements a voiding named
	// (voided.go): a *voidedSet, looked up by every query.
	voided sync.Map

	// gcStop ends the value-log collector (gcLoop), gcDone says it ended.
	gcStop, gcDone chan struct{}
	stopGC         sync.Once
	stopBG         sync.Once
}

// The value log. Values above the value threshold (64 KB: the
// recommender's and the adaptive consumer's checkpoints, large documents
// and attachments) go to the value log, and each checkpoint leaves the one
// before it there as garbage, which Badger reclaims only when asked:
// without collection, a 1M-statement load left 1.26 GB of dead checkpoints
// beside 0.9 GB of tables. Files are kept small so that the one being
// written, which cannot be collected, holds little garbage. Every 30
// seconds: with the checkpoints there, a store taking 2,000 statements/s
// with every role wrote 3-4 MB of them a second, and collecting every 2
// minutes let 7 files (about 450 MB) of dead ones pile up between
// collections; every 30 seconds it holds 1-2.
//
// The threshold is Badger's 1 MB by default, which kept a small install's
// checkpoints (a few hundred KB per partition, rewritten every few
// thousand statements) in the LSM tree: there they were a quarter of what
// the tree took in, flushed and compacted like statements, and the
// recommender's commits waited on it. With them in the value log, under
// `bench ingest` at 4,000 statements/s the server spent 5-10% less CPU
// per statement and the recommender's largest lag fell from 19-25k to
// 1.2-1.5k statements (docs/benchmarks.md, "Third pass"). Statements,
// their index entries and read-model records stay in the tree, well under
// the threshold, compressed and read without a second lookup.
var (
	valueLogGCEvery   = 30 * time.Second
	valueLogFileSize  = int64(64 << 20)
	valueLogGCDiscard = 0.5 // rewrite a file when at least this share of it is dead
	valueThreshold    = int64(64 << 10)
)

// gcLoop collects the value log every valueLogGCEvery until Close.
func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(valueLogGCEvery)
	defer t.Stop()
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
			n, err := s.collectValueLog()
			if err != nil {
				s.log.Warn("projections store: value-log collection", "err", err)
			} else if n > 0 {
				s.log.Debug("projections store: value-log files rewritten", "files", n)
			}
		}
	}
}

// collectValueLog rewrites value-log files that are mostly dead, until none
// is, and returns how many it rewrote. It waits for a drop or purge in
// progress (those block writes, and a purge collects the log itself).
func (s *Store) collectValueLog() (int, error) {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	n := 0
	for {
		select {
		case <-s.gcStop:
			return n, nil
		default:
		}
		err := s.db.RunValueLogGC(valueLogGCDiscard)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		default:
			return n, fmt.Errorf("value-log collection: %w", err)
		}
	}
}

// dropPrefix is DB.DropPrefix, one at a time and never during a Purge.
func (s *Store) dropPrefix(prefixes ...[]byte) error {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	// Keys go other than by their models' values, offsets other than by
	// an applying transaction.
	s.dropMemos()
	defer s.dropMemos()
	s.offsets.moved()
	defer s.offsets.moved()
	return s.dropPrefixNow(prefixes...)
}

// dropPrefixNow is DB.DropPrefix with no commit in progress (commits);
// the caller holds dropMu.
func (s *Store) dropPrefixNow(prefixes ...[]byte) error {
	s.commits.Lock()
	defer s.commits.Unlock()
	// A dropped generation's statements go (statementCache).
	if slices.ContainsFunc(prefixes, mayHoldStatements) {
		s.statements.beginChange()
		defer s.statements.endChange()
	}
	s.dropIDs(prefixes)
	return s.db.DropPrefix(prefixes...)
}

// committing runs write, which commits to Badger, while no DropPrefix
// runs (commits). Every write of the store goes through it: commit,
// updateTxn, write batches and sequence leases (Badger commits those
// itself).
func (s *Store) committing(write func() error) error {
	s.commits.RLock()
	defer s.commits.RUnlock()
	return write()
}

// storeCommits times the commits of write transactions: a commit waits for
// Badger's write path (the value log, the memtable, and a stall when level
// 0 is full), and every POST waits for the statements projection's.
var storeCommits = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "learnstream_store_commit_seconds",
	Help:    "Commits of the projections store's write transactions (a projection's batch, a checkpoint).",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
})

// commit commits txn through committing.
func (s *Store) commit(txn *badger.Txn) error {
	start := time.Now()
	err := s.committing(txn.Commit)
	storeCommits.Observe(time.Since(start).Seconds())
	return err
}

// updateTxn is DB.Update committing through commit.
func (s *Store) updateTxn(fn func(txn *badger.Txn) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	return s.commit(txn)
}

// Badger's memory, which is most of a server's fixed resident set
// (docs/operations.md, "Memory"). Every figure is a bound that does not
// grow with the store:
//
//   - memtables: up to numMemtables of memTableSize each, allocated whole;
//   - table builders: Badger keeps up to eight of them pooled between
//     flushes and compactions, each grown to the largest table it built,
//     and a level-0 table is a whole memtable, so the memtable's size sets
//     the pool's (about 430 MB of the heap a minute into a load with
//     32 MB memtables);
//   - the block cache of decompressed blocks: the write path reads
//     recent keys, and a lookup by id that misses costs one block
//     decompression (blockSize);
//   - compactors: each running compaction holds its own builders; two
//     match the two cores a small install has, and the first one still
//     gives level 0 priority so that writes do not stall.
//
// Table indexes and bloom filters stay in the memory-mapped table files
// (page cache the kernel can reclaim), not on the heap.
//
// The base level, where level 0's tables are merged into, is 64 MB
// instead of Badger's 10 MB. Badger sizes its levels down from the
// deepest by tenfold steps and merges level 0 into the deepest level
// whose target is within the base size: with 64 MB a store of up to a few
// GB has one level fewer to rewrite every entry through, and compactions
// are most of what a growing store costs. Under `bench ingest` at 2,000
// statements/s with every role, the server spent 6% less CPU per
// statement (600 µs against 640, same run, docs/benchmarks.md, "Fifth
// pass"), at the same size on disk; 256 MB saved a little more but
// stalled every consumer for 2 s on a long merge.
//
// Level 0 is merged into the base level once it holds 10 tables instead
// of Badger's 5. Statement ids, index entries and learners' records are
// spread over the whole key range, so every level-0 table overlaps every
// table of the base level and each merge rewrites all of it, however
// few tables level 0 brings: twice the tables per merge rewrite the base
// level half as often. Each merge takes both cores for a moment (Badger
// splits it over several goroutines, each with its own block
// compressors), and every request waits behind it. A lookup asks each
// level-0 table's bloom filter before reading it, so more tables there
// cost reads little: filtered GETs beside bursts were as fast at the
// median and faster at the p99, waiting behind fewer merges. Writes
// wait (Badger's stall) when level 0 holds 25 tables, two and a half
// times the trigger, as Badger's own 15 is three times its 5. Figures:
// docs/benchmarks.md, "Twelfth pass".
//
// Tables are written in blocks of 16 KB instead of Badger's 4 KB. A
// lookup that a table's bloom filter lets through searches the table's
// index of blocks, a binary search whose every step decodes an index
// entry from the memory-mapped table, then the block; the read models'
// write paths look up a learner's records for most events, and those
// searches were most of what the lookups cost. With a quarter of the
// index entries a search is two steps shorter, a table's index a quarter
// of the size, and a block's neighbouring entries, which share most of
// their text, compress together. Under `bench ingest` at 2,500
// statements/s with every role, merges wrote 40% fewer bytes, the store's
// own work fell by a tenth, the data dir by 9%, and the p99 of the POSTs
// and of the events derived from them by 10-35% (the server's CPU a
// statement by 4% in one series, within the spread in another); filtered
// reads beside ingest, which decompress a block per statement they read
// from the tables, were no slower (docs/benchmarks.md, "Thirty-third
// pass"). Badger reads each table's block size from the
// table, so stores written with 4 KB blocks open as they are and their
// tables get the new size as merges rewrite them.
const (
	blockSize               = 16 << 10
	memTableSize            = 16 << 20
	numMemtables            = 3
	blockCacheSize          = 64 << 20
	numCompactors           = 2
	baseLevelSize           = 64 << 20
	numLevelZeroTables      = 10
	numLevelZeroTablesStall = 25
)

// Open opens (or creates) the store in dir. Every failure is an *OpenError
// naming the damaged file, when known, and the recovery; a damaged table
// is found before Badger would panic on it.
func Open(dir string, logger *slog.Logger) (s *Store, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	probs, err := CheckFiles(dir, false)
	if err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	if len(probs) > 0 {
		return nil, &OpenError{Dir: dir, File: probs[0].File, Err: errors.New(probs[0].Problem)}
	}
	defer func() {
		// Badger panics on some damage in the opening goroutine too.
		if r := recover(); r != nil {
			s, err = nil, openError(dir, fmt.Errorf("badger: %v", r))
		}
	}()
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithBlockCacheSize(blockCacheSize).
		WithBlockSize(blockSize).
		WithNumCompactors(numCompactors).
		WithBaseLevelSize(baseLevelSize).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithNumLevelZeroTablesStall(numLevelZeroTablesStall).
		WithValueLogFileSize(valueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, openError(dir, err)
	}
	s = &Store{db: db, log: logger, statements: newStatementCache(statementCacheSize),
		gcStop: make(chan struct{}), gcDone: make(chan struct{}), bgStop: make(chan struct{})}
	go s.gcLoop()
	return s, nil
}

// OpenReadOnly opens an existing store for reading only (learnstream
// doctor): Badger's shared lock fails while a server has the store open.
func OpenReadOnly(dir string) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, openError(dir, fmt.Errorf("badger: %v", r))
		}
	}()
	opts := badger.DefaultOptions(dir).WithReadOnly(true).WithLogger(nil).WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, openError(dir, err)
	}
	return &Store{db: db, log: slog.Default()}, nil
}

// Close stops the value-log collector, then flushes and closes the store.
func (s *Store) Close() error {
	if s.gcStop != nil {
		s.stopGC.Do(func() { close(s.gcStop) })
		<-s.gcDone
	}
	if s.bgStop != nil {
		s.idsMu.Lock() // no scan starts after this
		s.stopBG.Do(func() { close(s.bgStop) })
		s.idsMu.Unlock()
		s.bg.Wait()
	}
	return s.db.Close()
}

// Merging says whether the store's level 0 is at its merge trigger: a
// merge into the base level is under way or about to start. Such a merge
// rewrites the whole base level, on both cores of a small install, for a
// second or more; work that can wait a few seconds (the embedded broker's
// cleaner) waits it out.
func (s *Store) Merging() bool {
	levels := s.db.Levels()
	return len(levels) > 0 && levels[0].NumTables >= numLevelZeroTables
}

// DB exposes the database to projections in this package's subpackages and
// to admin tools.
func (s *Store) DB() *badger.DB { return s.db }

// Key layout. A projection's keys live in a generation ("space") of their
// own: replay builds generation n+1 beside the live generation n and swaps
// the pointer when it has caught up, so reads never see a half-built model.
//
//	g\x00<projection>                          -> current generation (uint32)
//	p\x00<projection>\x00<gen>\x00o\x00<topic>\x00<partition>  -> next offset
//	p\x00<projection>\x00<gen>\x00<model keys>   (tenant first where tenant-scoped)
const (
	prefixGeneration = 'g'
	prefixSpace      = 'p'
	prefixCredential = 'c'
)

// Space is one generation of one projection's keyspace.
type Space struct {
	projection string
	gen        uint32
	prefix     []byte
}

func newSpace(projection string, gen uint32) Space {
	p := make([]byte, 0, 2+len(projection)+1+4+1)
	p = append(p, prefixSpace, 0)
	p = append(p, projection...)
	p = append(p, 0)
	p = binary.BigEndian.AppendUint32(p, gen)
	p = append(p, 0)
	return Space{projection: projection, gen: gen, prefix: p}
}

// Key joins parts under the space's prefix, separated by 0 bytes, so that
// no part can run into the next (tenant "a" never prefixes tenant "ab").
func (sp Space) Key(parts ...string) []byte {
	n := len(sp.prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n)
	k = append(k, sp.prefix...)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// Prefix returns the key prefix of parts, for iteration (with a trailing
// separator, so "t1" does not match "t10").
func (sp Space) Prefix(parts ...string) []byte { return append(sp.Key(parts...), 0) }

// Generation is the space's generation number.
func (sp Space) Generation() uint32 { return sp.gen }

func (sp Space) offsetKey(topic string, partition int) []byte {
	return binary.BigEndian.AppendUint32(sp.Prefix("o", topic), uint32(partition))
}

// witnessKey holds what this release last wrote to offsetKey.
func (sp Space) witnessKey(topic string, partition int) []byte {
	return binary.BigEndian.AppendUint32(sp.Prefix("ow", topic), uint32(partition))
}

func generationKey(projection string) []byte {
	return append([]byte{prefixGeneration, 0}, projection...)
}

// currentSpace returns the live generation of a projection (0 when it was
// never replayed).
func (s *Store) currentSpace(projection string) (Space, error) {
	var gen uint32
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(generationKey(projection))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("generation of %s: %d bytes", projection, len(v))
			}
			gen = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	return newSpace(projection, gen), err
}

// swapSpace makes next the live generation and drops the old one.
func (s *Store) swapSpace(old, next Space) error {
	if err := s.update(func(txn *badger.Txn) error {
		return txn.Set(generationKey(next.projection), binary.BigEndian.AppendUint32(nil, next.gen))
	}); err != nil {
		return err
	}
	return s.dropPrefix(old.prefix)
}

// dropSpace deletes every key of sp (an abandoned rebuild).
func (s *Store) dropSpace(sp Space) error { return s.dropPrefix(sp.prefix) }

// nextOffset reads a space's next offset for a partition inside txn.
func nextOffset(txn *badger.Txn, sp Space, topic string, partition int) (int64, bool, error) {
	item, err := txn.Get(sp.offsetKey(topic, partition))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var off int64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("offset value of %d bytes", len(v))
		}
		off = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return off, true, err
}

func setNextOffset(txn *badger.Txn, sp Space, topic string, partition int, next int64) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(next))
	if err := txn.Set(sp.offsetKey(topic, partition), v); err != nil {
		return err
	}
	// The witness: a release before it moves the offset alone, which
	// tells that the counters missed what it applied (offsetWitnesses).
	return txn.Set(sp.witnessKey(topic, partition), v)
}

// spaceOffset returns a space's next offset for a partition: the one the
// last applying transaction left, else read from the store. Every POST
// asks it of each partition of the statements topic (ConsistentThrough),
// and a read of the store cost a transaction and a lookup through every
// level for each: 28% of the POST handler's CPU with single statements.
func (s *Store) spaceOffset(sp Space, topic string, partition int) (int64, bool, error) {
	if next, found, ok := s.offsets.committedNext(sp.offsetKey(topic, partition)); ok {
		return next, found, nil
	}
	var off int64
	var ok bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		off, ok, err = nextOffset(txn, sp, topic, partition)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("projection %s: offset of %s/%d: %w", sp.projection, topic, partition, err)
	}
	return off, ok, nil
}

// apply runs fn in one transaction with the offset check and update: an
// event at or before the stored offset was applied already and is skipped.
// fn returning an error aborts everything, offset included.
func (s *Store) apply(sp Space, topic string, partition int, offset int64, fn func(txn *badger.Txn) error) (applied bool, err error) {
	return s.applyHooked(sp, topic, partition, offset, fn, nil)
}

// applyHooked is apply with a staged model's hooks (h may be nil).
func (s *Store) applyHooked(sp Space, topic string, partition int, offset int64, fn func(txn *badger.Txn) error, h *runHooks) (applied bool, err error) {
	held, epoch := s.offsets.hold([]string{string(sp.offsetKey(topic, partition))})
	defer s.offsets.release(held)
	committed := false
	if h != nil {
		defer func() { h.end(committed) }()
	}
	err = s.updateTxn(func(txn *badger.Txn) error {
		if h != nil {
			h.begin(txn)
		}
		next, ok, err := held[0].nextOffset(txn, sp, topic, partition, epoch)
		if err != nil {
			return err
		}
		if ok && offset < next {
			return nil
		}
		if fn != nil {
			if err := fn(txn); err != nil {
				return err
			}
		}
		if h != nil {
			if err := h.flush(); err != nil {
				return err
			}
		}
		applied = true
		return setNextOffset(txn, sp, topic, partition, offset+1)
	})
	committed = err == nil && applied
	switch {
	case committed:
		held[0].set(epoch, offset+1, true)
		s.offsets.advanced(sp)
	case err != nil:
		held[0].forget()
	}
	return applied, err
}

// badgerLogger routes Badger's log to slog. Its information (value-log
// collections, the levels' sizes when it closes, a compaction that took
// over 2 s, how long writes stalled for level 0) is logged at debug
// level, where an operator looking at the store's background work finds
// it (--log-level debug); its own debug chatter is dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf("badger: "+f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf("badger: "+f, a...)) }
func (b badgerLogger) Infof(f string, a ...any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug) {
		b.l.Debug(strings.TrimSpace(fmt.Sprintf("badger: "+f, a...)))
	}
}
func (b badgerLogger) Debugf(string, ...any) {}

// StoredOffset is one consumer's next offset on one partition, as kept in
// the store with its state.
type StoredOffset struct {
	Projection string `json:"projection"`
	Generation uint32 `json:"generation"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	Next       int64  `json:"next_offset"`
}

// StoredOffsets lists the offsets of every projection's live generation
// (model checkpoints included): what each consumer believes it has read.
//
// The offsets sit in each space beside its model keys (the statements and
// their indexes among them: tens of millions of keys in a large store),
// so the walk reads only each space's offset range and seeks past the
// rest: a walk of the whole keyspace took two minutes of every start over
// 10M statements (docs/benchmarks.md, "Eighteenth pass").
func (s *Store) StoredOffsets() ([]StoredOffset, error) {
	var out []StoredOffset
	err := s.db.View(func(txn *badger.Txn) error {
		live := map[string]uint32{}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixGeneration, 0}
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			name := string(it.Item().Key()[2:])
			err := it.Item().Value(func(v []byte) error {
				if len(v) == 4 {
					live[name] = binary.BigEndian.Uint32(v)
				}
				return nil
			})
			if err != nil {
				it.Close()
				return err
			}
		}
		it.Close()
		opts.Prefix = []byte{prefixSpace, 0}
		opts.PrefetchValues = false
		it = txn.NewIterator(opts)
		defer it.Close()
		it.Rewind()
		for it.Valid() {
			sp, ok := spaceOf(it.Item().Key())
			if !ok {
				it.Next()
				continue
			}
			if live[sp.projection] == sp.gen {
				offsets := sp.Prefix("o")
				for it.Seek(offsets); it.ValidForPrefix(offsets); it.Next() {
					o, ok := offsetAt(sp, it.Item().Key()[len(offsets):])
					if !ok {
						continue
					}
					err := it.Item().Value(func(v []byte) error {
						if len(v) != 8 {
							return fmt.Errorf("offset of %s %s/%d: %d bytes", o.Projection, o.Topic, o.Partition, len(v))
						}
						o.Next = int64(binary.BigEndian.Uint64(v))
						return nil
					})
					if err != nil {
						return err
					}
					out = append(out, o)
				}
			}
			// Past the space: its prefix ends in a 0 byte, and every key
			// in it sorts below the prefix with that byte raised to 1.
			next := slices.Clone(sp.prefix)
			next[len(next)-1] = 1
			it.Seek(next)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stored offsets: %w", err)
	}
	return out, nil
}

// spaceOf reads the space a key of the form p\x00<projection>\x00<gen>\x00...
// belongs to.
func spaceOf(k []byte) (Space, bool) {
	rest := k[2:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 || len(rest) < i+1+4+1 || rest[i+1+4] != 0 {
		return Space{}, false
	}
	return newSpace(string(rest[:i]), binary.BigEndian.Uint32(rest[i+1:i+1+4])), true
}

// offsetAt reads <topic>\x00<partition>, what follows sp's offsets' prefix
// in an offset key.
func offsetAt(sp Space, rest []byte) (StoredOffset, bool) {
	if len(rest) < 5 || rest[len(rest)-5] != 0 {
		return StoredOffset{}, false
	}
	topic := string(rest[:len(rest)-5])
	if strings.IndexByte(topic, 0) >= 0 {
		return StoredOffset{}, false
	}
	return StoredOffset{Projection: sp.projection, Generation: sp.gen, Topic: topic,
		Partition: int(binary.BigEndian.Uint32(rest[len(rest)-4:]))}, true
}

// ResetProjection drops the live generation of a projection, state and
// offsets, so that its consumer rebuilds it from the start of the log. It
// must run before the projection is opened.
func (s *Store) ResetProjection(name string) error {
	sp, err := s.currentSpace(name)
	if err != nil {
		return err
	}
	if err := s.dropPrefix(sp.prefix); err != nil {
		return fmt.Errorf("reset projection %s: %w", name, err)
	}
	return nil
}

// applyBatch applies events at pos in one transaction with their offsets,
// skipping those at or before their partition's stored offset. fn(txn, i)
// applies pos[i]. It returns which events were applied and how many of
// pos, from the first, are done. When fn fails at i, nothing after i is
// tried: the events before i are committed on their own and fnErr is fn's
// error. err is a store error: then only the first n are applied.
func (s *Store) applyBatch(sp Space, pos []event.Position, fn func(txn *badger.Txn, i int) error, h *runHooks) (applied []bool, n int, fnErr, err error) {
	applied, failAt, fnErr, err := s.applyRun(sp, pos, fn, h)
	if errors.Is(err, badger.ErrTxnTooBig) || errors.Is(fnErr, badger.ErrTxnTooBig) {
		if len(pos) == 1 {
			return nil, 0, nil, fmt.Errorf("one event exceeds a transaction: %w", badger.ErrTxnTooBig)
		}
		// Halve until each half fits.
		half := len(pos) / 2
		a1, n1, f1, e1 := s.applyBatch(sp, pos[:half], fn, h)
		if e1 != nil || f1 != nil {
			return a1, n1, f1, e1
		}
		a2, n2, f2, e2 := s.applyBatch(sp, pos[half:], func(txn *badger.Txn, i int) error { return fn(txn, half+i) }, h)
		if e2 != nil {
			return a1, n1, nil, e2 // the first half is durable
		}
		return append(a1, a2...), half + n2, f2, nil
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if fnErr == nil {
		return applied, len(pos), nil, nil
	}
	if failAt > 0 {
		// The failed transaction was discarded: commit the events before
		// the failure without it.
		if applied, _, _, err = s.applyRun(sp, pos[:failAt], fn, h); err != nil {
			return nil, 0, nil, err
		}
	}
	return applied[:failAt], failAt, fnErr, nil
}

// yieldEvery is how long applyRun applies events before it lets the
// goroutines waiting to run go first (runtime.Gosched). A batch of a
// few hundred statements is tens of milliseconds of work, and the
// runtime preempts a goroutine only after 10 ms, so a read of the API
// that became ready meanwhile could wait behind it. With one yield a
// millisecond, reads beside 1,000 statements/s on a fresh store
// answered 6-12% more at a p99 7-11% lower, and bursts of writes went no
// slower; over a store of 3.4M statements the reads showed no
// difference beyond the runs' spread (docs/benchmarks.md, "Twenty-third
// pass").
const yieldEvery = time.Millisecond

// applyRun is one transaction of applyBatch; it stops at the first event
// fn fails on (failAt), committing nothing then.
func (s *Store) applyRun(sp Space, pos []event.Position, fn func(txn *badger.Txn, i int) error, h *runHooks) (applied []bool, failAt int, fnErr, err error) {
	// The next offset of each partition in the batch; a batch holds one
	// partition or a few, so a slice searched from the last one used
	// costs less per event than a map keyed by topic and partition.
	type partNext struct {
		k       partitionKey
		next    int64
		touched bool
	}
	var parts []partNext
	var keys []string
	for i, p := range pos {
		if i > 0 && p.Partition == pos[i-1].Partition && p.Topic == pos[i-1].Topic {
			continue
		}
		if !slices.ContainsFunc(parts, func(pn partNext) bool { return pn.k.partition == p.Partition && pn.k.topic == p.Topic }) {
			parts = append(parts, partNext{k: partitionKey{p.Topic, p.Partition}})
			keys = append(keys, string(sp.offsetKey(p.Topic, p.Partition)))
		}
	}
	held, epoch := s.offsets.hold(keys)
	defer s.offsets.release(held)
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if h != nil {
		committed := false
		h.begin(txn)
		defer func() { h.end(committed) }()
		defer func() { committed = err == nil && fnErr == nil }()
	}
	for i := range parts {
		pn := &parts[i]
		next, found, err := held[i].nextOffset(txn, sp, pn.k.topic, pn.k.partition, epoch)
		if err != nil {
			return nil, 0, nil, err
		}
		pn.next = -1
		if found {
			pn.next = next
		}
	}
	cur := 0
	applied = make([]bool, len(pos))
	yielded := time.Now()
	for i, p := range pos {
		if parts[cur].k.partition != p.Partition || parts[cur].k.topic != p.Topic {
			cur = slices.IndexFunc(parts, func(pn partNext) bool { return pn.k.partition == p.Partition && pn.k.topic == p.Topic })
		}
		pn := &parts[cur]
		if p.Offset < pn.next {
			continue
		}
		if fnErr = fn(txn, i); fnErr != nil {
			return nil, i, fnErr, nil
		}
		if time.Since(yielded) >= yieldEvery {
			runtime.Gosched()
			yielded = time.Now()
		}
		applied[i] = true
		pn.next = p.Offset + 1
		pn.touched = true
	}
	if h != nil {
		if err := h.flush(); err != nil {
			return nil, 0, nil, err
		}
	}
	for _, pn := range parts {
		if !pn.touched {
			continue
		}
		if err := setNextOffset(txn, sp, pn.k.topic, pn.k.partition, pn.next); err != nil {
			return nil, 0, nil, err
		}
	}
	if err := s.commit(txn); err != nil {
		for _, p := range held {
			p.forget()
		}
		return nil, 0, nil, err
	}
	touched := false
	for i, pn := range parts {
		if pn.touched {
			held[i].set(epoch, pn.next, true)
			touched = true
		}
	}
	if touched {
		s.offsets.advanced(sp)
	}
	return applied, len(pos), nil, nil
}

// update is DB.Update, waiting out what blocks Badger's writes for a
// moment (a purge or a replay's generation swap flushes the memtables
// with writes blocked): a writer outside a consumer's retry, such as an
// API request or a role starting, would otherwise fail for that moment.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	return whileBlocked(func() error { return s.updateTxn(fn) })
}

// whileBlocked runs op again while Badger answers ErrBlockedWrites, for up
// to a minute (a purge of a large store takes seconds).
func whileBlocked(op func() error) error {
	wait := 5 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		err := op()
		if !errors.Is(err, badger.ErrBlockedWrites) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
