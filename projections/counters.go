package projections

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Record counters. The admin status reports, per tenant, how many
// statements and access-audit entries a projection holds. Counting them
// by walking the keys took 24–32 s over 10M statements; a counter kept
// with the records answers with one read. Each counter changes in the
// transaction that adds or deletes its records, so it is as durable and
// as current as they are, and a rebuild's generation counts its own.
//
// Who writes a counter: a staged model's transactions (txnState.count,
// written at flush), which the space's memo lock runs one at a time; and
// the parts an erasure or a retention commits in transactions of their
// own (errMoreDeletes), which run while that lock is held and whose
// event's transaction is then discarded and applied again. A counter is
// read inside the writing transaction, so a write that raced it anyway
// fails the commit (a conflict, retried) instead of losing an update.
//
// Key layout, in every counted space:
//
//	cnt  tenant name -> int64, big-endian (records of the tenant)
//	cntv             -> "" (the counters cover every record: set on a new,
//	                    empty space, or once the records of an older space
//	                    were counted; see countOnce)
//
// An older release run on the space after this one would apply events
// without counting them. Every offset this release writes has a witness
// (Space.witnessKey) with the same value, which an older release leaves
// behind: a start that finds an offset unlike its witness counts again.

// countedModel is a model whose records are counted, each by the keys of
// one kind whose next part is the tenant.
type countedModel interface {
	countedKinds() []countedKind
}

// countedKind names a counter (as the admin status shows it) and the key
// kind whose keys it counts.
type countedKind struct{ name, kind string }

func countKey(sp Space, tenant, name string) []byte { return sp.Key("cnt", tenant, name) }

func countedKey(sp Space) []byte { return sp.Key("cntv") }

// readCount reads a counter in txn (0 when it was never written).
func readCount(txn *badger.Txn, key []byte) (int64, error) {
	v, ok, err := getValue(txn, key)
	if err != nil || !ok {
		return 0, err
	}
	return decodeCount(key, v)
}

// decodeCount is the value v of counter key (0 and an error when
// malformed).
func decodeCount(key, v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("counter %q: %d bytes, want 8", key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// addCount adds delta to a counter in txn.
func addCount(txn *badger.Txn, key []byte, delta int64) error {
	if delta == 0 {
		return nil
	}
	n, err := readCount(txn, key)
	if err != nil {
		return err
	}
	return txn.Set(key, binary.BigEndian.AppendUint64(nil, uint64(n+delta)))
}

// tenantCount is a counter's key parts in a transaction's changes.
type tenantCount struct{ tenant, name string }

// count adds delta to the tenant's counter name, written at flush.
func (ts *txnState) count(tenant, name string, delta int64) {
	if ts.counts == nil {
		ts.counts = map[tenantCount]int64{}
	}
	ts.counts[tenantCount{tenant, name}] += delta
}

// flushCounts writes the transaction's counter changes into it.
func (ts *txnState) flushCounts() error {
	for k, d := range ts.counts {
		if err := addCount(ts.txn, countKey(ts.sp, k.tenant, k.name), d); err != nil {
			return err
		}
	}
	clear(ts.counts)
	return nil
}

// markCounted records, in a new and empty space, that its counters cover
// every record (none yet).
func markCounted(s *Store, sp Space) error {
	return s.update(func(txn *badger.Txn) error { return txn.Set(countedKey(sp), nil) })
}

// countOnce gives a space written before counters existed (or one an
// older release applied events to since: offsetWitnesses) its counters:
// it walks the keys of each counted kind once and writes every tenant's
// count, the offsets' witnesses, and the mark (cntv) that the counters
// are kept from then on. Run it before any consumer applies events to
// the space: the walk and the writes are not one transaction. An
// interrupted run leaves no mark, and the next start counts again (the
// counts are set, not added).
func countOnce(s *Store, sp Space, kinds []countedKind, log *slog.Logger) error {
	start := time.Now()
	counts := map[tenantCount]int64{}
	var witnesses [][2][]byte // witness key, offset value: they go with the count
	var old [][]byte          // the counters there are: all are set again
	done, stale := false, false
	err := s.db.View(func(txn *badger.Txn) error {
		marked, err := keyExists(txn, countedKey(sp))
		if err != nil {
			return err
		}
		var current bool
		if witnesses, current, err = offsetWitnesses(txn, sp); err != nil || (marked && current) {
			done = true
			return err
		}
		stale = marked
		if old, err = keysUnder(txn, sp.Prefix("cnt")); err != nil {
			return err
		}
		// The walk takes seconds per ten million keys: say how far it is.
		var walked int64
		logged := start
		for _, k := range kinds {
			opts := badger.DefaultIteratorOptions
			opts.PrefetchValues = false
			opts.Prefix = sp.Prefix(k.kind)
			it := txn.NewIterator(opts)
			for it.Rewind(); it.Valid(); it.Next() {
				rest := it.Item().Key()[len(opts.Prefix):]
				if i := bytes.IndexByte(rest, 0); i >= 0 {
					rest = rest[:i]
				}
				counts[tenantCount{string(rest), k.name}]++
				if walked++; walked%(1<<20) == 0 && time.Since(logged) >= 5*time.Second {
					logged = time.Now()
					log.Info("counting a projection's records once, to keep counters from now on",
						"projection", sp.projection, "generation", sp.gen, "records_so_far", walked)
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil || done {
		return err
	}
	if stale {
		log.Warn("a projection's counters miss what an older release applied after this one; counting its records again",
			"projection", sp.projection, "generation", sp.gen)
		// Unmarked until the count is whole again.
		if err := s.update(func(txn *badger.Txn) error { return txn.Delete(countedKey(sp)) }); err != nil {
			return fmt.Errorf("count the records of generation %d again: %w", sp.gen, err)
		}
	}
	var total int64
	err = s.committing(func() error {
		wb := s.db.NewWriteBatch()
		defer wb.Cancel()
		// Tenants whose records all went while the counters were not
		// kept (or an interrupted count left) have no count to set:
		// clear every counter first.
		for _, k := range old {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		for k, n := range counts {
			total += n
			if err := wb.Set(countKey(sp, k.tenant, k.name), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
				return err
			}
		}
		for _, w := range witnesses {
			if err := wb.Set(w[0], w[1]); err != nil {
				return err
			}
		}
		return wb.Flush()
	})
	if err == nil {
		// Last, so that it stands only for a complete count.
		err = markCounted(s, sp)
	}
	if err != nil {
		return fmt.Errorf("count the records of generation %d once: %w", sp.gen, err)
	}
	if total > 0 {
		log.Info("counted a projection's records once, to keep counters from now on",
			"projection", sp.projection, "generation", sp.gen, "records", total, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// offsetWitnesses returns the witness key and value of every offset of
// sp, and whether each witness holds its offset already: false when an
// older release moved an offset alone, applying events the counters
// missed.
func offsetWitnesses(txn *badger.Txn, sp Space) (ws [][2][]byte, current bool, err error) {
	offsets := sp.Prefix("o")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: offsets, PrefetchValues: true})
	defer it.Close()
	current = true
	for it.Rewind(); it.Valid(); it.Next() {
		o, ok := offsetAt(sp, it.Item().Key()[len(offsets):])
		if !ok {
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, false, err
		}
		wk := sp.witnessKey(o.Topic, o.Partition)
		if current {
			w, _, err := getValue(txn, wk)
			if err != nil {
				return nil, false, err
			}
			current = bytes.Equal(v, w)
		}
		ws = append(ws, [2][]byte{wk, v})
	}
	return ws, current, nil
}

// keysUnder returns the keys under prefix.
func keysUnder(txn *badger.Txn, prefix []byte) ([][]byte, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys, nil
}

// keepCounts makes the live space of a counted projection keep counters
// (countOnce); call it before the projection's consumer starts.
func (p *Projection) keepCounts() error {
	m, ok := p.model.(countedModel)
	if !ok {
		return nil
	}
	return countOnce(p.store, p.Space(), m.countedKinds(), p.store.log)
}

// Counted returns the tenant's counter name in the live generation. A
// space without counters (which keepCounts gives every counted one) is
// counted by walking its keys.
func (p *Projection) Counted(tenant, name string) (int64, error) {
	var n int64
	counted := true
	err := p.View(func(txn *badger.Txn, sp Space) error {
		var err error
		if counted, err = keyExists(txn, countedKey(sp)); err != nil || !counted {
			return err
		}
		n, err = readCount(txn, countKey(sp, tenant, name))
		return err
	})
	if err != nil || counted {
		return n, err
	}
	if m, ok := p.model.(countedModel); ok {
		for _, k := range m.countedKinds() {
			if k.name == name {
				c, err := p.CountKeys(k.kind, tenant)
				return int64(c), err
			}
		}
	}
	return 0, fmt.Errorf("projection %s counts no %q", p.Name(), name)
}
