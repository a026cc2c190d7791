package adaptive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Snapshot format: a magic, a format version and the number of dense
// predictor weights (so a build with another feature layout refuses the
// snapshot instead of misreading it), then every state slice in order.
// Numbers are big-endian; floats are their IEEE 754 bits, so a restored
// model continues bit for bit where the original stopped.
const (
	snapshotMagic   = "LSAD"
	snapshotVersion = 1
)

// ErrSnapshot is wrapped by every error of UnmarshalBinary: the bytes are
// not a snapshot this build can read.
var ErrSnapshot = errors.New("adaptive: unreadable model snapshot")

// MarshalBinary returns the model's learned state: ratings, BKT states and
// parameters, predictor weights and counts. The configuration is not part
// of it; UnmarshalBinary restores into a model built with New(cfg), and a
// consumer that needs replays to be deterministic restores with the same
// configuration it learned with.
func (m *Model) MarshalBinary() ([]byte, error) {
	var w snapWriter
	w.b = append(w.b, snapshotMagic...)
	w.u32(snapshotVersion)
	w.u32(numDense)
	w.bool(m.frozen)
	for j := range m.w {
		w.f64(m.w[j])
		w.f64(m.g2[j])
	}
	w.u32(uint32(len(m.learners)))
	for _, l := range m.learners {
		w.f64(l.theta)
		w.f32(l.n)
		w.f32(l.wins)
		w.f32(l.ewma)
		w.f32(l.ewmaW)
		w.u32(uint32(l.events))
	}
	w.u32(uint32(len(m.items)))
	for _, it := range m.items {
		w.f64(it.d)
		w.f32(it.n)
		w.f32(it.wins)
		w.f32(it.guess)
		w.f64(it.w)
		w.f64(it.g2)
	}
	w.u32(uint32(len(m.skills)))
	for _, s := range m.skills {
		p := s.bkt
		for _, v := range [...]float64{p.Prior, p.Learn, p.Forget, p.Guess, p.Slip} {
			w.f64(v)
		}
		for j := range s.w {
			w.f64(s.w[j])
			w.f64(s.g2[j])
		}
	}
	w.u32(uint32(len(m.ls)))
	for _, s := range m.ls {
		w.f64(s.theta)
		w.f64(s.known)
		w.f32(s.n)
		w.f32(s.wins)
		w.f32(s.ewma)
		w.f32(s.ewmaW)
		w.f32(s.last)
		w.u32(uint32(s.lastSeen))
	}
	// Hash tables: occupied slots only, in slot order; restoring re-inserts
	// them. Values never depend on the table layout.
	w.u32(uint32(m.lsIndex.len()))
	for _, s := range m.lsIndex.slots {
		if s.key != 0 {
			w.u64(s.key - 1)
			w.u32(uint32(s.val))
		}
	}
	w.u32(uint32(m.li.len()))
	for _, s := range m.li.slots {
		if s.key != 0 {
			w.u64(s.key - 1)
			w.f32(s.val.n)
			w.f32(s.val.wins)
		}
	}
	return w.b, nil
}

// UnmarshalBinary replaces the model's state by a snapshot's. The model
// keeps its configuration. On error the model is unchanged.
func (m *Model) UnmarshalBinary(b []byte) error {
	r := snapReader{b: b}
	if len(b) < len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: no snapshot header", ErrSnapshot)
	}
	r.b = r.b[len(snapshotMagic):]
	if v := r.u32(); r.err == nil && v != snapshotVersion {
		return fmt.Errorf("%w: format version %d (this build reads %d)", ErrSnapshot, v, snapshotVersion)
	}
	if n := r.u32(); r.err == nil && n != numDense {
		return fmt.Errorf("%w: %d dense weights (this build has %d)", ErrSnapshot, n, numDense)
	}
	next := &Model{cfg: m.cfg, feats: m.feats}
	next.frozen = r.bool()
	for j := range next.w {
		next.w[j] = r.f64()
		next.g2[j] = r.f64()
	}
	// Each count is checked against the bytes left before allocating, so a
	// corrupt length cannot ask for gigabytes.
	n := r.count(8 + 4*4 + 4)
	next.learners = make([]learnerState, n)
	for i := range next.learners {
		l := &next.learners[i]
		l.theta = r.f64()
		l.n, l.wins, l.ewma, l.ewmaW = r.f32(), r.f32(), r.f32(), r.f32()
		l.events = int32(r.u32())
	}
	n = r.count(8 + 3*4 + 2*8)
	next.items = make([]itemState, n)
	for i := range next.items {
		it := &next.items[i]
		it.d = r.f64()
		it.n, it.wins, it.guess = r.f32(), r.f32(), r.f32()
		it.w, it.g2 = r.f64(), r.f64()
	}
	n = r.count(5*8 + 2*skillWeights*8)
	next.skills = make([]skillState, n)
	for i := range next.skills {
		s := &next.skills[i]
		s.bkt = BKTParams{Prior: r.f64(), Learn: r.f64(), Forget: r.f64(), Guess: r.f64(), Slip: r.f64()}
		for j := range s.w {
			s.w[j] = r.f64()
			s.g2[j] = r.f64()
		}
		if r.err == nil {
			if err := s.bkt.Validate(); err != nil {
				return fmt.Errorf("%w: skill %d: %v", ErrSnapshot, i, err)
			}
		}
	}
	n = r.count(2*8 + 5*4 + 4)
	next.ls = make([]learnerSkill, n)
	for i := range next.ls {
		s := &next.ls[i]
		s.theta, s.known = r.f64(), r.f64()
		s.n, s.wins, s.ewma, s.ewmaW, s.last = r.f32(), r.f32(), r.f32(), r.f32(), r.f32()
		s.lastSeen = int32(r.u32())
	}
	n = r.count(8 + 4)
	for range n {
		k, v := r.u64(), int32(r.u32())
		if r.err != nil {
			break
		}
		if v < 0 || int(v) >= len(next.ls) || !pairInRange(k, len(next.learners), len(next.skills)) {
			return fmt.Errorf("%w: learner-skill entry out of range", ErrSnapshot)
		}
		p, _ := next.lsIndex.insert(k)
		*p = v
	}
	n = r.count(8 + 2*4)
	for range n {
		k, an, wins := r.u64(), r.f32(), r.f32()
		if r.err != nil {
			break
		}
		if !pairInRange(k, len(next.learners), len(next.items)) {
			return fmt.Errorf("%w: learner-item entry out of range", ErrSnapshot)
		}
		p, _ := next.li.insert(k)
		*p = learnerItem{n: an, wins: wins}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrSnapshot, len(r.b))
	}
	if next.lsIndex.len() != len(next.ls) {
		return fmt.Errorf("%w: %d learner-skill states but %d index entries", ErrSnapshot, len(next.ls), next.lsIndex.len())
	}
	*m = *next
	return nil
}

// pairInRange reports whether both ids of a pair key are below their bounds.
func pairInRange(k uint64, na, nb int) bool {
	a, b := int64(int32(uint32(k>>32))), int64(int32(uint32(k)))
	return a >= 0 && a < int64(na) && b >= 0 && b < int64(nb)
}

type snapWriter struct{ b []byte }

func (w *snapWriter) u32(v uint32)  { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *snapWriter) u64(v uint64)  { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *snapWriter) f32(v float32) { w.u32(math.Float32bits(v)) }
func (w *snapWriter) f64(v float64) { w.u64(math.Float64bits(v)) }
func (w *snapWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// snapReader reads a snapshot; the first short read sets err and every
// later read returns zero, so decoding code need not check each field.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrSnapshot)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *snapReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *snapReader) f32() float32 { return math.Float32frombits(r.u32()) }
func (r *snapReader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *snapReader) bool() bool {
	if b := r.take(1); b != nil {
		return b[0] != 0
	}
	return false
}

// count reads an element count and checks that the bytes left can hold
// that many elements of size bytes each.
func (r *snapReader) count(size int) int {
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if uint64(n) > MaxID+1 || uint64(n)*uint64(size) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d exceeds the snapshot", ErrSnapshot, n)
		return 0
	}
	return int(n)
}
