package oracle

import (
	"encoding/json"
	"time"
)

// Values fixed by the xAPI specification.
const (
	// VerbVoided is the one verb the specification reserves: a statement
	// with this verb and a StatementRef object voids the referenced statement.
	VerbVoided = "http://adlnet.gov/expapi/verbs/voided"

	// Version is what the LRS writes into statements that arrive without a
	// version from an xAPI 1.0.x client. The specification asks for "1.0.0"
	// rather than the patch level actually spoken, because every 1.0.x
	// shares the 1.0.0 data model. See Spec.StatementVersion.
	Version = "1.0.0"
)

// Object types. The specification compares these case-sensitively.
const (
	ObjectTypeActivity     = "Activity"
	ObjectTypeAgent        = "Agent"
	ObjectTypeGroup        = "Group"
	ObjectTypeStatementRef = "StatementRef"
	ObjectTypeSubStatement = "SubStatement"
)

// Interaction types allowed in an activity definition's interactionType.
const (
	InteractionTrueFalse   = "true-false"
	InteractionChoice      = "choice"
	InteractionFillIn      = "fill-in"
	InteractionLongFillIn  = "long-fill-in"
	InteractionMatching    = "matching"
	InteractionPerformance = "performance"
	InteractionSequencing  = "sequencing"
	InteractionLikert      = "likert"
	InteractionNumeric     = "numeric"
	InteractionOther       = "other"
)

// Statement is an xAPI statement, of version 1.0.x or 2.0.x.
//
// Optional objects are pointers so that "absent" and "present" stay
// distinguishable; optional strings are empty when absent. Values that the
// specification leaves open (extensions) are kept as raw JSON so that nothing
// a client sent is lost on the way through the LRS.
type Statement struct {
	ID          string       // UUID; assigned by the LRS when absent
	Actor       Agent        // an Agent or a Group
	Verb        Verb         // what the actor did
	Object      Object       // Activity, Agent, Group, StatementRef or SubStatement
	Result      *Result      // outcome, if measured
	Context     *Context     // registration, instructor, related activities…
	Timestamp   *time.Time   // when the experience happened; set to Stored when absent
	Stored      *time.Time   // set by the LRS
	Authority   *Agent       // set by the LRS from the credentials
	Version     string       // "1.0", "1.0.x", "2.0" or "2.0.x"
	Attachments []Attachment // attachment metadata; the payloads travel separately
}

// Agent is an xAPI Agent or Group. The two share one type because most
// places that accept one accept the other (actor, instructor, authority, a
// statement's object) and because both are identified the same way.
//
// An Agent has exactly one inverse functional identifier (IFI): Mbox,
// MboxSHA1Sum, OpenID or Account. A Group has ObjectType "Group"; an
// identified Group has one IFI, an anonymous Group has none and lists its
// members instead.
type Agent struct {
	ObjectType  string   `json:"objectType,omitempty"` // "Agent", "Group" or empty (Agent)
	Name        string   `json:"name,omitempty"`
	Mbox        string   `json:"mbox,omitempty"`         // "mailto:" IRI
	MboxSHA1Sum string   `json:"mbox_sha1sum,omitempty"` // hex SHA-1 of an mbox
	OpenID      string   `json:"openid,omitempty"`       // URI
	Account     *Account `json:"account,omitempty"`      // a login on some system
	Member      []Agent  `json:"member,omitempty"`       // Groups only; never Groups themselves
}

// IsGroup reports whether a is a Group rather than a single Agent.
func (a Agent) IsGroup() bool { return a.ObjectType == ObjectTypeGroup }

// IsIdentified reports whether a carries an inverse functional identifier.
// Every valid Agent does; a Group without one is anonymous.
func (a Agent) IsIdentified() bool { return ifiCount(a) > 0 }

// Account identifies an agent by a login on some system.
type Account struct {
	HomePage string `json:"homePage"` // IRL of the system
	Name     string `json:"name"`     // the login on that system
}

// Verb is the action of a statement.
type Verb struct {
	ID      string      `json:"id"`                // IRI; the only part that carries meaning
	Display LanguageMap `json:"display,omitempty"` // human-readable only
}

// LanguageMap maps RFC 5646 language tags to text in that language.
type LanguageMap map[string]string

// Extensions maps IRIs to arbitrary JSON values. Values are kept verbatim
// (compacted) because the specification forbids an LRS to judge them.
type Extensions map[string]json.RawMessage

// Object is the object of a statement: exactly one of its fields is set.
type Object struct {
	Activity     *Activity
	Agent        *Agent // an Agent or a Group; see Agent.IsGroup
	StatementRef *StatementRef
	SubStatement *SubStatement
}

// Type returns the object's objectType ("Activity", "Agent", "Group",
// "StatementRef" or "SubStatement"), or "" when no field is set.
func (o Object) Type() string {
	switch {
	case o.Activity != nil:
		return ObjectTypeActivity
	case o.Agent != nil:
		if o.Agent.IsGroup() {
			return ObjectTypeGroup
		}
		return ObjectTypeAgent
	case o.StatementRef != nil:
		return ObjectTypeStatementRef
	case o.SubStatement != nil:
		return ObjectTypeSubStatement
	}
	return ""
}

// Activity is a thing an actor interacted with.
type Activity struct {
	ObjectType string              `json:"objectType,omitempty"` // "Activity" or empty
	ID         string              `json:"id"`                   // IRI
	Definition *ActivityDefinition `json:"definition,omitempty"` // metadata, not part of the statement's identity
}

// ActivityDefinition is the metadata a statement may carry about an activity.
type ActivityDefinition struct {
	Name            LanguageMap
	Description     LanguageMap
	Type            string // IRI
	MoreInfo        string // IRL
	InteractionType string // one of the Interaction* constants, or empty

	// CorrectResponsesPattern distinguishes nil (no pattern: any answer is
	// correct) from an empty slice (no answer is correct), as the
	// specification does.
	CorrectResponsesPattern []string

	Choices []InteractionComponent // choice, sequencing
	Scale   []InteractionComponent // likert
	Source  []InteractionComponent // matching
	Target  []InteractionComponent // matching
	Steps   []InteractionComponent // performance

	Extensions Extensions
}

// InteractionComponent is one option of an interaction (a choice, a step…).
type InteractionComponent struct {
	ID          string      `json:"id"`
	Description LanguageMap `json:"description,omitempty"`
}

// StatementRef points at another statement by id.
type StatementRef struct {
	ID string // UUID
}

// SubStatement is a statement nested as the object of another one. It
// describes something that has not (necessarily) happened, so it has no id,
// stored, authority or version of its own, and it cannot nest further.
type SubStatement struct {
	Actor       Agent
	Verb        Verb
	Object      Object // never a SubStatement
	Result      *Result
	Context     *Context
	Timestamp   *time.Time // may lie in the future
	Attachments []Attachment
}

// Result is the measured outcome of a statement.
type Result struct {
	Score      *Score     `json:"score,omitempty"`
	Success    *bool      `json:"success,omitempty"`
	Completion *bool      `json:"completion,omitempty"`
	Response   *string    `json:"response,omitempty"` // a pointer: "" is a real answer
	Duration   string     `json:"duration,omitempty"` // ISO 8601 duration, kept as sent
	Extensions Extensions `json:"extensions,omitempty"`
}

// Score is a graded outcome. Every field is optional.
type Score struct {
	Scaled *float64 `json:"scaled,omitempty"` // in [-1, 1]
	Raw    *float64 `json:"raw,omitempty"`    // in [Min, Max] when those are given
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Context gives a statement more meaning.
type Context struct {
	Registration      string // UUID
	Instructor        *Agent // an Agent or a Group
	Team              *Agent // always a Group
	ContextActivities *ContextActivities
	Revision          string // only when the object is an Activity
	Platform          string // only when the object is an Activity
	Language          string // RFC 5646 tag
	Statement         *StatementRef
	Extensions        Extensions

	// ContextAgents and ContextGroups are xAPI 2.0 properties: people and
	// teams other than the actor that took part, with the parts they
	// played. Statements accepted under xAPI 1.0.3 never have them.
	ContextAgents []ContextAgent
	ContextGroups []ContextGroup
}

// ContextAgent relates an Agent other than the actor to a statement
// (xAPI 2.0 context.contextAgents; objectType "contextAgent").
type ContextAgent struct {
	Agent         Agent    // always a single Agent
	RelevantTypes []string // IRIs of the part played; nil when not given, never empty
}

// ContextGroup relates a Group to a statement (xAPI 2.0
// context.contextGroups; objectType "contextGroup").
type ContextGroup struct {
	Group         Agent    // always a Group, identified or anonymous
	RelevantTypes []string // as for ContextAgent
}

// ContextActivities relates a statement to other activities. Clients may
// send a single activity instead of an array for each key; parsing always
// produces slices, which is also how the LRS must return them.
type ContextActivities struct {
	Parent   []Activity `json:"parent,omitempty"`
	Grouping []Activity `json:"grouping,omitempty"`
	Category []Activity `json:"category,omitempty"`
	Other    []Activity `json:"other,omitempty"`
}

func (c *ContextActivities) empty() bool {
	return c == nil || len(c.Parent)+len(c.Grouping)+len(c.Category)+len(c.Other) == 0
}

// Attachment is the metadata of a file that travels with a statement.
type Attachment struct {
	UsageType   string      `json:"usageType"` // IRI
	Display     LanguageMap `json:"display"`
	Description LanguageMap `json:"description,omitempty"`
	ContentType string      `json:"contentType"` // Internet media type
	Length      int64       `json:"length"`      // octets
	SHA2        string      `json:"sha2"`        // hex SHA-2 of the payload
	FileURL     string      `json:"fileUrl,omitempty"`
}

func ifiCount(a Agent) int {
	n := 0
	if a.Mbox != "" {
		n++
	}
	if a.MboxSHA1Sum != "" {
		n++
	}
	if a.OpenID != "" {
		n++
	}
	if a.Account != nil {
		n++
	}
	return n
}
