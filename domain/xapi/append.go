package xapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/jsonenc"
)

// The appenders write canonical JSON (see marshal.go) straight into one
// buffer. encoding/json reached the same bytes through reflection and, for
// every nested type with a MarshalJSON method, a separate buffer that it
// then checked and compacted again; the LRS encodes every statement it
// stores, so that was a good part of its time per statement. The output is
// byte for byte what the reflective encoder (marshalSlow and the structs in
// marshal.go) writes; the differential tests hold it to that. An appender
// reports false when the value holds something it cannot write (an
// extension value that is not JSON, a score that is not a finite number);
// the caller then runs the reflective encoder, which fails with the error
// it always gave.

func appendStatement(b []byte, s *Statement) ([]byte, bool) {
	ok := true
	b = append(b, '{')
	if s.ID != "" {
		b = appendKey(b, "id", true)
		b = jsonenc.AppendString(b, s.ID)
	}
	b = appendKey(b, "actor", s.ID == "")
	b = appendAgent(b, &s.Actor, "")
	b = appendKey(b, "verb", false)
	b = appendVerb(b, &s.Verb)
	b = appendKey(b, "object", false)
	if b, ok = appendObject(b, &s.Object); !ok {
		return b, false
	}
	if s.Result != nil {
		b = appendKey(b, "result", false)
		if b, ok = appendResult(b, s.Result); !ok {
			return b, false
		}
	}
	if s.Context != nil {
		b = appendKey(b, "context", false)
		if b, ok = appendContext(b, s.Context); !ok {
			return b, false
		}
	}
	if s.Timestamp != nil {
		b = appendKey(b, "timestamp", false)
		b = appendTimestamp(b, *s.Timestamp)
	}
	if s.Stored != nil {
		b = appendKey(b, "stored", false)
		b = appendTimestamp(b, *s.Stored)
	}
	if s.Authority != nil {
		b = appendKey(b, "authority", false)
		b = appendAgent(b, s.Authority, "")
	}
	if s.Version != "" {
		b = appendKey(b, "version", false)
		b = jsonenc.AppendString(b, s.Version)
	}
	if len(s.Attachments) > 0 {
		b = appendKey(b, "attachments", false)
		b = appendAttachments(b, s.Attachments)
	}
	return append(b, '}'), true
}

func appendSubStatement(b []byte, s *SubStatement) ([]byte, bool) {
	ok := true
	b = append(b, `{"objectType":"SubStatement","actor":`...)
	b = appendAgent(b, &s.Actor, "")
	b = appendKey(b, "verb", false)
	b = appendVerb(b, &s.Verb)
	b = appendKey(b, "object", false)
	if b, ok = appendObject(b, &s.Object); !ok {
		return b, false
	}
	if s.Result != nil {
		b = appendKey(b, "result", false)
		if b, ok = appendResult(b, s.Result); !ok {
			return b, false
		}
	}
	if s.Context != nil {
		b = appendKey(b, "context", false)
		if b, ok = appendContext(b, s.Context); !ok {
			return b, false
		}
	}
	if s.Timestamp != nil {
		b = appendKey(b, "timestamp", false)
		b = appendTimestamp(b, *s.Timestamp)
	}
	if len(s.Attachments) > 0 {
		b = appendKey(b, "attachments", false)
		b = appendAttachments(b, s.Attachments)
	}
	return append(b, '}'), true
}

func appendStatementRef(b []byte, r *StatementRef) []byte {
	b = append(b, `{"objectType":"StatementRef","id":`...)
	b = jsonenc.AppendString(b, r.ID)
	return append(b, '}')
}

func appendObject(b []byte, o *Object) ([]byte, bool) {
	switch {
	case o.Activity != nil:
		return appendActivity(b, o.Activity)
	case o.Agent != nil:
		// An Agent as an object always says what it is.
		return appendAgent(b, o.Agent, ObjectTypeAgent), true
	case o.StatementRef != nil:
		return appendStatementRef(b, o.StatementRef), true
	case o.SubStatement != nil:
		return appendSubStatement(b, o.SubStatement)
	}
	return append(b, "{}"...), true
}

// appendAgent writes an Agent or Group; defaultType is the objectType to
// write when the agent has none.
func appendAgent(b []byte, a *Agent, defaultType string) []byte {
	first := true
	b = append(b, '{')
	ot := a.ObjectType
	if ot == "" {
		ot = defaultType
	}
	if ot != "" {
		b = appendKey(b, "objectType", first)
		b = jsonenc.AppendString(b, ot)
		first = false
	}
	for _, p := range [...]struct{ key, val string }{{"name", a.Name}, {"mbox", a.Mbox}, {"mbox_sha1sum", a.MboxSHA1Sum}, {"openid", a.OpenID}} {
		if p.val != "" {
			b = appendKey(b, p.key, first)
			b = jsonenc.AppendString(b, p.val)
			first = false
		}
	}
	if a.Account != nil {
		b = appendKey(b, "account", first)
		b = append(b, `{"homePage":`...)
		b = jsonenc.AppendString(b, a.Account.HomePage)
		b = append(b, `,"name":`...)
		b = jsonenc.AppendString(b, a.Account.Name)
		b = append(b, '}')
		first = false
	}
	if len(a.Member) > 0 {
		b = appendKey(b, "member", first)
		b = append(b, '[')
		for i := range a.Member {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAgent(b, &a.Member[i], "")
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendVerb(b []byte, v *Verb) []byte {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, v.ID)
	if len(v.Display) > 0 {
		b = append(b, `,"display":`...)
		b = appendLanguageMap(b, v.Display)
	}
	return append(b, '}')
}

func appendActivity(b []byte, a *Activity) ([]byte, bool) {
	b = append(b, '{')
	if a.ObjectType != "" {
		b = append(b, `"objectType":`...)
		b = jsonenc.AppendString(b, a.ObjectType)
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	b = jsonenc.AppendString(b, a.ID)
	if a.Definition != nil {
		var ok bool
		b = append(b, `,"definition":`...)
		if b, ok = appendDefinition(b, a.Definition); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendDefinition(b []byte, d *ActivityDefinition) ([]byte, bool) {
	first := true
	b = append(b, '{')
	if len(d.Name) > 0 {
		b = appendKey(b, "name", first)
		b = appendLanguageMap(b, d.Name)
		first = false
	}
	if len(d.Description) > 0 {
		b = appendKey(b, "description", first)
		b = appendLanguageMap(b, d.Description)
		first = false
	}
	for _, p := range [...]struct{ key, val string }{{"type", d.Type}, {"moreInfo", d.MoreInfo}, {"interactionType", d.InteractionType}} {
		if p.val != "" {
			b = appendKey(b, p.key, first)
			b = jsonenc.AppendString(b, p.val)
			first = false
		}
	}
	// An empty but non-nil pattern is kept: it means "no answer is correct".
	if d.CorrectResponsesPattern != nil {
		b = appendKey(b, "correctResponsesPattern", first)
		b = jsonenc.AppendStrings(b, d.CorrectResponsesPattern)
		first = false
	}
	for _, l := range [...]struct {
		key  string
		list []InteractionComponent
	}{{"choices", d.Choices}, {"scale", d.Scale}, {"source", d.Source}, {"target", d.Target}, {"steps", d.Steps}} {
		if len(l.list) == 0 {
			continue
		}
		b = appendKey(b, l.key, first)
		first = false
		b = append(b, '[')
		for i := range l.list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = jsonenc.AppendString(b, l.list[i].ID)
			if len(l.list[i].Description) > 0 {
				b = append(b, `,"description":`...)
				b = appendLanguageMap(b, l.list[i].Description)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(d.Extensions) > 0 {
		var ok bool
		b = appendKey(b, "extensions", first)
		if b, ok = appendExtensions(b, d.Extensions); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendResult(b []byte, r *Result) ([]byte, bool) {
	first := true
	b = append(b, '{')
	if r.Score != nil {
		b = appendKey(b, "score", first)
		first = false
		b = append(b, '{')
		firstScore := true
		for _, p := range [...]struct {
			key string
			val *float64
		}{{"scaled", r.Score.Scaled}, {"raw", r.Score.Raw}, {"min", r.Score.Min}, {"max", r.Score.Max}} {
			if p.val == nil {
				continue
			}
			var ok bool
			b = appendKey(b, p.key, firstScore)
			firstScore = false
			if b, ok = jsonenc.AppendFloat(b, *p.val); !ok {
				return b, false
			}
		}
		b = append(b, '}')
	}
	for _, p := range [...]struct {
		key string
		val *bool
	}{{"success", r.Success}, {"completion", r.Completion}} {
		if p.val != nil {
			b = appendKey(b, p.key, first)
			b = strconv.AppendBool(b, *p.val)
			first = false
		}
	}
	if r.Response != nil {
		b = appendKey(b, "response", first)
		b = jsonenc.AppendString(b, *r.Response)
		first = false
	}
	if r.Duration != "" {
		b = appendKey(b, "duration", first)
		b = jsonenc.AppendString(b, r.Duration)
		first = false
	}
	if len(r.Extensions) > 0 {
		var ok bool
		b = appendKey(b, "extensions", first)
		if b, ok = appendExtensions(b, r.Extensions); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendContext(b []byte, c *Context) ([]byte, bool) {
	first := true
	b = append(b, '{')
	if c.Registration != "" {
		b = appendKey(b, "registration", first)
		b = jsonenc.AppendString(b, c.Registration)
		first = false
	}
	if c.Instructor != nil {
		b = appendKey(b, "instructor", first)
		b = appendAgent(b, c.Instructor, "")
		first = false
	}
	if c.Team != nil {
		b = appendKey(b, "team", first)
		b = appendAgent(b, c.Team, "")
		first = false
	}
	// contextActivities whose lists are all empty is left out: an empty
	// contextActivities object is not valid.
	if !c.ContextActivities.empty() {
		b = appendKey(b, "contextActivities", first)
		first = false
		var ok bool
		if b, ok = appendContextActivities(b, c.ContextActivities); !ok {
			return b, false
		}
	}
	for _, p := range [...]struct{ key, val string }{{"revision", c.Revision}, {"platform", c.Platform}, {"language", c.Language}} {
		if p.val != "" {
			b = appendKey(b, p.key, first)
			b = jsonenc.AppendString(b, p.val)
			first = false
		}
	}
	if c.Statement != nil {
		b = appendKey(b, "statement", first)
		b = appendStatementRef(b, c.Statement)
		first = false
	}
	if len(c.Extensions) > 0 {
		var ok bool
		b = appendKey(b, "extensions", first)
		if b, ok = appendExtensions(b, c.Extensions); !ok {
			return b, false
		}
		first = false
	}
	// Empty contextAgents or contextGroups say nothing and are left out.
	if len(c.ContextAgents) > 0 {
		b = appendKey(b, "contextAgents", first)
		first = false
		b = append(b, '[')
		for i := range c.ContextAgents {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"objectType":"contextAgent","agent":`...)
			b = appendAgent(b, &c.ContextAgents[i].Agent, "")
			if len(c.ContextAgents[i].RelevantTypes) > 0 {
				b = append(b, `,"relevantTypes":`...)
				b = jsonenc.AppendStrings(b, c.ContextAgents[i].RelevantTypes)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(c.ContextGroups) > 0 {
		b = appendKey(b, "contextGroups", first)
		b = append(b, '[')
		for i := range c.ContextGroups {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"objectType":"contextGroup","group":`...)
			b = appendAgent(b, &c.ContextGroups[i].Group, "")
			if len(c.ContextGroups[i].RelevantTypes) > 0 {
				b = append(b, `,"relevantTypes":`...)
				b = jsonenc.AppendStrings(b, c.ContextGroups[i].RelevantTypes)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

func appendContextActivities(b []byte, ca *ContextActivities) ([]byte, bool) {
	first := true
	b = append(b, '{')
	for _, l := range [...]struct {
		key  string
		list []Activity
	}{{"parent", ca.Parent}, {"grouping", ca.Grouping}, {"category", ca.Category}, {"other", ca.Other}} {
		if len(l.list) == 0 {
			continue
		}
		b = appendKey(b, l.key, first)
		first = false
		b = append(b, '[')
		for i := range l.list {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendActivity(b, &l.list[i]); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

func appendAttachments(b []byte, list []Attachment) []byte {
	b = append(b, '[')
	for i := range list {
		a := &list[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"usageType":`...)
		b = jsonenc.AppendString(b, a.UsageType)
		// display has no omitempty: a missing one is written as null.
		b = append(b, `,"display":`...)
		b = appendLanguageMap(b, a.Display)
		if len(a.Description) > 0 {
			b = append(b, `,"description":`...)
			b = appendLanguageMap(b, a.Description)
		}
		b = append(b, `,"contentType":`...)
		b = jsonenc.AppendString(b, a.ContentType)
		b = append(b, `,"length":`...)
		b = strconv.AppendInt(b, a.Length, 10)
		b = append(b, `,"sha2":`...)
		b = jsonenc.AppendString(b, a.SHA2)
		if a.FileURL != "" {
			b = append(b, `,"fileUrl":`...)
			b = jsonenc.AppendString(b, a.FileURL)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendLanguageMap writes the map with its keys sorted, and a nil map as
// null.
func appendLanguageMap(b []byte, m LanguageMap) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	if len(m) == 1 {
		for k, v := range m {
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = jsonenc.AppendString(b, v)
		}
		return append(b, '}')
	}
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, m[k])
	}
	return append(b, '}')
}

// appendExtensions writes the values compacted, as encoding/json writes a
// json.RawMessage, and a nil value as null. It fails on a value that is
// not JSON.
func appendExtensions(b []byte, ext Extensions) ([]byte, bool) {
	keys := make([]string, 0, len(ext))
	for k := range ext {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		v := ext[k]
		if v == nil {
			b = append(b, "null"...)
			continue
		}
		var ok bool
		if b, ok = appendCompact(b, v); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendCompact appends the JSON value v without insignificant
// whitespace; values parsed by this package are compact already.
func appendCompact(b []byte, v json.RawMessage) ([]byte, bool) {
	if !validJSON(v) {
		return b, false
	}
	if !hasSpace(v) {
		return append(b, v...), true
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, v); err != nil {
		return b, false
	}
	return buf.Bytes(), true
}

// hasSpace reports whether v, valid JSON, has whitespace outside strings.
func hasSpace(v []byte) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\r', '\n':
			return true
		case '"':
			i = stringEnd(v, i) - 1
		}
	}
	return false
}

// appendTimestamp writes FormatTimestamp(t) as a JSON string.
func appendTimestamp(b []byte, t time.Time) []byte {
	b = append(b, '"')
	start := len(b)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000")
	// Trailing zeros of the fraction go, but three digits stay.
	end := len(b)
	for end > len(b)-6 && end > start && b[end-1] == '0' {
		end--
	}
	b = b[:end]
	return append(b, 'Z', '"')
}
