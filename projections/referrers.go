package projections

import (
	"hash/maphash"

	"github.com/dgraph-io/badger/v4"
)

// referrers is a Bloom filter of the statements of a space that have a
// referrer marker (rm): a statement it does not hold has none, so storing
// it costs no read of its marker, which for a new statement is a read
// through every level of the store that finds nothing. A marker written
// is added at once, even if its transaction is then discarded (the filter
// only errs towards reading), and a marker deleted stays (likewise). The
// filter is built, from the markers the store holds, by the first
// transaction of a memo that needs it, so a restart, a reset or a new
// generation starts from what is stored.
type referrers struct {
	bits  bloom
	seed  maphash.Seed
	n     int // markers added
	limit int // markers above which the filter is rebuilt larger
}

// referrersMin is the fewest markers a filter is sized for.
var referrersMin = 1 << 14

// referrerHashes is how many bits a marker sets: with 16 bits per marker,
// 4 give about 0.2% of false positives at the filter's limit.
const referrerHashes = 4

func newReferrers(markers int) *referrers {
	limit := max(referrersMin, 2*markers)
	return &referrers{bits: newBloom(limit, 16, referrerHashes), seed: maphash.MakeSeed(), limit: limit}
}

func (r *referrers) add(tenant, id string) {
	a, b := hashID(r.seed, tenant, id)
	r.bits.add(a, b)
	r.n++
}

func (r *referrers) mayHold(tenant, id string) bool {
	a, b := hashID(r.seed, tenant, id)
	return r.bits.mayHold(a, b)
}

// loadReferrers builds the filter of sp's markers as txn sees them (its
// own writes included).
func loadReferrers(txn *badger.Txn, sp Space, atLeast int) *referrers {
	prefix := sp.Prefix("rm")
	var keys [][2]string
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()[len(prefix):]
		for i, c := range k {
			if c == 0 {
				keys = append(keys, [2]string{string(k[:i]), string(k[i+1:])})
				break
			}
		}
	}
	it.Close()
	r := newReferrers(max(atLeast, len(keys)))
	for _, k := range keys {
		r.add(k[0], k[1])
	}
	return r
}

// referrerFilter returns the memo's filter of referrer markers, built or
// rebuilt larger when it must be; nil for a transaction on its own
// (applyAlone), which reads the markers.
func (ts *txnState) referrerFilter() *referrers {
	if ts.alone {
		return nil
	}
	if r := ts.memo.referrers; r == nil || r.n > r.limit {
		atLeast := 0
		if r != nil {
			atLeast = r.n
		}
		ts.memo.referrers = loadReferrers(ts.txn, ts.sp, atLeast)
	}
	return ts.memo.referrers
}

// hasReferrers reports whether statement id of tenant has a referrer
// marker: false without a read when the filter rules it out.
func (ts *txnState) hasReferrers(tenant, id string) (bool, error) {
	if r := ts.referrerFilter(); r != nil && !r.mayHold(tenant, id) {
		return false, nil
	}
	return keyExists(ts.txn, ts.sp.Key("rm", tenant, id))
}

// markReferrers writes the referrer marker of statement id of tenant.
func (ts *txnState) markReferrers(tenant, id string) error {
	if r := ts.referrerFilter(); r != nil {
		r.add(tenant, id)
	}
	return ts.txn.Set(ts.sp.Key("rm", tenant, id), nil)
}
