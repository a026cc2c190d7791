package streams

import (
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/domain/xapi"
)

// The recommender's content-based side (docs/recommendations.md,
// "Content-based and hybrid"): each tenant model keeps an mf.Content with
// the features of the catalog's activities, taken from the graph whenever
// the catalog changed, and of activities a statement announces before the
// catalog holds them (from the statement's definition). Learners with
// history are ranked by the hybrid of the collaborative blend and the
// features (mf.Content.MergeCandidates), so an activity nobody used yet is
// recommendable from its features at once.

// syncContent brings the tenant's item features up to date with the
// catalog graph. The catalog projection builds a new graph on every
// change, so an unchanged pointer means nothing to do.
func (tm *tenantModel) syncContent(g *graph.Graph) {
	if g == nil || g == tm.contentGraph {
		return
	}
	for _, id := range g.Activities() {
		a, _ := g.Activity(id)
		tm.content.SetItem(id, activityFeatures(g, a))
	}
	tm.contentGraph = g
}

// activityFeatures are an activity's content features: skills taught and
// assessed, type, duration bucket, parent and course (the top of the
// parent chain), title terms.
func activityFeatures(g *graph.Graph, a graph.Activity) []string {
	course := a.Parent
	for seen := 0; course != "" && seen < 64; seen++ { // the graph rejects loops; the bound is belt and braces
		p, ok := g.Activity(course)
		if !ok || p.Parent == "" {
			break
		}
		course = p.Parent
	}
	return mf.ItemFeatures(mf.ItemInfo{Type: string(a.Type), Title: a.Title, Duration: a.Duration,
		Skills: append(append([]string(nil), a.Teaches...), a.Assesses...), Parent: a.Parent, Course: course})
}

// announceContent gives an activity the catalog does not hold the
// features of its statement's definition (type and name), until the
// catalog's own entry replaces them.
func (tm *tenantModel) announceContent(act *xapi.Activity) {
	if act.Definition == nil || tm.content.HasFeatures(act.ID) {
		return
	}
	fs := mf.ItemFeatures(mf.ItemInfo{Type: act.Definition.Type, Title: firstName(act.Definition.Name)})
	if len(fs) > 0 {
		tm.content.SetItem(act.ID, fs)
	}
}

// candidates are the learner's candidates: for a learner with history,
// the hybrid of the collaborative blend (the model and the sequence rules)
// and the item features; the cold-start sources otherwise.
//
// The model leaves out the items in the learner's history, which holds
// their last Config.History items only: a learner who has completed more
// has completed items it forgot, which would come back as candidates for
// the re-ranker to drop, leaving the list short. Their completed items are
// left out as well then (only then: each costs a lookup).
func (tm *tenantModel) candidates(s *mf.Scratch, g *graph.Graph, learner, role string, n int) []mf.Candidate {
	tm.syncContent(g)
	var exclude []string
	if u, ok := tm.m.LookupUser(learner); ok && tm.m.HistoryLen(u) >= tm.m.Config().History {
		exclude = tm.aux.Completed[learner]
	}
	return tm.content.MergeCandidatesIn(s, tm.m, learner, tm.blend.CandidatesIn(s, tm.pop, learner, role, n, exclude), n, exclude)
}
