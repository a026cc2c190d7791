package xapi

import (
	"bytes"
	"encoding/json"
	"time"
)

// The JSON written by this package is canonical: properties come in the
// order the specification lists them, map keys (language tags, extension
// IRIs) are sorted, timestamps are UTC, contextActivities are always
// arrays, and absent optional values are left out. The same statement
// therefore always serialises to the same bytes, which the event log,
// hashing and deduplication rely on.

type statementJSON struct {
	ID          string       `json:"id,omitempty"`
	Actor       Agent        `json:"actor"`
	Verb        Verb         `json:"verb"`
	Object      Object       `json:"object"`
	Result      *Result      `json:"result,omitempty"`
	Context     *Context     `json:"context,omitempty"`
	Timestamp   string       `json:"timestamp,omitempty"`
	Stored      string       `json:"stored,omitempty"`
	Authority   *Agent       `json:"authority,omitempty"`
	Version     string       `json:"version,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// MarshalJSON writes the statement as canonical JSON. It has a value
// receiver so that statements held by value encode the same way.
func (s Statement) MarshalJSON() ([]byte, error) {
	if b, ok := appendStatement(make([]byte, 0, 1024), &s); ok {
		return b, nil
	}
	return s.marshalSlow()
}

// marshalSlow is the reflective encoder that the appenders replaced. It
// runs only when an appender meets what it cannot write (an extension
// value that is not JSON, a score that is not a finite number), so that
// such a statement fails with the error it always did.
func (s Statement) marshalSlow() ([]byte, error) {
	return marshal(statementJSON{
		ID:          s.ID,
		Actor:       s.Actor,
		Verb:        s.Verb,
		Object:      s.Object,
		Result:      s.Result,
		Context:     s.Context,
		Timestamp:   formatOptionalTime(s.Timestamp),
		Stored:      formatOptionalTime(s.Stored),
		Authority:   s.Authority,
		Version:     s.Version,
		Attachments: s.Attachments,
	})
}

type subStatementJSON struct {
	ObjectType  string       `json:"objectType"`
	Actor       Agent        `json:"actor"`
	Verb        Verb         `json:"verb"`
	Object      Object       `json:"object"`
	Result      *Result      `json:"result,omitempty"`
	Context     *Context     `json:"context,omitempty"`
	Timestamp   string       `json:"timestamp,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// MarshalJSON writes the SubStatement with its required objectType.
func (s SubStatement) MarshalJSON() ([]byte, error) {
	if b, ok := appendSubStatement(nil, &s); ok {
		return b, nil
	}
	return marshal(subStatementJSON{
		ObjectType:  ObjectTypeSubStatement,
		Actor:       s.Actor,
		Verb:        s.Verb,
		Object:      s.Object,
		Result:      s.Result,
		Context:     s.Context,
		Timestamp:   formatOptionalTime(s.Timestamp),
		Attachments: s.Attachments,
	})
}

// MarshalJSON writes the reference with its required objectType.
func (r StatementRef) MarshalJSON() ([]byte, error) {
	return appendStatementRef(nil, &r), nil
}

// MarshalJSON writes whichever kind of object o holds. An Agent used as an
// object always gets its objectType, which the specification requires there.
func (o Object) MarshalJSON() ([]byte, error) {
	if b, ok := appendObject(nil, &o); ok {
		return b, nil
	}
	switch {
	case o.Activity != nil:
		return marshal(o.Activity)
	case o.Agent != nil:
		a := *o.Agent
		if a.ObjectType == "" {
			a.ObjectType = ObjectTypeAgent
		}
		return marshal(a)
	case o.StatementRef != nil:
		return marshal(o.StatementRef)
	case o.SubStatement != nil:
		return marshal(o.SubStatement)
	}
	return []byte("{}"), nil
}

type definitionJSON struct {
	Name                    LanguageMap            `json:"name,omitempty"`
	Description             LanguageMap            `json:"description,omitempty"`
	Type                    string                 `json:"type,omitempty"`
	MoreInfo                string                 `json:"moreInfo,omitempty"`
	InteractionType         string                 `json:"interactionType,omitempty"`
	CorrectResponsesPattern *[]string              `json:"correctResponsesPattern,omitempty"`
	Choices                 []InteractionComponent `json:"choices,omitempty"`
	Scale                   []InteractionComponent `json:"scale,omitempty"`
	Source                  []InteractionComponent `json:"source,omitempty"`
	Target                  []InteractionComponent `json:"target,omitempty"`
	Steps                   []InteractionComponent `json:"steps,omitempty"`
	Extensions              Extensions             `json:"extensions,omitempty"`
}

// MarshalJSON writes the definition; an empty but non-nil
// CorrectResponsesPattern is kept, because it means "no answer is correct".
func (d ActivityDefinition) MarshalJSON() ([]byte, error) {
	if b, ok := appendDefinition(nil, &d); ok {
		return b, nil
	}
	w := definitionJSON{
		Name:            d.Name,
		Description:     d.Description,
		Type:            d.Type,
		MoreInfo:        d.MoreInfo,
		InteractionType: d.InteractionType,
		Choices:         d.Choices,
		Scale:           d.Scale,
		Source:          d.Source,
		Target:          d.Target,
		Steps:           d.Steps,
		Extensions:      d.Extensions,
	}
	if d.CorrectResponsesPattern != nil {
		w.CorrectResponsesPattern = &d.CorrectResponsesPattern
	}
	return marshal(w)
}

type contextJSON struct {
	Registration      string             `json:"registration,omitempty"`
	Instructor        *Agent             `json:"instructor,omitempty"`
	Team              *Agent             `json:"team,omitempty"`
	ContextActivities *ContextActivities `json:"contextActivities,omitempty"`
	Revision          string             `json:"revision,omitempty"`
	Platform          string             `json:"platform,omitempty"`
	Language          string             `json:"language,omitempty"`
	Statement         *StatementRef      `json:"statement,omitempty"`
	Extensions        Extensions         `json:"extensions,omitempty"`
	ContextAgents     []contextAgentJSON `json:"contextAgents,omitempty"`
	ContextGroups     []contextGroupJSON `json:"contextGroups,omitempty"`
}

type contextAgentJSON struct {
	ObjectType    string   `json:"objectType"`
	Agent         Agent    `json:"agent"`
	RelevantTypes []string `json:"relevantTypes,omitempty"`
}

type contextGroupJSON struct {
	ObjectType    string   `json:"objectType"`
	Group         Agent    `json:"group"`
	RelevantTypes []string `json:"relevantTypes,omitempty"`
}

// MarshalJSON writes the context, leaving out contextActivities whose lists
// are all empty (an empty contextActivities object is not valid).
func (c Context) MarshalJSON() ([]byte, error) {
	if b, ok := appendContext(nil, &c); ok {
		return b, nil
	}
	w := contextJSON{
		Registration: c.Registration,
		Instructor:   c.Instructor,
		Team:         c.Team,
		Revision:     c.Revision,
		Platform:     c.Platform,
		Language:     c.Language,
		Statement:    c.Statement,
		Extensions:   c.Extensions,
	}
	if !c.ContextActivities.empty() {
		w.ContextActivities = c.ContextActivities
	}
	// An empty contextAgents or contextGroups array is valid but says
	// nothing, so it is left out like the other empty values.
	for _, a := range c.ContextAgents {
		w.ContextAgents = append(w.ContextAgents, contextAgentJSON{ObjectType: "contextAgent", Agent: a.Agent, RelevantTypes: a.RelevantTypes})
	}
	for _, g := range c.ContextGroups {
		w.ContextGroups = append(w.ContextGroups, contextGroupJSON{ObjectType: "contextGroup", Group: g.Group, RelevantTypes: g.RelevantTypes})
	}
	return marshal(w)
}

// marshal encodes v without HTML escaping: statements carry IRIs with "&"
// in them and are not embedded in HTML, so "\u0026" would only make stored
// and returned statements harder to read.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func formatOptionalTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return FormatTimestamp(*t)
}
