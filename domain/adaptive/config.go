package adaptive

import "math"

// Uncertainty is the Elo step size as a function of how often the rated
// entity has been seen: U(n) = A / (1 + B n). A new learner or item moves
// fast (step A); the step shrinks as evidence accumulates, which is what
// "Elo with uncertainty" means in the adaptive-practice literature and keeps
// long-lived ratings stable without freezing them.
type Uncertainty struct {
	A float64 // step for an unseen entity; > 0
	B float64 // how fast the step shrinks with attempts; >= 0
}

// At is U(n).
func (u Uncertainty) At(n float64) float64 { return u.A / (1 + u.B*n) }

func (u Uncertainty) validate(field string) error {
	if !(u.A > 0 && u.A <= 10) {
		return configError(field+".a", u.A, "want 0 < a <= 10")
	}
	if !(u.B >= 0 && u.B <= 100) {
		return configError(field+".b", u.B, "want 0 <= b <= 100")
	}
	return nil
}

// EloConfig sets the three Elo step sizes. The predicted success is
// P = g + (1-g) * sigmoid(theta_global + mean(theta_skill) - d_item), with g
// the guessing floor of the item (1/options, 0 for open responses); after the
// answer c in [0,1], every rating moves by its own U(n) * (c - P).
type EloConfig struct {
	Ability      Uncertainty // the learner's global ability
	SkillAbility Uncertainty // the learner's ability on each skill of the item
	Difficulty   Uncertainty // the item's difficulty
}

// PredictorConfig sets the online logistic regression that combines the
// features (see features.go for the list).
type PredictorConfig struct {
	// LearningRate is the Adagrad step η. Adagrad divides it by the root of
	// each weight's summed squared gradients, so rare items and skills keep
	// learning fast while frequent ones settle: the reason for Adagrad over
	// plain SGD with one global rate.
	LearningRate float64
	// L2 is a ridge penalty on every weight, applied with its gradient.
	L2 float64
	// Recency is the decay of the exponentially weighted success rates per
	// learner and per learner-skill: each attempt multiplies the past by
	// Recency. Closer to 1 = longer memory.
	Recency float64
	// Features switches feature groups on; 0 means DefaultFeatures.
	Features Features
}

// Config configures a Model. Start from DefaultConfig.
type Config struct {
	Elo       EloConfig
	BKT       BKTParams // for skills without their own (fitted) parameters
	Predictor PredictorConfig
}

// DefaultConfig returns the defaults chosen on a validation split of the
// ASSISTments 2009 training users (see docs/adaptive.md); they are not tuned
// on the test users.
func DefaultConfig() Config {
	return Config{
		Elo: EloConfig{
			Ability:      Uncertainty{A: 0.4, B: 0.05},
			SkillAbility: Uncertainty{A: 0.2, B: 0.01},
			Difficulty:   Uncertainty{A: 1.2, B: 0.2},
		},
		BKT: DefaultBKT,
		Predictor: PredictorConfig{
			LearningRate: 0.1,
			L2:           0,
			Recency:      0.7,
			Features:     DefaultFeatures,
		},
	}
}

// Validate checks every field and names the first one out of range.
func (c Config) Validate() error {
	if err := c.Elo.Ability.validate("elo.ability"); err != nil {
		return err
	}
	if err := c.Elo.SkillAbility.validate("elo.skill_ability"); err != nil {
		return err
	}
	if err := c.Elo.Difficulty.validate("elo.difficulty"); err != nil {
		return err
	}
	if err := c.BKT.Validate(); err != nil {
		return err
	}
	p := c.Predictor
	if !(p.LearningRate > 0 && p.LearningRate <= 10) {
		return configError("predictor.learning_rate", p.LearningRate, "want 0 < rate <= 10")
	}
	if !(p.L2 >= 0 && p.L2 < 1) {
		return configError("predictor.l2", p.L2, "want 0 <= l2 < 1")
	}
	if !(p.Recency > 0 && p.Recency < 1) {
		return configError("predictor.recency", p.Recency, "want 0 < recency < 1")
	}
	if p.Features&^allFeatures != 0 {
		return configError("predictor.features", uint32(p.Features), "unknown feature bits")
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
