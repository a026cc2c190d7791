package adaptive

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every validation error of this package, so that a
// caller can tell bad input (send it to a DLQ, count it, report it) from a
// programming error with errors.Is(err, ErrInvalid).
var ErrInvalid = errors.New("invalid input")

// Action is what a consumer does with an event that failed validation. Each
// rule below documents its action; the consumer must not guess.
type Action int

const (
	// ActionDLQ: the event cannot be used. The consumer sends it to the
	// dead-letter topic with Error() as the reason and moves on; the model
	// state is untouched.
	ActionDLQ Action = iota
	// ActionDefault: the event is usable after applying the default written
	// next to the rule. Resolve has already applied it to the Event it filled;
	// the consumer logs or counts the error and goes on.
	ActionDefault
)

func (a Action) String() string {
	switch a {
	case ActionDLQ:
		return "dlq"
	case ActionDefault:
		return "default"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Rules broken by input. They are stable strings: consumers may switch on
// them and dashboards may group by them.
const (
	// RuleRequired: a required field is missing or empty. Action: DLQ, except
	// for skills (see RuleNoSkills).
	RuleRequired = "required"
	// RuleScoreRange: the score is NaN or outside [0, 1]. Action: DLQ; a
	// clamped score would teach the model an outcome nobody observed.
	RuleScoreRange = "must be a number in [0, 1]"
	// RuleNoSkills: the item names no skill. Action: Default — the event
	// updates the learner's global ability, the item's difficulty and the
	// global and item features of the predictor; no skill-level ability, no
	// BKT mastery and no mastery event. Dropping it would lose the item's
	// difficulty evidence for no good reason.
	RuleNoSkills = "must name at least one skill"
	// RuleUnknownSkill: a skill is not in the catalog of a strict Index.
	// Action: DLQ. The catalog topic may simply be behind; replaying the DLQ
	// after it catches up recovers the event, whereas inventing a skill
	// would split its evidence under a name the catalog never had.
	RuleUnknownSkill = "must be a skill of the catalog"
	// RuleDuplicateSkill: a skill is listed twice for one attempt. Action:
	// Default — the duplicate is dropped, so the skill is counted once.
	RuleDuplicateSkill = "must not repeat a skill"
	// RuleOptions: the number of answer options is negative or 1. Action: DLQ;
	// the guessing floor 1/options would be meaningless.
	RuleOptions = "must be 0 (open response) or at least 2"
	// RuleID: a dense id is negative or too large for the model. Action: DLQ
	// (only reachable by callers that build Events without an Index).
	RuleID = "must be a dense id in [0, MaxID]"
	// RuleConfig: a configuration value is out of its range. Returned by
	// constructors; never reaches a consumer at run time.
	RuleConfig = "out of range"
)

// ValidationError is bad input: it names the field, the rule and the value.
// Constructors and Validate methods return it for configuration too (Rule
// starts with RuleConfig); Action has no meaning there.
type ValidationError struct {
	Field  string // e.g. "score", "skills[2]", "elo.ability.a"
	Rule   string // one of the Rule constants
	Value  string // the offending value as text; empty when missing
	Action Action // what a consumer does with the event
}

func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Rule)
	}
	return fmt.Sprintf("%s: %s (got %s)", e.Field, e.Rule, e.Value)
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, rule string, value any, action Action) *ValidationError {
	v := ""
	if value != nil {
		v = fmt.Sprint(value)
		if s, ok := value.(string); ok {
			v = fmt.Sprintf("%q", s)
		}
	}
	return &ValidationError{Field: field, Rule: rule, Value: v, Action: action}
}

func configError(field string, value any, want string) *ValidationError {
	return &ValidationError{Field: field, Rule: RuleConfig + ": " + want, Value: fmt.Sprint(value), Action: ActionDLQ}
}
