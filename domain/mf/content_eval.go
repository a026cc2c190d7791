package mf

import (
	"slices"
	"strings"
)

// ContentEval makes Prequential rank learners with history by the hybrid
// of the model and item features (Content.TopN) instead of the model alone.
type ContentEval struct {
	Config ContentConfig
	// Features are the items' features (item id -> feature names).
	Features map[string][]string
	// AtStart announces every item of Features before the first event (a
	// catalog published before anyone uses it: items can be recommended
	// before their first interaction); otherwise an item is announced
	// after its first event (as a statement announces an activity the
	// catalog does not hold).
	AtStart bool
	// Times, when an item has one, announce it when the stream reaches
	// that time (Event.Time), before the event is scored: a catalog that
	// publishes items on a schedule (OULAD: a presentation's assessments
	// at its start). It takes precedence over AtStart.
	Times map[string]float64
}

// contentRun is the hybrid's state during a prequential replay.
type contentRun struct {
	c      *Content
	o      *ContentEval
	top    []HybridScored
	collab []Scored
	// due are the items with announcement times, by time; next is the
	// first not yet announced.
	due  []string
	next int
}

func newContentRun(o *ContentEval, n int) (*contentRun, error) {
	if o == nil {
		return nil, nil
	}
	c, err := NewContent(o.Config)
	if err != nil {
		return nil, err
	}
	if o.AtStart {
		ids := make([]string, 0, len(o.Features))
		for id := range o.Features {
			if _, timed := o.Times[id]; !timed {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids) // deterministic item order
		for _, id := range ids {
			c.SetItem(id, o.Features[id])
		}
	}
	r := &contentRun{c: c, o: o, top: make([]HybridScored, 0, n)}
	for id := range o.Times {
		if len(o.Features[id]) > 0 {
			r.due = append(r.due, id)
		}
	}
	slices.SortFunc(r.due, func(a, b string) int {
		if c := cmpTime(o.Times[a], o.Times[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return r, nil
}

func cmpTime(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// advance announces the items whose time has come.
func (r *contentRun) advance(t float64) {
	if r == nil {
		return
	}
	for ; r.next < len(r.due) && r.o.Times[r.due[r.next]] <= t; r.next++ {
		id := r.due[r.next]
		r.c.SetItem(id, r.o.Features[id])
	}
}

// rankable reports whether the hybrid can rank an item the model does not
// know: it was announced with features.
func (r *contentRun) rankable(id string) bool { return r != nil && r.c.HasFeatures(id) }

// rank ranks learner u (with history) by the hybrid.
func (r *contentRun) rank(m *Model, u int32, n int, exclude []int32) {
	r.top = r.c.TopN(m, u, n, exclude, r.top)
}

// merge ranks learner u by the hybrid over the blend's candidates.
func (r *contentRun) merge(m *Model, u int32, blended []Blended, n int, exclude []int32) {
	r.collab = r.collab[:0]
	for _, x := range blended {
		r.collab = append(r.collab, Scored{Item: x.Item, Score: x.Score})
	}
	r.top = r.c.Merge(m, u, r.collab, n, exclude, r.top)
}

// rankOf is the rank of an item in the last list, -1 when absent.
func (r *contentRun) rankOf(id string) int {
	i, ok := r.c.LookupItem(id)
	if !ok {
		return -1
	}
	for n, h := range r.top {
		if h.Item == i {
			return n
		}
	}
	return -1
}

// learned announces an item after its first event when it was not
// announced yet (as a statement announces an activity the catalog does not
// hold).
func (r *contentRun) learned(id string) {
	if r == nil || r.c.HasFeatures(id) {
		return
	}
	if fs := r.o.Features[id]; len(fs) > 0 {
		r.c.SetItem(id, fs)
	}
}
