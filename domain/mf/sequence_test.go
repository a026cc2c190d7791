package mf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
)

func newSeq(t testing.TB, cfg SequenceConfig) *Sequence {
	t.Helper()
	s, err := NewSequence(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// feed adds each learner's path of item indices, learner by learner.
func feed(s *Sequence, paths map[string][]int32) {
	ids := make([]string, 0, len(paths))
	for id := range paths {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, it := range paths[id] {
			s.Add(id, it)
		}
	}
}

// ranked returns the items s scores for learner, best first (ties by index).
func ranked(s *Sequence, learner string, items int) []int32 {
	acc := make([]float32, items)
	touched := s.Score(learner, acc, nil)
	slices.SortFunc(touched, func(a, b int32) int {
		if acc[a] != acc[b] {
			if acc[a] > acc[b] {
				return -1
			}
			return 1
		}
		return int(a - b)
	})
	return touched
}

func TestSequenceConfigValidate(t *testing.T) {
	ok := DefaultSequenceConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*SequenceConfig)
		want string
	}{
		{"window 0", func(c *SequenceConfig) { c.Window = 0 }, "Window"},
		{"negative with", func(c *SequenceConfig) { c.With = -1 }, "With"},
		{"recent 0", func(c *SequenceConfig) { c.Recent = 0 }, "Recent"},
		{"decay 0", func(c *SequenceConfig) { c.Decay = 0 }, "Decay"},
		{"decay above 1", func(c *SequenceConfig) { c.Decay = 1.5 }, "Decay"},
		{"fanout 0", func(c *SequenceConfig) { c.Fanout = 0 }, "Fanout"},
		{"negative smooth", func(c *SequenceConfig) { c.Smooth = -0.1 }, "Smooth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := NewSequence(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestSequenceScores(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     func(*SequenceConfig)
		paths   map[string][]int32
		learner string
		want    []int32 // ranked items
		explain int32   // the top item's source
		next    bool
	}{
		{
			name:  "what most learners did next comes first",
			paths: map[string][]int32{"a": {0, 1}, "b": {0, 1}, "c": {0, 2}, "x": {5, 0}},
			cfg:   func(c *SequenceConfig) { c.Window = 1; c.Recent = 1 },
			// x's last item is 0; only it scores with Recent 1.
			learner: "x", want: []int32{1, 2}, explain: 0, next: true,
		},
		{
			name:    "the d-th previous item links with weight 1/d",
			paths:   map[string][]int32{"a": {0, 1, 2}, "x": {0}},
			cfg:     func(c *SequenceConfig) { c.Window = 2 },
			learner: "x", want: []int32{1, 2}, explain: 0, next: true,
		},
		{
			name:    "a window of 1 links only consecutive items",
			paths:   map[string][]int32{"a": {0, 1, 2}, "x": {0}},
			cfg:     func(c *SequenceConfig) { c.Window = 1 },
			learner: "x", want: []int32{1}, explain: 0, next: true,
		},
		{
			name:    "the last item counts more than older ones",
			paths:   map[string][]int32{"a": {0, 3}, "b": {1, 4}, "c": {0, 3}, "x": {0, 1}},
			cfg:     func(c *SequenceConfig) { c.Window = 1; c.Recent = 2; c.Decay = 0.5 },
			learner: "x", want: []int32{4, 3, 1}, explain: 1, next: true,
		},
		{
			name:    "co-occurrence links backwards with With",
			paths:   map[string][]int32{"a": {0, 1}, "x": {1}},
			cfg:     func(c *SequenceConfig) { c.Window = 1; c.With = 1 },
			learner: "x", want: []int32{0}, explain: 1, next: false,
		},
		{
			name:    "without With nothing links backwards",
			paths:   map[string][]int32{"a": {0, 1}, "x": {1}},
			cfg:     func(c *SequenceConfig) { c.Window = 1 },
			learner: "x", want: nil,
		},
		{
			name:    "repeating the last item changes nothing",
			paths:   map[string][]int32{"a": {0, 0, 0, 1}, "x": {0}},
			cfg:     func(c *SequenceConfig) { c.Window = 1 },
			learner: "x", want: []int32{1}, explain: 0, next: true,
		},
		{
			name:    "an unknown learner gets nothing",
			paths:   map[string][]int32{"a": {0, 1}},
			learner: "nobody", want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultSequenceConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s := newSeq(t, cfg)
			feed(s, tc.paths)
			got := ranked(s, tc.learner, 8)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ranked %v, want %v", got, tc.want)
			}
			if len(tc.want) == 0 {
				return
			}
			from, next, ok := s.Explain(tc.learner, tc.want[0])
			if !ok || from != tc.explain || next != tc.next {
				t.Fatalf("Explain(%d) = %d, next %v, %v; want %d, next %v", tc.want[0], from, next, ok, tc.explain, tc.next)
			}
		})
	}
}

func TestSequenceRecentOrder(t *testing.T) {
	cfg := DefaultSequenceConfig()
	cfg.Window, cfg.Recent = 3, 3
	s := newSeq(t, cfg)
	for _, it := range []int32{1, 2, 3, 2, 4, 4, 5} {
		s.Add("x", it)
	}
	// 2 moved to the end when repeated; the repeat of 4 changed nothing;
	// only the last three are kept.
	if got := s.Last("x"); !slices.Equal(got, []int32{2, 4, 5}) {
		t.Fatalf("Last = %v, want [2 4 5]", got)
	}
}

func TestSequenceFanoutKeepsStrongLinks(t *testing.T) {
	cfg := DefaultSequenceConfig()
	cfg.Window, cfg.Fanout = 1, 3
	s := newSeq(t, cfg)
	// 0 -> 1 is strong; 0 -> 2..9 are seen once each and fight for the
	// two other slots.
	for n := range 10 {
		s.Add(string(rune('a'+n)), 0)
		s.Add(string(rune('a'+n)), 1)
	}
	for j := int32(2); j < 10; j++ {
		s.Add("x"+string(rune('0'+j)), 0)
		s.Add("x"+string(rune('0'+j)), j)
	}
	if n := len(s.links[0]); n != 3 {
		t.Fatalf("%d links from item 0, want Fanout 3", n)
	}
	s.Add("probe", 0)
	if got := ranked(s, "probe", 10); len(got) == 0 || got[0] != 1 {
		t.Fatalf("ranked %v, want the strong link 1 first", got)
	}
}

func TestSequenceForget(t *testing.T) {
	s := newSeq(t, DefaultSequenceConfig())
	feed(s, map[string][]int32{"a": {0, 1}, "b": {0, 2}, "c": {1, 2}})
	before := ranked(s, "c", 4)
	if !s.Forget("a") || s.Forget("a") {
		t.Fatal("Forget reports the learner known once")
	}
	if s.Last("a") != nil || s.Learners() != 2 {
		t.Fatalf("a still known: %v, %d learners", s.Last("a"), s.Learners())
	}
	if got := ranked(s, "c", 4); !slices.Equal(got, before) {
		t.Fatalf("c ranked %v after forgetting a, want %v", got, before)
	}
	if got := s.Last("b"); !slices.Equal(got, []int32{0, 2}) {
		t.Fatalf("b (moved to a's index) remembers %v, want [0 2]", got)
	}
	s.Add("a", 3) // a new learner of the same id starts afresh
	if got := s.Last("a"); !slices.Equal(got, []int32{3}) {
		t.Fatalf("a again remembers %v", got)
	}
}

func TestSequenceSnapshot(t *testing.T) {
	cfg := DefaultSequenceConfig()
	cfg.With, cfg.Fanout = 0.5, 4
	paths := map[string][]int32{}
	for u := range 30 {
		id := string(rune('A' + u))
		for x := range 8 {
			paths[id] = append(paths[id], int32((u*3+x*x)%11))
		}
	}
	s := newSeq(t, cfg)
	feed(s, paths)
	snap, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := newSeq(t, DefaultSequenceConfig())
	if err := r.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if r.Config() != cfg {
		t.Fatalf("config %+v, want %+v", r.Config(), cfg)
	}
	// Both continue alike.
	more := map[string][]int32{"A": {1, 2}, "new": {3, 4, 5}}
	feed(s, more)
	feed(r, more)
	a, _ := s.MarshalBinary()
	b, _ := r.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Fatal("a restored Sequence diverges from the original")
	}
	for id := range paths {
		if !slices.Equal(ranked(s, id, 11), ranked(r, id, 11)) {
			t.Fatalf("%s ranked differently after restore", id)
		}
	}

	// Bad input: rejected with ErrSnapshot, the target unchanged.
	resign := func(b []byte) []byte {
		b = bytes.Clone(b[:len(b)-4])
		return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 0x10
	version := bytes.Clone(snap)
	version[4] = 9
	badCfg := bytes.Clone(snap)
	binary.LittleEndian.PutUint32(badCfg[5:], 0) // Window 0
	trailing := resign(append(bytes.Clone(snap[:len(snap)-4]), 0, 0, 0, 0, 0))
	// A link to an item beyond the catalogue: the first item's first link
	// target. Item 0 has links (every path revisits low items).
	off := 5 + 4 + 8 + 4 + 8 + 4 + 8 // magic, version, config
	items := snap[off]               // uvarint < 128
	outOfRange := bytes.Clone(snap)
	outOfRange[off+1+4+1] = items + 1 // item 0: total, link count, first target
	outOfRange = resign(outOfRange)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a sequence snapshot"},
		{"a model snapshot", []byte("LSMF\x01...."), "not a sequence snapshot"},
		{"flipped bit", flipped, "checksum"},
		{"truncated", snap[:len(snap)-7], "checksum"},
		{"version", resign(version), "version 9"},
		{"bad config", resign(badCfg), "Window"},
		{"trailing bytes", trailing, "after the end"},
		{"link out of range", outOfRange, "link to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := newSeq(t, DefaultSequenceConfig())
			feed(target, map[string][]int32{"z": {1, 2, 3}})
			before, _ := target.MarshalBinary()
			err := target.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrSnapshot with %q", err, tc.want)
			}
			if after, _ := target.MarshalBinary(); !bytes.Equal(before, after) {
				t.Fatal("a failed restore changed the Sequence")
			}
		})
	}
}

func TestSequenceHotPathDoesNotAllocate(t *testing.T) {
	s := newSeq(t, DefaultSequenceConfig())
	feed(s, map[string][]int32{"a": {0, 1, 2, 3}, "b": {1, 2, 3, 0}})
	acc := make([]float32, 4)
	touched := make([]int32, 0, 4)
	n := 0
	if a := testing.AllocsPerRun(200, func() {
		s.Add("a", int32(n%4)) // existing links only
		n++
		touched = s.Score("b", acc, touched[:0])
		for _, j := range touched {
			acc[j] = 0
		}
	}); a != 0 {
		t.Fatalf("%v allocations per Add+Score, want 0", a)
	}
}
