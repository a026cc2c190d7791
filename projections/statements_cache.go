package projections

import (
	"bytes"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// statementCache keeps stored statements' JSON, by key, for the
// statements projection's reads. A filtered GET walks an index and then
// reads each statement it returns by id; Badger answers a Get by asking
// every level of the store (it stops early only on a key written at
// the reading timestamp), so over a store of millions of statements
// those Gets were a large share of a read's CPU, and the same recent
// statements are read again and again by readers asking for a learner's
// or an activity's latest ones.
//
// Consistency. A statement's stored JSON is written once, when it is
// applied, and changes only when an erasure redacts or deletes it, a
// retention deletes it, or its generation is dropped. Each of those is a
// change: it begins before its transaction writes anything and ends once
// that transaction committed or was discarded (txnState.end,
// forgetPart, dropPrefixNow). state counts the changes in progress (its
// high bits) and the changes begun or ended (its low bits). A read uses
// the cache only when it saw one state, with no change in progress, just
// before and just after opening its transaction: its snapshot then holds
// every change ended before and none begun after, which is what every
// entry tagged with that state was read from. An entry is tagged with
// the state of the read that filled it and serves reads of that state
// only, so the first change to begin makes every entry stale at once, and
// a read never sees a statement as it was before an erasure that its
// snapshot holds. A change clears the entries when it ends, to give back
// their memory.
//
// Memory. Each shard keeps two maps: new entries go into the current
// one, and when that holds a shard's share of size bytes it becomes the
// old one, whose entries are dropped unless a read finds them first (and
// moves them to the current map). So at most about size bytes are held,
// and the statements read again stay while those read once go.
type statementCache struct {
	state  atomic.Uint64
	hits   atomic.Uint64 // reads the cache answered
	seed   maphash.Seed
	budget int // bytes of a shard's current map
	shards [statementCacheShards]cacheShard
}

// statementCacheSize is the cache's size in bytes until
// SetStatementCache (docs/operations.md, "Memory").
const statementCacheSize = 256 << 20

// SetStatementCache sizes the cache of stored statements for queries to
// about size bytes (none when 0). Call it before the store is read or
// changed: a change begun on the cache it replaces would never end on it
// (serve calls it right after Open).
func (s *Store) SetStatementCache(size int64) {
	s.statements = newStatementCache(int(min(size, math.MaxInt)))
}

// statementCacheShards spreads the readers' lookups over locks of their
// own.
const statementCacheShards = 16

// changeInProgress is one change in progress in a statementCache's state:
// the low 48 bits count changes begun or ended, which never wrap.
const changeInProgress = 1 << 48

// cacheEntryOverhead is what an entry costs beside its key and JSON (the
// maps' slots and the slice header), for the byte budget.
const cacheEntryOverhead = 64

type cacheShard struct {
	mu       sync.Mutex
	cur, old map[string]cachedStatement
	curBytes int
}

type cachedStatement struct {
	state uint64
	json  []byte
}

// newStatementCache returns a cache holding about size bytes of
// statements; nil (no cache) when size is not positive.
func newStatementCache(size int) *statementCache {
	if size <= 0 {
		return nil
	}
	c := &statementCache{seed: maphash.MakeSeed(), budget: size / (2 * statementCacheShards)}
	for i := range c.shards {
		c.shards[i].cur = map[string]cachedStatement{}
	}
	return c
}

// beginChange marks a change of stored statements as in progress: no
// read uses the cache until it ends, nor any entry read before.
func (c *statementCache) beginChange() {
	if c != nil {
		c.state.Add(changeInProgress + 1)
	}
}

// endChange ends a change beginChange began, once its transaction
// committed or was discarded.
func (c *statementCache) endChange() {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.cur, sh.old, sh.curBytes = map[string]cachedStatement{}, nil, 0
		sh.mu.Unlock()
	}
	// One change more counted, one fewer in progress: adding
	// ^(changeInProgress-1) subtracts changeInProgress.
	c.state.Add(1 + ^uint64(changeInProgress-1))
}

// cachedReads is one read transaction's use of a statementCache.
type cachedReads struct {
	c     *statementCache
	state uint64
	on    bool
}

// reads returns the use of c by a read transaction opened after c's state
// was before (and before this call).
func (c *statementCache) reads(before uint64) cachedReads {
	if c == nil || before >= changeInProgress || c.state.Load() != before {
		return cachedReads{}
	}
	return cachedReads{c: c, state: before, on: true}
}

// load is the state a read loads before opening its transaction.
func (c *statementCache) load() uint64 {
	if c == nil {
		return 0
	}
	return c.state.Load()
}

// viewStatements is View with the statement cache's use by the
// transaction.
func (p *Statements) viewStatements(fn func(txn *badger.Txn, sp Space, reads cachedReads) error) error {
	c := p.store.statements
	before := c.load()
	return p.View(func(txn *badger.Txn, sp Space) error { return fn(txn, sp, c.reads(before)) })
}

func (c *statementCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%statementCacheShards]
}

// get returns a copy of the value of statement key as txn reads it, from
// the cache when it holds the key for this read's state (getValue's
// results).
func (r cachedReads) get(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	if !r.on {
		return getValue(txn, key)
	}
	if b, ok := r.c.lookup(key, r.state); ok {
		r.c.hits.Add(1)
		statementCacheHits.Inc()
		return b, true, nil
	}
	statementCacheMisses.Inc()
	b, found, err := getValue(txn, key)
	if found {
		r.c.add(key, r.state, b)
	}
	return b, found, err
}

// lookup returns a copy of the JSON of key cached for reads of state.
func (c *statementCache) lookup(key []byte, state uint64) ([]byte, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.cur[string(key)]
	if !ok && sh.old != nil {
		if e, ok = sh.old[string(key)]; ok && e.state == state {
			// Read again: it stays.
			delete(sh.old, string(key))
			sh.put(string(key), e, c.budget)
		}
	}
	if !ok || e.state != state {
		return nil, false
	}
	return slices.Clone(e.json), true
}

// add caches a copy of b, the JSON of key as a read of state found it.
func (c *statementCache) add(key []byte, state uint64, b []byte) {
	if len(key)+len(b)+cacheEntryOverhead > c.budget/4 {
		return // would crowd out the shard's others
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// A change begun since the read's transaction opened makes the entry
	// stale at once: not adding it saves the memory.
	if c.state.Load() == state {
		sh.put(string(key), cachedStatement{state: state, json: slices.Clone(b)}, c.budget)
	}
}

// put adds e under key to the current map, which becomes the old one
// (and the old one goes) when it holds budget bytes. The caller holds
// sh.mu.
func (sh *cacheShard) put(key string, e cachedStatement, budget int) {
	if old, ok := sh.cur[key]; ok {
		sh.curBytes -= len(key) + len(old.json) + cacheEntryOverhead
	}
	sh.cur[key] = e
	sh.curBytes += len(key) + len(e.json) + cacheEntryOverhead
	if sh.curBytes >= budget {
		sh.old, sh.cur, sh.curBytes = sh.cur, make(map[string]cachedStatement, len(sh.cur)), 0
	}
}

// statementsPrefix is what the keys of every generation of the
// statements projection start with.
var statementsPrefix = newSpace(StatementsName, 0).prefix[:2+len(StatementsName)+1]

// mayHoldStatements reports whether a drop of the keys under prefix may
// drop stored statements: a change for the cache. Other drops (another
// projection's keys, a purge's marker) leave it.
func mayHoldStatements(prefix []byte) bool {
	return bytes.HasPrefix(prefix, statementsPrefix) || bytes.HasPrefix(statementsPrefix, prefix)
}

// statementCacheReads counts the statement reads a cache in use
// answered (hit) and those it sent to the store (miss).
var statementCacheReads = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_statement_cache_reads_total",
	Help: "Stored statements read by queries while the statement cache was in use, by result: hit (answered by the cache) or miss (read from the store).",
}, []string{"result"})

// The counters of statementCacheReads, resolved once: get runs for every
// statement a query returns.
var (
	statementCacheHits   = statementCacheReads.WithLabelValues("hit")
	statementCacheMisses = statementCacheReads.WithLabelValues("miss")
)
