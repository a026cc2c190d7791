package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func masteryEvent(t testing.TB, off int64, learner, skill string, p, prev float64, correct bool) event.Event {
	t.Helper()
	score := 0.0
	if correct {
		score = 1
	}
	d := MasteryUpdated{Learner: learner, Skill: skill, PMastery: p, PPrevious: prev, Item: "https://example.com/q1",
		Statement: uuid(int(off)), Correct: correct, At: t0.Add(time.Duration(off) * time.Minute), Score: score,
		Ability: float64(off) / 10, Attempts: int(off) + 1, RecentSuccess: 0.5, RecentAttempts: 1, InputPartition: 0, InputOffset: off}
	b, _ := json.Marshal(d)
	e, err := event.New(fmt.Sprintf("m-%d-%s", off, skill), TypeMasteryUpdated, "test", "t1", learner, t0, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func difficultyEvent(t testing.TB, part int, off int64, learner, item string, diff float64, attempts int, correct bool) event.Event {
	t.Helper()
	d := DifficultyAdjusted{Item: item, Difficulty: diff, Learner: learner, Ability: 0.3, Expected: 0.6, Correct: correct,
		Statement: uuid(int(off)), At: t0.Add(time.Duration(off) * time.Minute), ItemAttempts: attempts,
		InputPartition: part, InputOffset: off}
	if correct {
		d.Score = 1
	}
	b, _ := json.Marshal(d)
	e, err := event.New(fmt.Sprintf("d-%d-%d", part, off), TypeDifficultyAdjusted, "test", "t1", learner, t0, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAdaptiveReadModel(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	a, err := NewAdaptive(store, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(off int64, e event.Event) {
		t.Helper()
		if err := a.Handle(ctx, event.Position{Topic: "learnstream.adaptive.v1", Partition: 0, Offset: off}, e); err != nil {
			t.Fatal(err)
		}
	}
	// Mastery of ada on sql: 0.3 -> 0.6 -> 0.92 (mastered) -> 0.7.
	steps := []struct {
		p, prev float64
		correct bool
	}{{0.6, 0.3, true}, {0.92, 0.6, true}, {0.7, 0.92, false}, {0.93, 0.7, true}}
	topicOff := int64(0)
	for i, s := range steps {
		apply(topicOff, masteryEvent(t, int64(i), "ada", "sql", s.p, s.prev, s.correct))
		topicOff++
	}
	// The consumer re-published attempt 2 after a restart (new topic
	// offset, same input position): not counted again.
	apply(topicOff, masteryEvent(t, 2, "ada", "sql", 0.7, 0.92, false))
	topicOff++

	skills, err := a.LearnerSkills(ctx, "t1", "ada")
	if err != nil || len(skills) != 1 {
		t.Fatalf("skills = %+v, %v", skills, err)
	}
	s := skills[0]
	if s.Attempts != 4 || s.Correct != 3 || s.PMastery != 0.93 || s.PInitial != 0.3 || !s.FirstCorrect {
		t.Errorf("skill = %+v", s)
	}
	if s.MasteredAt == nil || !s.MasteredAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("mastered_at = %v, want the second attempt's time (first to reach 0.9)", s.MasteredAt)
	}
	if d, ok := s.TimeToMastery(); !ok || d != time.Minute {
		t.Errorf("time to mastery = %v %v", d, ok)
	}
	if pre, post, ok := s.Gain(); !ok || pre != 1 || post != 0.5 {
		t.Errorf("gain = %v %v %v, want pre 1 (first 2) post 0.5 (last 2)", pre, post, ok)
	}
	if len(s.Trajectory) != 4 || s.Trajectory[2].PMastery != 0.7 {
		t.Errorf("trajectory = %+v", s.Trajectory)
	}
	if m, _ := a.Mastery(ctx, "t1", "ada"); m["sql"] != 0.93 {
		t.Errorf("Mastery = %v", m)
	}
	if m, _ := a.Mastery(ctx, "t2", "ada"); len(m) != 0 {
		t.Errorf("tenant t2 sees t1's mastery: %v", m)
	}

	// Trajectories are bounded.
	for i := 4; i < 4+2*TrajectoryLen; i++ {
		apply(topicOff, masteryEvent(t, int64(i), "ada", "sql", 0.5, 0.5, i%2 == 0))
		topicOff++
	}
	skills, _ = a.LearnerSkills(ctx, "t1", "ada")
	if n := len(skills[0].Trajectory); n != TrajectoryLen || len(skills[0].LastScores) != GainWindow || len(skills[0].FirstScores) != GainWindow {
		t.Errorf("trajectory of %d points, %d/%d gain scores", n, len(skills[0].FirstScores), len(skills[0].LastScores))
	}

	// Item difficulty: two partition models, weighted by attempts.
	apply(topicOff, difficultyEvent(t, 0, 10, "ada", "q1", 1.0, 3, true))
	apply(topicOff+1, difficultyEvent(t, 1, 5, "bob", "q1", -1.0, 1, false))
	apply(topicOff+2, difficultyEvent(t, 1, 5, "bob", "q1", -1.0, 1, false)) // re-published
	topicOff += 3
	items, err := a.Items(ctx, "t1", []string{"q1", "q9"})
	if err != nil {
		t.Fatal(err)
	}
	if d := items["q1"]; d.Attempts != 4 || d.Difficulty != 0.5 {
		t.Errorf("q1 = %+v, want attempts 4, difficulty (3*1 + 1*-1)/4", d)
	}
	if _, ok := items["q9"]; ok {
		t.Error("an item never attempted has a difficulty")
	}
	lis, _ := a.LearnerItems(ctx, "t1", "bob")
	if len(lis) != 1 || lis[0].Attempts != 1 || lis[0].Correct != 0 {
		t.Errorf("bob's items = %+v", lis)
	}
	by, _ := a.ItemLearners(ctx, "t1", map[string]bool{"q1": true})
	if len(by) != 2 {
		t.Errorf("learners of q1 = %v", by)
	}
	if ab, ok, _ := a.LearnerAbility(ctx, "t1", "ada"); !ok || ab != 0.3 {
		t.Errorf("ability = %v %v", ab, ok)
	}
	// Success predictions for the recommender: Elo of ability 0.3 against
	// difficulty 0.5; nothing for unattempted items or unknown learners.
	answer, err := a.PredictSuccess(ctx, "t1", "ada", []string{"q1", "q9"})
	ps := predictionMap([]string{"q1", "q9"}, answer)
	if want := 1 / (1 + math.Exp(0.2)); err != nil || len(ps) != 1 || math.Abs(ps["q1"]-want) > 1e-9 {
		t.Errorf("PredictSuccess = %v, %v; want q1 %.4f only", ps, err, want)
	}
	if ps, err := a.PredictSuccess(ctx, "t1", "nobody", []string{"q1"}); err != nil || ps != nil {
		t.Errorf("PredictSuccess for a learner without attempts = %v, %v; want none", ps, err)
	}
	// Predictions see a difficulty once it is committed, though the
	// item's (absence of a) difficulty was cached: q9 attempted now
	// (difficulty 0.3, ability 0.3 → 0.5).
	apply(topicOff, difficultyEvent(t, 0, 11, "ada", "q9", 0.3, 1, true))
	topicOff++
	if answer, _ := a.PredictSuccess(ctx, "t1", "ada", []string{"q1", "q9"}); len(predictionMap([]string{"q1", "q9"}, answer)) != 2 || math.Abs(answer[1]-0.5) > 1e-9 {
		t.Errorf("PredictSuccess after q9's first attempt = %v, want q9 at 0.5 too", ps)
	}
	// A second partition's model of q9 (difficulty 0.7 over 3 attempts)
	// weighs in by attempts: (0.3 + 3 x 0.7) / 4 = 0.6.
	apply(topicOff, difficultyEvent(t, 1, 12, "ada", "q9", 0.7, 3, true))
	topicOff++
	want := 1 / (1 + math.Exp(0.3))
	if ps, _ := a.PredictSuccess(ctx, "t1", "ada", []string{"q9"}); len(ps) != 1 || math.Abs(ps[0]-want) > 1e-9 {
		t.Errorf("PredictSuccess with two partitions' parts = %v, want q9 at %.4f", ps, want)
	}
	if d, err := a.Items(ctx, "t1", []string{"q9"}); err != nil || math.Abs(d["q9"].Difficulty-0.6) > 1e-9 || d["q9"].Attempts != 4 {
		t.Errorf("Items(q9) = %+v, %v; want difficulty 0.6 over 4 attempts", d, err)
	}

	// Bad events are rejected, never applied.
	for _, data := range []string{`{`, `{"skill":"sql"}`, `{"learner":"ada"}`, `{"learner":"ada","skill":"sql","p_mastery":2}`} {
		e, _ := event.New("bad", TypeMasteryUpdated, "test", "t1", "ada", t0, []byte(data))
		err := a.Handle(ctx, event.Position{Topic: "learnstream.adaptive.v1", Offset: topicOff}, e)
		if !event.IsRejected(err) {
			t.Errorf("%s: %v, want a rejection", data, err)
		}
	}
	e, _ := event.New("v2", strings.TrimSuffix(TypeDifficultyAdjusted, "1")+"2", "test", "t1", "ada", t0, []byte(`{}`))
	if err := a.Handle(ctx, event.Position{Topic: "learnstream.adaptive.v1", Offset: topicOff}, e); !event.IsRejected(err) {
		t.Errorf("major version 2: %v, want a rejection", err)
	}
	if _, err := NewAdaptive(store, 1.5); err == nil {
		t.Error("threshold 1.5 accepted")
	}
}
