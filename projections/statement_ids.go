package projections

import (
	"bytes"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// statementIDs is a filter of the statement ids a space of the
// statements projection holds, per tenant: an id it rules out is not
// stored, so neither the API's check of a POSTed batch (StatementsByID)
// nor the projection's own check before it stores a statement reads the
// store for it. Clients send new ids, and each check was a read through
// every level of the store that found nothing: in the server, at 2,500
// statements/s, the two were about 6% of its CPU.
//
// Why a negative answer is exact: a space's filter is made the first time
// the process checks or stores an id in it, so every id the process
// stores in the space is added to it, before its transaction commits (a
// check that sees the commit finds the id). Every other id of the space
// was stored before the process opened the store (Badger's lock keeps
// other processes out), so any snapshot taken since holds it: the filter
// answers only once a background scan of such a snapshot has added them
// all, and until then every check reads the store. Ids are never
// removed: an erased or dropped statement only costs a read.
//
// The filter is a chain of Bloom filters (a scalable Bloom filter): the
// first sized for twice the statements the space counted when it was
// made, each next one twice the last, so it grows with the store without
// a second scan, which a live store could not give consistently.
type statementIDs struct {
	space  string // the space's prefix
	seed   maphash.Seed
	mu     sync.Mutex // adds a stage
	stages atomic.Pointer[[]*idStage]
	ready  atomic.Bool // the scan of the stored ids finished
	dead   atomic.Bool // the space was dropped: answer nothing
}

// idStage is one Bloom filter of the chain, read and written with atomic
// operations: adds come from the projection's transactions and the scan,
// checks from any request.
type idStage struct {
	bits  bloom
	limit int64 // ids the stage is sized for
	n     atomic.Int64
}

const (
	// idBits is the fewest bits a stage has per id it is sized for, and
	// idHashes the bits an id sets: at 12 bits an id, 6 give about 0.4%
	// of false positives in a full stage, 0.01% at half.
	idBits   = 12
	idHashes = 6
	// idStageMin is the fewest ids a stage is sized for.
	idStageMin = 1 << 16
)

var statementIDChecks = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "learnstream_statement_id_checks_total",
	Help: "Checks of whether a statement id is stored (a POST's, and the statements projection's before it stores one), by what answered: the id filter (the id is not stored) or the store.",
}, []string{"answer"})

var (
	idChecksFilter = statementIDChecks.WithLabelValues("filter")
	idChecksStore  = statementIDChecks.WithLabelValues("store")
)

func newIDStage(limit int64) *idStage {
	limit = max(limit, idStageMin)
	return &idStage{bits: newBloom(int(limit), idBits, idHashes), limit: limit}
}

// newStatementIDs returns an empty filter whose first stage is sized for
// limit ids.
func newStatementIDs(limit int64) *statementIDs {
	f := &statementIDs{seed: maphash.MakeSeed()}
	first := []*idStage{newIDStage(limit)}
	f.stages.Store(&first)
	return f
}

// add adds the id (lower case) of tenant.
func (f *statementIDs) add(tenant, id string) {
	f.addHashed(hashID(f.seed, tenant, id))
}

func (f *statementIDs) addHashed(a, b uint64) {
	if f.dead.Load() {
		return
	}
	stages := *f.stages.Load()
	st := stages[len(stages)-1]
	if st.n.Add(1) > st.limit {
		st = f.grow(st)
	}
	st.bits.add(a, b)
}

// grow adds a stage twice full's size, unless another add did already;
// it returns the last stage.
func (f *statementIDs) grow(full *idStage) *idStage {
	f.mu.Lock()
	defer f.mu.Unlock()
	stages := *f.stages.Load()
	if last := stages[len(stages)-1]; last != full {
		return last
	}
	next := append(stages[:len(stages):len(stages)], newIDStage(2*full.limit))
	f.stages.Store(&next)
	return next[len(next)-1]
}

// mayHold reports whether the id may be stored.
func (f *statementIDs) mayHold(tenant, id string) bool {
	a, b := hashID(f.seed, tenant, id)
	for _, st := range *f.stages.Load() {
		if st.bits.mayHold(a, b) {
			return true
		}
	}
	return false
}

// absent reports whether the id (lower case) of tenant is certainly not
// stored; false while the stored ids are being scanned, and counted.
func (f *statementIDs) absent(tenant, id string) bool {
	if f == nil || !f.ready.Load() || f.dead.Load() || f.mayHold(tenant, id) {
		idChecksStore.Inc()
		return false
	}
	idChecksFilter.Inc()
	return true
}

// statementIDs returns the id filter of sp, made (and its scan started)
// on the first call for sp; nil for a store that runs no scans (read
// only), or that is closing when sp has none. Every stored statement and
// every POST asks, so the filter asked for last is found without a lock.
func (s *Store) statementIDs(sp Space) *statementIDs {
	if s == nil || s.bgStop == nil {
		return nil
	}
	if f := s.lastIDs.Load(); f != nil && f.space == string(sp.prefix) {
		return f
	}
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	if f, ok := s.ids[string(sp.prefix)]; ok {
		s.lastIDs.Store(f)
		return f
	}
	select {
	case <-s.bgStop:
		return nil
	default:
	}
	f := newStatementIDs(2 * s.countedStatements(sp))
	f.space = string(sp.prefix)
	if s.ids == nil {
		s.ids = map[string]*statementIDs{}
	}
	s.ids[f.space] = f
	s.lastIDs.Store(f)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.scanStatementIDs(sp, f)
	}()
	return f
}

// countedStatements is the statements sp's counters hold, every tenant's.
func (s *Store) countedStatements(sp Space) int64 {
	var n int64
	_ = s.db.View(func(txn *badger.Txn) error {
		prefix := sp.Prefix("cnt")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if !bytes.HasSuffix(k, []byte("\x00"+countedStatements)) {
				continue
			}
			_ = it.Item().Value(func(v []byte) error {
				c, err := decodeCount(k, v)
				n += c
				return err
			})
		}
		return nil
	})
	return n
}

// scanStatementIDs adds the ids sp holds to f and then lets f answer;
// it gives up, leaving every check to the store, when the store closes
// or the read fails.
func (s *Store) scanStatementIDs(sp Space, f *statementIDs) {
	start := time.Now()
	prefix := sp.Prefix("s")
	var n int
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		logged := start
		for it.Rewind(); it.Valid(); it.Next() {
			if n%4096 == 0 {
				select {
				case <-s.bgStop:
					return errStoreClosing
				default:
				}
				if time.Since(logged) >= 10*time.Second {
					logged = time.Now()
					s.log.Info("statement id filter: scanning the stored ids", "space", sp.projection, "ids", n, "for", time.Since(start).Round(time.Second))
				}
			}
			if k := it.Item().Key()[len(prefix):]; bytes.IndexByte(k, 0) > 0 {
				f.addHashed(hashIDKey(f.seed, k))
				n++
			}
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errStoreClosing) {
			s.log.Warn("statement id filter: scan failed; every id check reads the store", "space", sp.projection, "err", err)
		}
		return
	}
	f.ready.Store(true)
	s.log.Info("statement id filter ready", "space", sp.projection, "ids", n, "took", time.Since(start).Round(time.Millisecond))
}

// errStoreClosing ends background work when the store closes.
var errStoreClosing = errors.New("store closing")

// dropIDs stops the id filters of the spaces prefixes drop whole: they
// answer nothing more and give their memory back.
func (s *Store) dropIDs(prefixes [][]byte) {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	for space, f := range s.ids {
		for _, p := range prefixes {
			if strings.HasPrefix(space, string(p)) {
				// Kept, dead: a space written again after its drop has
				// every id checked in the store, not a new filter that
				// an add in flight could miss.
				f.dead.Store(true)
				empty := []*idStage{{bits: newBloom(1, 64, idHashes), limit: 1 << 62}}
				f.stages.Store(&empty)
				break
			}
		}
	}
}
