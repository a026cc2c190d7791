package mf

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// SequenceConfig tunes Sequence. Start from DefaultSequenceConfig.
type SequenceConfig struct {
	// Window is how many of the learner's previous distinct items a new
	// item is linked from: the d-th previous item gets the rule
	// previous -> new with weight 1/d (sequential rules, as in Ludewig &
	// Jannach 2018) and the rule new -> previous with weight With/d
	// (co-occurrence, order ignored).
	Window int
	// With is the weight of the backward (co-occurrence) link relative to
	// the forward (transition) one; 0 learns transitions only.
	With float64
	// Recent is how many of the learner's last distinct items score the
	// candidates; the d-th last counts Decay^(d-1).
	Recent int
	// Decay weighs the learner's older items, in (0, 1].
	Decay float64
	// Fanout caps the links kept per item. Beyond it a new link replaces
	// the weakest one and inherits its weight (space-saving), so the
	// strong links are kept exactly and memory stays bounded.
	Fanout int
	// Smooth is added to an item's total outgoing weight when links are
	// turned into probabilities, so that a rule seen once from a rarely
	// seen item does not count as a certainty.
	Smooth float64
}

// DefaultSequenceConfig returns the documented defaults (see
// docs/recommendations.md, "Long histories").
func DefaultSequenceConfig() SequenceConfig {
	return SequenceConfig{Window: 3, With: 0, Recent: 3, Decay: 0.5, Fanout: 64, Smooth: 1}
}

// Validate checks the configuration.
func (c SequenceConfig) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Window < 1 || c.Window > 64:
		return fmt.Errorf("sequence config: Window = %d, want 1..64", c.Window)
	case !finite(c.With) || c.With < 0 || c.With > 100:
		return fmt.Errorf("sequence config: With = %v, want 0..100", c.With)
	case c.Recent < 1 || c.Recent > 64:
		return fmt.Errorf("sequence config: Recent = %d, want 1..64", c.Recent)
	case !finite(c.Decay) || c.Decay <= 0 || c.Decay > 1:
		return fmt.Errorf("sequence config: Decay = %v, want (0, 1]", c.Decay)
	case c.Fanout < 1 || c.Fanout > 1<<16:
		return fmt.Errorf("sequence config: Fanout = %d, want 1..%d", c.Fanout, 1<<16)
	case !finite(c.Smooth) || c.Smooth < 0:
		return fmt.Errorf("sequence config: Smooth = %v, want >= 0", c.Smooth)
	}
	return nil
}

// link is a rule from one item to another: next is the transition weight
// (the target came after the source), with the co-occurrence weight (the
// source came after the target).
type link struct {
	to   int32
	next float32
	with float32
}

// Sequence learns what learners do next: item-to-item rules from each
// learner's order of items (transitions, "next_after") and, with
// SequenceConfig.With, the same links backwards (co-occurrence,
// "often_with"). It scores a learner's candidates from their last few
// items. Items are the caller's indices (a Model's), dense from 0;
// learners are ids. It is deterministic, and not safe for concurrent use.
// Add and Score do not allocate once the learner, the items and their
// links exist.
type Sequence struct {
	cfg SequenceConfig

	learnerIdx map[string]int32
	learnerIDs []string
	// recent holds each learner's last Max(Window, Recent) distinct items,
	// most recent last.
	recent [][]int32

	links [][]link  // per item: outgoing links
	total []float32 // per item: sum of outgoing next + with weights
}

// NewSequence returns an empty Sequence.
func NewSequence(cfg SequenceConfig) (*Sequence, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sequence{cfg: cfg, learnerIdx: map[string]int32{}}, nil
}

// Config returns the configuration.
func (s *Sequence) Config() SequenceConfig { return s.cfg }

// Learners returns the number of learners with a remembered item.
func (s *Sequence) Learners() int { return len(s.learnerIDs) }

func (s *Sequence) keep() int { return max(s.cfg.Window, s.cfg.Recent) }

func (s *Sequence) grow(items int) {
	for len(s.links) < items {
		s.links = append(s.links, nil)
		s.total = append(s.total, 0)
	}
}

// Add learns that learner did item (an index). A repeat of the learner's
// last item changes nothing; a repeat of an older one links it again and
// makes it the last.
func (s *Sequence) Add(learner string, item int32) {
	if item < 0 {
		return
	}
	s.grow(int(item) + 1)
	u, ok := s.learnerIdx[learner]
	if !ok {
		u = int32(len(s.learnerIDs))
		s.learnerIdx[learner] = u
		s.learnerIDs = append(s.learnerIDs, learner)
		s.recent = append(s.recent, make([]int32, 0, s.keep()))
	}
	r := s.recent[u]
	if n := len(r); n > 0 && r[n-1] == item {
		return
	}
	d := 1
	for x := len(r) - 1; x >= 0 && d <= s.cfg.Window; x-- {
		if r[x] != item {
			inc := float32(1 / float64(d))
			s.link(r[x], item, inc, 0)
			if s.cfg.With > 0 {
				s.link(item, r[x], 0, inc*float32(s.cfg.With))
			}
			d++
		}
	}
	// Move or append item to the end, keeping at most keep() items.
	for x := range r {
		if r[x] == item {
			copy(r[x:], r[x+1:])
			r = r[:len(r)-1]
			break
		}
	}
	if len(r) == s.keep() {
		copy(r, r[1:])
		r = r[:len(r)-1]
	}
	s.recent[u] = append(r, item)
}

// link adds weights to the link from -> to, replacing the weakest link of
// from when it has Fanout links already.
func (s *Sequence) link(from, to int32, next, with float32) {
	s.total[from] += next + with
	ls := s.links[from]
	for x := range ls {
		if ls[x].to == to {
			ls[x].next += next
			ls[x].with += with
			return
		}
	}
	if len(ls) < s.cfg.Fanout {
		s.links[from] = append(ls, link{to: to, next: next, with: with})
		return
	}
	weakest := 0
	for x := 1; x < len(ls); x++ {
		if ls[x].next+ls[x].with < ls[weakest].next+ls[weakest].with {
			weakest = x
		}
	}
	// Space-saving: the newcomer takes the weakest slot and its weight, an
	// over-estimate bounded by that weight.
	w := &ls[weakest]
	base := w.next + w.with
	w.to = to
	if next > 0 {
		w.next, w.with = base+next, 0
	} else {
		w.next, w.with = 0, base+with
	}
}

// Last returns learner's last distinct items, most recent last (valid until
// the next Add or Forget).
func (s *Sequence) Last(learner string) []int32 {
	u, ok := s.learnerIdx[learner]
	if !ok {
		return nil
	}
	return s.recent[u]
}

// Score adds into acc (indexed by item, at least as long as the items this
// Sequence knows) the learner's sequence score of each item linked from
// their last Recent items: the sum over the d-th last item a of
// Decay^(d-1) (next + with of a -> j) / (total of a + Smooth). It appends
// the items it touched for the first time (acc was 0) to touched and
// returns it. Items are not excluded: the caller masks the learner's own.
func (s *Sequence) Score(learner string, acc []float32, touched []int32) []int32 {
	u, ok := s.learnerIdx[learner]
	if !ok {
		return touched
	}
	r := s.recent[u]
	wd := 1.0
	for d := 0; d < s.cfg.Recent && d < len(r); d++ {
		a := r[len(r)-1-d]
		norm := float32(wd / (float64(s.total[a]) + s.cfg.Smooth))
		for _, l := range s.links[a] {
			if int(l.to) >= len(acc) {
				continue
			}
			if acc[l.to] == 0 {
				touched = append(touched, l.to)
			}
			acc[l.to] += (l.next + l.with) * norm
		}
		wd *= s.cfg.Decay
	}
	return touched
}

// Explain returns the strongest source of item j's score for learner: the
// recent item a whose link a -> j contributes most, and whether the link is
// mostly a transition (next_after) rather than co-occurrence (often_with).
// ok is false when no recent item links to j.
func (s *Sequence) Explain(learner string, j int32) (from int32, next bool, ok bool) {
	u, known := s.learnerIdx[learner]
	if !known {
		return 0, false, false
	}
	r := s.recent[u]
	best := float32(0)
	wd := 1.0
	for d := 0; d < s.cfg.Recent && d < len(r); d++ {
		a := r[len(r)-1-d]
		norm := float32(wd / (float64(s.total[a]) + s.cfg.Smooth))
		for _, l := range s.links[a] {
			if l.to == j {
				if c := (l.next + l.with) * norm; c > best {
					best, from, next, ok = c, a, l.next >= l.with, true
				}
				break
			}
		}
		wd *= s.cfg.Decay
	}
	return from, next, ok
}

// Forget removes learner and their remembered items. The links they helped
// learn stay: like item factors, they are sums over many learners. It
// reports whether the learner was known.
func (s *Sequence) Forget(learner string) bool {
	u, ok := s.learnerIdx[learner]
	if !ok {
		return false
	}
	last := int32(len(s.learnerIDs) - 1)
	if u != last {
		moved := s.learnerIDs[last]
		s.learnerIDs[u] = moved
		s.learnerIdx[moved] = u
		s.recent[u] = s.recent[last]
	}
	delete(s.learnerIdx, learner)
	s.learnerIDs[last] = ""
	s.recent[last] = nil
	s.learnerIDs, s.recent = s.learnerIDs[:last], s.recent[:last]
	return true
}

// Sequence snapshot: "LSSQ", a version byte, the configuration, per item
// its total weight and links, per learner the id and recent items, and a
// CRC-32 (IEEE) of everything before it (encoding as in the Model's).
const (
	sequenceMagic   = "LSSQ"
	sequenceVersion = 1
)

// MarshalBinary returns a snapshot of the rules and the learners' recent
// items.
func (s *Sequence) MarshalBinary() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64+len(s.links)*16+len(s.learnerIDs)*24)}
	e.b = append(e.b, sequenceMagic...)
	e.u8(sequenceVersion)
	c := s.cfg
	e.u32(uint32(c.Window))
	e.f64(c.With)
	e.u32(uint32(c.Recent))
	e.f64(c.Decay)
	e.u32(uint32(c.Fanout))
	e.f64(c.Smooth)
	e.uv(uint64(len(s.links)))
	for i, ls := range s.links {
		e.f32(s.total[i])
		e.uv(uint64(len(ls)))
		for _, l := range ls {
			e.uv(uint64(l.to))
			e.f32(l.next)
			e.f32(l.with)
		}
	}
	e.uv(uint64(len(s.learnerIDs)))
	for u, id := range s.learnerIDs {
		e.str(id)
		e.uv(uint64(len(s.recent[u])))
		for _, it := range s.recent[u] {
			e.uv(uint64(it))
		}
	}
	e.u32(crc32.ChecksumIEEE(e.b))
	return e.b, nil
}

// UnmarshalBinary replaces s with a snapshot made by MarshalBinary. It
// rejects a corrupt, truncated or inconsistent snapshot with ErrSnapshot and
// leaves s unchanged then.
func (s *Sequence) UnmarshalBinary(data []byte) error {
	if len(data) < len(sequenceMagic)+1+4 || string(data[:4]) != sequenceMagic {
		return fmt.Errorf("%w: not a sequence snapshot", ErrSnapshot)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: sequence checksum mismatch", ErrSnapshot)
	}
	d := &decoder{b: body[4:]}
	if v := d.u8(); v != sequenceVersion {
		return fmt.Errorf("%w: sequence version %d, want %d", ErrSnapshot, v, sequenceVersion)
	}
	var c SequenceConfig
	c.Window = int(d.u32())
	c.With = d.f64()
	c.Recent = int(d.u32())
	c.Decay = d.f64()
	c.Fanout = int(d.u32())
	c.Smooth = d.f64()
	if d.err != nil {
		return d.err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	n := &Sequence{cfg: c, learnerIdx: map[string]int32{}}
	good := func(w float32) bool { return w >= 0 && !math.IsInf(float64(w), 0) && !math.IsNaN(float64(w)) }
	items := d.count(5)
	n.grow(items)
	for i := 0; i < items && d.err == nil; i++ {
		n.total[i] = d.f32()
		if !good(n.total[i]) {
			d.fail("item %d: total weight %v", i, n.total[i])
		}
		nl := d.count(9)
		if nl > c.Fanout {
			d.fail("item %d: %d links, more than Fanout %d", i, nl, c.Fanout)
		}
		if nl > 0 && d.err == nil {
			n.links[i] = make([]link, 0, nl)
		}
		for x := 0; x < nl && d.err == nil; x++ {
			to := d.uv()
			l := link{next: d.f32(), with: d.f32()}
			if to >= uint64(items) || !good(l.next) || !good(l.with) {
				d.fail("item %d: link to %d of %d items, weights %v %v", i, to, items, l.next, l.with)
			}
			l.to = int32(to)
			n.links[i] = append(n.links[i], l)
		}
	}
	learners := d.count(2)
	for u := 0; u < learners && d.err == nil; u++ {
		id := d.str()
		if _, dup := n.learnerIdx[id]; dup {
			d.fail("learner %q twice", id)
		}
		nr := d.count(1)
		if nr > n.keep() {
			d.fail("learner %q: %d recent items, more than %d", id, nr, n.keep())
		}
		r := make([]int32, 0, n.keep())
		for x := 0; x < nr && d.err == nil; x++ {
			it := d.uv()
			if it >= uint64(items) {
				d.fail("learner %q: recent item %d of %d", id, it, items)
			}
			r = append(r, int32(it))
		}
		n.learnerIdx[id] = int32(u)
		n.learnerIDs = append(n.learnerIDs, id)
		n.recent = append(n.recent, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end of the sequence snapshot", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*s = *n
	return nil
}
