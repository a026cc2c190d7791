package mf

import (
	"math/bits"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// scanBlock is the number of items in one block of the scan copy.
const scanBlock = 256

// scanCopy is TopN's copy of the item factors, laid out for scoring every
// item: blocks of scanBlock items, each stored factor-major (k rows of
// scanBlock floats), so that a block's scores are k long axpys (gonum's
// assembly kernel over 256 floats) instead of 256 short dot products. At
// k=32 that is about three times faster, and top-10 over 100,000 items
// fits in well under a millisecond without pruning, so the ranking stays
// exact. The copy costs as much memory as the item factors. Blocks are
// rebuilt lazily: an item step marks its block dirty, and TopN rebuilds
// the dirty blocks (at most a few per event) before scanning.
type scanCopy struct {
	data  []float32 // blocks x k x scanBlock
	dirty []uint64  // a bit per block
	items int       // items the blocks were laid out for
	buf   []float32 // one block's scores
}

// touchItem marks item i's block of the scan copy stale.
func (m *Model) touchItem(i int32) {
	b := int(i) / scanBlock
	if b>>6 < len(m.scan.dirty) {
		m.scan.dirty[b>>6] |= 1 << (uint(b) & 63)
	}
}

// touchAll marks the whole scan copy stale (after item factors were
// written directly, see RefreshGram).
func (m *Model) touchAll() {
	for w := range m.scan.dirty {
		m.scan.dirty[w] = ^uint64(0)
	}
}

// syncScan brings the scan copy up to date with V.
func (m *Model) syncScan() {
	s := &m.scan
	k := m.k
	items := len(m.itemIDs)
	if items != s.items {
		blocks := (items + scanBlock - 1) / scanBlock
		old := s.items / scanBlock // the first block whose items changed
		if need := blocks * k * scanBlock; need > len(s.data) {
			s.data = append(s.data, make([]float32, need-len(s.data))...)
		}
		for len(s.dirty) < (blocks+63)/64 {
			s.dirty = append(s.dirty, 0)
		}
		for b := old; b < blocks; b++ {
			s.dirty[b>>6] |= 1 << (uint(b) & 63)
		}
		if s.buf == nil {
			s.buf = make([]float32, scanBlock)
		}
		s.items = items
	}
	blocks := (items + scanBlock - 1) / scanBlock
	for w, set := range s.dirty {
		for set != 0 {
			b := w*64 + bits.TrailingZeros64(set)
			set &= set - 1
			if b >= blocks {
				break // touchAll marks whole words
			}
			base := b * scanBlock
			blk := s.data[b*k*scanBlock : (b+1)*k*scanBlock]
			for j := 0; j < scanBlock && base+j < items; j++ {
				q := m.V[(base+j)*k : (base+j+1)*k]
				for f, v := range q {
					blk[f*scanBlock+j] = v
				}
			}
		}
		s.dirty[w] = 0
	}
}

// scanTop scores every item for the vector p and keeps the n best (plus
// bias, minus the masked items) in dst.
func (m *Model) scanTop(p []float32, n int, dst []Scored) []Scored {
	m.syncScan()
	s := &m.scan
	k := m.k
	items := len(m.itemIDs)
	x := blas32.Vector{N: k, Inc: 1, Data: p}
	for base := 0; base < items; base += scanBlock {
		cnt := min(scanBlock, items-base)
		b := base / scanBlock
		sc := s.buf[:cnt]
		blas32.Gemv(blas.Trans, 1,
			blas32.General{Rows: k, Cols: cnt, Stride: scanBlock, Data: s.data[b*k*scanBlock : (b+1)*k*scanBlock]},
			x, 0, blas32.Vector{N: cnt, Inc: 1, Data: sc})
		bias := m.B[base : base+cnt]
		for j, v := range sc {
			it := base + j
			if m.mask[it>>6]&(1<<(uint(it)&63)) != 0 {
				continue
			}
			v += bias[j]
			if len(dst) < n || v > dst[n-1].Score {
				dst = pushTop(dst, n, Scored{Item: int32(it), Score: v})
			}
		}
	}
	return dst
}
