package mf

import (
	"context"
	"math"
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
	res := EvalResult{N: opts.N}
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
	var modelDur, baseDur, updDur time.Duration
	wall := time.Now()
	for n, ev := range events {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		t0 := time.Now()
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
			} else {
				top = m.TopN(u, opts.N, hist, top)
			}
			t1 := time.Now()
			btop = pop.TopN("", opts.N, hist, btop)
			t2 := time.Now()
			baseDur += t2.Sub(t1)
			modelDur -= t2.Sub(t1)
			if !iok {
				res.NewItem++
			} else {
				mr, br = rankOf(top, i), rankOf(btop, i)
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
		}
		if !uok {
			u = m.AddUser(ev.User)
			seen = append(seen, nil)
		}
		if !iok {
			i = m.AddItem(ev.Item)
		}
		tu := time.Now()
		m.Update(u, i, float32(ev.Weight))
		t3 := time.Now()
		updDur += t3.Sub(tu)
		modelDur += t3.Sub(t0)
		pop.Add(i, "", 1)
		baseDur += time.Since(t3)
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
