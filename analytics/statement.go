package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/jsonenc"
	"github.com/learnstream/learnstream/domain/xapi"
)

// Verb and activity-type IRIs the schema and the cookbook refer to.
const (
	VerbLaunched    = "http://adlnet.gov/expapi/verbs/launched"
	VerbInitialized = "http://adlnet.gov/expapi/verbs/initialized"
	VerbCompleted   = "http://adlnet.gov/expapi/verbs/completed"
	VerbPassed      = "http://adlnet.gov/expapi/verbs/passed"
	VerbFailed      = "http://adlnet.gov/expapi/verbs/failed"
	VerbTerminated  = "http://adlnet.gov/expapi/verbs/terminated"
	VerbAnswered    = "http://adlnet.gov/expapi/verbs/answered"
	VerbAttempted   = "http://adlnet.gov/expapi/verbs/attempted"
	VerbExperienced = "http://adlnet.gov/expapi/verbs/experienced"
	VerbProgressed  = "http://adlnet.gov/expapi/verbs/progressed"
	VerbMastered    = "http://adlnet.gov/expapi/verbs/mastered"
	VerbVoided      = "http://adlnet.gov/expapi/verbs/voided"
	VerbSatisfied   = "https://w3id.org/xapi/adl/verbs/satisfied"
	VerbAbandoned   = "https://w3id.org/xapi/adl/verbs/abandoned"

	ActivityTypeCourse     = "http://adlnet.gov/expapi/activities/course"
	ActivityTypeCmi5Course = "https://w3id.org/xapi/cmi5/activitytype/course"

	// ExtensionCmi5SessionID is the cmi5 context extension holding the session id.
	ExtensionCmi5SessionID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"

	// PseudonymHomePage is the account homePage of agents rewritten by
	// pseudonymisation in the raw statement JSON.
	PseudonymHomePage = "urn:learnstream:pseudonym"
)

// Statement is one row of the statements table: an accepted xAPI statement,
// flattened. Columns are documented in docs/analytics.md.
type Statement struct {
	Tenant           string
	StatementID      string
	EventID          string
	ActorKey         string // raw learner key; empty when pseudonymised
	ActorPseudo      string // pseudonym (or the raw key when pseudonymisation is off)
	ActorName        string // empty when pseudonymised
	ActorType        string // Agent or Group
	VerbID           string
	VerbDisplay      string
	ObjectID         string
	ObjectType       string
	ObjectName       string
	ActivityType     string
	CourseID         string
	ParentIDs        []string
	GroupingIDs      []string
	CategoryIDs      []string
	Registration     *string
	SessionID        string
	ResultSuccess    *uint8
	ResultCompletion *uint8
	ScoreScaled      *float64
	ScoreRaw         *float64
	ScoreMin         *float64
	ScoreMax         *float64
	DurationSeconds  *float64
	Response         string
	Timestamp        time.Time
	Stored           time.Time
	XAPIVersion      string
	Raw              string
	IngestVersion    uint32
}

var statementColumns = []string{
	"tenant", "statement_id", "event_id", "actor_key", "actor_pseudo", "actor_name", "actor_type",
	"verb_id", "verb_display", "object_id", "object_type", "object_name", "activity_type", "course_id",
	"parent_ids", "grouping_ids", "category_ids", "registration", "session_id",
	"result_success", "result_completion", "score_scaled", "score_raw", "score_min", "score_max",
	"duration_seconds", "response", "timestamp", "stored", "xapi_version", "raw", "ingest_version",
}

// Table implements Row.
func (Statement) Table() string { return "statements" }

// Columns implements Row.
func (Statement) Columns() []string { return statementColumns }

// Values implements Row.
func (s Statement) Values() []any {
	return []any{
		s.Tenant, s.StatementID, s.EventID, s.ActorKey, s.ActorPseudo, s.ActorName, s.ActorType,
		s.VerbID, s.VerbDisplay, s.ObjectID, s.ObjectType, s.ObjectName, s.ActivityType, s.CourseID,
		nonNil(s.ParentIDs), nonNil(s.GroupingIDs), nonNil(s.CategoryIDs), s.Registration, s.SessionID,
		s.ResultSuccess, s.ResultCompletion, s.ScoreScaled, s.ScoreRaw, s.ScoreMin, s.ScoreMax,
		s.DurationSeconds, s.Response, s.Timestamp, s.Stored, s.XAPIVersion, s.Raw, s.IngestVersion,
	}
}

// AppendJSON implements Row.
func (s Statement) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", s.Tenant)
	w.str("statement_id", s.StatementID)
	w.str("event_id", s.EventID)
	w.str("actor_key", s.ActorKey)
	w.str("actor_pseudo", s.ActorPseudo)
	w.str("actor_name", s.ActorName)
	w.str("actor_type", s.ActorType)
	w.str("verb_id", s.VerbID)
	w.str("verb_display", s.VerbDisplay)
	w.str("object_id", s.ObjectID)
	w.str("object_type", s.ObjectType)
	w.str("object_name", s.ObjectName)
	w.str("activity_type", s.ActivityType)
	w.str("course_id", s.CourseID)
	w.strs("parent_ids", s.ParentIDs)
	w.strs("grouping_ids", s.GroupingIDs)
	w.strs("category_ids", s.CategoryIDs)
	w.nstr("registration", s.Registration)
	w.str("session_id", s.SessionID)
	w.nu8("result_success", s.ResultSuccess)
	w.nu8("result_completion", s.ResultCompletion)
	w.nf64("score_scaled", s.ScoreScaled)
	w.nf64("score_raw", s.ScoreRaw)
	w.nf64("score_min", s.ScoreMin)
	w.nf64("score_max", s.ScoreMax)
	w.nf64("duration_seconds", s.DurationSeconds)
	w.str("response", s.Response)
	w.time("timestamp", s.Timestamp)
	w.time("stored", s.Stored)
	w.str("xapi_version", s.XAPIVersion)
	w.str("raw", s.Raw)
	w.u64("ingest_version", uint64(s.IngestVersion))
	return w.done()
}

// Size implements Row.
func (s Statement) Size() int { return 400 + len(s.Raw) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PayloadError names the payload field at fault and the rule it broke.
// Encoders return it wrapped by event.Reject, so event.IsRejected reports
// true and the sink parks the event in the dead-letter topic.
type PayloadError struct {
	EventType string
	EventID   string
	Field     string
	Rule      string
}

func (e *PayloadError) Error() string {
	return fmt.Sprintf("%s event %s: %s: %s", e.EventType, e.EventID, e.Field, e.Rule)
}

func payloadErr(e event.Event, field, format string, args ...any) error {
	return event.Reject(&PayloadError{EventType: e.Type, EventID: e.ID, Field: field, Rule: fmt.Sprintf(format, args...)})
}

// Encoder turns events into rows. The zero value pseudonymises and refuses
// to encode until a secret or tenant salt is configured.
type Encoder struct {
	// Pseudonymizer pseudonymises learners; nil means on, but unconfigured.
	Pseudonymizer *Pseudonymizer
}

// NewEncoder returns an encoder using p.
func NewEncoder(p *Pseudonymizer) *Encoder { return &Encoder{Pseudonymizer: p} }

// Default is the encoder behind the package-level encoding functions. The
// binary replaces it at start-up with one built from its configuration;
// until then it pseudonymises with no secret and so refuses every tenant.
var Default = &Encoder{}

// StatementRow flattens an accepted statement event with the Default encoder.
func StatementRow(e event.Event) (Statement, error) { return Default.StatementRow(e) }

// durationSeconds converts an ISO 8601 duration to seconds. It parses with
// the LRS's own parser, so the sink accepts exactly the durations the LRS
// stored; calendar units count as xapi.Duration.Approx says (a year is
// 365.25 days, a month a twelfth of that).
func durationSeconds(s string) (float64, error) {
	d, err := xapi.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return d.Approx().Seconds(), nil
}

// checkType verifies e is of the wanted type name at major version 1.
func checkType(e event.Event, wantName string) error {
	if err := e.Validate(); err != nil {
		return event.Reject(err)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return event.Reject(err)
	}
	if name != wantName {
		return event.Reject(&event.FieldError{Field: event.HeaderType, Rule: fmt.Sprintf("%q is not a %s event", e.Type, wantName)})
	}
	if major != 1 {
		return event.Reject(&event.FieldError{Field: event.HeaderType,
			Rule: fmt.Sprintf("major version %d of %s is not supported (this encoder knows v1)", major, name)})
	}
	if e.ContentType != "" && !strings.HasPrefix(e.ContentType, event.ContentTypeJSON) {
		return event.Reject(&event.FieldError{Field: event.HeaderContentType, Rule: fmt.Sprintf("%q is not supported (want %s)", e.ContentType, event.ContentTypeJSON)})
	}
	return nil
}

var statementTypeName = strings.TrimSuffix(event.TypeStatementStored, ".v1")

// The xAPI shapes the encoder reads. Only what the table needs is decoded;
// the whole statement is kept in the raw column.
type (
	xStatement struct {
		ID        string    `json:"id"`
		Actor     *xAgent   `json:"actor"`
		Verb      *xVerb    `json:"verb"`
		Object    *xObject  `json:"object"`
		Result    *xResult  `json:"result"`
		Context   *xContext `json:"context"`
		Timestamp string    `json:"timestamp"`
		Stored    string    `json:"stored"`
		Version   string    `json:"version"`
	}
	xAgent struct {
		ObjectType string    `json:"objectType"`
		Name       string    `json:"name"`
		Mbox       string    `json:"mbox"`
		MboxSHA1   string    `json:"mbox_sha1sum"`
		OpenID     string    `json:"openid"`
		Account    *xAccount `json:"account"`
		Member     []xAgent  `json:"member"`
	}
	xAccount struct {
		HomePage string `json:"homePage"`
		Name     string `json:"name"`
	}
	xVerb struct {
		ID      string  `json:"id"`
		Display langMap `json:"display"`
	}
	xObject struct {
		xAgent
		ID         string       `json:"id"`
		Definition *xDefinition `json:"definition"`
	}
	xDefinition struct {
		Name langMap `json:"name"`
		Type string  `json:"type"`
	}
	xResult struct {
		Score      *xScore `json:"score"`
		Success    *bool   `json:"success"`
		Completion *bool   `json:"completion"`
		Response   *string `json:"response"`
		Duration   string  `json:"duration"`
	}
	xScore struct {
		Scaled *float64 `json:"scaled"`
		Raw    *float64 `json:"raw"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
	}
	xContext struct {
		Registration      string                     `json:"registration"`
		ContextActivities *xContextActivities        `json:"contextActivities"`
		Extensions        map[string]json.RawMessage `json:"extensions"`
	}
	xContextActivities struct {
		Parent   activityList `json:"parent"`
		Grouping activityList `json:"grouping"`
		Category activityList `json:"category"`
		Other    activityList `json:"other"`
	}
)

// langMap decodes an xAPI language map to one string: the en-US entry, else
// the first entry in document order.
type langMap string

func (l *langMap) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fmt.Errorf("a language map must be an object")
	}
	first, found := "", false
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return err
		}
		var v string
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("language map values must be strings")
		}
		if kt.(string) == "en-US" {
			*l = langMap(v)
			return nil
		}
		if !found {
			first, found = v, true
		}
	}
	*l = langMap(first)
	return nil
}

// activityList accepts the stored (array) form and the single-object form
// xAPI also allows in contextActivities.
type activityList []string

func (a *activityList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	type act struct {
		ID string `json:"id"`
	}
	if len(b) > 0 && b[0] == '{' {
		var one act
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*a = activityList{one.ID}
		return nil
	}
	var many []act
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	out := make(activityList, 0, len(many))
	for _, m := range many {
		out = append(out, m.ID)
	}
	*a = out
	return nil
}

// agentKey derives the learner key of an agent from its inverse functional
// identifier: "mbox:mailto:a@b.c", "mbox_sha1sum:<hex>", "openid:<uri>" or
// "account:<homePage>|<name>". ok is false when the agent has none (an
// anonymous group).
func agentKey(a *xAgent) (key string, ok bool) {
	switch {
	case a == nil:
		return "", false
	case a.Mbox != "":
		// The form of xapi.ActorKey, the learner key everywhere else: the
		// privacy pseudonym of an instructor must be the one they have
		// as an actor.
		return xapi.ActorKey(xapi.Agent{Mbox: a.Mbox}), true
	case a.MboxSHA1 != "":
		return xapi.ActorKey(xapi.Agent{MboxSHA1Sum: a.MboxSHA1}), true
	case a.OpenID != "":
		return "openid:" + a.OpenID, true
	case a.Account != nil && (a.Account.HomePage != "" || a.Account.Name != ""):
		return "account:" + a.Account.HomePage + "|" + a.Account.Name, true
	}
	return "", false
}

// StatementRow flattens an accepted xAPI statement event. Malformed payloads
// yield an error for which event.IsRejected is true, naming the field and
// the rule; a missing pseudonymisation secret yields a *ConfigError.
func (enc *Encoder) StatementRow(e event.Event) (Statement, error) {
	if err := checkType(e, statementTypeName); err != nil {
		return Statement{}, err
	}
	var x xStatement
	if err := json.Unmarshal(e.Data, &x); err != nil {
		return Statement{}, payloadErr(e, "data", "must be a JSON xAPI statement object: %v", err)
	}
	r := Statement{Tenant: e.Tenant, EventID: e.ID, IngestVersion: IngestVersion, XAPIVersion: x.Version}

	id, ok := normUUID(x.ID)
	if !ok {
		return Statement{}, payloadErr(e, "id", "must be a UUID, got %q", x.ID)
	}
	r.StatementID = id

	// Actor: the record key is the learner key the rest of the system uses;
	// derive it from the actor's identifier only when the key is missing.
	if x.Actor == nil {
		return Statement{}, payloadErr(e, "actor", "is required")
	}
	key := e.Key
	if key == "" {
		if key, ok = agentKey(x.Actor); !ok {
			return Statement{}, payloadErr(e, "actor", "must have an mbox, mbox_sha1sum, openid or account when the record has no key")
		}
	}
	r.ActorType = x.Actor.ObjectType
	if r.ActorType == "" {
		r.ActorType = "Agent"
	}
	p := enc.Pseudonymizer
	var err error
	if r.ActorKey, r.ActorPseudo, err = p.learner(e.Tenant, key); err != nil {
		return Statement{}, err
	}
	if !p.Enabled() {
		r.ActorName = x.Actor.Name
	}

	if x.Verb == nil || x.Verb.ID == "" {
		return Statement{}, payloadErr(e, "verb.id", "is required")
	}
	if !isIRI(x.Verb.ID) {
		return Statement{}, payloadErr(e, "verb.id", "must be an IRI, got %q", x.Verb.ID)
	}
	r.VerbID, r.VerbDisplay = x.Verb.ID, string(x.Verb.Display)

	if x.Object == nil {
		return Statement{}, payloadErr(e, "object", "is required")
	}
	r.ObjectType = x.Object.ObjectType
	if r.ObjectType == "" {
		r.ObjectType = "Activity"
	}
	switch r.ObjectType {
	case "Activity":
		if x.Object.ID == "" || !isIRI(x.Object.ID) {
			return Statement{}, payloadErr(e, "object.id", "an Activity must have an IRI id, got %q", x.Object.ID)
		}
		r.ObjectID = x.Object.ID
		if d := x.Object.Definition; d != nil {
			r.ObjectName, r.ActivityType = string(d.Name), d.Type
		}
	case "StatementRef":
		oid, ok := normUUID(x.Object.ID)
		if !ok {
			return Statement{}, payloadErr(e, "object.id", "a StatementRef must have a UUID id, got %q", x.Object.ID)
		}
		r.ObjectID = oid
	case "Agent", "Group":
		k, ok := agentKey(&x.Object.xAgent)
		if !ok {
			return Statement{}, payloadErr(e, "object", "an %s object must have an mbox, mbox_sha1sum, openid or account", r.ObjectType)
		}
		if r.ObjectID, err = p.Pseudonym(e.Tenant, k); err != nil {
			return Statement{}, err
		}
		if !p.Enabled() {
			r.ObjectName = x.Object.Name
		}
	case "SubStatement":
		// The object has no id of its own; its content is in raw.
	default:
		return Statement{}, payloadErr(e, "object.objectType", "must be Activity, Agent, Group, StatementRef or SubStatement, got %q", r.ObjectType)
	}

	if res := x.Result; res != nil {
		r.ResultSuccess, r.ResultCompletion = boolPtr(res.Success), boolPtr(res.Completion)
		if res.Response != nil && !p.Private() {
			// With privacy on, a free-text response is personal data of
			// the learner's that no column may hold (docs/privacy.md).
			r.Response = *res.Response
		}
		if sc := res.Score; sc != nil {
			if sc.Scaled != nil && (*sc.Scaled < -1 || *sc.Scaled > 1) {
				return Statement{}, payloadErr(e, "result.score.scaled", "must be between -1 and 1, got %v", *sc.Scaled)
			}
			if sc.Min != nil && sc.Max != nil && *sc.Min > *sc.Max {
				return Statement{}, payloadErr(e, "result.score.min", "must not exceed result.score.max (%v > %v)", *sc.Min, *sc.Max)
			}
			if sc.Raw != nil && (sc.Min != nil && *sc.Raw < *sc.Min || sc.Max != nil && *sc.Raw > *sc.Max) {
				return Statement{}, payloadErr(e, "result.score.raw", "must lie between result.score.min and result.score.max, got %v", *sc.Raw)
			}
			r.ScoreScaled, r.ScoreRaw, r.ScoreMin, r.ScoreMax = sc.Scaled, sc.Raw, sc.Min, sc.Max
		}
		if res.Duration != "" {
			d, err := durationSeconds(res.Duration)
			if err != nil {
				return Statement{}, payloadErr(e, "result.duration", "%q: %v", res.Duration, err)
			}
			r.DurationSeconds = &d
		}
	}

	if c := x.Context; c != nil {
		if c.Registration != "" {
			reg, ok := normUUID(c.Registration)
			if !ok {
				return Statement{}, payloadErr(e, "context.registration", "must be a UUID, got %q", c.Registration)
			}
			r.Registration = &reg
		}
		if ca := c.ContextActivities; ca != nil {
			r.ParentIDs, r.GroupingIDs, r.CategoryIDs = ca.Parent, ca.Grouping, ca.Category
		}
		if raw, ok := c.Extensions[ExtensionCmi5SessionID]; ok {
			var sid string
			if err := json.Unmarshal(raw, &sid); err != nil {
				return Statement{}, payloadErr(e, "context.extensions."+ExtensionCmi5SessionID, "must be a string")
			}
			r.SessionID = sid
		}
	}
	switch {
	case len(r.ParentIDs) > 0:
		r.CourseID = r.ParentIDs[0]
	case len(r.GroupingIDs) > 0:
		r.CourseID = r.GroupingIDs[0]
	case r.ActivityType == ActivityTypeCourse || r.ActivityType == ActivityTypeCmi5Course:
		r.CourseID = r.ObjectID
	}

	if x.Timestamp == "" {
		return Statement{}, payloadErr(e, "timestamp", "is required on a stored statement")
	}
	if r.Timestamp, err = parseXAPITime(x.Timestamp); err != nil {
		return Statement{}, payloadErr(e, "timestamp", "%q %v", x.Timestamp, err)
	}
	if x.Stored == "" {
		return Statement{}, payloadErr(e, "stored", "is required on a stored statement")
	}
	if r.Stored, err = parseXAPITime(x.Stored); err != nil {
		return Statement{}, payloadErr(e, "stored", "%q %v", x.Stored, err)
	}

	if p.Enabled() {
		raw, err := pseudonymiseStatementJSON(e.Data, func(k string) (string, error) { return p.Pseudonym(e.Tenant, k) }, r.ActorPseudo, p.Private())
		if err != nil {
			return Statement{}, err
		}
		r.Raw = raw
	} else {
		r.Raw = string(e.Data)
	}
	return r, nil
}

// parseXAPITime parses an ISO 8601 timestamp; one without an offset is UTC.
// The result must fit ClickHouse's DateTime64 (years 1900 to 2299).
func parseXAPITime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return time.Time{}, fmt.Errorf("must be an ISO 8601 timestamp (RFC 3339)")
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 1900 || y > 2299 {
		return time.Time{}, fmt.Errorf("must lie between the years 1900 and 2299")
	}
	return t, nil
}

// normUUID validates the 8-4-4-4-12 hex form and lower-cases it.
func normUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + 'a' - 'A'
		default:
			return "", false
		}
	}
	return string(b), true
}

// isIRI is the cheap check the sink can afford: a scheme followed by ':'.
func isIRI(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// pseudonymiseStatementJSON rewrites every agent in a statement (actor,
// Agent/Group objects, context instructor, team, context agents and groups,
// authority, and the same
// inside a SubStatement) to an account agent whose name is the pseudonym,
// and drops names. The actor gets actorPseudo so raw and actor_pseudo agree.
// dropResponse removes result.response (privacy on).
// Only the members holding agents are decoded and re-encoded; everything
// else is copied byte for byte.
func pseudonymiseStatementJSON(data []byte, pseudo func(string) (string, error), actorPseudo string, dropResponse bool) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return "", err
	}
	if err := pseudonymiseStatementRaw(top, pseudo, actorPseudo, dropResponse); err != nil {
		return "", err
	}
	return string(appendRawObject(make([]byte, 0, len(data)), top)), nil
}

func pseudonymiseStatementRaw(top map[string]json.RawMessage, pseudo func(string) (string, error), actorPseudo string, dropResponse bool) error {
	var err error
	if raw, ok := top["result"]; ok && dropResponse {
		var res map[string]json.RawMessage
		if json.Unmarshal(raw, &res) == nil {
			if _, has := res["response"]; has {
				delete(res, "response")
				top["result"] = appendRawObject(nil, res)
			}
		}
	}
	if raw, ok := top["actor"]; ok {
		if top["actor"], err = pseudonymiseAgentRaw(raw, pseudo, actorPseudo); err != nil {
			return err
		}
	}
	if raw, ok := top["authority"]; ok {
		if top["authority"], err = pseudonymiseAgentRaw(raw, pseudo, ""); err != nil {
			return err
		}
	}
	if raw, ok := top["object"]; ok {
		var head struct {
			ObjectType string `json:"objectType"`
		}
		if json.Unmarshal(raw, &head) == nil {
			switch head.ObjectType {
			case "Agent", "Group":
				if top["object"], err = pseudonymiseAgentRaw(raw, pseudo, ""); err != nil {
					return err
				}
			case "SubStatement":
				var sub map[string]json.RawMessage
				if err := json.Unmarshal(raw, &sub); err != nil {
					return err
				}
				if err := pseudonymiseStatementRaw(sub, pseudo, "", dropResponse); err != nil {
					return err
				}
				top["object"] = appendRawObject(nil, sub)
			}
		}
	}
	if raw, ok := top["context"]; ok {
		var has struct {
			Instructor    json.RawMessage `json:"instructor"`
			Team          json.RawMessage `json:"team"`
			ContextAgents json.RawMessage `json:"contextAgents"`
			ContextGroups json.RawMessage `json:"contextGroups"`
		}
		if json.Unmarshal(raw, &has) == nil && (has.Instructor != nil || has.Team != nil || has.ContextAgents != nil || has.ContextGroups != nil) {
			var ctx map[string]json.RawMessage
			if err := json.Unmarshal(raw, &ctx); err != nil {
				return err
			}
			for _, f := range []string{"instructor", "team"} {
				if a, ok := ctx[f]; ok {
					if ctx[f], err = pseudonymiseAgentRaw(a, pseudo, ""); err != nil {
						return err
					}
				}
			}
			// xAPI 2.0: the agent of each contextAgent and the group of
			// each contextGroup name people too.
			for _, f := range []struct{ list, member string }{{"contextAgents", "agent"}, {"contextGroups", "group"}} {
				if l, ok := ctx[f.list]; ok {
					if ctx[f.list], err = pseudonymiseWrappedAgents(l, f.member, pseudo); err != nil {
						return err
					}
				}
			}
			top["context"] = appendRawObject(nil, ctx)
		}
	}
	return nil
}

// pseudonymiseWrappedAgents rewrites the agent held under key in each
// object of a JSON array (contextAgents' "agent", contextGroups' "group").
func pseudonymiseWrappedAgents(raw json.RawMessage, key string, pseudo func(string) (string, error)) (json.RawMessage, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return raw, nil
	}
	out := []byte{'['}
	for i, it := range items {
		if a, ok := it[key]; ok {
			var err error
			if it[key], err = pseudonymiseAgentRaw(a, pseudo, ""); err != nil {
				return nil, err
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = appendRawObject(out, it)
	}
	return append(out, ']'), nil
}

// pseudonymiseAgentRaw rewrites one agent or group given as JSON; anything
// that is not a JSON object is returned unchanged.
func pseudonymiseAgentRaw(raw json.RawMessage, pseudo func(string) (string, error), known string) (json.RawMessage, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return raw, nil
	}
	if err := pseudonymiseAgent(m, pseudo, known); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendRawObject writes an object from already-encoded members, keys sorted.
func appendRawObject(b []byte, m map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = append(b, m[k]...)
	}
	return append(b, '}')
}

// pseudonymiseAgent rewrites one agent or group in place.
func pseudonymiseAgent(a map[string]any, pseudo func(string) (string, error), known string) error {
	x := xAgent{}
	x.Mbox, _ = a["mbox"].(string)
	x.MboxSHA1, _ = a["mbox_sha1sum"].(string)
	x.OpenID, _ = a["openid"].(string)
	if acc, ok := a["account"].(map[string]any); ok {
		x.Account = &xAccount{}
		x.Account.HomePage, _ = acc["homePage"].(string)
		x.Account.Name, _ = acc["name"].(string)
	}
	for _, f := range []string{"name", "mbox", "mbox_sha1sum", "openid", "account"} {
		delete(a, f)
	}
	if key, ok := agentKey(&x); ok || known != "" {
		p := known
		if p == "" {
			var err error
			if p, err = pseudo(key); err != nil {
				return err
			}
		}
		a["account"] = map[string]any{"homePage": PseudonymHomePage, "name": p}
	}
	if ms, ok := a["member"].([]any); ok {
		for _, mv := range ms {
			if mm, ok := mv.(map[string]any); ok {
				if err := pseudonymiseAgent(mm, pseudo, ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
