package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/adaptive"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
)

// AdaptiveReader is what the adaptive endpoints read of the adaptive read
// model (projections.Adaptive).
type AdaptiveReader interface {
	LearnerSkills(ctx context.Context, tenant, learner string) ([]projections.SkillMastery, error)
	LearnerItems(ctx context.Context, tenant, learner string) ([]projections.LearnerItem, error)
	LearnerAbility(ctx context.Context, tenant, learner string) (float64, bool, error)
	Items(ctx context.Context, tenant string, items []string) (map[string]projections.ItemDifficulty, error)
	ItemLearners(ctx context.Context, tenant string, items map[string]bool) (map[string][]projections.LearnerItem, error)
	Threshold() float64
}

// GraphReader gives a tenant's catalog graph.
type GraphReader interface {
	Graph(tenant string) (*graph.Graph, error)
}

// AdaptiveModule serves mastery, the next item at the target difficulty,
// effect evaluation in learner progress, and course effectiveness.
type AdaptiveModule struct {
	Adaptive AdaptiveReader
	Catalog  GraphReader
	// Progress, when set, adds the progress read model's completions
	// (completed or passed activities) to the adaptive model's.
	Progress ProgressReader
	// Target is the next-item policy; the zero value means
	// adaptive.DefaultTarget() (target success 0.7).
	Target adaptive.TargetConfig
	// Consents, when set: for a learner who withdrew consent to
	// personalisation, next answers as for a new learner (the prior
	// ability, no history) and says so.
	Consents interface {
		Consent(ctx context.Context, tenant, learner string) (projections.ConsentState, error)
	}
	Logger *slog.Logger
}

// Register adds the adaptive routes. GET /v1/learners/{learner}/progress
// stays the server's; this module extends its answer (ExtendProgress).
func (m *AdaptiveModule) Register(r Router) {
	read := []string{"all", "all/read"}
	r.Handle("GET /v1/learners/{learner}/mastery", m.mastery, read...)
	r.Handle("GET /v1/learners/{learner}/next", m.next, read...)
	r.Handle("GET /v1/courses/{id}/effectiveness", m.effectiveness, read...)
}

func (m *AdaptiveModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

func (m *AdaptiveModule) fail(w http.ResponseWriter, what string, err error) {
	m.log().Error("adaptive api: "+what, "err", err)
	writePlainError(w, http.StatusInternalServerError, "could not read "+what)
}

// round4 keeps answers readable; the read model keeps full precision.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

type skillOut struct {
	Skill        string                     `json:"skill"`
	PMastery     float64                    `json:"p_mastery"`
	Ability      float64                    `json:"ability"`
	Attempts     int                        `json:"attempts"`
	Correct      int                        `json:"correct"`
	Mastered     bool                       `json:"mastered"`
	MasteredAt   *time.Time                 `json:"mastered_at"`
	FirstAt      time.Time                  `json:"first_at"`
	LastAt       time.Time                  `json:"last_at"`
	FirstCorrect bool                       `json:"first_correct"`
	Trajectory   []projections.MasteryPoint `json:"trajectory"`
}

func (m *AdaptiveModule) mastery(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	skills, err := m.Adaptive.LearnerSkills(r.Context(), Tenant(r), learner)
	if err != nil {
		m.fail(w, "mastery", err)
		return
	}
	th := m.Adaptive.Threshold()
	out := make([]skillOut, 0, len(skills))
	for _, s := range skills {
		tr := s.Trajectory
		if tr == nil {
			tr = []projections.MasteryPoint{}
		}
		out = append(out, skillOut{Skill: s.Skill, PMastery: round4(s.PMastery), Ability: round4(s.Ability), Attempts: s.Attempts,
			Correct: s.Correct, Mastered: s.PMastery >= th, MasteredAt: s.MasteredAt, FirstAt: s.FirstAt, LastAt: s.LastAt,
			FirstCorrect: s.FirstCorrect, Trajectory: tr})
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"learner": learner, "threshold": th, "skills": out})
}

// completedItems are the items a learner has completed: answered correctly
// at least once (adaptive read model), or completed or passed (progress
// read model, when the process has it).
func (m *AdaptiveModule) completedItems(ctx context.Context, tenant, learner string, items []projections.LearnerItem, progress []projections.ActivityProgress) (map[string]bool, error) {
	done := map[string]bool{}
	for _, li := range items {
		if li.Correct > 0 {
			done[li.Item] = true
		}
	}
	if progress == nil && m.Progress != nil {
		var err error
		if progress, err = m.Progress.Learner(ctx, tenant, learner); err != nil {
			return nil, err
		}
	}
	for _, p := range progress {
		if p.Completed || p.Passed {
			done[p.Activity] = true
		}
	}
	return done, nil
}

type candidateOut struct {
	Item             string  `json:"item"`
	Title            string  `json:"title,omitempty"`
	PredictedSuccess float64 `json:"predicted_success"`
	Difficulty       float64 `json:"difficulty"`
	ItemAttempts     int     `json:"item_attempts"`
}

func (m *AdaptiveModule) next(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	q := r.URL.Query()
	skill := q.Get("skill")
	if skill == "" {
		WriteFieldError(w, "skill", "query parameter skill is required (the skill to practise)")
		return
	}
	cfg := m.Target
	if cfg == (adaptive.TargetConfig{}) {
		cfg = adaptive.DefaultTarget()
	}
	if v := q.Get("target"); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil || !(t > 0 && t < 1) {
			WriteFieldError(w, "target", fmt.Sprintf("must be a success probability strictly between 0 and 1 (got %q)", v))
			return
		}
		// An explicit target widens the bounds rather than being clamped
		// back to the default range without notice.
		cfg.Target, cfg.Min, cfg.Max = t, min(cfg.Min, t), max(cfg.Max, t)
	}
	tenant := Tenant(r)
	g, err := m.Catalog.Graph(tenant)
	if err != nil {
		m.fail(w, "the catalog", err)
		return
	}
	if _, ok := g.Skill(skill); !ok {
		writePlainError(w, http.StatusNotFound, fmt.Sprintf("skill %q does not exist", skill))
		return
	}
	ctx := r.Context()
	personal := true
	if m.Consents != nil {
		c, err := m.Consents.Consent(ctx, tenant, learner)
		if err != nil {
			m.fail(w, "consent", err)
			return
		}
		personal = c.Personalisation
	}
	var skills []projections.SkillMastery
	done := map[string]bool{}
	if personal {
		if skills, err = m.Adaptive.LearnerSkills(ctx, tenant, learner); err != nil {
			m.fail(w, "mastery", err)
			return
		}
		items, err := m.Adaptive.LearnerItems(ctx, tenant, learner)
		if err != nil {
			m.fail(w, "attempts", err)
			return
		}
		if done, err = m.completedItems(ctx, tenant, learner, items, nil); err != nil {
			m.fail(w, "progress", err)
			return
		}
	}
	// The learner's ability on the skill: the skill's Elo rating when they
	// practised it, else their global rating, else 0 (a new learner).
	var ability float64
	var recent adaptive.Recent
	abilitySource := "skill"
	found := false
	for _, s := range skills {
		if s.Skill == skill {
			ability, found = s.Ability, true
			recent = adaptive.Recent{SuccessRate: s.RecentSuccess, Attempts: s.RecentAttempts}
		}
	}
	if !found && personal {
		abilitySource = "global"
		if ability, found, err = m.Adaptive.LearnerAbility(ctx, tenant, learner); err != nil {
			m.fail(w, "ability", err)
			return
		}
	}
	if !found {
		abilitySource = "prior"
	}
	var open []string
	for _, id := range g.AssessorsOf(skill) {
		if !done[id] {
			open = append(open, id)
		}
	}
	resp := map[string]any{"learner": learner, "skill": skill, "requested_target": cfg.Target, "ability": round4(ability),
		"ability_source": abilitySource, "recent_success": round4(recent.SuccessRate), "recent_attempts": round4(recent.Attempts)}
	if len(open) == 0 {
		reason := fmt.Sprintf("no catalog activity assesses %s", skill)
		if len(g.AssessorsOf(skill)) > 0 {
			reason = fmt.Sprintf("the learner has completed every activity assessing %s", skill)
		}
		resp["target"], resp["item"], resp["candidates"], resp["reasons"] = cfg.AdjustedTarget(recent), nil, []candidateOut{}, []string{reason}
		writePlainJSON(w, http.StatusOK, resp)
		return
	}
	diffs, err := m.Adaptive.Items(ctx, tenant, open)
	if err != nil {
		m.fail(w, "item difficulties", err)
		return
	}
	cands := make([]adaptive.Candidate, len(open))
	outs := make([]candidateOut, len(open))
	for i, id := range open {
		d := diffs[id]
		p := adaptive.EloPredict(ability, d.Difficulty, 0)
		cands[i] = adaptive.Candidate{Item: int32(i), P: p}
		a, _ := g.Activity(id)
		outs[i] = candidateOut{Item: id, Title: a.Title, PredictedSuccess: round4(p), Difficulty: round4(d.Difficulty), ItemAttempts: d.Attempts}
	}
	best, target, err := adaptive.PickTarget(cfg, recent, cands)
	if err != nil {
		m.fail(w, "the target policy", err)
		return
	}
	pick := outs[best]
	reasons := []string{fmt.Sprintf("predicted success %.2f is the closest of %d open items to the target %.2f", pick.PredictedSuccess, len(open), target)}
	if target != cfg.Target {
		reasons = append(reasons, fmt.Sprintf("target adjusted from %.2f for a recent success rate of %.2f over %.1f recent attempts", cfg.Target, recent.SuccessRate, recent.Attempts))
	}
	if pick.ItemAttempts == 0 {
		reasons = append(reasons, "new item: its difficulty is the prior 0 until someone attempts it")
	}
	reasons = append(reasons, fmt.Sprintf("assesses %s and is not completed yet", skill))
	if !personal {
		reasons = append(reasons, "not personalised: the learner withdrew consent to personalisation, so the prior ability of a new learner is used and their history is not")
	}
	resp["target"], resp["item"], resp["title"] = round4(target), pick.Item, pick.Title
	resp["predicted_success"], resp["difficulty"], resp["candidates"], resp["reasons"] = pick.PredictedSuccess, pick.Difficulty, outs, reasons
	writePlainJSON(w, http.StatusOK, resp)
}

// skillEffect is the effect evaluation of one learner on one skill.
type skillEffect struct {
	Skill         string                     `json:"skill"`
	PMastery      float64                    `json:"p_mastery"`
	PInitial      float64                    `json:"p_initial"`
	MasteryGain   float64                    `json:"mastery_gain"`
	Attempts      int                        `json:"attempts"`
	Pre           *float64                   `json:"pre"`
	Post          *float64                   `json:"post"`
	ScoreGain     *float64                   `json:"score_gain"`
	Mastered      bool                       `json:"mastered"`
	MasteredAt    *time.Time                 `json:"mastered_at"`
	TimeToMastery *float64                   `json:"time_to_mastery_seconds"`
	Trajectory    []projections.MasteryPoint `json:"trajectory"`
}

func effectOf(s projections.SkillMastery, threshold float64) skillEffect {
	e := skillEffect{Skill: s.Skill, PMastery: round4(s.PMastery), PInitial: round4(s.PInitial), MasteryGain: round4(s.PMastery - s.PInitial),
		Attempts: s.Attempts, Mastered: s.PMastery >= threshold, MasteredAt: s.MasteredAt, Trajectory: s.Trajectory}
	if e.Trajectory == nil {
		e.Trajectory = []projections.MasteryPoint{}
	}
	if pre, post, ok := s.Gain(); ok {
		pre, post = round4(pre), round4(post)
		gain := round4(post - pre)
		e.Pre, e.Post, e.ScoreGain = &pre, &post, &gain
	}
	if d, ok := s.TimeToMastery(); ok {
		e.TimeToMastery = seconds(d)
	}
	return e
}

// courseEffect is the effect evaluation of one learner in one course.
type courseEffect struct {
	Course         string   `json:"course"`
	Title          string   `json:"title,omitempty"`
	Skills         []string `json:"skills"`
	Items          int      `json:"items"`
	ItemsAttempted int      `json:"items_attempted"`
	ItemsCompleted int      `json:"items_completed"`
	Completed      bool     `json:"completed"`
	SkillsMastered int      `json:"skills_mastered"`
	Pre            *float64 `json:"pre"`
	Post           *float64 `json:"post"`
	ScoreGain      *float64 `json:"score_gain"`
	MasteryGain    *float64 `json:"mastery_gain"`
	// TimeToMastery is from the first attempt on any course skill until
	// the last course skill reached the threshold; null until all have.
	TimeToMastery *float64 `json:"time_to_mastery_seconds"`
}

// courseContent is a course's activities (all descendants) and the skills
// they and the course assess or teach.
type courseContent struct {
	id       string
	title    string
	children []string
	skills   []string
}

func contentOf(g *graph.Graph, course string) courseContent {
	a, _ := g.Activity(course)
	c := courseContent{id: course, title: a.Title}
	seen := map[string]bool{course: true}
	skills := map[string]bool{}
	addSkills := func(id string) {
		a, _ := g.Activity(id)
		for _, s := range append(slices.Clone(a.Assesses), a.Teaches...) {
			skills[s] = true
		}
	}
	addSkills(course)
	stack := g.Children(course)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[id] {
			continue
		}
		seen[id] = true
		c.children = append(c.children, id)
		addSkills(id)
		stack = append(stack, g.Children(id)...)
	}
	sort.Strings(c.children)
	for s := range skills {
		c.skills = append(c.skills, s)
	}
	sort.Strings(c.skills)
	return c
}

func evalCourse(c courseContent, skills map[string]projections.SkillMastery, items map[string]projections.LearnerItem,
	done map[string]bool, threshold float64) courseEffect {
	e := courseEffect{Course: c.id, Title: c.title, Skills: c.skills, Items: len(c.children)}
	if e.Skills == nil {
		e.Skills = []string{}
	}
	for _, id := range c.children {
		if _, ok := items[id]; ok {
			e.ItemsAttempted++
		}
		if done[id] {
			e.ItemsCompleted++
		}
	}
	e.Completed = done[c.id] || (e.Items > 0 && e.ItemsCompleted == e.Items)
	var pre, post, mgain []float64
	var first, last time.Time
	allMastered := len(c.skills) > 0
	for _, id := range c.skills {
		s, ok := skills[id]
		if !ok {
			allMastered = false
			continue
		}
		if s.PMastery >= threshold {
			e.SkillsMastered++
		}
		mgain = append(mgain, s.PMastery-s.PInitial)
		if p, q, ok := s.Gain(); ok {
			pre, post = append(pre, p), append(post, q)
		}
		if first.IsZero() || s.FirstAt.Before(first) {
			first = s.FirstAt
		}
		if s.MasteredAt == nil {
			allMastered = false
		} else if s.MasteredAt.After(last) {
			last = *s.MasteredAt
		}
	}
	if len(pre) > 0 {
		p, q := round4(meanOf(pre)), round4(meanOf(post))
		g := round4(q - p)
		e.Pre, e.Post, e.ScoreGain = &p, &q, &g
	}
	if len(mgain) > 0 {
		g := round4(meanOf(mgain))
		e.MasteryGain = &g
	}
	if allMastered {
		e.TimeToMastery = seconds(last.Sub(first))
	}
	return e
}

func meanOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// ExtendProgress adds effect evaluation to GET
// /v1/learners/{learner}/progress: per skill (mastery and score gains,
// trajectory, time to mastery) and per course the learner touched
// (completion, gains, time to mastery).
func (m *AdaptiveModule) ExtendProgress(ctx context.Context, tenant, learner string, activities []projections.ActivityProgress) (map[string]any, error) {
	skills, err := m.Adaptive.LearnerSkills(ctx, tenant, learner)
	if err != nil {
		return nil, err
	}
	items, err := m.Adaptive.LearnerItems(ctx, tenant, learner)
	if err != nil {
		return nil, err
	}
	if activities == nil {
		activities = []projections.ActivityProgress{}
	}
	done, err := m.completedItems(ctx, tenant, learner, items, activities)
	if err != nil {
		return nil, err
	}
	g, err := m.Catalog.Graph(tenant)
	if err != nil {
		return nil, err
	}
	th := m.Adaptive.Threshold()
	bySkill := make(map[string]projections.SkillMastery, len(skills))
	effects := make([]skillEffect, 0, len(skills))
	for _, s := range skills {
		bySkill[s.Skill] = s
		effects = append(effects, effectOf(s, th))
	}
	byItem := make(map[string]projections.LearnerItem, len(items))
	courses := map[string]bool{}
	addCourse := func(id string) {
		a, ok := g.Activity(id)
		for ok && a.Parent != "" {
			a, ok = g.Activity(a.Parent)
		}
		if ok && (a.Type == graph.TypeCourse || len(g.Children(a.ID)) > 0) {
			courses[a.ID] = true
		}
	}
	for _, li := range items {
		byItem[li.Item] = li
		addCourse(li.Item)
	}
	for _, p := range activities {
		addCourse(p.Activity)
	}
	ids := make([]string, 0, len(courses))
	for id := range courses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	cs := make([]courseEffect, 0, len(ids))
	for _, id := range ids {
		cs = append(cs, evalCourse(contentOf(g, id), bySkill, byItem, done, th))
	}
	return map[string]any{"mastery_threshold": th, "skills": effects, "courses": cs}, nil
}

type skillAggregate struct {
	Skill         string   `json:"skill"`
	Learners      int      `json:"learners"`
	Mastered      int      `json:"mastered"`
	MasteryRate   float64  `json:"mastery_rate"`
	MeanPre       *float64 `json:"mean_pre"`
	MeanPost      *float64 `json:"mean_post"`
	MeanScoreGain *float64 `json:"mean_score_gain"`
	MeanMastery   *float64 `json:"mean_mastery_gain"`
	MeanTTM       *float64 `json:"mean_time_to_mastery_seconds"`
	pre, post     []float64
	mg, ttm       []float64
}

func meanPtr(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	v := round4(meanOf(xs))
	return &v
}

func (m *AdaptiveModule) effectiveness(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tenant := Tenant(r)
	ctx := r.Context()
	g, err := m.Catalog.Graph(tenant)
	if err != nil {
		m.fail(w, "the catalog", err)
		return
	}
	if _, ok := g.Activity(id); !ok {
		writePlainError(w, http.StatusNotFound, fmt.Sprintf("course %q does not exist", id))
		return
	}
	c := contentOf(g, id)
	in := map[string]bool{id: true}
	for _, ch := range c.children {
		in[ch] = true
	}
	byLearner, err := m.Adaptive.ItemLearners(ctx, tenant, in)
	if err != nil {
		m.fail(w, "attempts", err)
		return
	}
	learners := make([]string, 0, len(byLearner))
	for l := range byLearner {
		learners = append(learners, l)
	}
	sort.Strings(learners)
	th := m.Adaptive.Threshold()
	per := map[string]*skillAggregate{}
	for _, s := range c.skills {
		per[s] = &skillAggregate{Skill: s}
	}
	var completed, allMastered int
	var pre, post, mg, ttm []float64
	for _, l := range learners {
		skills, err := m.Adaptive.LearnerSkills(ctx, tenant, l)
		if err != nil {
			m.fail(w, "mastery", err)
			return
		}
		done, err := m.completedItems(ctx, tenant, l, byLearner[l], nil)
		if err != nil {
			m.fail(w, "progress", err)
			return
		}
		bySkill := map[string]projections.SkillMastery{}
		for _, s := range skills {
			bySkill[s.Skill] = s
			agg := per[s.Skill]
			if agg == nil {
				continue
			}
			agg.Learners++
			agg.mg = append(agg.mg, s.PMastery-s.PInitial)
			if s.PMastery >= th {
				agg.Mastered++
			}
			if p, q, ok := s.Gain(); ok {
				agg.pre, agg.post = append(agg.pre, p), append(agg.post, q)
			}
			if d, ok := s.TimeToMastery(); ok {
				agg.ttm = append(agg.ttm, d.Seconds())
			}
		}
		items := map[string]projections.LearnerItem{}
		for _, li := range byLearner[l] {
			items[li.Item] = li
		}
		e := evalCourse(c, bySkill, items, done, th)
		if e.Completed {
			completed++
		}
		if e.Pre != nil {
			pre, post = append(pre, *e.Pre), append(post, *e.Post)
		}
		if e.MasteryGain != nil {
			mg = append(mg, *e.MasteryGain)
		}
		if e.TimeToMastery != nil {
			allMastered++
			ttm = append(ttm, *e.TimeToMastery)
		}
	}
	skills := make([]*skillAggregate, 0, len(c.skills))
	for _, s := range c.skills {
		a := per[s]
		if a.Learners > 0 {
			a.MasteryRate = round4(float64(a.Mastered) / float64(a.Learners))
		}
		a.MeanPre, a.MeanPost, a.MeanMastery, a.MeanTTM = meanPtr(a.pre), meanPtr(a.post), meanPtr(a.mg), meanPtr(a.ttm)
		if a.MeanPre != nil {
			g := round4(*a.MeanPost - *a.MeanPre)
			a.MeanScoreGain = &g
		}
		skills = append(skills, a)
	}
	rate := 0.0
	if len(learners) > 0 {
		rate = round4(float64(completed) / float64(len(learners)))
	}
	var gain *float64
	if mp, mq := meanPtr(pre), meanPtr(post); mp != nil {
		v := round4(*mq - *mp)
		gain = &v
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"course": id, "title": c.title, "items": len(c.children), "skills": c.skills,
		"learners": len(learners), "completed": completed, "completion_rate": rate,
		"mean_pre": meanPtr(pre), "mean_post": meanPtr(post), "mean_score_gain": gain, "mean_mastery_gain": meanPtr(mg),
		"learners_mastered_all": allMastered, "mean_time_to_mastery_seconds": meanPtr(ttm),
		"mastery_threshold": th, "per_skill": skills,
	})
}
