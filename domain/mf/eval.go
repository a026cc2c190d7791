package mf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// EvalOptions tune Prequential.
type EvalOptions struct {
	// N is the length of the ranked list (default 10).
	N int
	// Model configures the evaluated model.
	Model Config
	// Hook, when set, is called after each event with the rank (0-based) of
	// the true item in the model's list, -1 for a miss, and whether the
	// event was scored at all. It lets callers break metrics down.
	Hook func(ev Event, scored bool, modelRank, baselineRank int)
	// Blend, when set, ranks learners with history as the recommender
	// does: by the Blender of the model and a Sequence (nil: the model
	// alone).
	Blend *BlendConfig
	// Windows is the number of points of the prequential curve (default
	// DefaultWindows).
	Windows int
	// Content, when set, ranks learners with history by the hybrid of the
	// model (or of Blend) and item features (content_eval.go).
	Content *ContentEval
}

// DefaultWindows is the default number of windows of the prequential curve.
const DefaultWindows = 50

// NewItemInteractions is the threshold of the new-item split: an item with
// fewer prior interactions than this is new (cold-start items).
const NewItemInteractions = 50

// HistoryBuckets name the splits by the learner's number of prior events in
// the stream (repeats included) at the scored event; HistoryBucket maps a
// count to its index. The bounds follow the reporting: cold, one
// event, a few, a session's worth, a course's worth, a long history.
var HistoryBuckets = [...]string{"0", "1", "2-5", "6-20", "21-100", ">100"}

// HistoryBucket returns the index in HistoryBuckets of a learner with prior
// events.
func HistoryBucket(prior int) int {
	switch {
	case prior <= 0:
		return 0
	case prior == 1:
		return 1
	case prior <= 5:
		return 2
	case prior <= 20:
		return 3
	case prior <= 100:
		return 4
	}
	return 5
}

// Metrics are ranking-quality figures over the scored events.
type Metrics struct {
	Hits   int     `json:"hits"`
	Recall float64 `json:"recall_at_n"` // hits / scored events
	NDCG   float64 `json:"ndcg_at_n"`   // mean of 1/log2(rank+2) for hits, 0 for misses
}

func (mt *Metrics) finish(n int) {
	if n > 0 {
		mt.Recall = float64(mt.Hits) / float64(n)
		mt.NDCG /= float64(n)
	}
}

// Split is the model and the popularity baseline over a subset of the
// scored events.
type Split struct {
	Scored   int     `json:"scored"`
	Model    Metrics `json:"model"`
	Baseline Metrics `json:"baseline"`
}

func (sp *Split) add(mr, br int, gain []float64) {
	sp.Scored++
	if mr >= 0 {
		sp.Model.Hits++
		sp.Model.NDCG += gain[mr]
	}
	if br >= 0 {
		sp.Baseline.Hits++
		sp.Baseline.NDCG += gain[br]
	}
}

func (sp *Split) finish() {
	sp.Model.finish(sp.Scored)
	sp.Baseline.finish(sp.Scored)
}

// HistorySplits are the splits by HistoryBuckets. In JSON they are one
// object keyed by bucket name, in bucket order.
type HistorySplits [len(HistoryBuckets)]Split

// MarshalJSON writes {"0":{...},"1":{...},...,">100":{...}}.
func (h HistorySplits) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, sp := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(HistoryBuckets[i]))
		b.WriteByte(':')
		v, err := json.Marshal(sp)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown buckets are an error.
func (h *HistorySplits) UnmarshalJSON(data []byte) error {
	var m map[string]Split
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var out HistorySplits
	for k, sp := range m {
		i := -1
		for j, name := range HistoryBuckets {
			if name == k {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("by_history: unknown bucket %q (want one of %q)", k, HistoryBuckets)
		}
		out[i] = sp
	}
	*h = out
	return nil
}

// CurvePoint is one window of the prequential curve.
type CurvePoint struct {
	// Start and End bound the window: times when By is "time" (End of the
	// last window included), event positions (0-based, End excluded) when
	// By is "events".
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Events is the number of events in the window.
	Events int `json:"events"`
	Split
}

// Curve is the prequential curve: the stream cut into windows of equal
// width in time (By "time") when its events carry distinct times, else of
// equal event counts (By "events").
type Curve struct {
	By     string       `json:"by"`
	Points []CurvePoint `json:"points"`
}

// Windower assigns events to the windows of a Curve. Peers outside Go
// (bench/recommend/peers.py) compute the same assignment with the same
// float operations, so their curves line up with the model's.
type Windower struct {
	byTime     bool
	t0, t1     float64
	n, windows int
}

// NewWindower cuts events into windows (at most windows of them).
func NewWindower(events []Event, windows int) Windower {
	if windows <= 0 {
		windows = DefaultWindows
	}
	w := Windower{n: len(events), windows: windows}
	if len(events) > 0 {
		w.t0, w.t1 = events[0].Time, events[len(events)-1].Time
		w.byTime = w.t1 > w.t0
	}
	if !w.byTime && w.n < windows {
		w.windows = max(w.n, 1)
	}
	return w
}

// Window returns the window of the event at position pos with time t.
func (w Windower) Window(pos int, t float64) int {
	var k int
	if w.byTime {
		k = int((t - w.t0) / (w.t1 - w.t0) * float64(w.windows))
	} else {
		k = int(int64(pos) * int64(w.windows) / int64(max(w.n, 1)))
	}
	return min(max(k, 0), w.windows-1)
}

// Curve returns the empty curve with the windows' bounds.
func (w Windower) Curve() Curve {
	c := Curve{By: "events", Points: make([]CurvePoint, w.windows)}
	if w.byTime {
		c.By = "time"
	}
	for k := range c.Points {
		p := &c.Points[k]
		if w.byTime {
			p.Start = w.t0 + (w.t1-w.t0)*float64(k)/float64(w.windows)
			p.End = w.t0 + (w.t1-w.t0)*float64(k+1)/float64(w.windows)
		} else {
			p.Start = float64(int64(k) * int64(w.n) / int64(w.windows))
			p.End = float64(int64(k+1) * int64(w.n) / int64(w.windows))
		}
	}
	return c
}

// EvalResult is the outcome of a prequential run.
type EvalResult struct {
	N int
	// Events is the number of events replayed (all were learned).
	Events int
	// Scored is the number of events that were scored: the first
	// interaction of a learner with an item (repeats are learned only).
	Scored int
	// ColdStart counts scored events whose learner had no history yet (the
	// model then ranks by popularity, like the deployed recommender).
	ColdStart int
	// NewItem counts scored events whose item had never been seen (a miss
	// for every model).
	NewItem int
	// Users and Items at the end.
	Users, Items int
	// Model and Baseline (global popularity) quality.
	Model, Baseline Metrics
	// ColdModel and ColdBaseline are the same over the cold-start events only.
	ColdModel, ColdBaseline Metrics
	// ModelSeconds is the time the model spent ranking and learning;
	// BaselineSeconds the same for the popularity baseline.
	ModelSeconds, BaselineSeconds float64
	// EventsPerSecond is Events / ModelSeconds.
	EventsPerSecond, BaselineEventsPerSecond float64
	// UpdateSeconds is the part of ModelSeconds spent learning (Update);
	// UpdatesPerSecond is Events / UpdateSeconds.
	UpdateSeconds, UpdatesPerSecond float64
	// WallSeconds is the duration of the whole replay.
	WallSeconds float64

	// ByHistory splits the scored events by the learner's number of prior
	// events in the stream (repeats included): see HistoryBuckets.
	ByHistory HistorySplits `json:"by_history"`
	// NewItems are the scored events whose item had fewer than
	// NewItemInteractions prior interactions (0 included: such an event is
	// a miss for every model), the cold-start-item recall.
	NewItems Split `json:"new_items"`
	// Curve is recall and NDCG per window of the stream, for drift.
	Curve Curve `json:"curve"`
}

// Prequential replays events in order. For each event it ranks the top N
// items for the learner with the model and with global popularity, leaving
// out the items the learner already interacted with, records whether the
// true item is in each list (recall@N) and where (NDCG@N), and then learns
// the event. The model ranks learners without history by its learned item
// biases (a popularity that follows recent events; see Model.TopNBias), or
// by global popularity without biases (HasBias). Items never seen before the
// event are not rankable and count as misses.
func Prequential(ctx context.Context, events []Event, opts EvalOptions) (EvalResult, error) {
	if opts.N <= 0 {
		opts.N = 10
	}
	m, err := New(opts.Model)
	if err != nil {
		return EvalResult{}, err
	}
	var blend *Blender
	var btopBlend []Blended
	if opts.Blend != nil {
		s, err := NewSequence(opts.Blend.Sequence)
		if err != nil {
			return EvalResult{}, err
		}
		if blend, err = NewBlender(m, s, *opts.Blend); err != nil {
			return EvalResult{}, err
		}
		btopBlend = make([]Blended, 0, opts.N)
	}
	res := EvalResult{N: opts.N}
	hybrid, err := newContentRun(opts.Content, opts.N)
	if err != nil {
		return EvalResult{}, err
	}
	pop := NewPopularity() // baseline and the model's cold-start fallback
	seen := [][]int32{}    // per learner index: items interacted with
	top := make([]Scored, 0, opts.N)
	btop := make([]Scored, 0, opts.N)
	gain := make([]float64, opts.N)
	for r := range gain {
		gain[r] = 1 / math.Log2(float64(r)+2)
	}
	rankOf := func(list []Scored, item int32) int {
		for r, s := range list {
			if s.Item == item {
				return r
			}
		}
		return -1
	}
	// Split bookkeeping, indexed like the model's learners and items.
	var (
		priorEvents []int32 // per learner: events so far, repeats included
		itemEvents  []int32 // per item: events so far
	)
	win := NewWindower(events, opts.Windows)
	res.Curve = win.Curve()
	var modelDur, baseDur, updDur time.Duration
	wall := time.Now()
	for n, ev := range events {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		t0 := time.Now()
		hybrid.advance(ev.Time)
		u, uok := m.LookupUser(ev.User)
		i, iok := m.LookupItem(ev.Item)
		var hist []int32
		if uok {
			hist = seen[u]
		}
		repeat := false
		if uok && iok {
			for _, j := range hist {
				if j == i {
					repeat = true
					break
				}
			}
		}
		mr, br := -1, -1
		cold := false
		if !repeat {
			res.Scored++
			if !uok || m.HistoryLen(u) == 0 {
				cold = true
				res.ColdStart++
				top = m.TopNBias(opts.N, hist, top)
				if len(top) == 0 {
					top = pop.TopN("", opts.N, hist, top)
				}
			} else if hybrid != nil && blend != nil {
				btopBlend = blend.TopN(u, max(opts.N, opts.Blend.Pool), hist, btopBlend)
				hybrid.merge(m, u, btopBlend, opts.N, hist)
			} else if hybrid != nil {
				hybrid.rank(m, u, opts.N, hist)
			} else if blend != nil {
				btopBlend = blend.TopN(u, opts.N, hist, btopBlend)
				top = top[:0]
				for _, x := range btopBlend {
					top = append(top, Scored{Item: x.Item, Score: x.Score})
				}
			} else {
				top = m.TopN(u, opts.N, hist, top)
			}
			t1 := time.Now()
			btop = pop.TopN("", opts.N, hist, btop)
			t2 := time.Now()
			baseDur += t2.Sub(t1)
			modelDur -= t2.Sub(t1)
			if !iok && !(hybrid.rankable(ev.Item) && !cold) {
				res.NewItem++
			} else {
				if hybrid != nil && !cold {
					mr = hybrid.rankOf(ev.Item)
				} else {
					mr = rankOf(top, i)
				}
				if iok {
					br = rankOf(btop, i)
				}
			}
			if mr >= 0 {
				res.Model.Hits++
				res.Model.NDCG += gain[mr]
				if cold {
					res.ColdModel.Hits++
					res.ColdModel.NDCG += gain[mr]
				}
			}
			if br >= 0 {
				res.Baseline.Hits++
				res.Baseline.NDCG += gain[br]
				if cold {
					res.ColdBaseline.Hits++
					res.ColdBaseline.NDCG += gain[br]
				}
			}
		}
		if !uok {
			u = m.AddUser(ev.User)
			seen = append(seen, nil)
			priorEvents = append(priorEvents, 0)
		}
		if !iok {
			i = m.AddItem(ev.Item)
			for int(i) >= len(itemEvents) {
				itemEvents = append(itemEvents, 0)
			}
		}
		tu := time.Now()
		if blend != nil {
			blend.Learn(u, i, float32(ev.Weight))
		} else {
			m.Update(u, i, float32(ev.Weight))
		}
		t3 := time.Now()
		updDur += t3.Sub(tu)
		modelDur += t3.Sub(t0)
		pop.Add(i, "", 1)
		baseDur += time.Since(t3)
		hybrid.learned(ev.Item)
		// The splits, outside the timed part. A learner or item new to the
		// stream has 0 prior events (it was just added).
		point := &res.Curve.Points[win.Window(n, ev.Time)]
		point.Events++
		if !repeat {
			res.ByHistory[HistoryBucket(int(priorEvents[u]))].add(mr, br, gain)
			if itemEvents[i] < NewItemInteractions {
				res.NewItems.add(mr, br, gain)
			}
			point.add(mr, br, gain)
		}
		priorEvents[u]++
		itemEvents[i]++
		if !repeat {
			seen[u] = append(seen[u], i)
		}
		if opts.Hook != nil {
			opts.Hook(ev, !repeat, mr, br)
		}
	}
	res.WallSeconds = time.Since(wall).Seconds()
	res.Events = len(events)
	res.Users, res.Items = m.Users(), m.Items()
	for _, mt := range []*Metrics{&res.Model, &res.Baseline} {
		mt.finish(res.Scored)
	}
	for _, mt := range []*Metrics{&res.ColdModel, &res.ColdBaseline} {
		mt.finish(res.ColdStart)
	}
	for b := range res.ByHistory {
		res.ByHistory[b].finish()
	}
	res.NewItems.finish()
	for k := range res.Curve.Points {
		res.Curve.Points[k].finish()
	}
	res.ModelSeconds, res.BaselineSeconds = modelDur.Seconds(), baseDur.Seconds()
	if res.ModelSeconds > 0 {
		res.EventsPerSecond = float64(res.Events) / res.ModelSeconds
	}
	res.UpdateSeconds = updDur.Seconds()
	if res.UpdateSeconds > 0 {
		res.UpdatesPerSecond = float64(res.Events) / res.UpdateSeconds
	}
	if res.BaselineSeconds > 0 {
		res.BaselineEventsPerSecond = float64(res.Events) / res.BaselineSeconds
	}
	return res, nil
}
