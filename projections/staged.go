package projections

import (
	"encoding/json"
	"errors"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
)

var lookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_projection_lookups_total",
	Help: "Values a projection's write path looked up that its transaction did not hold yet, by where the answer came from: memo (kept from an earlier transaction) or store (read from the store).",
}, []string{"projection", "from"})

// Staged models. A read model's write path used to read, decode, change,
// encode and write a key for every event, and read keys it had read in
// the batch before, whose answer it already knew. A stagedModel applies a
// transaction's events to decoded values it keeps for the transaction
// (txnState), writes each changed key once when the transaction is about
// to commit, and hands the values to the space's memo once it committed,
// so the next transaction starts from them without reading the store.
//
// Why the memo stays right:
//   - One writer: a space's keys are written only by its model, through
//     one transaction at a time (the memo's lock is held from a
//     transaction's start to its end), so a value in the memo is the
//     committed one.
//   - A transaction takes values out of the memo and gives them back only
//     if it committed: a discarded one (a failed event, a conflict, a
//     transaction too big) leaves the memo without them, and the next
//     reads the store.
//   - What deletes keys other than by value clears the memo: an erasure or
//     a retention event (txnState.forgetting, before it deletes), a
//     dropped space (a rebuild's start, swap or abandonment, a reset:
//     Store.dropPrefix), and a restart starts with none.
//   - A space is its own memo: a rebuild's generation never shares one
//     with the live generation.

// stagedModel is a Model whose events go through a txnState.
type stagedModel interface {
	Model
	applyStaged(ts *txnState, e event.Event) (Outcome, error)
}

// memoMax bounds the values a space's memo keeps (a model may ask for
// fewer: memoLimiter): when it is full, half of them go, and the next
// transactions read those from the store again. Values kept are a few
// hundred bytes (a progress entry, an agent's key, a recommendations
// entry's event id) to about 1 KB (an activity definition), so a full
// memo holds about 10 to 30 MB.
const memoMax = 32 << 10

// memoLimiter is a staged model whose values are larger than most: its
// memo keeps at most memoLimit of them.
type memoLimiter interface {
	memoLimit() int
}

// memo is what a space's model knows between transactions: key -> value
// as committed (stagedValue.v, nil for an absent key).
type memo struct {
	mu  sync.Mutex // held by the one transaction using the memo
	max int        // values kept at most
	m   map[string]*stagedValue
	// round counts the times the memo was trimmed; a value given back
	// is stamped with it (stagedValue.round), so a trim tells the values
	// used since the last one from those that were not.
	round uint32
	// fromMemo and fromStore count the lookups the memo answered and
	// those that read the store (learnstream_projection_lookups_total).
	fromMemo, fromStore prometheus.Counter
	// digests memoises valueDigest, of agents, verbs and activities that
	// recur in every statement. A pure function, so nothing invalidates
	// it; cleared with the rest on an erasure all the same, so that no
	// erased agent stays in memory.
	digests map[string]string
	// referrers filters the statements projection's referrer markers
	// (referrers.go); not cleared by an erasure, which adds none.
	referrers *referrers
}

// digest is valueDigest through the memo.
func (ts *txnState) digest(v string) string {
	if d, ok := ts.memo.digests[v]; ok {
		return d
	}
	if ts.memo.digests == nil || len(ts.memo.digests) >= memoMax {
		ts.memo.digests = map[string]string{}
	}
	d := valueDigest(v)
	ts.memo.digests[v] = d
	return d
}

// memo returns the memo of sp, which keeps at most limit values.
func (s *Store) memo(sp Space, limit int) *memo {
	s.memosMu.Lock()
	defer s.memosMu.Unlock()
	if s.memos == nil {
		s.memos = map[string]*memo{}
	}
	m := s.memos[string(sp.prefix)]
	if m == nil {
		m = &memo{max: limit, m: map[string]*stagedValue{},
			fromMemo:  lookups.WithLabelValues(sp.projection, "memo"),
			fromStore: lookups.WithLabelValues(sp.projection, "store")}
		s.memos[string(sp.prefix)] = m
	}
	return m
}

// dropMemos forgets every memo: keys were deleted other than by their
// models' values. A transaction still holding an old memo gives its values
// back to that one, which nothing reads any more.
func (s *Store) dropMemos() {
	s.memosMu.Lock()
	s.memos = nil
	s.memosMu.Unlock()
	s.learners.invalidate()
}

// stagedValue is one key's value in a transaction or a memo: v is the
// decoded value (nil when the key is absent), owned by whoever holds it.
type stagedValue struct {
	v     any
	dirty bool
	round uint32 // the memo's round when it was last given back
	// reused is set once the memo answered a lookup of it: a value read
	// again since it was first read is worth keeping over one that was not.
	reused bool
}

// txnState is a staged model's state for one transaction.
type txnState struct {
	txn   *badger.Txn
	sp    Space
	memo  *memo
	vals  map[string]*stagedValue
	dirty []string // keys to write at flush, in the order first changed
	// alone is a transaction outside any consumer (applyAlone): its memo
	// is its own, and nothing is built in it that a scan must fill.
	alone bool
	// forgot is set when the transaction deleted keys other than by
	// value (forgetting).
	forgot bool
	// statements is the cache of stored statements when the transaction
	// changes some (statementCache): the change ends with it.
	statements *statementCache
	// counts are the record counters' changes, written at flush
	// (counters.go).
	counts map[tenantCount]int64
}

// commitWatcher is a staged model told of each of its transactions that
// committed, with the transaction's state (before the memo is released,
// so in commit order).
type commitWatcher interface {
	committed(ts *txnState)
}

// valueEncoder is a staged value that encodes itself for the store
// (others are written as JSON).
type valueEncoder interface {
	encodeValue() ([]byte, error)
}

// valueDecoder is a stored value's type that decodes its own stored form
// (others are read as JSON).
type valueDecoder interface {
	decodeValue(v []byte) error
}

// beginStaged starts a transaction's state over sp's memo, holding the
// memo until end.
func beginStaged(s *Store, txn *badger.Txn, sp Space, limit int) *txnState {
	m := s.memo(sp, limit)
	m.mu.Lock()
	return &txnState{txn: txn, sp: sp, memo: m, vals: map[string]*stagedValue{}}
}

// lookup returns the value of key: the transaction's, else the memo's,
// else read by decode (which returns nil for an absent key).
func (ts *txnState) lookup(key []byte, decode func(item *badger.Item) (any, error)) (*stagedValue, error) {
	if sv, ok := ts.vals[string(key)]; ok {
		return sv, nil
	}
	if sv, ok := ts.memo.m[string(key)]; ok {
		// Taken: the memo has it back only if this transaction commits.
		delete(ts.memo.m, string(key))
		ts.vals[string(key)] = sv
		sv.reused = true
		ts.memo.hit()
		return sv, nil
	}
	ts.memo.miss()
	sv := &stagedValue{}
	item, err := ts.txn.Get(key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return nil, err
	default:
		if sv.v, err = decode(item); err != nil {
			return nil, err
		}
	}
	ts.vals[string(key)] = sv
	return sv, nil
}

// set makes v the value of key, written at flush.
func (ts *txnState) set(key []byte, sv *stagedValue, v any) {
	sv.v = v
	if !sv.dirty {
		sv.dirty = true
		ts.dirty = append(ts.dirty, string(key))
	}
}

// keyPresent is the value of a key whose value is empty and whose
// presence is all that matters.
type keyPresent struct{}

// ensureKey makes key present (with an empty value), writing it only when
// neither this transaction, the memo nor the store has it.
func (ts *txnState) ensureKey(key []byte) error {
	sv, err := ts.lookup(key, func(*badger.Item) (any, error) { return keyPresent{}, nil })
	if err != nil || sv.v != nil {
		return err
	}
	if err := ts.txn.Set(key, nil); err != nil {
		return err
	}
	sv.v = keyPresent{}
	return nil
}

// note records v as the value of sv's key, which the caller wrote into
// the transaction itself.
func (ts *txnState) note(sv *stagedValue, v any) { sv.v = v }

// flush writes the changed values into the transaction.
func (ts *txnState) flush() error {
	for _, k := range ts.dirty {
		sv := ts.vals[k]
		if !sv.dirty {
			continue
		}
		var b []byte
		var err error
		if e, ok := sv.v.(valueEncoder); ok {
			b, err = e.encodeValue()
		} else {
			b, err = json.Marshal(sv.v)
		}
		if err != nil {
			return err
		}
		if err := ts.txn.Set([]byte(k), b); err != nil {
			return err
		}
		sv.dirty = false
	}
	ts.dirty = ts.dirty[:0]
	return ts.flushCounts()
}

// forgetting is called before an event deletes keys of the space other
// than through the staged values (an erasure, a retention): what is
// staged is written into the transaction first, so the deletion sees it,
// and nothing staged or memoised is trusted afterwards.
func (ts *txnState) forgetting() error {
	if err := ts.flush(); err != nil {
		return err
	}
	clear(ts.vals)
	clear(ts.memo.m)
	clear(ts.memo.digests)
	ts.forgot = true
	return nil
}

// changesStatements marks the transaction as one that may redact or
// delete stored statements: reads stop using c until it ends. A
// transaction of applyAlone never ends (its caller commits it), so after
// one, c serves no read again.
func (ts *txnState) changesStatements(c *statementCache) {
	if ts.statements == nil && c != nil {
		ts.statements = c
		c.beginChange()
	}
}

// end releases the memo, giving it the transaction's values if it
// committed, and ends its change of stored statements.
func (ts *txnState) end(committed bool) {
	if ts.statements != nil {
		defer ts.statements.endChange()
	}
	if committed && len(ts.vals) <= ts.memo.max {
		if len(ts.memo.m)+len(ts.vals) > ts.memo.max {
			ts.memo.trim(max(len(ts.memo.m)/2, len(ts.memo.m)+len(ts.vals)-ts.memo.max))
		}
		for k, sv := range ts.vals {
			sv.round = ts.memo.round
			ts.memo.m[k] = sv
		}
	}
	ts.memo.mu.Unlock()
}

// trim drops n values: first those read once and not since the last
// trim, then the others read once, then those read again but not since
// the last trim, then any, each group in the map's own (random) order.
// So the values many events need (an item's difficulty, a learner's
// ability) stay, while the many that a working set larger than the memo
// reads once go first (a segmented LRU, with one bit of recency).
// Dropping half at a time keeps trims rare, and a working set larger
// than the memo still finds half of it there.
func (m *memo) trim(n int) {
	for pass := range 4 {
		for k, sv := range m.m {
			if n == 0 {
				break
			}
			recent := sv.round == m.round
			switch {
			case pass == 0 && (sv.reused || recent),
				pass == 1 && sv.reused,
				pass == 2 && recent:
				continue
			}
			delete(m.m, k)
			n--
		}
	}
	m.round++
}

// hit and miss count a lookup the memo answered and one that read the
// store. The memo of a transaction outside any consumer counts nothing.
func (m *memo) hit() {
	if m.fromMemo != nil {
		m.fromMemo.Inc()
	}
}

func (m *memo) miss() {
	if m.fromStore != nil {
		m.fromStore.Inc()
	}
}

// runHooks let a transaction of Store.applyRun or Store.apply carry a
// staged model's state: begin when it starts, flush before its offsets
// are written, end when it committed or was discarded.
type runHooks struct {
	begin func(txn *badger.Txn)
	flush func() error
	end   func(committed bool)
}

// stagedHooks returns the hooks that run model over a transaction's
// state, and the function that applies an event within it; nil hooks for
// a model that is not staged.
func stagedHooks(s *Store, sp Space, model Model) (*runHooks, func(txn *badger.Txn, e event.Event) (Outcome, error)) {
	sm, ok := model.(stagedModel)
	if !ok {
		return nil, func(txn *badger.Txn, e event.Event) (Outcome, error) { return model.Apply(txn, sp, e) }
	}
	limit := memoMax
	if l, ok := model.(memoLimiter); ok {
		limit = l.memoLimit()
	}
	var ts *txnState
	h := &runHooks{
		begin: func(txn *badger.Txn) { ts = beginStaged(s, txn, sp, limit) },
		flush: func() error { return ts.flush() },
		end: func(committed bool) {
			if ts != nil {
				if w, ok := model.(commitWatcher); ok && committed {
					w.committed(ts)
				}
				ts.end(committed)
				ts = nil
			}
		},
	}
	return h, func(_ *badger.Txn, e event.Event) (Outcome, error) { return sm.applyStaged(ts, e) }
}

// applyAlone applies e to a staged model in txn on its own (Model.Apply:
// tools and tests that run their own transactions). Nothing is memoised
// for it, and what the space's memo held is dropped, since txn may change
// it.
func applyAlone(s *Store, txn *badger.Txn, sp Space, m stagedModel, e event.Event) (Outcome, error) {
	if s != nil {
		mm := s.memo(sp, memoMax)
		mm.mu.Lock()
		clear(mm.m)
		mm.referrers = nil // txn may write markers the filter would miss
		mm.mu.Unlock()
		s.learners.invalidate()
	}
	ts := &txnState{txn: txn, sp: sp, memo: &memo{m: map[string]*stagedValue{}}, vals: map[string]*stagedValue{}, alone: true}
	out, err := m.applyStaged(ts, e)
	if err != nil {
		return 0, err
	}
	return out, ts.flush()
}
