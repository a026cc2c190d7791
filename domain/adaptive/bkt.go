package adaptive

import "math"

// BKTParams are one skill's Bayesian Knowledge Tracing parameters: a
// two-state hidden Markov model (skill not known / known) observed through
// correct and incorrect answers.
type BKTParams struct {
	Prior  float64 // P(known) before the first attempt
	Learn  float64 // P(not known -> known) after an attempt
	Forget float64 // P(known -> not known) after an attempt; 0 in classic BKT
	Guess  float64 // P(correct | not known)
	Slip   float64 // P(incorrect | known)
}

// DefaultBKT is used for skills without fitted parameters. The values are the
// usual textbook starting point (and the first EM initialisation): a third of
// learners know the skill up front, a tenth learn it per attempt, guessing
// at 0.2 and slipping at 0.1 keep "known" clearly better than "not known".
var DefaultBKT = BKTParams{Prior: 0.3, Learn: 0.1, Forget: 0, Guess: 0.2, Slip: 0.1}

// Validate checks that every parameter is a probability and that the known
// state predicts success better than the unknown one (Guess + Slip < 1);
// otherwise "mastery" would mean the opposite of what a reader expects.
func (p BKTParams) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"bkt.prior", p.Prior}, {"bkt.learn", p.Learn}, {"bkt.forget", p.Forget}, {"bkt.guess", p.Guess}, {"bkt.slip", p.Slip}} {
		if !(f.v >= 0 && f.v <= 1) {
			return configError(f.name, f.v, "want a probability in [0, 1]")
		}
	}
	if p.Guess+p.Slip >= 1 {
		return configError("bkt.guess+bkt.slip", p.Guess+p.Slip, "want < 1 so that knowing the skill raises the success probability")
	}
	return nil
}

// PCorrect is the probability of a correct answer when the skill is known
// with probability known.
func (p *BKTParams) PCorrect(known float64) float64 {
	return known*(1-p.Slip) + (1-known)*p.Guess
}

// Posterior is P(known) after observing one answer (correct or not), before
// the learning transition.
func (p *BKTParams) Posterior(known float64, correct bool) float64 {
	var a, b float64 // likelihood of the answer in the known / unknown state
	if correct {
		a, b = known*(1-p.Slip), (1-known)*p.Guess
	} else {
		a, b = known*p.Slip, (1-known)*(1-p.Guess)
	}
	if s := a + b; s > 0 {
		return a / s
	}
	return known
}

// Step is the online update for one answer: the Bayesian posterior followed
// by the learning (and forgetting) transition that the attempt gives.
func (p *BKTParams) Step(known float64, correct bool) float64 {
	post := p.Posterior(known, correct)
	return post*(1-p.Forget) + (1-post)*p.Learn
}

// logit with the argument kept away from 0 and 1 so features stay finite.
func logit(p float64) float64 {
	const eps = 1e-6
	if p < eps {
		p = eps
	} else if p > 1-eps {
		p = 1 - eps
	}
	return math.Log(p / (1 - p))
}

func sigmoid(z float64) float64 {
	return 1 / (1 + math.Exp(-z))
}
