package projections

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// bloom is the bits of a Bloom filter of statement ids (the id filter's
// stages and the referrer markers' filter): an id sets, and a check
// probes, k positions a + i*b of its two hashes (hashID). Adds and checks
// use atomic operations, so a filter that requests read while the
// projection adds needs no lock.
type bloom struct {
	bits []uint64
	mask uint64
	k    uint64
}

// newBloom returns a filter of at least perID bits for each of n ids, a
// power of two, probing k positions an id.
func newBloom(n, perID, k int) bloom {
	size := uint64(1) << bits.Len64(uint64(n*perID-1))
	return bloom{bits: make([]uint64, size/64), mask: size - 1, k: uint64(k)}
}

func (f bloom) add(a, b uint64) {
	for i := range f.k {
		p := (a + i*b) & f.mask
		atomic.OrUint64(&f.bits[p/64], 1<<(p%64))
	}
}

func (f bloom) mayHold(a, b uint64) bool {
	for i := range f.k {
		p := (a + i*b) & f.mask
		if atomic.LoadUint64(&f.bits[p/64])&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

// hashID is the two hashes a bloom of statement ids probes with: of
// tenant \x00 id, as a statement's key holds them after its prefix.
func hashID(seed maphash.Seed, tenant, id string) (uint64, uint64) {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(tenant)
	h.WriteByte(0)
	h.WriteString(id)
	return split(h.Sum64())
}

// hashIDKey is hashID of the tenant \x00 id that a statement's key holds
// after its prefix: the same two hashes, from the key's bytes.
func hashIDKey(seed maphash.Seed, tenantID []byte) (uint64, uint64) {
	return split(maphash.Bytes(seed, tenantID))
}

// split is the two probe hashes of one 64-bit hash (b odd, so that the k
// positions differ).
func split(x uint64) (uint64, uint64) { return x, x>>32 | x<<32 | 1 }
