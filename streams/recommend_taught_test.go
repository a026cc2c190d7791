package streams_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// skillChain is a catalog of three courses teaching s1 -> s2 -> s3
// (each skill the prerequisite of the next) and a recommender over it,
// with mastery read from mastery when it is not nil.
func skillChain(t *testing.T, mastery streams.MasteryReader) (r *streams.Recommender, sink *memSink, basics, advanced, expert string) {
	t.Helper()
	basics, advanced, expert = "https://example.com/c/basics", "https://example.com/c/advanced", "https://example.com/c/expert"
	g := graph.New()
	for _, s := range []string{"s1", "s2", "s3"} {
		if err := g.PutSkill(graph.Skill{ID: s}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range [][2]string{{"s1", "s2"}, {"s2", "s3"}} {
		if err := g.AddPrerequisite(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []graph.Activity{
		{ID: basics, Type: graph.TypeCourse, Teaches: []string{"s1"}},
		{ID: advanced, Type: graph.TypeCourse, Teaches: []string{"s2"}},
		{ID: expert, Type: graph.TypeCourse, Teaches: []string{"s3"}},
	} {
		if err := g.PutActivity(a); err != nil {
			t.Fatal(err)
		}
	}
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sink = &memSink{}
	ck, err := projections.NewRecommenderCheckpoints(store)
	if err != nil {
		t.Fatal(err)
	}
	cfg := streams.RecommenderConfig{Catalog: fakeCatalog{g}, Checkpoints: ck, Publisher: sink,
		Pseudonyms: forgetSecret, CheckpointEvery: 1 << 30, CheckpointInterval: time.Hour, FlushEvents: 1}
	if mastery != nil {
		cfg.Mastery = mastery
	}
	r, err = streams.NewRecommender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, sink, basics, advanced, expert
}

// fixedMastery is an adaptive model's mastery, the same for every learner.
type fixedMastery map[string]float64

func (m fixedMastery) Mastery(context.Context, string, string) (map[string]float64, error) {
	return maps.Clone(m), nil
}

// numberedMastery is fixedMastery read as a MasteryBatchReader gives it:
// by the reader's skill numbers, the positions in names, which are not
// the catalog's.
type numberedMastery struct {
	fixedMastery
	names []string
}

func (m numberedMastery) MasteryOf(_ context.Context, _ string, learners []string) (map[string][]projections.SkillLevel, error) {
	out := map[string][]projections.SkillLevel{}
	for _, l := range learners {
		for s, p := range m.fixedMastery {
			out[l] = append(out[l], projections.SkillLevel{Skill: int32(slices.Index(m.names, s)), P: p})
		}
	}
	return out, nil
}

func (m numberedMastery) SkillName(n int32) string { return m.names[n] }

// The adaptive model's mastery counts in ranking: a prerequisite it
// reports mastered makes the next course ready to learn, one below the
// threshold does not, with nothing completed; read by skill id or by the
// reader's numbers.
func TestRecommenderMasteryFromTheAdaptiveModel(t *testing.T) {
	fixed := fixedMastery{"s1": 0.9, "s2": 0.3, "unknown-skill": 1}
	for _, tc := range []struct {
		name    string
		mastery streams.MasteryReader
	}{
		{"by skill id", fixed},
		{"by the reader's numbers", numberedMastery{fixed, []string{"unknown-skill", "s2", "s3", "s1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, sink, basics, advanced, expert := skillChain(t, tc.mastery)
			ctx := context.Background()
			e := stmtEvent(t, 0, "ann@example.com", basics, "launched")
			if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements}, e); err != nil {
				t.Fatal(err)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			reasons := latestReasons(t, sink.recs())
			for item, want := range map[string]string{
				advanced: mf.ReasonReadyToLearn,       // needs s1, at 0.9
				expert:   mf.ReasonPrerequisitesUnmet, // needs s2, at 0.3
			} {
				if !slices.Contains(reasons[item], want) {
					t.Errorf("%s offered with %v, want %s", item, reasons[item], want)
				}
			}
		})
	}
}

// A learner's mastery in ranking counts the skills of every item they
// completed, including the one completed since their last list: an
// activity whose prerequisite they just learned is offered next.
func TestRecommenderMasteryFollowsCompletions(t *testing.T) {
	r, sink, basics, advanced, expert := skillChain(t, nil)
	ctx := context.Background()
	steps := []struct {
		name, item, verb string
		// ready are offered with their prerequisites met, unmet without;
		// gone are not offered (completed).
		ready, unmet, gone []string
	}{
		{"launched the basics", basics, "launched", nil, []string{advanced, expert}, nil},
		{"completed the basics", basics, "completed", []string{advanced}, []string{expert}, []string{basics}},
		{"launched the advanced course", advanced, "launched", nil, []string{expert}, []string{basics}},
		{"completed the advanced course", advanced, "completed", []string{expert}, nil, []string{basics, advanced}},
		// Erased, then back: nothing of what she completed before counts.
		{"erased", "", "", nil, nil, nil},
		{"launched the basics after the erasure", basics, "launched", nil, []string{advanced, expert}, nil},
	}
	for i, s := range steps {
		e := learnerErased(t, "x1", "t1", "mbox:mailto:ann@example.com")
		if s.item != "" {
			e = stmtEvent(t, i, "ann@example.com", s.item, s.verb)
		}
		if err := r.Handle(ctx, streams.Position{Topic: streams.TopicStatements, Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
		if s.item == "" {
			continue
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		reasons := latestReasons(t, sink.recs())
		for _, it := range s.ready {
			if !slices.Contains(reasons[it], mf.ReasonReadyToLearn) {
				t.Errorf("%s: %s offered with %v, want %s", s.name, it, reasons[it], mf.ReasonReadyToLearn)
			}
		}
		for _, it := range s.unmet {
			if !slices.Contains(reasons[it], mf.ReasonPrerequisitesUnmet) {
				t.Errorf("%s: %s offered with %v, want %s", s.name, it, reasons[it], mf.ReasonPrerequisitesUnmet)
			}
		}
		for _, it := range s.gone {
			if _, ok := reasons[it]; ok {
				t.Errorf("%s: completed %s offered", s.name, it)
			}
		}
	}
}

// latestReasons is the reasons of each item of the last list published.
func latestReasons(t *testing.T, recs []event.Event) map[string][]string {
	t.Helper()
	if len(recs) == 0 {
		t.Fatal("no RecommendationsUpdated published")
	}
	var d projections.RecommendationsUpdated
	if err := json.Unmarshal(recs[len(recs)-1].Data, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, it := range d.Items {
		out[it.Item] = it.Reasons
	}
	return out
}
