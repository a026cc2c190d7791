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

// catalog: basics -> fractions -> decimals; items teach them.
func catalog(t *testing.T) *graph.Graph {
	t.Helper()
	g := graph.New()
	_, err := g.ImportCSV(strings.NewReader(`kind,id,type,teaches,requires
skill,basics,,,
skill,fractions,,,basics
skill,decimals,,,fractions
activity,urn:basics,item,basics,
activity,urn:fractions,item,fractions,
activity,urn:decimals,item,decimals,
activity,urn:both,module,fractions;decimals,
activity,urn:misc,item,,
`))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ids(cs []mf.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Item
	}
	return out
}

func TestRerank(t *testing.T) {
	g := catalog(t)
	base := []mf.Candidate{
		{Item: "urn:decimals", Score: 3, Reasons: []string{mf.ReasonMF}},
		{Item: "urn:both", Score: 2.5, Reasons: []string{mf.ReasonMF}},
		{Item: "urn:fractions", Score: 2, Reasons: []string{mf.ReasonMF}},
		{Item: "urn:basics", Score: 1, Reasons: []string{mf.ReasonMF}},
		{Item: "urn:misc", Score: 0, Reasons: []string{mf.ReasonPopular}},
	}
	success := map[string]float64{"urn:decimals": 0.2, "urn:both": 0.4, "urn:fractions": 0.72, "urn:basics": 0.97}
	tests := []struct {
		name    string
		opts    func(*mf.RerankOptions)
		order   []string
		reasons map[string][]string
	}{
		{"no rules: model order", func(o *mf.RerankOptions) {},
			[]string{"urn:decimals", "urn:both", "urn:fractions", "urn:basics", "urn:misc"},
			map[string][]string{"urn:misc": {mf.ReasonPopular}}},
		{"graph: unmet prerequisites and mastered skills demoted", func(o *mf.RerankOptions) {
			o.Knowledge = g
			o.Mastery = map[string]float64{"basics": 0.95}
		}, []string{"urn:both", "urn:fractions", "urn:decimals", "urn:basics", "urn:misc"},
			map[string][]string{
				"urn:decimals":  {mf.ReasonMF, mf.ReasonPrerequisitesUnmet},
				"urn:both":      {mf.ReasonMF, mf.ReasonReadyToLearn},
				"urn:fractions": {mf.ReasonMF, mf.ReasonReadyToLearn},
				"urn:basics":    {mf.ReasonMF, mf.ReasonSkillsMastered},
				"urn:misc":      {mf.ReasonPopular},
			}},
		{"completed removed, N truncates", func(o *mf.RerankOptions) {
			o.Completed = func(item string) bool { return item == "urn:decimals" }
			o.N = 2
		}, []string{"urn:both", "urn:fractions"}, nil},
		{"difficulty fit", func(o *mf.RerankOptions) {
			o.FitBonus = 1
			o.Success = predictions(base, success)
		}, []string{"urn:fractions", "urn:both", "urn:decimals", "urn:basics", "urn:misc"},
			map[string][]string{
				"urn:fractions": {mf.ReasonMF, mf.ReasonDifficultyFit},
				"urn:decimals":  {mf.ReasonMF, mf.ReasonTooHard},
				"urn:basics":    {mf.ReasonMF, mf.ReasonTooEasy},
				"urn:misc":      {mf.ReasonPopular},
			}},
	}
	for _, tc := range tests {
		for _, numbered := range []bool{false, true} {
			o := mf.DefaultRerankOptions()
			tc.opts(&o)
			if numbered && o.Knowledge == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/numbered=%v", tc.name, numbered), func(t *testing.T) {
				if numbered {
					numberSkills(&o, g)
				}
				testRerankCase(t, base, o, tc.order, tc.reasons)
			})
		}
	}
	// The input is not modified.
	if !reflect.DeepEqual(base[0].Reasons, []string{mf.ReasonMF}) || base[0].Score != 3 {
		t.Fatal("Rerank modified its input")
	}
}

// predictions is success by position in cands, NaN where it has none.
func predictions(cands []mf.Candidate, success map[string]float64) []float64 {
	out := make([]float64, len(cands))
	for i, c := range cands {
		p, ok := success[c.Item]
		if !ok {
			p = math.NaN()
		}
		out[i] = p
	}
	return out
}

// testRerankCase reranks base with o and checks the order and the
// reasons named.
func testRerankCase(t *testing.T, base []mf.Candidate, o mf.RerankOptions, order []string, reasons map[string][]string) {
	t.Helper()
	got, err := mf.Rerank(base, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), order) {
		t.Fatalf("order %v, want %v", ids(got), order)
	}
	for _, c := range got {
		if want, ok := reasons[c.Item]; ok && !reflect.DeepEqual(c.Reasons, want) {
			t.Errorf("%s reasons %v, want %v", c.Item, c.Reasons, want)
		}
		if len(c.Reasons) == 0 {
			t.Errorf("%s has no reason", c.Item)
		}
	}
}

func TestRerankOptionsChecked(t *testing.T) {
	for _, change := range []func(*mf.RerankOptions){
		func(o *mf.RerankOptions) { o.MasteryThreshold = 0 },
		func(o *mf.RerankOptions) { o.PrereqPenalty = -1 },
		func(o *mf.RerankOptions) {
			o.Knowledge = catalog(t)
			o.Skills = mf.NewSkillIndex(o.Knowledge, []string{"basics", "fractions"}, nil)
			o.Levels = []float64{1} // one level for two skills
		},
		func(o *mf.RerankOptions) {
			o.TargetSuccess = 1
			o.Success = []float64{}
		},
		func(o *mf.RerankOptions) { o.Success = []float64{0.5} }, // one prediction for no candidate
	} {
		o := mf.DefaultRerankOptions()
		change(&o)
		if _, err := mf.Rerank(nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestCandidatesColdStartAndReasons(t *testing.T) {
	m, _ := mf.New(mf.DefaultConfig())
	pop := mf.NewPopularity()
	learn := func(user, item, role string) {
		m.Observe(user, item, 1)
		i, _ := m.LookupItem(item)
		pop.Add(i, role, 1)
	}
	for u := 0; u < 20; u++ {
		role := []string{"analyst", "engineer"}[u%2]
		for x := 0; x < 3; x++ {
			learn(fmt.Sprintf("%s%d", role, u), fmt.Sprintf("%s-course-%d", role, (u+x)%4), role)
		}
	}
	learn("someone", "rare-course", "")

	// A new analyst: popular among analysts, then trending (model biases).
	got := mf.Candidates(m, pop, "new-analyst", "analyst", 6, nil)
	if len(got) != 6 {
		t.Fatalf("got %d candidates", len(got))
	}
	for i, c := range got {
		want := mf.ReasonPopularInRole
		if i >= 4 {
			want = mf.ReasonTrending
		}
		if c.Reasons[0] != want || i < 4 && !strings.HasPrefix(c.Item, "analyst-") || i >= 4 && strings.HasPrefix(c.Item, "analyst-") {
			t.Fatalf("candidate %d = %+v", i, c)
		}
	}
	// Without biases, global popularity fills the list.
	cfg := mf.DefaultConfig()
	cfg.Bias = false
	m2, _ := mf.New(cfg)
	pop2 := mf.NewPopularity()
	for _, it := range []string{"a", "b", "b"} {
		m2.Observe("x", it, 1)
		i, _ := m2.LookupItem(it)
		pop2.Add(i, "", 1)
	}
	if got := mf.Candidates(m2, pop2, "newcomer", "", 2, nil); len(got) != 2 || got[0].Item != "b" || got[0].Reasons[0] != mf.ReasonPopular {
		t.Fatalf("popular fallback %+v", got)
	}
	// A known learner: the model's items, never what they already took.
	got = mf.Candidates(m, pop, "analyst0", "analyst", 3, []string{"analyst-course-3"})
	if len(got) != 3 {
		t.Fatalf("got %d candidates", len(got))
	}
	for _, c := range got {
		if slices.Contains([]string{"analyst-course-0", "analyst-course-1", "analyst-course-2", "analyst-course-3"}, c.Item) {
			t.Fatalf("recommended an item already taken or excluded: %+v", got)
		}
	}
	if got[0].Reasons[0] != mf.ReasonMF {
		t.Fatalf("first reason %v", got[0].Reasons)
	}
}

// Completed items are removed from the best down: the re-ranker asks
// about the candidates it would keep, not about all of them, and the
// list is the one removing them first would give.
func TestRerankAsksCompletedFromTheTop(t *testing.T) {
	var cands []mf.Candidate
	for i := range 30 {
		cands = append(cands, mf.Candidate{Item: fmt.Sprint("item-", i), Score: float64(i), Reasons: []string{mf.ReasonMF}})
	}
	var asked []string
	o := mf.RerankOptions{MasteryThreshold: 0.8, N: 4, Completed: func(item string) bool {
		asked = append(asked, item)
		return item == "item-29" || item == "item-27"
	}}
	got, err := mf.Rerank(cands, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"item-28", "item-26", "item-25", "item-24"}; !slices.Equal(ids(got), want) {
		t.Fatalf("ranked %v, want %v", ids(got), want)
	}
	if want := []string{"item-29", "item-28", "item-27", "item-26", "item-25", "item-24"}; !slices.Equal(asked, want) {
		t.Fatalf("asked about %v, want the six from the top down to the fourth kept %v", asked, want)
	}
	// Scores are normalised over every candidate, completed ones too.
	if got[0].Score != 28.0/29 {
		t.Fatalf("item-28 scored %v, want 28/29", got[0].Score)
	}
}
