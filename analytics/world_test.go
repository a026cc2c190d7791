package analytics

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
)

// A generated learning world: several tenants, learners taking cmi5 courses
// (launched, initialized, answered questions, completed, passed/failed,
// terminated, satisfied), recommendations, mastery and difficulty updates,
// and catalog entities. The generator keeps its own ground truth, from which
// the tests compute the cookbook's answers independently of the encoder and
// of ClickHouse.

type genStmt struct {
	id, eventID, learner, verb, object, objectName, activityType, course string
	parent, grouping                                                     []string
	success                                                              *bool
	scaled                                                               *float64
	durationSec                                                          *float64
	durationISO                                                          string
	ts                                                                   time.Time
	session, registration                                                string
}

type genRec struct {
	eventID, learner string
	items            []projections.Recommendation
	at               time.Time
}

type genMastery struct {
	eventID, learner, skill string
	p                       float64
	at                      time.Time
}

type genDiff struct {
	eventID, learner, item, skill string
	expected                      float64
	correct                       bool
	at                            time.Time
}

type genAU struct {
	id, name, skill string
	questions       []string
}

type genCourse struct {
	id, name string
	aus      []genAU
}

type tenantWorld struct {
	name     string
	learners []string
	courses  []genCourse
	stmts    []*genStmt
	recs     []genRec
	mastery  []genMastery
	diffs    []genDiff
	// voided are statements a later statement voided (not in stmts: they
	// count nowhere); voiding counts the voiding statements (not in stmts
	// either)
	voided  []*genStmt
	voiding int
	// final catalog state, as the tests expect FINAL to show it
	roleSkills map[string][]graph.Requirement
	members    map[string]map[string]bool // role -> learners
}

type world struct {
	base    time.Time // day 0, 00:00 UTC
	days    int
	tenants []*tenantWorld
	events  []event.Event
	seq     int
}

func (w *world) from() time.Time { return w.base }
func (w *world) to() time.Time   { return w.base.AddDate(0, 0, w.days-1) }

type worldConfig struct {
	tenants, learners, courses, aus, questions, days int
	seed                                             uint64
	// drain, when set, receives the events after each learner and the
	// world forgets them (for streams too large to keep).
	drain func([]event.Event)
}

func genUUID(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff,
		0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

func isoDuration(sec float64) string {
	ms := int64(math.Round(sec * 1000))
	h := ms / 3600000
	m := ms / 60000 % 60
	s := float64(ms%60000) / 1000
	out := "PT"
	if h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dM", m)
	}
	return out + fmt.Sprintf("%gS", s)
}

var verbNames = map[string]string{
	VerbLaunched: "launched", VerbInitialized: "initialized", VerbCompleted: "completed", VerbPassed: "passed",
	VerbFailed: "failed", VerbTerminated: "terminated", VerbAnswered: "answered", VerbExperienced: "experienced",
	VerbSatisfied: "satisfied", VerbVoided: "voided",
}

const cmi5Category = "https://w3id.org/xapi/cmi5/context/categories/cmi5"

func newWorld(c worldConfig) *world {
	r := rand.New(rand.NewPCG(c.seed, 99))
	w := &world{base: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), days: c.days}
	end := w.base.AddDate(0, 0, c.days)
	names := []string{"acme", "globex", "initech", "umbrella", "hooli", "stark"}
	for ti := 0; ti < c.tenants; ti++ {
		tw := &tenantWorld{name: names[ti%len(names)], roleSkills: map[string][]graph.Requirement{}, members: map[string]map[string]bool{}}
		if ti >= len(names) {
			tw.name = fmt.Sprintf("%s%d", tw.name, ti)
		}
		host := "https://" + tw.name + ".example"
		for ci := 0; ci < c.courses; ci++ {
			co := genCourse{id: fmt.Sprintf("%s/course/%d", host, ci), name: fmt.Sprintf("Course %d", ci)}
			for ai := 0; ai < c.aus; ai++ {
				au := genAU{id: fmt.Sprintf("%s/au/%d", co.id, ai), name: fmt.Sprintf("Unit %d.%d", ci, ai),
					skill: fmt.Sprintf("skill-%d-%d", ci, ai)}
				for q := 0; q < c.questions; q++ {
					au.questions = append(au.questions, fmt.Sprintf("%s/q/%d", au.id, q))
				}
				co.aus = append(co.aus, au)
			}
			tw.courses = append(tw.courses, co)
		}
		for li := 0; li < c.learners; li++ {
			tw.learners = append(tw.learners, fmt.Sprintf("mbox:mailto:learner%d@%s.example", li, tw.name))
		}
		w.tenants = append(w.tenants, tw)
		w.genCatalog(r, tw)
		for _, l := range tw.learners {
			from := len(tw.stmts)
			w.genLearner(r, tw, l, end)
			w.genVoid(r, tw, l, from, end)
			w.genRecs(r, tw, l)
			if c.drain != nil {
				c.drain(w.events)
				w.events = w.events[:0]
				tw.stmts, tw.recs, tw.mastery, tw.diffs = tw.stmts[:0], tw.recs[:0], tw.mastery[:0], tw.diffs[:0]
				tw.voided = tw.voided[:0]
			}
		}
	}
	return w
}

func (w *world) addEvent(typ, tenant, key string, t time.Time, v any) event.Event {
	var data []byte
	if v != nil {
		var err error
		if data, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	w.seq++
	e := event.Event{ID: fmt.Sprintf("evt-%d-%s", w.seq, tenant), Type: typ, Source: "/test", Time: t.UTC(),
		Tenant: tenant, ContentType: event.ContentTypeJSON, Key: key, Data: data}
	w.events = append(w.events, e)
	return e
}

// genCatalog publishes the catalog as the catalog API does: the producers'
// own types (graph.Skill, graph.Activity, graph.Edge, graph.Role,
// projections.LearnerRole, projections.SeenActivity), their event types,
// and record keys from projections.CatalogKey, which also validates each
// payload as the catalog projection would.
func (w *world) genCatalog(r *rand.Rand, tw *tenantWorld) {
	t := w.base.Add(-24 * time.Hour)
	tick := func() time.Time { t = t.Add(time.Second); return t }
	put := func(typ string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		key, err := projections.CatalogKey(typ, data)
		if err != nil {
			panic(fmt.Sprintf("%s %s: %v", typ, data, err))
		}
		w.addEvent(typ, tw.name, key, tick(), json.RawMessage(data))
	}
	var dev, analyst []graph.Requirement
	for ci, co := range tw.courses {
		put(projections.TypeActivityPut, graph.Activity{ID: co.id, Type: graph.TypeCourse, Title: co.name + " (draft)"})
		for ai, au := range co.aus {
			put(projections.TypeSkillPut, graph.Skill{ID: au.skill, Name: "Skill " + au.name})
			put(projections.TypeActivityPut, graph.Activity{ID: au.id, Type: graph.TypeAssessment, Title: au.name,
				Duration: time.Duration(10+r.IntN(20)) * time.Minute, Teaches: []string{au.skill}, Assesses: []string{au.skill}, Parent: co.id})
			if ai > 0 {
				put(projections.TypePrerequisitePut, graph.Edge{From: co.aus[ai-1].skill, To: au.skill})
			}
			if ci%3 == 2 {
				analyst = append(analyst, graph.Requirement{Skill: au.skill, Level: 0.7})
			} else {
				dev = append(dev, graph.Requirement{Skill: au.skill, Level: 0.8})
			}
		}
	}
	// a renamed course: the later version must win; a later "seen" of the
	// same activity (the recommender met it in a statement) must not
	co := tw.courses[0]
	put(projections.TypeActivityPut, graph.Activity{ID: co.id, Type: graph.TypeCourse, Title: co.name})
	put(projections.TypeActivitySeen, projections.SeenActivity{ID: co.id, Type: ActivityTypeCmi5Course, Name: "seen " + co.name})
	put(projections.TypeActivitySeen, projections.SeenActivity{ID: "https://" + tw.name + ".example/news/0", Name: "News"})
	// a prerequisite that is deleted again
	if len(co.aus) > 2 {
		e := graph.Edge{From: co.aus[0].skill, To: co.aus[2].skill}
		put(projections.TypePrerequisitePut, e)
		put(projections.TypePrerequisiteDeleted, e)
	}
	roles := map[string][]graph.Requirement{"role-dev": dev, "role-analyst": analyst}
	for _, id := range []string{"role-analyst", "role-dev"} {
		if len(roles[id]) == 0 {
			continue
		}
		// first with lower targets, then the final version
		low := append([]graph.Requirement(nil), roles[id]...)
		for i := range low {
			low[i].Level -= 0.2
		}
		put(projections.TypeRolePut, graph.Role{ID: id, Name: id, Requires: low})
		put(projections.TypeRolePut, graph.Role{ID: id, Name: id, Requires: roles[id]})
		tw.roleSkills[id] = roles[id]
		tw.members[id] = map[string]bool{}
	}
	// a role that is deleted again
	put(projections.TypeRolePut, graph.Role{ID: "role-gone", Name: "gone", Requires: dev[:1]})
	put(projections.TypeRoleDeleted, projections.CatalogRef{ID: "role-gone"})
	for i, l := range tw.learners {
		role := "role-dev"
		if i%2 == 1 && len(analyst) > 0 || len(dev) == 0 {
			role = "role-analyst"
		}
		put(projections.TypeLearnerRolePut, projections.LearnerRole{Learner: l, Role: role})
		tw.members[role][l] = true
	}
	// learner 0 moves role: the assignment names only the new role
	if len(tw.members) == 2 {
		l := tw.learners[0]
		put(projections.TypeLearnerRolePut, projections.LearnerRole{Learner: l, Role: "role-analyst"})
		delete(tw.members["role-dev"], l)
		tw.members["role-analyst"][l] = true
	}
	// the last learner loses their role: an empty role removes it
	if l := tw.learners[len(tw.learners)-1]; len(tw.learners) > 2 {
		put(projections.TypeLearnerRolePut, projections.LearnerRole{Learner: l, Role: ""})
		for _, m := range tw.members {
			delete(m, l)
		}
	}
}

// genLearner generates one learner's statements, strictly increasing in time.
func (w *world) genLearner(r *rand.Rand, tw *tenantWorld, learner string, end time.Time) {
	clock := w.base.Add(time.Duration(r.IntN(3600*8)) * time.Second)
	pm := map[string]float64{} // BKT-ish mastery per skill
	ability := r.NormFloat64() * 0.8
	emit := func(s *genStmt) bool {
		if !s.ts.Before(end) {
			return false
		}
		s.id = genUUID(r)
		s.learner = learner
		tw.stmts = append(tw.stmts, s)
		w.emitStatement(tw, s)
		return true
	}
	advance := func(d time.Duration) time.Time {
		clock = clock.Add(d + time.Duration(r.IntN(1000))*time.Millisecond)
		return clock
	}
	mastery := func(skill string, correct bool, at time.Time) {
		p, ok := pm[skill]
		if !ok {
			p = 0.3
		}
		if correct {
			p += (1 - p) * 0.7
		} else {
			p *= 0.85
		}
		pm[skill] = p
		e := w.addEvent(TypeMasteryUpdated, tw.name, learner, at, MasteryUpdatedPayload{Learner: learner, Skill: skill, PMastery: p, Correct: &correct, At: &at})
		tw.mastery = append(tw.mastery, genMastery{eventID: e.ID, learner: learner, skill: skill, p: p, at: at})
	}
	// Browsing news pages on random days (no course context).
	for k := 0; k < 6; k++ {
		day := r.IntN(w.days)
		ts := w.base.AddDate(0, 0, day).Add(time.Duration(20*3600+r.IntN(3*3600000)) * time.Millisecond)
		obj := fmt.Sprintf("https://%s.example/news/%d", tw.name, r.IntN(5))
		emit(&genStmt{verb: VerbExperienced, object: obj, objectName: "News", activityType: "http://activitystrea.ms/schema/1.0/page", ts: ts})
	}
	startDay := 0
	for _, co := range tw.courses {
		if r.Float64() > 0.75 {
			continue
		}
		startDay += r.IntN(20)
		start := w.base.AddDate(0, 0, startDay).Add(time.Duration(8*3600+r.IntN(4*3600)) * time.Second)
		if start.After(clock) {
			clock = start
		}
		reg := genUUID(r)
		passedAll := true
	aus:
		for _, au := range co.aus {
			passed := false
			for attempt := 0; attempt < 3 && !passed; attempt++ {
				if attempt > 0 {
					advance(time.Duration(24+r.IntN(48)) * time.Hour)
				}
				session := genUUID(r)
				ctx := func(s *genStmt) *genStmt {
					s.course, s.parent, s.grouping, s.session, s.registration = co.id, []string{co.id}, []string{au.id}, session, reg
					if s.object == "" {
						s.object, s.objectName, s.activityType = au.id, au.name, "https://w3id.org/xapi/cmi5/activitytype/au"
					}
					return s
				}
				t0 := advance(time.Minute)
				if !emit(ctx(&genStmt{verb: VerbLaunched, ts: t0})) {
					return
				}
				emit(ctx(&genStmt{verb: VerbInitialized, ts: advance(5 * time.Second)}))
				for _, q := range au.questions {
					ts := advance(time.Duration(30+r.IntN(150)) * time.Second)
					diff := r.NormFloat64() * 0.8
					exp := 1 / (1 + math.Exp(-(ability - diff)))
					ok := r.Float64() < exp
					sc := r.Float64() * 0.6
					if ok {
						sc = 0.6 + r.Float64()*0.4
					}
					if !emit(ctx(&genStmt{verb: VerbAnswered, object: q, objectName: "Question",
						activityType: "http://adlnet.gov/expapi/activities/cmi.interaction", success: &ok, scaled: &sc, ts: ts})) {
						return
					}
					e := w.addEvent(TypeDifficultyAdjusted, tw.name, learner, ts, DifficultyAdjustedPayload{Item: q, Skill: au.skill,
						Difficulty: diff + 0.1, PreviousDifficulty: &diff, Learner: learner, Ability: &ability, Expected: &exp, Correct: &ok, At: &ts})
					tw.diffs = append(tw.diffs, genDiff{eventID: e.ID, learner: learner, item: q, skill: au.skill, expected: exp, correct: ok, at: ts})
					mastery(au.skill, ok, ts)
				}
				if r.Float64() < 0.12 { // abandons the course mid-session
					d := clock.Sub(t0).Seconds() + 30
					emit(ctx(&genStmt{verb: VerbTerminated, durationSec: &d, durationISO: isoDuration(d), ts: advance(30 * time.Second)}))
					passedAll = false
					break aus
				}
				emit(ctx(&genStmt{verb: VerbCompleted, ts: advance(time.Duration(5+r.IntN(30)) * time.Minute)}))
				sc := r.Float64()
				passed = sc >= 0.5
				verb := VerbFailed
				if passed {
					verb = VerbPassed
				}
				ts := advance(2 * time.Second)
				if !emit(ctx(&genStmt{verb: verb, success: &passed, scaled: &sc, ts: ts})) {
					return
				}
				mastery(au.skill, passed, ts)
				ts = advance(time.Duration(10+r.IntN(50)) * time.Second)
				d := math.Round(ts.Sub(t0).Seconds()*1000) / 1000
				emit(ctx(&genStmt{verb: VerbTerminated, durationSec: &d, durationISO: isoDuration(d), ts: ts}))
			}
			if !passed {
				passedAll = false
				break
			}
			advance(time.Duration(r.IntN(36)) * time.Hour)
		}
		if passedAll {
			emit(&genStmt{verb: VerbSatisfied, object: co.id, objectName: co.name, activityType: ActivityTypeCmi5Course,
				course: co.id, registration: reg, ts: advance(time.Second)})
		}
	}
}

// genVoid has the learner void one of the statements just generated now and
// then, as xAPI allows: the voided statement stays in the stream but must
// count in no answer, and neither does the voiding statement.
func (w *world) genVoid(r *rand.Rand, tw *tenantWorld, learner string, from int, end time.Time) {
	if len(tw.stmts) == from || r.Float64() >= 0.3 {
		return
	}
	i := from + r.IntN(len(tw.stmts)-from)
	target := tw.stmts[i]
	ts := target.ts.Add(time.Hour)
	if !ts.Before(end) {
		return
	}
	w.emitStatement(tw, &genStmt{id: genUUID(r), learner: learner, verb: VerbVoided, object: target.id, ts: ts})
	tw.voided = append(tw.voided, target)
	tw.voiding++
	tw.stmts = append(tw.stmts[:i], tw.stmts[i+1:]...)
}

func (w *world) genRecs(r *rand.Rand, tw *tenantWorld, learner string) {
	var items []string
	for _, co := range tw.courses {
		items = append(items, co.id)
		for _, au := range co.aus {
			items = append(items, au.id)
		}
	}
	for k := 0; k < 3; k++ {
		at := w.base.AddDate(0, 0, r.IntN(w.days-10)).Add(time.Duration(r.IntN(86400000)) * time.Millisecond)
		perm := r.Perm(len(items))
		var list []projections.Recommendation
		for i := 0; i < 3 && i < len(perm); i++ {
			list = append(list, projections.Recommendation{Item: items[perm[i]], Score: 1 - float64(i)*0.1 - r.Float64()*0.05, Rank: i + 1,
				Reasons: []string{"collaborative", "difficulty_fit"}})
		}
		// as streams/recommend.go publishes it: ce_time is the time of the
		// statement event behind the list
		w.seq++
		e := w.addEvent(projections.TypeRecommendationsUpdated, tw.name, learner, at, projections.RecommendationsUpdated{Learner: learner,
			Items: list, ModelVersion: fmt.Sprintf("isgd-k16/p%d/%d", k, w.seq), BasedOn: fmt.Sprintf("stmt-%d", w.seq), ColdStart: k == 0})
		tw.recs = append(tw.recs, genRec{eventID: e.ID, learner: learner, items: list, at: at})
	}
}

// emitStatement renders s as the stored xAPI statement event the LRS produces.
func (w *world) emitStatement(tw *tenantWorld, s *genStmt) {
	email := s.learner[len("mbox:"):]
	st := map[string]any{
		"id":        s.id,
		"actor":     map[string]any{"objectType": "Agent", "name": "Learner " + email, "mbox": email},
		"verb":      map[string]any{"id": s.verb, "display": map[string]string{"en-US": verbNames[s.verb]}},
		"object":    map[string]any{"objectType": "Activity", "id": s.object, "definition": map[string]any{"name": map[string]string{"en-US": s.objectName}, "type": s.activityType}},
		"timestamp": s.ts.Format("2006-01-02T15:04:05.000Z07:00"),
		"stored":    s.ts.Add(50 * time.Millisecond).Format(time.RFC3339Nano),
		"authority": map[string]any{"objectType": "Agent", "account": map[string]any{"homePage": "https://lrs.example", "name": "player"}},
		"version":   "1.0.3",
	}
	if s.verb == VerbVoided {
		st["object"] = map[string]any{"objectType": "StatementRef", "id": s.object}
	}
	res := map[string]any{}
	if s.success != nil {
		res["success"] = *s.success
	}
	if s.scaled != nil {
		res["score"] = map[string]any{"scaled": *s.scaled, "raw": *s.scaled * 100, "min": 0, "max": 100}
	}
	if s.verb == VerbCompleted {
		res["completion"] = true
	}
	if s.durationISO != "" {
		res["duration"] = s.durationISO
	}
	if len(res) > 0 {
		st["result"] = res
	}
	if s.course != "" || s.registration != "" {
		ctx := map[string]any{}
		if s.registration != "" {
			ctx["registration"] = s.registration
		}
		ca := map[string]any{"category": []any{map[string]any{"id": cmi5Category}}}
		if len(s.parent) > 0 {
			ca["parent"] = []any{map[string]any{"id": s.parent[0]}}
		}
		if len(s.grouping) > 0 {
			ca["grouping"] = []any{map[string]any{"id": s.grouping[0]}}
		}
		ctx["contextActivities"] = ca
		if s.session != "" {
			ctx["extensions"] = map[string]any{ExtensionCmi5SessionID: s.session}
		}
		st["context"] = ctx
	}
	e := w.addEvent(event.TypeStatementStored, tw.name, s.learner, s.ts.Add(50*time.Millisecond), st)
	s.eventID = e.ID
}

// replaySubset returns a pseudo-random fraction of the events, as a replay
// or a retried produce would deliver them again.
func (w *world) replaySubset(frac float64, seed uint64) []event.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []event.Event
	for _, e := range w.events {
		if r.Float64() < frac {
			out = append(out, e)
		}
	}
	return out
}

// encodeAll turns events into rows with enc, failing on any error.
func encodeAll(enc *Encoder, evs []event.Event) ([]Row, error) {
	rows := make([]Row, 0, len(evs))
	for _, e := range evs {
		rs, err := enc.Rows(e)
		if err != nil {
			return nil, fmt.Errorf("event %s (%s): %w", e.ID, e.Type, err)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

// ---- expected answers, computed from the generator's ground truth ----

type row = map[string]any

// approx is an expected float compared with a tolerance.
type approx struct{ v, tol float64 }

func round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

// rounded is an expected value that SQL rounds to n decimals.
func rounded(x float64, n int) approx { return approx{round(x, n), 1.01 * math.Pow(10, -float64(n))} }

func day(t time.Time) string      { return t.UTC().Format("2006-01-02") }
func tsString(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
func dateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
func inRange(t, from, to time.Time) bool {
	d := dateOf(t)
	return !d.Before(from) && !d.After(to)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func isCourseVerbFinished(v string) bool {
	return v == VerbCompleted || v == VerbPassed || v == VerbMastered || v == VerbSatisfied
}
func isStartVerb(v string) bool {
	return v == VerbLaunched || v == VerbInitialized || v == VerbAttempted || v == VerbExperienced || v == VerbProgressed
}

// quantileExactHalf is ClickHouse's quantileExact(0.5): the element at
// index floor(n/2) of the sorted values.
func quantileExactHalf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

type learnerCourse struct {
	first, last, completedAt time.Time
	lastObject               string
	launched, initialized    bool
	completed, passed        bool
	done                     bool
}

func (tw *tenantWorld) courseLearners() map[string]map[string]*learnerCourse {
	out := map[string]map[string]*learnerCourse{}
	for _, s := range tw.stmts {
		if s.course == "" {
			continue
		}
		if out[s.course] == nil {
			out[s.course] = map[string]*learnerCourse{}
		}
		lc := out[s.course][s.learner]
		if lc == nil {
			lc = &learnerCourse{first: s.ts, last: s.ts, lastObject: s.object}
			out[s.course][s.learner] = lc
		}
		if s.ts.Before(lc.first) {
			lc.first = s.ts
		}
		if !s.ts.Before(lc.last) {
			lc.last, lc.lastObject = s.ts, s.object
		}
		switch s.verb {
		case VerbLaunched:
			lc.launched = true
		case VerbInitialized:
			lc.initialized = true
		case VerbCompleted:
			lc.completed = true
		case VerbPassed:
			lc.passed = true
		}
		if s.object == s.course && (s.verb == VerbSatisfied || s.verb == VerbCompleted) {
			if !lc.done || s.ts.Before(lc.completedAt) {
				lc.completedAt = s.ts
			}
			lc.done = true
		}
	}
	return out
}

// latestMastery is each (learner, skill)'s latest p by (time, event id).
func (tw *tenantWorld) latestMastery() map[[2]string]genMastery {
	out := map[[2]string]genMastery{}
	for _, m := range tw.mastery {
		k := [2]string{m.learner, m.skill}
		cur, ok := out[k]
		if !ok || m.at.After(cur.at) || m.at.Equal(cur.at) && m.eventID > cur.eventID {
			out[k] = m
		}
	}
	return out
}

// expected returns, per cookbook query name, the rows it must return for
// tenant tw over [from, to]; pseudo maps a learner key to its pseudonym.
func (w *world) expected(tw *tenantWorld, pseudo func(string) string) map[string][]row {
	from, to := w.from(), w.to()
	exp := map[string][]row{}

	{ // daily_active_learners
		learners, counts := map[string]map[string]bool{}, map[string]int{}
		for _, s := range tw.stmts {
			if !inRange(s.ts, from, to) {
				continue
			}
			d := day(s.ts)
			if learners[d] == nil {
				learners[d] = map[string]bool{}
			}
			learners[d][s.learner] = true
			counts[d]++
		}
		var rows []row
		for _, d := range sortedKeys(learners) {
			rows = append(rows, row{"day": d, "learners": len(learners[d]), "statements": counts[d]})
		}
		exp["daily_active_learners"] = rows
	}
	{ // active_learners
		dau, wau, mau := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, s := range tw.stmts {
			ago := int(to.Sub(dateOf(s.ts)).Hours() / 24)
			if ago < 0 {
				continue
			}
			if ago == 0 {
				dau[s.learner] = true
			}
			if ago < 7 {
				wau[s.learner] = true
			}
			if ago < 30 {
				mau[s.learner] = true
			}
		}
		exp["active_learners"] = []row{{"dau": len(dau), "wau": len(wau), "mau": len(mau)}}
	}
	cl := tw.courseLearners()
	{ // course_completion_rates, completion_funnel, time_to_complete_course
		var rates, funnel, ttc []row
		for _, c := range sortedKeys(cl) {
			done := 0
			var la, in, co, pa int
			var secs []float64
			for _, lc := range cl[c] {
				if lc.done {
					done++
					secs = append(secs, float64(lc.completedAt.Unix()-lc.first.Unix()))
				}
				if lc.launched {
					la++
					if lc.initialized {
						in++
						if lc.completed {
							co++
							if lc.passed {
								pa++
							}
						}
					}
				}
			}
			n := len(cl[c])
			rates = append(rates, row{"course_id": c, "enrolled": n, "completed": done, "completion_rate": rounded(float64(done)/float64(n), 4)})
			var conv any = nil
			if la > 0 {
				conv = rounded(float64(pa)/float64(la), 4)
			}
			funnel = append(funnel, row{"course_id": c, "launched": la, "initialized": in, "completed": co, "passed": pa, "conversion": conv})
			if done > 0 {
				ttc = append(ttc, row{"course_id": c, "completions": done, "median_days": rounded(quantileExactHalf(secs)/86400, 2)})
			}
		}
		exp["course_completion_rates"] = rates
		exp["completion_funnel"] = funnel
		exp["time_to_complete_course"] = ttc
	}
	{ // score_distribution
		counts := map[string]map[float64]int{}
		for _, s := range tw.stmts {
			if (s.verb == VerbPassed || s.verb == VerbFailed) && s.scaled != nil && inRange(s.ts, from, to) {
				b := math.Min(math.Floor(*s.scaled*10), 9) / 10
				if counts[s.object] == nil {
					counts[s.object] = map[float64]int{}
				}
				counts[s.object][b]++
			}
		}
		var rows []row
		for _, a := range sortedKeys(counts) {
			var bs []float64
			for b := range counts[a] {
				bs = append(bs, b)
			}
			sort.Float64s(bs)
			for _, b := range bs {
				rows = append(rows, row{"assessment_id": a, "bucket": b, "attempts": counts[a][b]})
			}
		}
		exp["score_distribution"] = rows
	}
	{ // at_risk_learners
		sum, n := map[string]float64{}, map[string]int{}
		for _, s := range tw.stmts {
			if s.scaled != nil && !dateOf(s.ts).After(to) {
				sum[s.learner] += *s.scaled
				n[s.learner]++
			}
		}
		type lr struct {
			last time.Time
			open int
		}
		ls := map[string]*lr{}
		for _, byL := range cl {
			for l, lc := range byL {
				x := ls[l]
				if x == nil {
					x = &lr{last: lc.last}
					ls[l] = x
				}
				if lc.last.After(x.last) {
					x.last = lc.last
				}
				if !lc.done {
					x.open++
				}
			}
		}
		type cand struct {
			p    string
			avg  float64
			last time.Time
			open int
		}
		var cs []cand
		cutoff := to.AddDate(0, 0, -14)
		for l, x := range ls {
			if n[l] == 0 {
				continue
			}
			avg := sum[l] / float64(n[l])
			if !dateOf(x.last).After(cutoff) && avg < 0.6 && x.open > 0 {
				cs = append(cs, cand{pseudo(l), avg, x.last, x.open})
			}
		}
		sort.Slice(cs, func(i, j int) bool {
			if a, b := round(cs[i].avg, 4), round(cs[j].avg, 4); a != b {
				return a < b
			}
			return cs[i].p < cs[j].p
		})
		var rows []row
		for _, c := range cs {
			rows = append(rows, row{"actor_pseudo": c.p, "last_seen": tsString(c.last), "avg_score": rounded(c.avg, 4), "open_courses": c.open})
		}
		exp["at_risk_learners"] = rows
	}
	latest := tw.latestMastery()
	{ // skill_gaps_by_role
		type g struct {
			role, skill   string
			target        float64
			members, meet int
			sumP          float64
		}
		var gs []g
		for _, role := range sortedKeys(tw.roleSkills) {
			for _, rs := range tw.roleSkills[role] {
				x := g{role: role, skill: rs.Skill, target: rs.Level}
				for l := range tw.members[role] {
					x.members++
					p := 0.0
					if m, ok := latest[[2]string{l, rs.Skill}]; ok {
						p = m.p
					}
					x.sumP += p
					if p >= rs.Level {
						x.meet++
					}
				}
				if x.members > 0 {
					gs = append(gs, x)
				}
			}
		}
		gap := func(x g) float64 { return round(1-float64(x.meet)/float64(x.members), 4) }
		sort.Slice(gs, func(i, j int) bool {
			if a, b := gap(gs[i]), gap(gs[j]); a != b {
				return a > b
			}
			if gs[i].role != gs[j].role {
				return gs[i].role < gs[j].role
			}
			return gs[i].skill < gs[j].skill
		})
		var rows []row
		for _, x := range gs {
			rows = append(rows, row{"role_id": x.role, "skill_id": x.skill, "target_level": x.target, "members": x.members,
				"meeting_target": x.meet, "gap_share": rounded(1-float64(x.meet)/float64(x.members), 4),
				"avg_mastery": rounded(x.sumP/float64(x.members), 4)})
		}
		exp["skill_gaps_by_role"] = rows
	}
	{ // recommendation_uptake
		type pair struct {
			first time.Time
			rank  int
		}
		pairs := map[[2]string]*pair{}
		for _, rec := range tw.recs {
			for _, it := range rec.items {
				k := [2]string{rec.learner, it.Item}
				p := pairs[k]
				if p == nil {
					pairs[k] = &pair{rec.at, it.Rank}
					continue
				}
				if rec.at.Before(p.first) {
					p.first = rec.at
				}
				if it.Rank < p.rank {
					p.rank = it.Rank
				}
			}
		}
		type agg struct{ n, started, completed int }
		byRank := map[int]*agg{}
		for k, p := range pairs {
			if !inRange(p.first, from, to) {
				continue
			}
			a := byRank[p.rank]
			if a == nil {
				a = &agg{}
				byRank[p.rank] = a
			}
			a.n++
			var st, co bool
			for _, s := range tw.stmts {
				if s.learner != k[0] || (s.object != k[1] && s.course != k[1]) || s.ts.Before(p.first) {
					continue
				}
				st = st || isStartVerb(s.verb)
				co = co || isCourseVerbFinished(s.verb)
			}
			if st {
				a.started++
			}
			if co {
				a.completed++
			}
		}
		var ranks []int
		for r := range byRank {
			ranks = append(ranks, r)
		}
		sort.Ints(ranks)
		var rows []row
		for _, r := range ranks {
			a := byRank[r]
			rows = append(rows, row{"best_rank": r, "recommended": a.n, "started_after": a.started, "completed_after": a.completed,
				"start_rate": rounded(float64(a.started)/float64(a.n), 4), "completion_rate": rounded(float64(a.completed)/float64(a.n), 4)})
		}
		exp["recommendation_uptake"] = rows
	}
	{ // difficulty_calibration
		type agg struct {
			n          int
			sumE, sumC float64
		}
		bs := map[float64]*agg{}
		for _, d := range tw.diffs {
			if !inRange(d.at, from, to) {
				continue
			}
			b := math.Min(math.Floor(d.expected*10), 9) / 10
			a := bs[b]
			if a == nil {
				a = &agg{}
				bs[b] = a
			}
			a.n++
			a.sumE += d.expected
			if d.correct {
				a.sumC++
			}
		}
		var keys []float64
		for b := range bs {
			keys = append(keys, b)
		}
		sort.Float64s(keys)
		var rows []row
		for _, b := range keys {
			a := bs[b]
			rows = append(rows, row{"predicted_bucket": b, "predictions": a.n, "mean_predicted": rounded(a.sumE/float64(a.n), 4),
				"observed_success": rounded(a.sumC/float64(a.n), 4)})
		}
		exp["difficulty_calibration"] = rows
	}
	{ // time_to_competency, mastery_distribution
		type lsk struct {
			first, mastered time.Time
			isMastered      bool
		}
		bySkill := map[string]map[string]*lsk{}
		for _, m := range tw.mastery {
			if bySkill[m.skill] == nil {
				bySkill[m.skill] = map[string]*lsk{}
			}
			x := bySkill[m.skill][m.learner]
			if x == nil {
				x = &lsk{first: m.at}
				bySkill[m.skill][m.learner] = x
			}
			if m.at.Before(x.first) {
				x.first = m.at
			}
			if m.p >= 0.95 && (!x.isMastered || m.at.Before(x.mastered)) {
				x.mastered, x.isMastered = m.at, true
			}
		}
		var ttc, dist []row
		for _, sk := range sortedKeys(bySkill) {
			var secs []float64
			for _, x := range bySkill[sk] {
				if x.isMastered {
					secs = append(secs, float64(x.mastered.Unix()-x.first.Unix()))
				}
			}
			var med any = nil
			if len(secs) > 0 {
				med = rounded(quantileExactHalf(secs)/3600, 2)
			}
			ttc = append(ttc, row{"skill_id": sk, "learners": len(bySkill[sk]), "mastered": len(secs), "median_hours": med})
			buckets := map[float64]int{}
			for l := range bySkill[sk] {
				p := latest[[2]string{l, sk}].p
				buckets[math.Min(math.Floor(p*5), 4)/5]++
			}
			var keys []float64
			for b := range buckets {
				keys = append(keys, b)
			}
			sort.Float64s(keys)
			for _, b := range keys {
				dist = append(dist, row{"skill_id": sk, "bucket": b, "learners": buckets[b]})
			}
		}
		exp["time_to_competency"] = ttc
		exp["mastery_distribution"] = dist
	}
	{ // top_activities
		type agg struct {
			name     string
			learners map[string]bool
			n        int
		}
		as := map[string]*agg{}
		for _, s := range tw.stmts {
			if !inRange(s.ts, from, to) {
				continue
			}
			a := as[s.object]
			if a == nil {
				a = &agg{learners: map[string]bool{}}
				as[s.object] = a
			}
			if s.objectName > a.name {
				a.name = s.objectName
			}
			a.learners[s.learner] = true
			a.n++
		}
		ids := sortedKeys(as)
		sort.SliceStable(ids, func(i, j int) bool {
			a, b := as[ids[i]], as[ids[j]]
			if len(a.learners) != len(b.learners) {
				return len(a.learners) > len(b.learners)
			}
			return a.n > b.n
		})
		var rows []row
		for i, id := range ids {
			if i == 10 {
				break
			}
			rows = append(rows, row{"activity_id": id, "name": as[id].name, "learners": len(as[id].learners), "statements": as[id].n})
		}
		exp["top_activities"] = rows
	}
	{ // median_session_duration
		durs := map[string][]float64{}
		for _, s := range tw.stmts {
			if s.verb == VerbTerminated && s.durationSec != nil && inRange(s.ts, from, to) {
				durs[s.course] = append(durs[s.course], *s.durationSec)
			}
		}
		var rows []row
		for _, c := range sortedKeys(durs) {
			sum := 0.0
			for _, d := range durs[c] {
				sum += d
			}
			rows = append(rows, row{"course_id": c, "sessions": len(durs[c]),
				"median_seconds": rounded(quantileExactHalf(durs[c]), 1), "avg_seconds": rounded(sum/float64(len(durs[c])), 1)})
		}
		exp["median_session_duration"] = rows
	}
	{ // pass_rate_by_assessment
		type agg struct {
			attempts, passes         int
			learners, learnersPassed map[string]bool
		}
		as := map[[2]string]*agg{}
		for _, s := range tw.stmts {
			if !inRange(s.ts, from, to) {
				continue
			}
			var outcome int
			switch {
			case s.verb == VerbPassed:
				outcome = 1
			case s.verb == VerbFailed:
				outcome = 0
			case s.success != nil && *s.success:
				outcome = 1
			case s.success != nil:
				outcome = 0
			default:
				continue
			}
			k := [2]string{s.course, s.object}
			a := as[k]
			if a == nil {
				a = &agg{learners: map[string]bool{}, learnersPassed: map[string]bool{}}
				as[k] = a
			}
			a.attempts++
			a.learners[s.learner] = true
			if outcome == 1 {
				a.passes++
				a.learnersPassed[s.learner] = true
			}
		}
		var keys [][2]string
		for k := range as {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		var rows []row
		for _, k := range keys {
			a := as[k]
			rows = append(rows, row{"course_id": k[0], "assessment_id": k[1], "attempts": a.attempts, "passes": a.passes,
				"pass_rate": rounded(float64(a.passes)/float64(a.attempts), 4), "learners": len(a.learners), "learners_passed": len(a.learnersPassed)})
		}
		exp["pass_rate_by_assessment"] = rows
	}
	{ // learners_per_course_over_time
		var rows []row
		for _, c := range sortedKeys(cl) {
			weeks := map[string]int{}
			for _, lc := range cl[c] {
				if !inRange(lc.first, from, to) {
					continue
				}
				d := dateOf(lc.first)
				wd := (int(d.Weekday()) + 6) % 7
				weeks[day(d.AddDate(0, 0, -wd))]++
			}
			total := 0
			for _, wk := range sortedKeys(weeks) {
				total += weeks[wk]
				rows = append(rows, row{"course_id": c, "week": wk, "new_learners": weeks[wk], "total_learners": total})
			}
		}
		exp["learners_per_course_over_time"] = rows
	}
	{ // dropout_points
		cutoff := to.AddDate(0, 0, -14)
		var rows []row
		for _, c := range sortedKeys(cl) {
			counts := map[string]int{}
			for _, lc := range cl[c] {
				if !lc.done && !dateOf(lc.last).After(cutoff) {
					counts[lc.lastObject]++
				}
			}
			ids := sortedKeys(counts)
			sort.SliceStable(ids, func(i, j int) bool { return counts[ids[i]] > counts[ids[j]] })
			for _, id := range ids {
				rows = append(rows, row{"course_id": c, "activity_id": id, "learners_dropped": counts[id]})
			}
		}
		exp["dropout_points"] = rows
	}
	return exp
}
