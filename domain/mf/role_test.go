package mf_test

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
)

// careers: two chains of skills towards two roles, and items that do
// nothing for either.
//
//	sql -> joins -> windows      analyst: windows 0.8, viz 0.6
//	python -> pandas -> ml       ml_engineer: ml 0.8
//	stats -----------> ml        senior: windows 0.95
func careers(t *testing.T) *graph.Graph {
	t.Helper()
	g := graph.New()
	if _, err := g.ImportCSV(strings.NewReader(`kind,id,type,teaches,requires
skill,sql,,,
skill,joins,,,sql
skill,windows,,,joins
skill,viz,,,
skill,python,,,
skill,pandas,,,python
skill,stats,,,
skill,ml,,,pandas;stats
skill,cooking,,,
activity,urn:sql,item,sql,
activity,urn:joins,item,joins,
activity,urn:windows,item,windows,
activity,urn:sql-joins,module,sql;joins,
activity,urn:viz,item,viz,
activity,urn:python,item,python,
activity,urn:pandas,item,pandas,
activity,urn:stats,item,stats,
activity,urn:ml,item,ml,
activity,urn:cooking,item,cooking,
activity,urn:baking,item,,
role,analyst,,,windows=0.8;viz=0.6
role,ml_engineer,,,ml=0.8
role,senior,,,windows=0.95
`)); err != nil {
		t.Fatal(err)
	}
	return g
}

func levels(t *testing.T, g *graph.Graph, role string) []mf.RoleLevel {
	t.Helper()
	r, ok := g.Role(role)
	if !ok {
		t.Fatalf("no role %q", role)
	}
	var out []mf.RoleLevel
	for _, q := range r.Requires {
		out = append(out, mf.RoleLevel{Skill: q.Skill, Level: q.Level})
	}
	return out
}

func TestRerankRoleGap(t *testing.T) {
	g := careers(t)
	// Collaborative scores on a 0..10 scale (normalised: score/10): the
	// item doing nothing for any role is the model's favourite.
	base := []mf.Candidate{
		{Item: "urn:cooking", Score: 10}, {Item: "urn:python", Score: 8.5}, {Item: "urn:windows", Score: 8},
		{Item: "urn:joins", Score: 7}, {Item: "urn:sql-joins", Score: 5}, {Item: "urn:viz", Score: 4.2},
		{Item: "urn:sql", Score: 2.5}, {Item: "urn:stats", Score: 1}, {Item: "urn:ml", Score: 0.5}, {Item: "urn:pandas", Score: 0},
	}
	for i := range base {
		base[i].Reasons = []string{mf.ReasonMF}
	}
	noRole := []string{"urn:cooking", "urn:python", "urn:sql-joins", "urn:viz", "urn:windows", "urn:sql", "urn:joins", "urn:stats", "urn:ml", "urn:pandas"}
	tests := []struct {
		name    string
		role    string
		mastery map[string]float64
		weight  float64
		order   []string
		reasons map[string][]string
		gap     []string // the gap's skills, in walk order
	}{
		{name: "no role: collaborative order with the graph rules", mastery: nil, weight: mf.DefaultRoleWeight, order: noRole},
		{name: "analyst from scratch: ready gap-closers rank up, prerequisites before the skills that need them",
			role: "analyst", weight: mf.DefaultRoleWeight,
			// sql-joins 0.5+0.7, viz 0.42+0.7, cooking 1, sql 0.25+0.7,
			// python 0.85, joins 0.7-0.5+0.7/2, windows 0.8-0.5+0.7/3.
			order: []string{"urn:sql-joins", "urn:viz", "urn:cooking", "urn:sql", "urn:python", "urn:joins", "urn:windows", "urn:stats", "urn:ml", "urn:pandas"},
			gap:   []string{"windows", "viz", "joins", "sql"},
			reasons: map[string][]string{
				"urn:sql-joins": {mf.ReasonMF, "role_gap:analyst:windows=0/0.8", "role_path:sql>joins>windows", "role_path:joins>windows", mf.ReasonReadyToLearn},
				"urn:viz":       {mf.ReasonMF, "role_gap:analyst:viz=0/0.6", mf.ReasonReadyToLearn},
				"urn:cooking":   {mf.ReasonMF, mf.ReasonReadyToLearn},
				"urn:joins":     {mf.ReasonMF, "role_gap:analyst:windows=0/0.8", "role_path:joins>windows", mf.ReasonPrerequisitesUnmet},
				"urn:windows":   {mf.ReasonMF, "role_gap:analyst:windows=0/0.8", mf.ReasonPrerequisitesUnmet},
				"urn:stats":     {mf.ReasonMF, mf.ReasonReadyToLearn},
			}},
		{name: "ml engineer, same candidates: another gap, another list",
			role: "ml_engineer", weight: mf.DefaultRoleWeight,
			// python 0.85+0.7, cooking 1, stats 0.1+0.7, ..., pandas
			// 0-0.5+0.7/2, ml 0.05-0.5+0.7/3.
			order: []string{"urn:python", "urn:cooking", "urn:stats", "urn:sql-joins", "urn:viz", "urn:windows", "urn:sql", "urn:joins", "urn:pandas", "urn:ml"},
			gap:   []string{"ml", "pandas", "stats", "python"},
			reasons: map[string][]string{
				"urn:python": {mf.ReasonMF, "role_gap:ml_engineer:ml=0/0.8", "role_path:python>pandas>ml", mf.ReasonReadyToLearn},
				"urn:stats":  {mf.ReasonMF, "role_gap:ml_engineer:ml=0/0.8", "role_path:stats>ml", mf.ReasonReadyToLearn},
				"urn:pandas": {mf.ReasonMF, "role_gap:ml_engineer:ml=0/0.8", "role_path:pandas>ml", mf.ReasonPrerequisitesUnmet},
				"urn:viz":    {mf.ReasonMF, mf.ReasonReadyToLearn},
			}},
		{name: "analyst part-way: the walk stops at a mastered prerequisite, the next step leads",
			role: "analyst", mastery: map[string]float64{"sql": 0.9, "joins": 0.5}, weight: mf.DefaultRoleWeight,
			// joins 0.7+0.7, viz 0.42+0.7, sql-joins 0.5+0.7-0.3/2, cooking 1,
			// python 0.85, windows 0.8-0.5+0.7/2, stats, sql 0.25-0.3.
			order: []string{"urn:joins", "urn:viz", "urn:sql-joins", "urn:cooking", "urn:python", "urn:windows", "urn:stats", "urn:sql", "urn:ml", "urn:pandas"},
			gap:   []string{"windows", "viz", "joins"},
			reasons: map[string][]string{
				"urn:joins":     {mf.ReasonMF, "role_gap:analyst:windows=0/0.8", "role_path:joins>windows", mf.ReasonReadyToLearn},
				"urn:sql-joins": {mf.ReasonMF, "role_gap:analyst:windows=0/0.8", "role_path:joins>windows", mf.ReasonSomeSkillsMastered, mf.ReasonReadyToLearn},
				"urn:sql":       {mf.ReasonMF, mf.ReasonSkillsMastered},
			}},
		{name: "a role level above the mastery threshold keeps the skill in the gap, not mastered",
			role: "senior", mastery: map[string]float64{"windows": 0.85, "joins": 0.9, "sql": 0.9}, weight: mf.DefaultRoleWeight,
			order: []string{"urn:windows", "urn:cooking", "urn:python", "urn:viz", "urn:joins", "urn:sql-joins", "urn:stats", "urn:sql", "urn:ml", "urn:pandas"},
			gap:   []string{"windows"},
			reasons: map[string][]string{
				"urn:windows": {mf.ReasonMF, "role_gap:senior:windows=0.85/0.95", mf.ReasonReadyToLearn},
				"urn:joins":   {mf.ReasonMF, mf.ReasonSkillsMastered},
			}},
		{name: "role weight 0: collaborative order, the reasons still name the gap",
			role: "analyst", weight: 0, order: noRole, gap: []string{"windows", "viz", "joins", "sql"},
			reasons: map[string][]string{"urn:viz": {mf.ReasonMF, "role_gap:analyst:viz=0/0.6", mf.ReasonReadyToLearn}}},
	}
	for _, tc := range tests {
		for _, numbered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/numbered=%v", tc.name, numbered), func(t *testing.T) {
				o := mf.DefaultRerankOptions()
				o.N = 0
				o.Knowledge = g
				o.Mastery = tc.mastery
				o.RoleWeight = tc.weight
				testRoleGapCase(t, g, base, o, tc.role, tc.gap, tc.order, tc.reasons, numbered)
			})
		}
	}
}

// testRoleGapCase runs one case of TestRerankRoleGap, with the mastery
// by skill id or, numbered, by skill number (numberSkills).
func testRoleGapCase(t *testing.T, g *graph.Graph, base []mf.Candidate, o mf.RerankOptions, role string, gapWant, order []string, reasons map[string][]string, numbered bool) {
	t.Helper()
	if role != "" {
		gap, err := mf.NewRoleGap(g, role, levels(t, g, role), o.Mastery, o.MasteryThreshold)
		if err != nil {
			t.Fatal(err)
		}
		var skills []string
		for _, s := range gap.Skills {
			skills = append(skills, s.Skill)
		}
		if !reflect.DeepEqual(skills, gapWant) {
			t.Fatalf("gap %v, want %v", skills, gapWant)
		}
		o.Gap = gap
	}
	if numbered {
		numberSkills(&o, g)
	}
	got, err := mf.Rerank(base, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), order) {
		var b strings.Builder
		for _, c := range got {
			fmt.Fprintf(&b, "\n  %s %.4f %v", c.Item, c.Score, c.Reasons)
		}
		t.Fatalf("order %v, want %v%s", ids(got), order, b.String())
	}
	for _, c := range got {
		if want, ok := reasons[c.Item]; ok && !reflect.DeepEqual(c.Reasons, want) {
			t.Errorf("%s reasons %v, want %v", c.Item, c.Reasons, want)
		}
		hasRole := slices.ContainsFunc(c.Reasons, func(r string) bool { return strings.HasPrefix(r, "role_") })
		if role == "" && hasRole {
			t.Errorf("%s: a role reason without a role: %v", c.Item, c.Reasons)
		}
	}
}

// numberSkills gives o's mastery by skill number instead of by id, as the
// recommender does: Mastery goes, so that a ranking that still read it
// would rank as if nothing were mastered.
func numberSkills(o *mf.RerankOptions, g *graph.Graph) {
	o.Skills = mf.NewSkillIndex(g, g.Skills(), g.Activities())
	o.Levels = o.Skills.Levels(nil, o.Mastery)
	o.Mastery = nil
}

// A learner who already meets the role gets what they would get without one.
func TestRerankRoleMetChangesNothing(t *testing.T) {
	g := careers(t)
	cands := []mf.Candidate{{Item: "urn:cooking", Score: 3, Reasons: []string{mf.ReasonMF}},
		{Item: "urn:windows", Score: 2, Reasons: []string{mf.ReasonMF}}, {Item: "urn:viz", Score: 1, Reasons: []string{mf.ReasonMF}}}
	ms := map[string]float64{"windows": 0.9, "viz": 0.7, "joins": 0.85, "sql": 1}
	o := mf.DefaultRerankOptions()
	o.Knowledge, o.Mastery = g, ms
	want, err := mf.Rerank(cands, o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Gap, err = mf.NewRoleGap(g, "analyst", levels(t, g, "analyst"), ms, o.MasteryThreshold); err != nil {
		t.Fatal(err)
	}
	if len(o.Gap.Skills) != 0 {
		t.Fatalf("gap %+v, want none", o.Gap.Skills)
	}
	got, err := mf.Rerank(cands, o)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("role met: %+v (%v), want %+v", got, err, want)
	}
}

func TestRoleGapChecked(t *testing.T) {
	g := careers(t)
	for name, f := range map[string]func() error{
		"no knowledge": func() error { _, err := mf.NewRoleGap(nil, "r", nil, nil, 0.8); return err },
		"no role":      func() error { _, err := mf.NewRoleGap(g, "", nil, nil, 0.8); return err },
		"threshold 0":  func() error { _, err := mf.NewRoleGap(g, "r", nil, nil, 0); return err },
		"level above 1": func() error {
			_, err := mf.NewRoleGap(g, "r", []mf.RoleLevel{{Skill: "sql", Level: 1.5}}, nil, 0.8)
			return err
		},
		"level NaN": func() error {
			_, err := mf.NewRoleGap(g, "r", []mf.RoleLevel{{Skill: "sql", Level: math.NaN()}}, nil, 0.8)
			return err
		},
		"empty skill": func() error { _, err := mf.NewRoleGap(g, "r", []mf.RoleLevel{{Level: 0.5}}, nil, 0.8); return err },
		"gap without kg": func() error {
			gap, _ := mf.NewRoleGap(g, "analyst", levels(t, g, "analyst"), nil, 0.8)
			o := mf.DefaultRerankOptions()
			o.Gap = gap
			_, err := mf.Rerank(nil, o)
			return err
		},
		"negative weight": func() error {
			o := mf.DefaultRerankOptions()
			o.RoleWeight = -1
			_, err := mf.Rerank(nil, o)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRoleCandidates(t *testing.T) {
	g := careers(t)
	gap, err := mf.NewRoleGap(g, "analyst", levels(t, g, "analyst"), map[string]float64{"sql": 1}, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	// Ready: joins (sql mastered) and viz; joins is taught by two items.
	cands := []mf.Candidate{{Item: "urn:cooking", Score: 5, Reasons: []string{mf.ReasonMF}}, {Item: "urn:viz", Score: 2, Reasons: []string{mf.ReasonMF}}}
	// The model rates sql-joins above joins: it comes first; both sit at
	// the lowest candidate score (below every collaborative candidate).
	scores := map[string]float64{"urn:joins": 0.5, "urn:sql-joins": 0.7}
	score := func(it string) (float64, bool) { s, ok := scores[it]; return s, ok }
	got := mf.RoleCandidates(slices.Clone(cands), gap, g, score, func(it string) bool { return it == "urn:done" }, 5)
	want := []mf.Candidate{cands[0], cands[1],
		{Item: "urn:sql-joins", Score: 2, Reasons: []string{mf.ReasonForRole}},
		{Item: "urn:joins", Score: 2, Reasons: []string{mf.ReasonForRole}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Unscored items come after scored ones; n keeps the best.
	delete(scores, "urn:sql-joins")
	if got := mf.RoleCandidates(slices.Clone(cands), gap, g, score, nil, 1); len(got) != 3 || got[2].Item != "urn:joins" {
		t.Fatalf("n=1 kept %+v", got[2:])
	}
	// n bounds what is added; skip leaves items out.
	if got := mf.RoleCandidates(nil, gap, g, nil, func(it string) bool { return it == "urn:joins" || it == "urn:viz" }, 1); len(got) != 1 || got[0].Item != "urn:sql-joins" {
		t.Fatalf("bounded: %+v", got)
	}
	if got := mf.RoleCandidates(cands, nil, g, nil, nil, 5); len(got) != 2 {
		t.Fatalf("no gap added %+v", got)
	}
}

// The scenario in the domain: two learners with the same history
// and different target roles get different recommendations, whose reasons
// name their role and gap; without roles they get the same list.
func TestRoleScenarioSameHistoryDifferentRoles(t *testing.T) {
	g := careers(t)
	m, err := mf.New(mf.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pop := mf.NewPopularity()
	learn := func(user, item string) {
		m.Observe(user, item, 1)
		i, _ := m.LookupItem(item)
		pop.Add(i, "", 1)
	}
	// Most learners who took sql and python went on to cooking and
	// baking: that is what collaborative filtering alone recommends.
	paths := [][]string{
		{"urn:sql", "urn:python", "urn:cooking", "urn:baking"},
		{"urn:sql", "urn:joins", "urn:windows", "urn:viz"},
		{"urn:python", "urn:pandas", "urn:stats", "urn:ml"},
	}
	for round := 0; round < 4; round++ {
		for u := 0; u < 30; u++ {
			p := paths[0]
			switch {
			case u%5 == 3:
				p = paths[1]
			case u%5 == 4:
				p = paths[2]
			}
			learn(fmt.Sprintf("l%d", u), p[round])
		}
	}
	history := []string{"urn:sql", "urn:python"}
	for _, it := range history {
		learn("ann", it)
		learn("bob", it)
	}
	// What a learner completed counts as mastered (as the recommender's
	// mastery does without an adaptive model).
	mastery := map[string]float64{}
	for _, it := range history {
		for _, s := range g.SkillsTaught(it) {
			mastery[s] = 1
		}
	}
	recommend := func(user, role string) []mf.Candidate {
		cands := mf.Candidates(m, pop, user, role, 20, nil)
		o := mf.DefaultRerankOptions()
		o.N = 5
		o.Knowledge, o.Mastery = g, mastery
		if role != "" {
			if o.Gap, err = mf.NewRoleGap(g, role, levels(t, g, role), mastery, o.MasteryThreshold); err != nil {
				t.Fatal(err)
			}
			score, seen := mf.LearnerScores(m, user)
			cands = mf.RoleCandidates(cands, o.Gap, g, score, seen, o.N)
		}
		got, err := mf.Rerank(cands, o)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	show := func(cs []mf.Candidate) string {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "\n  %s %.3f %v", c.Item, c.Score, c.Reasons)
		}
		return b.String()
	}
	annPlain, bobPlain := recommend("ann", ""), recommend("bob", "")
	// The same items; their order may differ where the two learners'
	// factors, solved at different moments, score items nearly alike.
	sorted := func(l []string) []string { slices.Sort(l); return l }
	if !reflect.DeepEqual(sorted(ids(annPlain)), sorted(ids(bobPlain))) {
		t.Fatalf("same history, no role, different lists:%s\nvs%s", show(annPlain), show(bobPlain))
	}
	ann, bob := recommend("ann", "analyst"), recommend("bob", "ml_engineer")
	t.Logf("no role:%s\nann (analyst):%s\nbob (ml_engineer):%s", show(annPlain), show(ann), show(bob))
	if reflect.DeepEqual(ids(ann), ids(bob)) {
		t.Fatalf("different roles, same list %v", ids(ann))
	}
	// The blend: the two items the collaborative model rates far above
	// everything else (normalised 1 and ~0.96, the rest below 0.25) keep
	// the top for both; right after them come what closes each role's gap
	// now, saying so, ahead of what the model rated higher without a
	// role (stats for ann) and of anything for the other role.
	for _, tc := range []struct {
		who   string
		got   []mf.Candidate
		next  []string // places 3 and 4, in any order
		gap   []string // the gap reason each carries
		other string   // the other role's reason prefix
	}{
		{"ann", ann, []string{"urn:joins", "urn:viz"}, []string{"role_gap:analyst:windows=0/0.8", "role_gap:analyst:viz=0/0.6"}, "role_gap:ml_engineer"},
		{"bob", bob, []string{"urn:pandas", "urn:stats"}, []string{"role_gap:ml_engineer:ml=0/0.8", "role_gap:ml_engineer:ml=0/0.8"}, "role_gap:analyst"},
	} {
		if top := ids(tc.got[:2]); !reflect.DeepEqual(top, ids(annPlain[:2])) {
			t.Errorf("%s: top two %v, want the collaborative favourites %v", tc.who, top, ids(annPlain[:2]))
		}
		next := ids(tc.got[2:4])
		slices.Sort(next)
		if !reflect.DeepEqual(next, tc.next) {
			t.Errorf("%s: places 3-4 %v, want %v:%s", tc.who, next, tc.next, show(tc.got))
			continue
		}
		for _, c := range tc.got {
			if i := slices.Index(tc.next, c.Item); i >= 0 && !slices.Contains(c.Reasons, tc.gap[i]) {
				t.Errorf("%s: %s reasons %v lack %s", tc.who, c.Item, c.Reasons, tc.gap[i])
			}
			if slices.ContainsFunc(c.Reasons, func(r string) bool { return strings.HasPrefix(r, tc.other) }) {
				t.Errorf("%s: %s carries the other role's reason %v", tc.who, c.Item, c.Reasons)
			}
		}
	}
	if slices.Contains(ids(ann), "urn:stats") {
		t.Errorf("stats (nothing for an analyst) crowded a gap-closer out:%s", show(ann))
	}
	// And the prerequisite chain is named where the item leads to the role skill through it.
	for _, c := range bob {
		if c.Item == "urn:pandas" && !slices.Contains(c.Reasons, "role_path:pandas>ml") {
			t.Errorf("pandas reasons %v lack the chain", c.Reasons)
		}
	}
}

// BenchmarkRerankRole is the cost of the role logic per list: a catalog of
// 500 skills in chains of 10 and 2,000 activities, a role needing the top
// of 10 chains (3 of 10 steps mastered), 50 candidates; "no role" is the
// re-ranking as it was, in the same run. "no role, numbered" holds the
// mastery by skill number (SkillIndex), as the recommender does, the
// levels made from the map for every list.
func BenchmarkRerankRole(b *testing.B) {
	g := graph.New()
	for s := 0; s < 500; s++ {
		if err := g.PutSkill(graph.Skill{ID: fmt.Sprintf("s%d", s)}); err != nil {
			b.Fatal(err)
		}
		if s%10 != 0 {
			if err := g.AddPrerequisite(fmt.Sprintf("s%d", s-1), fmt.Sprintf("s%d", s)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for a := 0; a < 2000; a++ {
		if err := g.PutActivity(graph.Activity{ID: fmt.Sprintf("urn:a%d", a), Type: "item", Teaches: []string{fmt.Sprintf("s%d", (a*7)%500)}}); err != nil {
			b.Fatal(err)
		}
	}
	var levels []mf.RoleLevel
	mastery := map[string]float64{}
	for c := 0; c < 10; c++ {
		levels = append(levels, mf.RoleLevel{Skill: fmt.Sprintf("s%d", c*10+9), Level: 0.8})
		for k := 0; k < 3; k++ {
			mastery[fmt.Sprintf("s%d", c*10+k)] = 0.9
		}
	}
	cands := make([]mf.Candidate, 50)
	for i := range cands {
		cands[i] = mf.Candidate{Item: fmt.Sprintf("urn:a%d", i*37%2000), Score: float64(50 - i), Reasons: []string{mf.ReasonMF}}
	}
	o := mf.DefaultRerankOptions()
	o.Knowledge, o.Mastery = g, mastery
	b.Run("no role", func(b *testing.B) {
		for b.Loop() {
			if _, err := mf.Rerank(cands, o); err != nil {
				b.Fatal(err)
			}
		}
	})
	x := mf.NewSkillIndex(g, g.Skills(), g.Activities())
	var buf []float64
	b.Run("no role, numbered", func(b *testing.B) {
		for b.Loop() {
			no := o
			buf = x.Levels(buf, mastery)
			no.Mastery, no.Skills, no.Levels = nil, x, buf
			if _, err := mf.Rerank(cands, no); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("role", func(b *testing.B) {
		for b.Loop() {
			ro := o
			gap, err := mf.NewRoleGap(g, "r", levels, mastery, o.MasteryThreshold)
			if err != nil {
				b.Fatal(err)
			}
			ro.Gap = gap
			cs := mf.RoleCandidates(slices.Clone(cands), gap, g, nil, nil, 10)
			if _, err := mf.Rerank(cs, ro); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The gap is the set of skills graph.PlanPath plans for the same role and
// mastery: the recommendations and GET .../path?role= agree on what is
// missing.
func TestRoleGapIsWhatPlanPathPlans(t *testing.T) {
	g := careers(t)
	for _, tc := range []struct {
		role    string
		mastery map[string]float64
	}{
		{"analyst", nil},
		{"analyst", map[string]float64{"sql": 0.9, "joins": 0.5}},
		{"analyst", map[string]float64{"windows": 0.9, "viz": 0.7}},
		{"ml_engineer", map[string]float64{"python": 1, "stats": 0.79}},
		{"senior", map[string]float64{"windows": 0.85, "joins": 0.9, "sql": 0.9}},
	} {
		plan, err := g.PlanPath(tc.mastery, graph.Target{Role: tc.role}, graph.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gap, err := mf.NewRoleGap(g, tc.role, levels(t, g, tc.role), tc.mastery, graph.DefaultMasteryThreshold)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range gap.Skills {
			got = append(got, s.Skill)
		}
		slices.Sort(got)
		want := slices.Clone(plan.Missing)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s with %v: gap %v, PlanPath missing %v", tc.role, tc.mastery, got, want)
		}
	}
}
