package adaptive

import "math"

// EloPredict is the Elo prediction from ratings alone: the success
// probability g + (1-g) * sigmoid(ability - difficulty) of a learner with
// the given ability (global plus skill ability) on an item with the given
// difficulty and guessing floor g (0 for open responses). Read models that
// keep the ratings a Model published, but not the Model, predict with it
// (e.g. to rank candidates for PickTarget). Inputs are clamped to finite,
// sensible ranges so a corrupt rating cannot produce NaN.
func EloPredict(ability, difficulty, guess float64) float64 {
	if !(guess >= 0 && guess < 1) {
		guess = 0
	}
	z := ability - difficulty
	switch {
	case math.IsNaN(z):
		z = 0
	case z > 40:
		z = 40
	case z < -40:
		z = -40
	}
	return guess + (1-guess)*sigmoid(z)
}
