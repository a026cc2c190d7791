package mf

import (
	"fmt"
	"math"
)

// Verb IRIs with a default confidence weight (ADL vocabulary, cmi5).
const (
	VerbCompleted   = "http://adlnet.gov/expapi/verbs/completed"
	VerbPassed      = "http://adlnet.gov/expapi/verbs/passed"
	VerbMastered    = "http://adlnet.gov/expapi/verbs/mastered"
	VerbFailed      = "http://adlnet.gov/expapi/verbs/failed"
	VerbAnswered    = "http://adlnet.gov/expapi/verbs/answered"
	VerbAttempted   = "http://adlnet.gov/expapi/verbs/attempted"
	VerbProgressed  = "http://adlnet.gov/expapi/verbs/progressed"
	VerbRegistered  = "http://adlnet.gov/expapi/verbs/registered"
	VerbExperienced = "http://adlnet.gov/expapi/verbs/experienced"
	VerbLaunched    = "http://adlnet.gov/expapi/verbs/launched"
	VerbInitialized = "http://adlnet.gov/expapi/verbs/initialized"
	VerbInteracted  = "http://adlnet.gov/expapi/verbs/interacted"
	VerbTerminated  = "http://adlnet.gov/expapi/verbs/terminated"
	VerbVoided      = "http://adlnet.gov/expapi/verbs/voided"
	VerbSatisfied   = "https://w3id.org/xapi/adl/verbs/satisfied"
	VerbWaived      = "https://w3id.org/xapi/adl/verbs/waived"
	VerbAbandoned   = "https://w3id.org/xapi/adl/verbs/abandoned"
)

// Weights turn xAPI verbs and results into the confidence of an implicit
// interaction. A confidence of 0 means "no interest signal": the model
// ignores the event.
type Weights struct {
	// Verbs maps a verb IRI to its weight (>= 0).
	Verbs map[string]float64
	// Default is the weight of a verb not in Verbs.
	Default float64
	// Unsuccessful multiplies the weight when result.success is false (for
	// verbs other than failed, whose weight already says so), e.g. a wrong
	// answer is weaker evidence of interest than a right one.
	Unsuccessful float64
}

// DefaultWeights returns the documented defaults:
//
//	passed, mastered                    4    strong, deliberate engagement
//	completed, satisfied                3
//	registered                          2    an explicit choice (enrolment)
//	answered, attempted, progressed     1
//	failed                              0.5  small but positive interest
//	launched, initialized, experienced, interacted  0.5  cheap, noisy signals
//	abandoned                           0.25
//	terminated, waived, voided          0    no interest signal (ignored)
//	any other verb                      1
//	result.success = false              x0.5
func DefaultWeights() Weights {
	return Weights{
		Verbs: map[string]float64{
			VerbPassed:      4,
			VerbMastered:    4,
			VerbCompleted:   3,
			VerbSatisfied:   3,
			VerbRegistered:  2,
			VerbAnswered:    1,
			VerbAttempted:   1,
			VerbProgressed:  1,
			VerbFailed:      0.5,
			VerbLaunched:    0.5,
			VerbInitialized: 0.5,
			VerbExperienced: 0.5,
			VerbInteracted:  0.5,
			VerbAbandoned:   0.25,
			VerbTerminated:  0,
			VerbWaived:      0,
			VerbVoided:      0,
		},
		Default:      1,
		Unsuccessful: 0.5,
	}
}

// Validate checks that every weight is a finite number >= 0.
func (w Weights) Validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	for verb, v := range w.Verbs {
		if bad(v) {
			return fmt.Errorf("weights: verb %s: weight %v must be a finite number >= 0", verb, v)
		}
	}
	if bad(w.Default) {
		return fmt.Errorf("weights: default weight %v must be a finite number >= 0", w.Default)
	}
	if bad(w.Unsuccessful) {
		return fmt.Errorf("weights: unsuccessful factor %v must be a finite number >= 0", w.Unsuccessful)
	}
	return nil
}

// Confidence returns the confidence of a statement with the given verb and
// result.success (nil when the statement has no success result).
func (w Weights) Confidence(verb string, success *bool) float64 {
	c, ok := w.Verbs[verb]
	if !ok {
		c = w.Default
	}
	if success != nil && !*success && verb != VerbFailed {
		c *= w.Unsuccessful
	}
	return c
}
