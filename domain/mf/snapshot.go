package mf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// Snapshot format: "LSMF", a version byte, the configuration (version 2
// adds CGBudget after Seed; a version 1 snapshot restores with the default
// budget, so that checkpoints written before it get the cheaper solve on
// upgrade; its learners with fewer than 64 remembered items learn as
// before), the counters,
// the random generator's state, learners (id, vector, history), items (id,
// vector, bias, count, missing-data weight), the cached Gram matrix, the
// negative-sampling window, and a CRC-32 (IEEE) of everything before it.
// Integers are little-endian or unsigned varints; floats are IEEE bits.
const (
	snapshotMagic   = "LSMF"
	snapshotVersion = 2
)

// ErrSnapshot marks a snapshot that cannot be restored (corrupt, truncated,
// or from an unknown version).
var ErrSnapshot = errors.New("mf: bad snapshot")

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)     { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) f32(v float32)  { e.u32(math.Float32bits(v)) }
func (e *encoder) f64(v float64)  { e.u64(math.Float64bits(v)) }
func (e *encoder) bytes(v []byte) { e.uv(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string)   { e.uv(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) f32s(v []float32) {
	for _, x := range v {
		e.f32(x)
	}
}

// MarshalBinary returns a snapshot of the whole model (factors, histories,
// counts, caches and the random generator's state): a restored model
// continues exactly as the original would have.
func (m *Model) MarshalBinary() ([]byte, error) {
	k := m.k
	e := &encoder{b: make([]byte, 0, 64+len(m.U)*4+len(m.V)*4+len(m.gram)*4+len(m.userIDs)*16+len(m.itemIDs)*24)}
	e.b = append(e.b, snapshotMagic...)
	e.u8(snapshotVersion)
	c := m.cfg
	e.u32(uint32(c.K))
	e.str(string(c.Algorithm))
	e.f64(c.LearnRate)
	e.f64(c.Reg)
	e.f64(c.ItemReg)
	e.bool(c.Bias)
	e.u32(uint32(c.Negatives))
	e.bool(c.UniformNegatives)
	e.f64(c.NegWeight)
	e.f64(c.Alpha0)
	e.f64(c.PopExponent)
	e.u32(uint32(c.CGSteps))
	e.bool(c.Exact)
	e.u32(uint32(c.History))
	e.u32(uint32(c.GramEvery))
	e.u32(uint32(c.SampleWindow))
	e.f64(c.InitStd)
	e.u64(c.Seed)
	e.u32(uint32(c.CGBudget))

	e.u64(m.events)
	e.uv(uint64(m.sinceGram))
	e.uv(uint64(m.gramItems))
	state, err := m.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	e.bytes(state)

	e.uv(uint64(len(m.userIDs)))
	for u, id := range m.userIDs {
		e.str(id)
		e.f32s(m.U[u*k : (u+1)*k])
		e.uv(uint64(len(m.hist[u])))
		for _, h := range m.hist[u] {
			e.uv(uint64(h.item))
			e.f32(h.w)
		}
	}
	e.uv(uint64(len(m.itemIDs)))
	for i, id := range m.itemIDs {
		e.str(id)
		e.f32s(m.V[i*k : (i+1)*k])
		e.f32(m.B[i])
		e.uv(uint64(m.count[i]))
		e.f32(m.negW[i])
	}
	e.f32s(m.gram)
	e.f32s(m.gramBias)
	e.uv(uint64(len(m.ring)))
	e.uv(uint64(m.ringPos))
	for _, it := range m.ring {
		e.uv(uint64(it))
	}
	e.u32(crc32.ChecksumIEEE(e.b))
	return e.b, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrSnapshot, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what is left, at least min bytes each.
func (d *decoder) count(min int) int {
	v := d.uv()
	if d.err == nil && v > uint64(len(d.b)/max(min, 1)) {
		d.fail("length %d larger than the snapshot", v)
		return 0
	}
	return int(v)
}

func (d *decoder) f32() float32 { return math.Float32frombits(d.u32()) }
func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }
func (d *decoder) bool() bool   { return d.u8() == 1 }
func (d *decoder) str() string  { return string(d.take(d.count(1))) }

// UnmarshalBinary replaces the model with a snapshot made by MarshalBinary.
// On error the model is left unchanged.
func (m *Model) UnmarshalBinary(data []byte) error {
	if len(data) < len(snapshotMagic)+1+4 || string(data[:4]) != snapshotMagic {
		return fmt.Errorf("%w: not a model snapshot", ErrSnapshot)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	d := &decoder{b: body[4:]}
	version := d.u8()
	if version < 1 || version > snapshotVersion {
		return fmt.Errorf("%w: version %d, want 1..%d", ErrSnapshot, version, snapshotVersion)
	}
	var c Config
	c.K = int(d.u32())
	c.Algorithm = Algorithm(d.str())
	c.LearnRate = d.f64()
	c.Reg = d.f64()
	c.ItemReg = d.f64()
	c.Bias = d.bool()
	c.Negatives = int(d.u32())
	c.UniformNegatives = d.bool()
	c.NegWeight = d.f64()
	c.Alpha0 = d.f64()
	c.PopExponent = d.f64()
	c.CGSteps = int(d.u32())
	c.Exact = d.bool()
	c.History = int(d.u32())
	c.GramEvery = int(d.u32())
	c.SampleWindow = int(d.u32())
	c.InitStd = d.f64()
	c.Seed = d.u64()
	if version >= 2 {
		c.CGBudget = int(d.u32())
	} else {
		c.CGBudget = DefaultConfig().CGBudget
	}
	if d.err != nil {
		return d.err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	n := &Model{cfg: c, k: c.K, userIdx: map[string]int32{}, itemIdx: map[string]int32{}}
	n.alloc()
	k := c.K
	n.events = d.u64()
	n.sinceGram = int(d.uv())
	n.gramItems = int(d.uv())
	n.pcg = &rand.PCG{}
	if state := d.take(d.count(1)); d.err == nil {
		if err := n.pcg.UnmarshalBinary(state); err != nil {
			return fmt.Errorf("%w: random state: %v", ErrSnapshot, err)
		}
	}
	n.rng = rand.New(n.pcg)

	users := d.count(1 + 4*k)
	n.userIDs = make([]string, 0, users)
	n.U = make([]float32, 0, users*k)
	n.hist = make([][]entry, 0, users)
	type ref struct{ user, pos int }
	var refs []ref
	for u := 0; u < users && d.err == nil; u++ {
		id := d.str()
		if _, dup := n.userIdx[id]; dup {
			d.fail("learner %q twice", id)
		}
		n.userIdx[id] = int32(u)
		n.userIDs = append(n.userIDs, id)
		for f := 0; f < k; f++ {
			n.U = append(n.U, d.f32())
		}
		hl := d.count(5)
		if hl > c.History {
			d.fail("learner %q has %d remembered items, more than History %d", id, hl, c.History)
		}
		var h []entry
		if hl > 0 && d.err == nil {
			h = make([]entry, hl)
		}
		for x := 0; x < hl && d.err == nil; x++ {
			it := d.uv()
			if it > math.MaxInt32 {
				d.fail("item index %d", it)
			}
			h[x] = entry{item: int32(it), w: d.f32()}
			refs = append(refs, ref{u, x})
		}
		n.hist = append(n.hist, h)
	}
	items := d.count(1 + 4*k + 4 + 1 + 4)
	n.itemIDs = make([]string, 0, items)
	for i := 0; i < items && d.err == nil; i++ {
		id := d.str()
		if _, dup := n.itemIdx[id]; dup {
			d.fail("item %q twice", id)
		}
		n.itemIdx[id] = int32(i)
		n.itemIDs = append(n.itemIDs, id)
		for f := 0; f < k; f++ {
			n.V = append(n.V, d.f32())
		}
		n.B = append(n.B, d.f32())
		cnt := d.uv()
		if cnt > math.MaxUint32 {
			d.fail("item count %d", cnt)
		}
		n.count = append(n.count, uint32(cnt))
		n.negW = append(n.negW, d.f32())
	}
	n.mask = make([]uint64, (items+63)/64)
	for i := range n.gram {
		n.gram[i] = d.f32()
	}
	for i := range n.gramBias {
		n.gramBias[i] = d.f32()
	}
	rl := d.count(1)
	n.ringPos = int(d.uv())
	if rl > c.SampleWindow || (rl > 0 && n.ringPos >= rl) || rl == 0 && n.ringPos != 0 {
		d.fail("sample window of %d at %d", rl, n.ringPos)
	}
	n.ring = make([]int32, 0, rl)
	for x := 0; x < rl && d.err == nil; x++ {
		it := d.uv()
		if it >= uint64(items) {
			d.fail("sampled item %d of %d", it, items)
		}
		n.ring = append(n.ring, int32(it))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end", len(d.b))
	}
	for _, r := range refs {
		if d.err == nil && int(n.hist[r.user][r.pos].item) >= items {
			d.fail("learner %q remembers unknown item %d", n.userIDs[r.user], n.hist[r.user][r.pos].item)
		}
	}
	if n.gramItems > items {
		d.fail("Gram covers %d items of %d", n.gramItems, items)
	}
	if d.err != nil {
		return d.err
	}
	*m = *n
	return nil
}
