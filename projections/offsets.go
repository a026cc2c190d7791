package projections

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// offsetCache keeps the next offset of each partition a consumer applies,
// as its last committed transaction left it, so that the next batch does
// not read it from Badger. That read was one lookup per partition and
// batch, and a Badger lookup of a key still in a memtable goes on through
// every level of the tree (its versions are looked for below too): 2% of
// the server's CPU at 2,000 statements/s with a catalog, where batches
// are small.
//
// Why a cached offset is right:
//   - The read also made Badger refuse a second transaction applying the
//     same partition at once (a conflict on the offset key). The cache
//     keeps that guarantee another way: a transaction holds its
//     partitions' entries (hold) from before it reads their offsets to
//     after its commit, so a second one waits and then finds the first's
//     offset. Entries are locked in key order: a batch of several
//     partitions cannot deadlock with another.
//   - An entry is trusted only in the epoch it was read or written in.
//     What deletes offsets other than by a transaction of the apply path
//     (a dropped or reset space, whose prefix a later generation may
//     reuse) moves the epoch before and after it runs (moved), so no
//     transaction in flight across it leaves an entry trusted.
//   - An entry holds what the store holds: it is set from a read of the
//     store inside the holding transaction, or after that transaction
//     committed; a failed commit forgets it, a discarded transaction
//     leaves it as it was.
//   - Another writer of offset keys outside the apply path (the
//     recommender's checkpoints, in a space of their own) never had its
//     keys cached; Badger's directory lock keeps other processes out.
//
// The cache also counts, per space, the commits that moved its offsets:
// a reader of a space's state that only applied events change (the
// catalog's graph) compares that version instead of reading the store to
// learn whether the state moved (version).
type offsetCache struct {
	mu    sync.Mutex
	parts map[string]*partOffset // by offset key
	epoch atomic.Uint64
	// moves counts, by space prefix, the commits that moved the space's
	// offsets (version).
	moves map[string]*atomic.Uint64
}

// partOffset is a partition's entry in the cache.
type partOffset struct {
	key string
	// mu is held by the one transaction applying the partition.
	mu sync.Mutex
	// committed is the offset the store holds as of the last commit or
	// read of the holding transaction, with the epoch it is trusted in;
	// nil when none is trusted. The holder reads it, and so does a reader
	// outside (committedNext), without taking mu: that would make every
	// consistency check of a POST wait for the batch being applied.
	committed atomic.Pointer[committedOffset]
}

// committedOffset is a partition's stored next offset (-1: none) as of
// epoch.
type committedOffset struct {
	next  int64
	epoch uint64
}

// hold locks the entries of keys (distinct), in key order, and returns
// them in keys' order with the epoch they are trusted in. The caller
// releases them.
func (c *offsetCache) hold(keys []string) ([]*partOffset, uint64) {
	c.mu.Lock()
	if c.parts == nil {
		c.parts = map[string]*partOffset{}
	}
	held := make([]*partOffset, len(keys))
	for i, k := range keys {
		p := c.parts[k]
		if p == nil {
			p = &partOffset{key: k}
			c.parts[k] = p
		}
		held[i] = p
	}
	c.mu.Unlock()
	order := held
	if len(held) > 1 {
		order = slices.Clone(held)
		slices.SortFunc(order, func(a, b *partOffset) int { return strings.Compare(a.key, b.key) })
	}
	for _, p := range order {
		p.mu.Lock()
	}
	// Read after the locks: an epoch moved while this waited is seen.
	return held, c.epoch.Load()
}

// release unlocks what hold locked.
func (c *offsetCache) release(held []*partOffset) {
	for _, p := range held {
		p.mu.Unlock()
	}
}

// moved makes every entry untrusted: offsets are about to go, or went,
// other than by an applying transaction.
func (c *offsetCache) moved() { c.epoch.Add(1) }

// counter returns the count of commits that moved sp's offsets.
func (c *offsetCache) counter(sp Space) *atomic.Uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.moves[string(sp.prefix)]
	if n == nil {
		if c.moves == nil {
			c.moves = map[string]*atomic.Uint64{}
		}
		n = new(atomic.Uint64)
		c.moves[string(sp.prefix)] = n
	}
	return n
}

// advanced counts a commit that moved offsets of sp, after it committed.
func (c *offsetCache) advanced(sp Space) { c.counter(sp).Add(1) }

// spaceVersion is what a reader of a space's state compares to know
// whether the state may have changed since it last read it: it moves
// after every commit that applied events to the space (they move its
// offsets) and around whatever deletes offsets otherwise. Read it before
// the transaction that reads the state: a commit that lands in between
// moves it again, and the next comparison reads once more for nothing
// rather than keeps stale state. It names the generation too: each has
// its own count of moves, so a state read in the generation a rebuild
// swapped out never compares equal to the one swapped in.
type spaceVersion struct {
	gen          uint32
	epoch, moves uint64
}

// version returns sp's version now (Projection.version).
func (c *offsetCache) version(sp Space) spaceVersion {
	n := c.counter(sp)
	// moves before epoch: a drop that ends between them moves the epoch
	// this reads.
	m := n.Load()
	return spaceVersion{gen: sp.gen, epoch: c.epoch.Load(), moves: m}
}

// nextOffset returns a held entry's next offset (found false when none is
// stored): the cached one when it is trusted in epoch, else read by txn,
// the holding transaction, and kept (the entry is held until it ends,
// whatever it does).
func (p *partOffset) nextOffset(txn *badger.Txn, sp Space, topic string, partition int, epoch uint64) (next int64, found bool, err error) {
	if co := p.committed.Load(); co != nil && co.epoch == epoch {
		return co.next, co.next >= 0, nil
	}
	if next, found, err = nextOffset(txn, sp, topic, partition); err != nil {
		return 0, false, err
	}
	p.set(epoch, next, found)
	return next, found, nil
}

// set records a held entry's offset as the store holds it: read by the
// holding transaction, or written by it once it committed (found false:
// none stored).
func (p *partOffset) set(epoch uint64, next int64, found bool) {
	if !found {
		next = -1
	}
	p.committed.Store(&committedOffset{next: next, epoch: epoch})
}

// forget makes a held entry untrusted (its transaction's commit failed).
func (p *partOffset) forget() { p.committed.Store(nil) }

// committedNext returns the next offset stored under key (found false
// when none is stored) as the last transaction holding it left it, without
// waiting for one holding it now; ok is false when the cache cannot say
// (the partition was not applied since the process started, its last
// commit failed, or offsets were deleted since), and the store must be
// read. What it returns was in the store at some moment during the call
// or before a commit still in flight, as a read of the store would be.
func (c *offsetCache) committedNext(key []byte) (next int64, found, ok bool) {
	c.mu.Lock()
	p := c.parts[string(key)]
	c.mu.Unlock()
	if p == nil {
		return 0, false, false
	}
	co := p.committed.Load()
	// The epoch is read after the entry: a drop that began before this
	// read moved it already and the entry is not trusted.
	if co == nil || co.epoch != c.epoch.Load() {
		return 0, false, false
	}
	if co.next < 0 {
		return 0, false, true
	}
	return co.next, true, true
}
