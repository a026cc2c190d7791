package adaptive

import (
	"math"
	"strconv"
)

// TargetConfig sets how the next item's difficulty is chosen: the item whose
// predicted success is nearest a target probability. 0.7 by default: hard
// enough to learn from, easy enough to keep a learner going (the usual
// range in adaptive practice is 0.6-0.8).
type TargetConfig struct {
	Target float64 // desired success probability, in (0, 1)
	// Gain scales how far recent results move the target: the adjusted
	// target is Target + Gain * w * (Target - recent success rate), so a
	// learner who has been failing gets easier items and one who has been
	// succeeding harder ones.
	Gain float64
	// Evidence is the number of (decayed) recent attempts at which the
	// adjustment has half its weight: w = n / (n + Evidence). A learner with
	// one lucky answer should not swing the target.
	Evidence float64
	// Min and Max bound the adjusted target.
	Min, Max float64
}

// DefaultTarget is the default target policy.
func DefaultTarget() TargetConfig {
	return TargetConfig{Target: 0.7, Gain: 0.5, Evidence: 3, Min: 0.5, Max: 0.9}
}

// Validate checks the target policy.
func (c TargetConfig) Validate() error {
	switch {
	case !(c.Min > 0 && c.Min < 1):
		return configError("target.min", c.Min, "want 0 < min < 1")
	case !(c.Max > 0 && c.Max < 1) || c.Max < c.Min:
		return configError("target.max", c.Max, "want min <= max < 1")
	case !(c.Target >= c.Min && c.Target <= c.Max):
		return configError("target.target", c.Target, "want min <= target <= max")
	case !(c.Gain >= 0 && c.Gain <= 10):
		return configError("target.gain", c.Gain, "want 0 <= gain <= 10")
	case !(c.Evidence >= 0) || !finite(c.Evidence):
		return configError("target.evidence", c.Evidence, "want >= 0")
	}
	return nil
}

// Recent is a learner's recent performance on a skill (see Model.Recent).
type Recent struct {
	SuccessRate float64 // decayed success rate in [0,1]
	Attempts    float64 // decayed number of attempts behind it; 0 = none
}

// Candidate is an item with the learner's predicted success on it (e.g.
// Prediction.P from Model.Predict).
type Candidate struct {
	Item int32
	P    float64
}

// AdjustedTarget is the target success probability for a learner with the
// given recent performance.
func (c TargetConfig) AdjustedTarget(r Recent) float64 {
	t := c.Target
	if r.Attempts > 0 && r.SuccessRate >= 0 && r.SuccessRate <= 1 {
		w := r.Attempts / (r.Attempts + c.Evidence)
		t += c.Gain * w * (c.Target - r.SuccessRate)
	}
	return math.Min(c.Max, math.Max(c.Min, t))
}

// PickTarget returns the index of the candidate whose predicted success is
// nearest the adjusted target, and that target. Ties go to the earlier
// candidate, so callers control preference by order (e.g. recommender rank).
// It is a pure function of its arguments.
func PickTarget(c TargetConfig, r Recent, cands []Candidate) (int, float64, error) {
	if err := c.Validate(); err != nil {
		return -1, 0, err
	}
	if len(cands) == 0 {
		return -1, 0, invalid("candidates", RuleRequired, nil, ActionDLQ)
	}
	t := c.AdjustedTarget(r)
	best, bestD := -1, math.Inf(1)
	for i, cand := range cands {
		if !(cand.P >= 0 && cand.P <= 1) {
			return -1, 0, invalid("candidates["+strconv.Itoa(i)+"].p", RuleScoreRange, cand.P, ActionDLQ)
		}
		if d := math.Abs(cand.P - t); d < bestD {
			best, bestD = i, d
		}
	}
	return best, t, nil
}
