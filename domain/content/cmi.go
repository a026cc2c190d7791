package content

import (
	"crypto/sha256"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/xapi"
)

// Verbs and activity types of ADL's xAPI profile for SCORM.
const (
	VerbInitialized = "http://adlnet.gov/expapi/verbs/initialized"
	VerbResumed     = "http://adlnet.gov/expapi/verbs/resumed"
	VerbSuspended   = "http://adlnet.gov/expapi/verbs/suspended"
	VerbTerminated  = "http://adlnet.gov/expapi/verbs/terminated"
	VerbCompleted   = "http://adlnet.gov/expapi/verbs/completed"
	VerbPassed      = "http://adlnet.gov/expapi/verbs/passed"
	VerbFailed      = "http://adlnet.gov/expapi/verbs/failed"
	VerbAnswered    = "http://adlnet.gov/expapi/verbs/answered"

	SCORMProfile        = "https://w3id.org/xapi/scorm"
	ActivityTypeSCO     = "https://w3id.org/xapi/scorm/activity-type/sco"
	ActivityTypeCourse  = "http://adlnet.gov/expapi/activities/course"
	ActivityTypeCMIItem = "http://adlnet.gov/expapi/activities/cmi.interaction"
	// AttemptStateID is the xAPI state document that keeps a SCO's
	// bookmark (location, suspend data, exit) between sessions.
	AttemptStateID = "https://w3id.org/xapi/scorm/attempt-state"
)

// RuntimeError is a SCORM run-time error: the code of the SCORM version
// and a message naming the element and the rule. The player hands the
// code to the SCO through GetLastError.
type RuntimeError struct {
	Code    int
	Element string
	Msg     string
}

func (e *RuntimeError) Error() string {
	if e.Element != "" {
		return fmt.Sprintf("SCORM error %d: %s: %s", e.Code, e.Element, e.Msg)
	}
	return fmt.Sprintf("SCORM error %d: %s", e.Code, e.Msg)
}

// errorKind is a run-time error independent of version.
type errorKind int

const (
	errNotInitialized errorKind = iota
	errAlreadyInitialized
	errTerminated
	errUndefined
	errReadOnly
	errTypeMismatch
	errOutOfRange
	errCommitBeforeInit
	errCommitAfterTerm
	errTermBeforeInit
	errTermAfterTerm
)

// codes per version: SCORM 1.2 RTE 3.3 and SCORM 2004 RTE 3.1.7.
var codes12 = map[errorKind]int{errNotInitialized: 301, errAlreadyInitialized: 101, errTerminated: 101, errUndefined: 201,
	errReadOnly: 403, errTypeMismatch: 405, errOutOfRange: 405, errCommitBeforeInit: 301, errCommitAfterTerm: 101,
	errTermBeforeInit: 301, errTermAfterTerm: 101}
var codes2004 = map[errorKind]int{errNotInitialized: 132, errAlreadyInitialized: 103, errTerminated: 133, errUndefined: 401,
	errReadOnly: 404, errTypeMismatch: 406, errOutOfRange: 407, errCommitBeforeInit: 142, errCommitAfterTerm: 143,
	errTermBeforeInit: 112, errTermAfterTerm: 113}

func rtErr(t Type, k errorKind, element, format string, args ...any) *RuntimeError {
	code := codes12[k]
	if t.IsSCORM2004() {
		code = codes2004[k]
	}
	return &RuntimeError{Code: code, Element: element, Msg: fmt.Sprintf(format, args...)}
}

// Attempt is what the run-time has reported of one SCO attempt, so that
// each commit reports only what changed. The server keeps it with the
// registration.
type Attempt struct {
	Initialized  bool   `json:"initialized"`
	Terminated   bool   `json:"terminated"`
	Completed    bool   `json:"completed"`
	Success      string `json:"success,omitempty"` // "passed" or "failed", once reported
	Interactions int    `json:"interactions"`      // interactions already reported as answered
	// Data is the run-time data committed so far (element to value).
	Data map[string]string `json:"data,omitempty"`
}

// Bookmark is the part of the run-time data a relaunch resumes from.
type Bookmark struct {
	Location    string `json:"location"`
	SuspendData string `json:"suspend_data"`
	Exit        string `json:"exit"`
	// Entry is what the next launch sees in cmi.entry: "resume" after a
	// suspend, "" otherwise.
	Entry string `json:"entry"`
}

// Session is the context the statements of one SCO session are made in.
type Session struct {
	Type         Type
	Actor        map[string]any // the learner, an xAPI Agent
	Registration string
	SessionID    string
	// Entry is cmi.entry of this launch: "resume" when the previous
	// session suspended.
	Entry  string
	SCO    *Node
	Course *Course
	Now    time.Time
}

// Commit is one call of the run-time reaching the server.
type Commit struct {
	// Event is "initialize", "commit" or "terminate"; terminate commits
	// the data first.
	Event string
	// Data are the elements set since launch (element to value), as the
	// SCO set them.
	Data map[string]string
}

// Result is what a commit produced.
type Result struct {
	Statements []Statement
	Attempt    Attempt
	Bookmark   Bookmark
}

// Apply checks a run-time call against the attempt and turns it into
// statements. It does not change prev; on error nothing is reported.
func Apply(s Session, prev Attempt, c Commit) (Result, error) {
	t := s.Type
	next := prev
	next.Data = map[string]string{}
	for k, v := range prev.Data {
		next.Data[k] = v
	}
	var out []Statement
	switch c.Event {
	case "initialize":
		if prev.Initialized && !prev.Terminated {
			return Result{}, rtErr(t, errAlreadyInitialized, "", "Initialize was already called in this session")
		}
		entry := s.Entry
		next.Initialized, next.Terminated = true, false
		verb := VerbInitialized
		if entry == "resume" {
			verb = VerbResumed
		}
		out = append(out, s.statement(verb, nil))
		return Result{Statements: out, Attempt: next, Bookmark: bookmark(t, next.Data)}, nil
	case "commit", "terminate":
		if !prev.Initialized {
			if c.Event == "commit" {
				return Result{}, rtErr(t, errCommitBeforeInit, "", "Commit before Initialize")
			}
			return Result{}, rtErr(t, errTermBeforeInit, "", "Terminate before Initialize")
		}
		if prev.Terminated {
			if c.Event == "commit" {
				return Result{}, rtErr(t, errCommitAfterTerm, "", "Commit after Terminate")
			}
			return Result{}, rtErr(t, errTermAfterTerm, "", "Terminate after Terminate")
		}
	default:
		return Result{}, fmt.Errorf("event %q is not initialize, commit or terminate", c.Event)
	}
	names := make([]string, 0, len(c.Data))
	for k := range c.Data {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := checkElement(t, k, c.Data[k]); err != nil {
			return Result{}, err
		}
		next.Data[k] = c.Data[k]
	}
	d := next.Data
	// Interactions, in index order, each once.
	for i := prev.Interactions; ; i++ {
		pre := interactionPrefix(t, i)
		id, ok := d[pre+"id"]
		if !ok {
			break
		}
		// An interaction is answered once it has a response and a result.
		resp := d[pre+responseElem(t)]
		if resp == "" && d[pre+"result"] == "" {
			break
		}
		out = append(out, s.interaction(t, id, pre, d))
		next.Interactions = i + 1
	}
	score := scoreOf(t, d, s.SCO)
	completion, success := statusOf(t, d, s.SCO, score)
	if completion && !prev.Completed {
		out = append(out, s.statement(VerbCompleted, withDuration(map[string]any{"completion": true}, t, d)))
		next.Completed = true
	}
	if success != "" && success != prev.Success {
		verb := VerbPassed
		if success == "failed" {
			verb = VerbFailed
		}
		r := map[string]any{"success": success == "passed"}
		if score != nil {
			r["score"] = score
		}
		if completion {
			r["completion"] = true
		}
		out = append(out, s.statement(verb, r))
		next.Success = success
	}
	bm := bookmark(t, d)
	if c.Event == "terminate" {
		next.Terminated = true
		r := withDuration(map[string]any{}, t, d)
		if bm.Exit == "suspend" {
			out = append(out, s.statement(VerbSuspended, r))
			bm.Entry = "resume"
		} else {
			out = append(out, s.statement(VerbTerminated, r))
		}
	}
	return Result{Statements: out, Attempt: next, Bookmark: bm}, nil
}

func withDuration(r map[string]any, t Type, d map[string]string) map[string]any {
	if v := sessionDuration(t, d); v != "" {
		r["duration"] = v
	}
	return r
}

// elem names an element of the version: "entry" is cmi.core.entry in 1.2
// and cmi.entry in 2004.
func elem(t Type, name string) string {
	if t.IsSCORM2004() {
		switch name {
		case "lesson_location":
			name = "location"
		case "session_time", "exit", "entry", "lesson_status":
		}
		return "cmi." + name
	}
	switch name {
	case "location":
		name = "lesson_location"
	case "suspend_data", "launch_data":
		return "cmi." + name
	}
	return "cmi.core." + name
}

func interactionPrefix(t Type, i int) string { return "cmi.interactions." + strconv.Itoa(i) + "." }

func responseElem(t Type) string {
	if t.IsSCORM2004() {
		return "learner_response"
	}
	return "student_response"
}

func bookmark(t Type, d map[string]string) Bookmark {
	return Bookmark{Location: d[elem(t, "location")], SuspendData: d["cmi.suspend_data"], Exit: d[elem(t, "exit")]}
}

// Statement is one xAPI statement as JSON-ready data: it goes through the
// same parsing and validation as a statement any client sends.
type Statement = map[string]any

func (s Session) statement(verb string, result map[string]any) Statement {
	st := Statement{
		"actor":     s.Actor,
		"verb":      map[string]any{"id": verb, "display": map[string]string{"en-US": verb[strings.LastIndexByte(verb, '/')+1:]}},
		"object":    activity(s.SCO.IRI, s.SCO.Title, ActivityTypeSCO),
		"context":   s.context(false),
		"timestamp": s.Now.UTC().Format(time.RFC3339Nano),
	}
	if len(result) > 0 {
		st["result"] = result
	}
	return st
}

func activity(id, title, typ string) map[string]any {
	def := map[string]any{}
	if typ != "" {
		def["type"] = typ
	}
	if title != "" {
		def["name"] = map[string]string{"en-US": title}
	}
	return map[string]any{"objectType": "Activity", "id": id, "definition": def}
}

func (s Session) context(interaction bool) map[string]any {
	ca := map[string]any{"category": []any{map[string]any{"id": SCORMProfile}}}
	if s.Course != nil {
		ca["grouping"] = []any{activity(s.Course.IRI, s.Course.Title, ActivityTypeCourse)}
	}
	if interaction {
		ca["parent"] = []any{map[string]any{"id": s.SCO.IRI}}
	}
	c := map[string]any{"contextActivities": ca}
	if s.Registration != "" {
		c["registration"] = s.Registration
	}
	if s.SessionID != "" {
		c["extensions"] = map[string]any{ExtSessionID: s.SessionID}
	}
	return c
}

// ExtSessionID is the context extension that names the session (cmi5's).
const ExtSessionID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"

var interactionTypes12 = []string{"true-false", "choice", "fill-in", "matching", "performance", "sequencing", "likert", "numeric"}
var interactionTypes2004 = []string{"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other"}

func (s Session) interaction(t Type, id, pre string, d map[string]string) Statement {
	typ := d[pre+"type"]
	if typ == "" {
		typ = "other"
	}
	def := map[string]any{"type": ActivityTypeCMIItem, "interactionType": typ}
	if desc := d[pre+"description"]; desc != "" {
		def["description"] = map[string]string{"en-US": desc}
	}
	var patterns []string
	for j := 0; ; j++ {
		p, ok := d[pre+"correct_responses."+strconv.Itoa(j)+".pattern"]
		if !ok {
			break
		}
		patterns = append(patterns, p)
	}
	if patterns != nil {
		def["correctResponsesPattern"] = patterns
	}
	res := map[string]any{"response": d[pre+responseElem(t)]}
	switch d[pre+"result"] {
	case "correct":
		res["success"] = true
	case "wrong", "incorrect":
		res["success"] = false
	}
	if lat := d[pre+"latency"]; lat != "" {
		if t == SCORM12 {
			if dur, err := parseCMITimespan(lat); err == nil {
				res["duration"] = graph.FormatDuration(dur)
			}
		} else {
			res["duration"] = lat
		}
	}
	if w := d[pre+"weighting"]; w != "" {
		if v, err := strconv.ParseFloat(w, 64); err == nil {
			res["extensions"] = map[string]any{"https://w3id.org/xapi/scorm/result/extensions/weighting": v}
		}
	}
	return Statement{
		"actor":     s.Actor,
		"verb":      map[string]any{"id": VerbAnswered, "display": map[string]string{"en-US": "answered"}},
		"object":    map[string]any{"objectType": "Activity", "id": s.SCO.IRI + "/interactions/" + interactionID(id), "definition": def},
		"result":    res,
		"context":   s.context(true),
		"timestamp": s.Now.UTC().Format(time.RFC3339Nano),
	}
}

// interactionID keeps an interaction id usable in an IRI path.
func interactionID(id string) string {
	if regexp.MustCompile(`^[A-Za-z0-9._~-]+$`).MatchString(id) {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%x", h[:8])
}

func scoreOf(t Type, d map[string]string, sco *Node) *xapi.Score {
	num := func(k string) (float64, bool) {
		v, ok := d[k]
		if !ok || v == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	var sc xapi.Score
	any := false
	prefix := "cmi.core.score."
	if t.IsSCORM2004() {
		prefix = "cmi.score."
	}
	if v, ok := num(prefix + "raw"); ok {
		sc.Raw, any = &v, true
	}
	if v, ok := num(prefix + "min"); ok {
		sc.Min, any = &v, true
	}
	if v, ok := num(prefix + "max"); ok {
		sc.Max, any = &v, true
	}
	if v, ok := num(prefix + "scaled"); ok && t.IsSCORM2004() {
		sc.Scaled, any = &v, true
	}
	if !any {
		return nil
	}
	if sc.Scaled == nil && sc.Raw != nil {
		lo, hi := 0.0, 100.0
		if sc.Min != nil {
			lo = *sc.Min
		}
		if sc.Max != nil {
			hi = *sc.Max
		}
		if hi > lo {
			v := math.Round((*sc.Raw-lo)/(hi-lo)*1e4) / 1e4
			v = math.Max(-1, math.Min(1, v))
			sc.Scaled = &v
		}
	}
	// xAPI requires min <= raw <= max; drop bounds the SCO left inconsistent.
	if sc.Raw != nil && (sc.Min != nil && *sc.Raw < *sc.Min || sc.Max != nil && *sc.Raw > *sc.Max) {
		sc.Min, sc.Max = nil, nil
	}
	return &sc
}

// statusOf returns whether the attempt is complete and its success
// ("passed", "failed" or ""). With a mastery score the LMS decides success
// from the score, as both run-time environments prescribe.
func statusOf(t Type, d map[string]string, sco *Node, score *xapi.Score) (bool, string) {
	var completed bool
	var success string
	if t.IsSCORM2004() {
		completed = d["cmi.completion_status"] == "completed"
		switch d["cmi.success_status"] {
		case "passed", "failed":
			success = d["cmi.success_status"]
		}
	} else {
		switch d["cmi.core.lesson_status"] {
		case "completed":
			completed = true
		case "passed", "failed":
			completed = true
			success = d["cmi.core.lesson_status"]
		}
	}
	if sco != nil && sco.MasteryScore != nil && score != nil && score.Scaled != nil && (completed || success != "" || t.IsSCORM2004()) {
		if *score.Scaled >= *sco.MasteryScore {
			success = "passed"
		} else {
			success = "failed"
		}
	}
	return completed, success
}

func sessionDuration(t Type, d map[string]string) string {
	v := d[elem(t, "session_time")]
	if v == "" {
		return ""
	}
	if t.IsSCORM2004() {
		return v
	}
	dur, err := parseCMITimespan(v)
	if err != nil {
		return ""
	}
	return graph.FormatDuration(dur)
}

// element rules: a pattern of names with "n" for indexes, whether the SCO
// may write it, and the check of its value.
type rule struct {
	pattern  *regexp.Regexp
	readOnly bool
	check    func(v string) (errorKind, string, bool)
}

func vocab(words ...string) func(string) (errorKind, string, bool) {
	return func(v string) (errorKind, string, bool) {
		if slices.Contains(words, v) {
			return 0, "", true
		}
		return errTypeMismatch, fmt.Sprintf("%q is not one of %s", v, strings.Join(words, ", ")), false
	}
}

func decimalIn(lo, hi float64) func(string) (errorKind, string, bool) {
	return func(v string) (errorKind, string, bool) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errTypeMismatch, fmt.Sprintf("%q is not a number", v), false
		}
		if f < lo || f > hi {
			return errOutOfRange, fmt.Sprintf("%v is outside [%v, %v]", f, lo, hi), false
		}
		return 0, "", true
	}
}

func maxLen(n int) func(string) (errorKind, string, bool) {
	return func(v string) (errorKind, string, bool) {
		if len(v) > n {
			return errTypeMismatch, fmt.Sprintf("%d characters, more than %d", len(v), n), false
		}
		return 0, "", true
	}
}

func timespan12(v string) (errorKind, string, bool) {
	if _, err := parseCMITimespan(v); err != nil {
		return errTypeMismatch, err.Error(), false
	}
	return 0, "", true
}

func iso8601Duration(v string) (errorKind, string, bool) {
	if _, err := xapi.ParseDuration(v); err != nil || !strings.HasPrefix(v, "P") {
		return errTypeMismatch, fmt.Sprintf("%q is not an ISO 8601 duration", v), false
	}
	return 0, "", true
}

func anyValue(string) (errorKind, string, bool) { return 0, "", true }

func r(p string, ro bool, c func(string) (errorKind, string, bool)) rule {
	p = strings.ReplaceAll(regexp.QuoteMeta(p), `\.n\.`, `\.\d+\.`)
	return rule{pattern: regexp.MustCompile("^" + p + "$"), readOnly: ro, check: c}
}

var rules12 = []rule{
	r("cmi.core.student_id", true, nil), r("cmi.core.student_name", true, nil), r("cmi.core.credit", true, nil),
	r("cmi.core.entry", true, nil), r("cmi.core.total_time", true, nil), r("cmi.core.lesson_mode", true, nil),
	r("cmi.launch_data", true, nil), r("cmi.comments_from_lms", true, nil),
	r("cmi.student_data.mastery_score", true, nil), r("cmi.student_data.max_time_allowed", true, nil),
	r("cmi.student_data.time_limit_action", true, nil),
	r("cmi.core.lesson_location", false, maxLen(255)),
	r("cmi.core.lesson_status", false, vocab("passed", "completed", "failed", "incomplete", "browsed", "not attempted")),
	r("cmi.core.score.raw", false, decimalIn(0, 100)), r("cmi.core.score.min", false, decimalIn(0, 100)),
	r("cmi.core.score.max", false, decimalIn(0, 100)),
	r("cmi.core.exit", false, vocab("time-out", "suspend", "logout", "")),
	r("cmi.core.session_time", false, timespan12),
	r("cmi.suspend_data", false, maxLen(4096)), r("cmi.comments", false, maxLen(4096)),
	r("cmi.objectives.n.id", false, maxLen(255)), r("cmi.objectives.n.score.raw", false, decimalIn(0, 100)),
	r("cmi.objectives.n.score.min", false, decimalIn(0, 100)), r("cmi.objectives.n.score.max", false, decimalIn(0, 100)),
	r("cmi.objectives.n.status", false, vocab("passed", "completed", "failed", "incomplete", "browsed", "not attempted")),
	r("cmi.student_preference.audio", false, decimalIn(-1, 100)), r("cmi.student_preference.language", false, maxLen(255)),
	r("cmi.student_preference.speed", false, decimalIn(-100, 100)), r("cmi.student_preference.text", false, decimalIn(-1, 1)),
	r("cmi.interactions.n.id", false, maxLen(255)), r("cmi.interactions.n.objectives.n.id", false, maxLen(255)),
	r("cmi.interactions.n.time", false, anyValue), r("cmi.interactions.n.type", false, vocab(interactionTypes12...)),
	r("cmi.interactions.n.correct_responses.n.pattern", false, maxLen(255)),
	r("cmi.interactions.n.weighting", false, decimalIn(-1e9, 1e9)),
	r("cmi.interactions.n.student_response", false, maxLen(255)),
	r("cmi.interactions.n.result", false, func(v string) (errorKind, string, bool) {
		if slices.Contains([]string{"correct", "wrong", "unanticipated", "neutral"}, v) {
			return 0, "", true
		}
		return decimalIn(-1e9, 1e9)(v)
	}),
	r("cmi.interactions.n.latency", false, timespan12),
}

var rules2004 = []rule{
	r("cmi.learner_id", true, nil), r("cmi.learner_name", true, nil), r("cmi.credit", true, nil), r("cmi.entry", true, nil),
	r("cmi.total_time", true, nil), r("cmi.mode", true, nil), r("cmi.launch_data", true, nil),
	r("cmi.scaled_passing_score", true, nil), r("cmi.completion_threshold", true, nil), r("cmi.max_time_allowed", true, nil),
	r("cmi.time_limit_action", true, nil),
	r("cmi.location", false, maxLen(1000)),
	r("cmi.completion_status", false, vocab("completed", "incomplete", "not attempted", "unknown")),
	r("cmi.success_status", false, vocab("passed", "failed", "unknown")),
	r("cmi.score.scaled", false, decimalIn(-1, 1)), r("cmi.score.raw", false, decimalIn(-1e9, 1e9)),
	r("cmi.score.min", false, decimalIn(-1e9, 1e9)), r("cmi.score.max", false, decimalIn(-1e9, 1e9)),
	r("cmi.progress_measure", false, decimalIn(0, 1)),
	r("cmi.exit", false, vocab("time-out", "suspend", "logout", "normal", "")),
	r("cmi.session_time", false, iso8601Duration),
	r("cmi.suspend_data", false, maxLen(64000)),
	r("cmi.learner_preference.audio_level", false, decimalIn(0, 1e9)), r("cmi.learner_preference.language", false, maxLen(250)),
	r("cmi.learner_preference.delivery_speed", false, decimalIn(0, 1e9)),
	r("cmi.learner_preference.audio_captioning", false, vocab("-1", "0", "1")),
	r("cmi.comments_from_learner.n.comment", false, maxLen(4000)), r("cmi.comments_from_learner.n.location", false, maxLen(250)),
	r("cmi.comments_from_learner.n.timestamp", false, anyValue),
	r("cmi.objectives.n.id", false, maxLen(4000)), r("cmi.objectives.n.score.scaled", false, decimalIn(-1, 1)),
	r("cmi.objectives.n.score.raw", false, decimalIn(-1e9, 1e9)), r("cmi.objectives.n.score.min", false, decimalIn(-1e9, 1e9)),
	r("cmi.objectives.n.score.max", false, decimalIn(-1e9, 1e9)),
	r("cmi.objectives.n.success_status", false, vocab("passed", "failed", "unknown")),
	r("cmi.objectives.n.completion_status", false, vocab("completed", "incomplete", "not attempted", "unknown")),
	r("cmi.objectives.n.progress_measure", false, decimalIn(0, 1)), r("cmi.objectives.n.description", false, maxLen(250)),
	r("cmi.interactions.n.id", false, maxLen(4000)), r("cmi.interactions.n.type", false, vocab(interactionTypes2004...)),
	r("cmi.interactions.n.objectives.n.id", false, maxLen(4000)), r("cmi.interactions.n.timestamp", false, anyValue),
	r("cmi.interactions.n.correct_responses.n.pattern", false, maxLen(4000)),
	r("cmi.interactions.n.weighting", false, decimalIn(-1e9, 1e9)),
	r("cmi.interactions.n.learner_response", false, maxLen(4000)),
	r("cmi.interactions.n.result", false, func(v string) (errorKind, string, bool) {
		if slices.Contains([]string{"correct", "incorrect", "unanticipated", "neutral"}, v) {
			return 0, "", true
		}
		return decimalIn(-1e9, 1e9)(v)
	}),
	r("cmi.interactions.n.latency", false, iso8601Duration), r("cmi.interactions.n.description", false, maxLen(250)),
}

// checkElement validates one element the SCO set: defined in the version's
// data model, writable, and of the right type and range.
func checkElement(t Type, name, value string) *RuntimeError {
	rules := rules12
	if t.IsSCORM2004() {
		rules = rules2004
	}
	for _, ru := range rules {
		if !ru.pattern.MatchString(name) {
			continue
		}
		if ru.readOnly {
			return rtErr(t, errReadOnly, name, "is read-only")
		}
		if kind, msg, ok := ru.check(value); !ok {
			return rtErr(t, kind, name, "%s", msg)
		}
		return nil
	}
	return rtErr(t, errUndefined, name, "is not an element of the %s data model", t)
}
