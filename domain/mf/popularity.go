package mf

// Popularity counts interactions per item, globally and per group (a role,
// a team, a skill...), and ranks items by count. It serves cold-start
// learners and is the baseline of the evaluation. Items are the dense
// indices of a Model (or any other dense numbering). Add costs O(log n)
// plus the number of equal-count items passed; TopN walks the ranking from
// the top and does not allocate once dst has capacity n.
type Popularity struct {
	global popList
	groups map[string]*popList
	mask   []uint64
}

// popList keeps items ordered by count, descending; among equal counts the
// item that reached the count first comes first.
type popList struct {
	count []float64 // by item
	order []int32   // ranking
	pos   []int32   // pos[item] in order, -1 when absent
	total float64
}

// NewPopularity returns an empty popularity model.
func NewPopularity() *Popularity { return &Popularity{groups: map[string]*popList{}} }

// Add counts an interaction of weight w (> 0; typically 1) with item, in the
// global ranking and, when group is not empty, in the group's ranking.
func (p *Popularity) Add(item int32, group string, w float64) {
	if !(w > 0) || item < 0 {
		return
	}
	if need := int(item)/64 + 1; need > len(p.mask) {
		p.mask = append(p.mask, make([]uint64, need-len(p.mask))...)
	}
	p.global.add(item, w)
	if group != "" {
		g := p.groups[group]
		if g == nil {
			g = &popList{}
			p.groups[group] = g
		}
		g.add(item, w)
	}
}

func (l *popList) add(item int32, w float64) {
	for int(item) >= len(l.count) {
		l.count = append(l.count, 0)
		l.pos = append(l.pos, -1)
	}
	at := l.pos[item]
	if at < 0 {
		at = int32(len(l.order))
		l.order = append(l.order, item)
		l.pos[item] = at
	}
	c := l.count[item] + w
	l.count[item] = c
	l.total += w
	// First position among order[:at] whose count is below c.
	lo, hi := int32(0), at
	for lo < hi {
		mid := int32(uint32(lo+hi) >> 1)
		if l.count[l.order[mid]] < c {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	to := lo
	if to < at {
		copy(l.order[to+1:at+1], l.order[to:at])
		l.order[to] = item
		for x := to; x <= at; x++ {
			l.pos[l.order[x]] = x
		}
	}
}

// Count returns the weighted count of item, globally (group "") or in a group.
func (p *Popularity) Count(item int32, group string) float64 {
	l := p.list(group)
	if l == nil || int(item) >= len(l.count) || item < 0 {
		return 0
	}
	return l.count[item]
}

// Total returns the total weight added, globally (group "") or in a group.
func (p *Popularity) Total(group string) float64 {
	if l := p.list(group); l != nil {
		return l.total
	}
	return 0
}

// HasGroup reports whether a group has any interaction.
func (p *Popularity) HasGroup(group string) bool { return p.groups[group] != nil }

func (p *Popularity) list(group string) *popList {
	if group == "" {
		return &p.global
	}
	return p.groups[group]
}

// TopN appends to dst[:0] the n most popular items, globally (group "") or
// in a group, leaving out the items in exclude. The score is the count.
func (p *Popularity) TopN(group string, n int, exclude []int32, dst []Scored) []Scored {
	dst = dst[:0]
	l := p.list(group)
	if l == nil || n <= 0 {
		return dst
	}
	for _, e := range exclude {
		if e >= 0 && int(e)/64 < len(p.mask) {
			p.mask[e>>6] |= 1 << (uint(e) & 63)
		}
	}
	for _, it := range l.order {
		if p.mask[it>>6]&(1<<(uint(it)&63)) != 0 {
			continue
		}
		dst = append(dst, Scored{Item: it, Score: float32(l.count[it])})
		if len(dst) == n {
			break
		}
	}
	for _, e := range exclude {
		if e >= 0 && int(e)/64 < len(p.mask) {
			p.mask[e>>6] = 0
		}
	}
	return dst
}
