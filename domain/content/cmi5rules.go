package content

import (
	"fmt"
	"slices"
	"time"
)

// cmi5 verbs (cmi5 section 9.3) and the category that marks cmi5 defined
// statements (section 9.6.2.1).
const (
	Cmi5VerbLaunched    = "http://adlnet.gov/expapi/verbs/launched"
	Cmi5VerbInitialized = "http://adlnet.gov/expapi/verbs/initialized"
	Cmi5VerbCompleted   = "http://adlnet.gov/expapi/verbs/completed"
	Cmi5VerbPassed      = "http://adlnet.gov/expapi/verbs/passed"
	Cmi5VerbFailed      = "http://adlnet.gov/expapi/verbs/failed"
	Cmi5VerbAbandoned   = "https://w3id.org/xapi/adl/verbs/abandoned"
	Cmi5VerbWaived      = "https://w3id.org/xapi/adl/verbs/waived"
	Cmi5VerbTerminated  = "http://adlnet.gov/expapi/verbs/terminated"
	Cmi5VerbSatisfied   = "https://w3id.org/xapi/adl/verbs/satisfied"

	Cmi5Category        = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
	Cmi5MoveOnCategory  = "https://w3id.org/xapi/cmi5/context/categories/moveon"
	Cmi5ExtMasteryScore = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
	Cmi5ExtLaunchMode   = "https://w3id.org/xapi/cmi5/context/extensions/launchmode"
)

// Cmi5Session is what the LMS knows of one AU session, to judge the next
// statement the AU sends.
type Cmi5Session struct {
	SessionID   string
	Initialized bool
	Terminated  bool
	// Registration-wide facts: an AU is completed, passed or failed once
	// per registration (cmi5 section 9.3.3 to 9.3.5).
	Completed bool
	Passed    bool
	Failed    bool
}

// Cmi5Statement is the part of a statement the cmi5 rules look at.
type Cmi5Statement struct {
	Verb         string
	Registration string
	SessionID    string
	Categories   []string
	Success      *bool
	Completion   *bool
	Scaled       *float64
	Duration     string
}

// Cmi5Error is a statement the LMS rejects under the cmi5 rules: the
// write answers 400 naming the rule.
type Cmi5Error struct{ Rule string }

func (e *Cmi5Error) Error() string { return "cmi5: " + e.Rule }

func cmi5Err(format string, args ...any) error { return &Cmi5Error{Rule: fmt.Sprintf(format, args...)} }

// CheckCmi5 judges a statement an AU sends in a session, against cmi5's
// statement rules, and returns the session after it. Statements that are
// not cmi5 defined (no cmi5 category) are "cmi5 allowed" and pass when the
// session is open.
func CheckCmi5(s Cmi5Session, au *Node, registration string, st Cmi5Statement) (Cmi5Session, error) {
	if st.Registration != registration {
		return s, cmi5Err("context.registration must be the launch's registration %s", registration)
	}
	if st.SessionID != s.SessionID {
		return s, cmi5Err("context.extensions[%s] must be the session id of the launch", ExtSessionID)
	}
	if s.Terminated {
		return s, cmi5Err("no statement may follow terminated in a session")
	}
	defined := slices.Contains(st.Categories, Cmi5Category)
	switch st.Verb {
	case Cmi5VerbLaunched, Cmi5VerbAbandoned, Cmi5VerbWaived, Cmi5VerbSatisfied:
		return s, cmi5Err("verb %s is the LMS's, not the AU's", st.Verb)
	case Cmi5VerbInitialized:
		if s.Initialized {
			return s, cmi5Err("initialized must be sent once per session")
		}
		s.Initialized = true
		return s, nil
	}
	if !s.Initialized {
		return s, cmi5Err("the first statement of a session must be initialized")
	}
	switch st.Verb {
	case Cmi5VerbTerminated:
		s.Terminated = true
	case Cmi5VerbCompleted:
		if !defined {
			return s, cmi5Err("completed must carry the cmi5 category %s", Cmi5Category)
		}
		if s.Completed {
			return s, cmi5Err("completed may be sent once per registration")
		}
		if st.Completion == nil || !*st.Completion || st.Duration == "" {
			return s, cmi5Err("completed needs result.completion true and result.duration")
		}
		s.Completed = true
	case Cmi5VerbPassed, Cmi5VerbFailed:
		pass := st.Verb == Cmi5VerbPassed
		if !defined {
			return s, cmi5Err("%s must carry the cmi5 category %s", verbName(st.Verb), Cmi5Category)
		}
		if s.Passed {
			return s, cmi5Err("no passed or failed may follow passed in a registration")
		}
		if st.Success == nil || *st.Success != pass || st.Duration == "" {
			return s, cmi5Err("%s needs result.success %v and result.duration", verbName(st.Verb), pass)
		}
		if au.MasteryScore != nil {
			if st.Scaled == nil {
				return s, cmi5Err("%s needs result.score.scaled: the AU has a mastery score", verbName(st.Verb))
			}
			if pass && *st.Scaled < *au.MasteryScore || !pass && *st.Scaled >= *au.MasteryScore {
				return s, cmi5Err("%s with score %v contradicts the mastery score %v", verbName(st.Verb), *st.Scaled, *au.MasteryScore)
			}
		}
		if pass {
			s.Passed = true
		} else {
			s.Failed = true
		}
	}
	return s, nil
}

func verbName(v string) string {
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '/' {
			return v[i+1:]
		}
	}
	return v
}

// MoveOnMet reports whether an AU's moveOn criterion is met (cmi5 section
// 13.1.4): NotApplicable always is.
func MoveOnMet(moveOn string, completed, passed bool) bool {
	switch moveOn {
	case "Completed":
		return completed
	case "Passed":
		return passed
	case "CompletedAndPassed":
		return completed && passed
	case "CompletedOrPassed":
		return completed || passed
	default:
		return true
	}
}

// Satisfied returns the blocks and the course that are newly satisfied,
// deepest first, given the AUs whose moveOn is met and the nodes already
// satisfied: a block or course is satisfied when every AU and block in it
// is.
func (c *Course) Satisfied(met map[string]bool, already map[string]bool) []*Node {
	var out []*Node
	var sat func(n *Node) bool
	sat = func(n *Node) bool {
		if n.Kind == KindAU {
			return met[n.IRI] || MoveOnMet(n.MoveOn, false, false)
		}
		all := true
		for _, ch := range n.Children {
			if !sat(ch) {
				all = false
			}
		}
		if all && !already[n.IRI] {
			out = append(out, n)
		}
		return all
	}
	sat(c.Root)
	return out
}

// LaunchData is the LMS.LaunchData state document of an AU launch (cmi5
// section 10).
func LaunchData(au *Node, registration, sessionID, returnURL string) map[string]any {
	ctx := map[string]any{
		"contextActivities": map[string]any{"grouping": []any{map[string]any{"id": au.IRI}}},
		"extensions":        map[string]any{ExtSessionID: sessionID},
	}
	d := map[string]any{"contextTemplate": ctx, "launchMode": "Normal", "moveOn": au.MoveOn, "launchMethod": au.LaunchMethod}
	if au.LaunchData != "" {
		d["launchParameters"] = au.LaunchData
	}
	if au.MasteryScore != nil {
		d["masteryScore"] = *au.MasteryScore
	}
	if au.EntitlementKey != "" {
		d["entitlementKey"] = map[string]any{"courseStructure": au.EntitlementKey}
	}
	if returnURL != "" {
		d["returnURL"] = returnURL
	}
	return d
}

// Cmi5LMSStatement makes a statement the LMS issues for an AU or a block
// or course (launched, abandoned, waived, satisfied), with the cmi5
// category and the session id.
func Cmi5LMSStatement(actor map[string]any, verb string, n *Node, course *Course, registration, sessionID string, now time.Time, result map[string]any) Statement {
	cats := []any{map[string]any{"id": Cmi5Category}}
	if verb == Cmi5VerbSatisfied {
		cats = append(cats, map[string]any{"id": Cmi5MoveOnCategory})
	}
	ca := map[string]any{"category": cats}
	if course != nil && n.IRI != course.IRI {
		ca["grouping"] = []any{map[string]any{"id": course.IRI}}
	}
	ext := map[string]any{}
	if sessionID != "" {
		ext[ExtSessionID] = sessionID
	}
	if verb == Cmi5VerbLaunched {
		ext[Cmi5ExtLaunchMode] = "Normal"
		if n.MasteryScore != nil {
			ext[Cmi5ExtMasteryScore] = *n.MasteryScore
		}
	}
	c := map[string]any{"registration": registration, "contextActivities": ca}
	if len(ext) > 0 {
		c["extensions"] = ext
	}
	st := Statement{
		"actor":     actor,
		"verb":      map[string]any{"id": verb, "display": map[string]string{"en-US": verbName(verb)}},
		"object":    activity(n.IRI, n.Title, ""),
		"context":   c,
		"timestamp": now.UTC().Format(time.RFC3339Nano),
	}
	if len(result) > 0 {
		st["result"] = result
	}
	return st
}
