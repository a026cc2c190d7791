package adaptive

// pairTable is an open-addressing hash table from a (a, b) pair of dense ids
// to a small value, with keys and values side by side so that a lookup
// usually touches one cache line. The model does one or two lookups per
// event in tables of millions of pairs; Go's map needs a second memory
// access for its control bytes, which the profile showed as the top cost.
type pairTable[V any] struct {
	slots []pairSlot[V]
	mask  uint64
	n     int
}

type pairSlot[V any] struct {
	key uint64 // pairKey(a, b) + 1; 0 marks an empty slot
	val V
}

func (t *pairTable[V]) hash(k uint64) uint64 {
	// Fibonacci hashing: a multiply spreads dense ids over the table.
	return (k * 0x9E3779B97F4A7C15) >> 17
}

// get returns a pointer to the value of key k, or nil. The pointer is valid
// until the next insert.
func (t *pairTable[V]) get(k uint64) *V {
	if t.n == 0 {
		return nil
	}
	k++
	for i := t.hash(k) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == k {
			return &s.val
		}
		if s.key == 0 {
			return nil
		}
	}
}

// insert returns a pointer to the value of key k, adding a zero value if
// it is absent (added reports that). The pointer is valid until the next
// insert.
func (t *pairTable[V]) insert(k uint64) (v *V, added bool) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	k++
	for i := t.hash(k) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == k {
			return &s.val, false
		}
		if s.key == 0 {
			s.key = k
			t.n++
			return &s.val, true
		}
	}
}

func (t *pairTable[V]) grow() {
	size := 2 * len(t.slots)
	if size < 1024 {
		size = 1024
	}
	old := t.slots
	t.slots = make([]pairSlot[V], size)
	t.mask = uint64(size - 1)
	for _, s := range old {
		if s.key == 0 {
			continue
		}
		for i := t.hash(s.key) & t.mask; ; i = (i + 1) & t.mask {
			if t.slots[i].key == 0 {
				t.slots[i] = s
				break
			}
		}
	}
}

// len is the number of keys.
func (t *pairTable[V]) len() int { return t.n }
