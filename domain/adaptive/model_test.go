package adaptive

import (
	"errors"
	"math"
	"testing"
)

func mustModel(t testing.TB) *Model {
	t.Helper()
	m, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Config)
		field string
	}{
		{"default", func(c *Config) {}, ""},
		{"zero ability step", func(c *Config) { c.Elo.Ability.A = 0 }, "elo.ability.a"},
		{"negative skill b", func(c *Config) { c.Elo.SkillAbility.B = -1 }, "elo.skill_ability.b"},
		{"NaN difficulty a", func(c *Config) { c.Elo.Difficulty.A = math.NaN() }, "elo.difficulty.a"},
		{"bad BKT", func(c *Config) { c.BKT.Slip = 2 }, "bkt.slip"},
		{"learning rate", func(c *Config) { c.Predictor.LearningRate = 0 }, "predictor.learning_rate"},
		{"l2", func(c *Config) { c.Predictor.L2 = -0.1 }, "predictor.l2"},
		{"recency 1", func(c *Config) { c.Predictor.Recency = 1 }, "predictor.recency"},
		{"unknown feature bit", func(c *Config) { c.Predictor.Features = 1 << 30 }, "predictor.features"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			_, err := New(c)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("got %v, want an error on %s", err, tt.field)
			}
		})
	}
}

func TestEventValidate(t *testing.T) {
	tests := []struct {
		name  string
		e     Event
		field string
		rule  string
	}{
		{"ok", Event{Learner: 1, Item: 2, Skills: []int32{3}, Score: 1}, "", ""},
		{"no skills is fine", Event{Learner: 1, Item: 2, Score: 0}, "", ""},
		{"partial credit", Event{Learner: 1, Item: 2, Score: 0.5}, "", ""},
		{"negative learner", Event{Learner: -1, Item: 2, Score: 1}, "learner", RuleID},
		{"huge item", Event{Learner: 1, Item: MaxID + 1, Score: 1}, "item", RuleID},
		{"negative skill", Event{Learner: 1, Item: 2, Skills: []int32{4, -3}, Score: 1}, "skills[1]", RuleID},
		{"duplicate skill", Event{Learner: 1, Item: 2, Skills: []int32{4, 4}, Score: 1}, "skills[1]", RuleDuplicateSkill},
		{"score above 1", Event{Learner: 1, Item: 2, Score: 1.5}, "score", RuleScoreRange},
		{"NaN score", Event{Learner: 1, Item: 2, Score: math.NaN()}, "score", RuleScoreRange},
		{"one option", Event{Learner: 1, Item: 2, Score: 1, Options: 1}, "options", RuleOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustModel(t)
			_, err := m.Observe(&tt.e)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || ve.Rule != tt.rule || ve.Action != ActionDLQ {
				t.Fatalf("got %#v, want %s / %s / dlq", err, tt.field, tt.rule)
			}
			if len(m.learners) != 0 || len(m.items) != 0 {
				t.Fatal("a rejected event changed the model")
			}
		})
	}
}

func TestEloDirections(t *testing.T) {
	tests := []struct {
		name      string
		score     float64
		abilityUp bool
	}{
		{"correct raises ability and lowers difficulty", 1, true},
		{"incorrect lowers ability and raises difficulty", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustModel(t)
			e := Event{Learner: 0, Item: 0, Skills: []int32{0}, Score: tt.score}
			p, err := m.Observe(&e)
			if err != nil {
				t.Fatal(err)
			}
			if p.Elo != 0.5 || p.P != 0.5 {
				t.Fatalf("fresh model should predict 0.5, got %+v", p)
			}
			st := m.LearnerSkill(0, 0)
			d, n := m.ItemDifficulty(0)
			if (st.Ability > 0) != tt.abilityUp || (st.SkillAbility > 0) != tt.abilityUp || (d < 0) != tt.abilityUp || n != 1 {
				t.Fatalf("ability %v skill %v difficulty %v (n=%d)", st.Ability, st.SkillAbility, d, n)
			}
			// The step is U(0) * (c - P) = a * ±0.5.
			if want := DefaultConfig().Elo.Ability.A * 0.5; math.Abs(math.Abs(st.Ability)-want) > 1e-12 {
				t.Fatalf("ability step %v, want %v", st.Ability, want)
			}
			if st.Attempts != 1 {
				t.Fatalf("attempts %d", st.Attempts)
			}
		})
	}
}

func TestUncertaintyShrinks(t *testing.T) {
	u := Uncertainty{A: 1, B: 0.5}
	if u.At(0) != 1 || u.At(2) != 0.5 || !(u.At(10) < u.At(9)) {
		t.Fatalf("U(0)=%v U(2)=%v", u.At(0), u.At(2))
	}
}

func TestGuessingFloor(t *testing.T) {
	m := mustModel(t)
	// A learner failing a 4-option item over and over: Elo's prediction
	// must never drop below the guessing floor 1/4.
	e := Event{Learner: 0, Item: 0, Skills: []int32{0}, Score: 0, Options: 4}
	for i := 0; i < 50; i++ {
		p, err := m.Observe(&e)
		if err != nil {
			t.Fatal(err)
		}
		if p.Elo < 0.25 || p.P < 0.25 {
			t.Fatalf("attempt %d: prediction %+v below the floor", i, p)
		}
	}
}

func TestPredictDoesNotLearn(t *testing.T) {
	m := mustModel(t)
	d := synthetic(20, 30, 4, 20, 2)
	var e Event
	for i := 0; i < d.Len(); i++ {
		d.Event(i, &e)
		if _, err := m.Observe(&e); err != nil {
			t.Fatal(err)
		}
	}
	probe := Event{Learner: 3, Item: 7, Skills: []int32{1, 2}, Score: 1}
	a, _ := m.Predict(&probe)
	b, _ := m.Predict(&probe)
	if a != b {
		t.Fatalf("Predict changed state: %+v then %+v", a, b)
	}
	o, _ := m.Observe(&probe)
	if o != a {
		t.Fatalf("Observe predicted %+v, Predict %+v", o, a)
	}
	c, _ := m.Predict(&probe)
	if c == a {
		t.Fatal("Observe did not learn")
	}
	// Unknown learner, item and skill: priors, no state created.
	n := len(m.learners)
	unk := Event{Learner: 1000, Item: 5000, Skills: []int32{77}, Score: 1}
	p, err := m.Predict(&unk)
	if err != nil || len(m.learners) != n || p.BKT != DefaultBKT.PCorrect(DefaultBKT.Prior) {
		t.Fatalf("unknown: %+v %v", p, err)
	}
}

func TestNoSkillEvent(t *testing.T) {
	m := mustModel(t)
	e := Event{Learner: 0, Item: 0, Score: 1}
	p, err := m.Observe(&e)
	if err != nil {
		t.Fatal(err)
	}
	if p.BKT != 0.5 {
		t.Fatalf("BKT without skills = %v, want 0.5", p.BKT)
	}
	if st := m.LearnerSkill(0, 0); st.Ability <= 0 {
		t.Fatalf("global ability not updated: %+v", st)
	}
}

func TestFreezeShared(t *testing.T) {
	m := mustModel(t)
	e := Event{Learner: 0, Item: 0, Skills: []int32{0}, Score: 1}
	m.Observe(&e)
	d0, n0 := m.ItemDifficulty(0)
	w0 := m.w
	m.FreezeShared(true)
	e.Learner = 1
	m.Observe(&e)
	if d, n := m.ItemDifficulty(0); d != d0 || n != n0 || m.w != w0 {
		t.Fatal("frozen model changed shared parameters")
	}
	if m.LearnerSkill(1, 0).Ability <= 0 {
		t.Fatal("frozen model must still learn the learner")
	}
}

func TestSetSkillBKT(t *testing.T) {
	m := mustModel(t)
	p := BKTParams{Prior: 0.9, Learn: 0.3, Guess: 0.1, Slip: 0.05}
	if err := m.SetSkillBKT(4, p); err != nil {
		t.Fatal(err)
	}
	if m.SkillBKT(4) != p || m.SkillBKT(3) != DefaultBKT {
		t.Fatal("skill parameters not stored")
	}
	if st := m.LearnerSkill(0, 4); st.Mastery != 0.9 {
		t.Fatalf("fresh mastery %v, want the skill prior", st.Mastery)
	}
	if err := m.SetSkillBKT(-1, p); err == nil {
		t.Fatal("negative skill accepted")
	}
	if err := m.SetSkillBKT(1, BKTParams{Guess: 0.7, Slip: 0.5}); err == nil {
		t.Fatal("invalid params accepted")
	}
}

// The hot path must not allocate once the learner, item and skills exist.
func TestObserveZeroAllocs(t *testing.T) {
	m := mustModel(t)
	d := synthetic(50, 100, 10, 30, 4)
	var e Event
	for i := 0; i < d.Len(); i++ {
		d.Event(i, &e)
		m.Observe(&e)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		d.Event(i%d.Len(), &e)
		m.Observe(&e)
		i++
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %v times per event", allocs)
	}
}

func TestPairTable(t *testing.T) {
	var pt pairTable[int32]
	if pt.get(5) != nil {
		t.Fatal("empty table found a key")
	}
	for i := int32(0); i < 5000; i++ {
		v, added := pt.insert(pairKey(i, i*7))
		if !added {
			t.Fatalf("key %d already present", i)
		}
		*v = i
	}
	for i := int32(0); i < 5000; i++ {
		v := pt.get(pairKey(i, i*7))
		if v == nil || *v != i {
			t.Fatalf("key %d: %v", i, v)
		}
		if pt.get(pairKey(i, i*7+1)) != nil {
			t.Fatalf("absent key %d found", i)
		}
	}
	if _, added := pt.insert(pairKey(3, 21)); added || pt.len() != 5000 {
		t.Fatal("re-insert added a key")
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		in   string
		want Features
		ok   bool
	}{
		{"all", DefaultFeatures, true},
		{"elo,bkt", FeatElo | FeatBKT, true},
		{"all,-recency", allFeatures &^ FeatRecency, true},
		{"elo, item-rate", FeatElo | FeatItemRate, true},
		{"bogus", 0, false},
		{"", 0, false},
		{"elo,-elo", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFeatures(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseFeatures(%q) = %v, %v", tt.in, got, err)
			}
			if tt.ok {
				back, err := ParseFeatures(got.String())
				if err != nil || back != got {
					t.Fatalf("round trip of %q: %v %v", got.String(), back, err)
				}
			}
		})
	}
}
