package oracle

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Equivalent reports whether a and b are the same statement in the sense of
// the specification's immutability rules (Data 2.3.1), which decide whether
// a second POST or PUT with a known id is a harmless repeat (204) or a
// conflict (409), and whether a signed statement matches its signature.
//
// Differences the LRS itself may cause, or that the specification declares
// not part of the statement, are ignored:
//
//   - id when either side has none (the LRS assigns it), otherwise ids
//     compare case-insensitively;
//   - stored, authority and version (set by the LRS);
//   - timestamp when either side has none (the LRS fills it in), otherwise
//     the instant is compared to the millisecond, whatever the time zone;
//   - the verb's display and all activity definitions (Data 2.3.1: they
//     are not part of the statement);
//   - the order of a Group's members;
//   - case where the specification makes it insignificant: UUIDs, hex
//     digests, email domains, language tags;
//   - objectType "Activity"/"Agent" written out or left to its default;
//   - contextActivities sent as one object or as an array;
//   - the formatting of extension values (whitespace, key order, 1 vs 1.0);
//   - digits of a duration's seconds beyond the hundredth.
//
// Everything else is compared as written; in particular durations are
// compared as strings ("PT1H" differs from "PT60M"), as Data 2.3.1 requires.
func Equivalent(a, b *Statement) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, y := a.Clone(), b.Clone()
	if x.ID == "" || y.ID == "" {
		x.ID, y.ID = "", ""
	}
	if x.Timestamp == nil || y.Timestamp == nil {
		x.Timestamp, y.Timestamp = nil, nil
	}
	ja, err1 := comparableJSON(x)
	jb, err2 := comparableJSON(y)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// comparableJSON normalises s in place and encodes it; equivalent
// statements encode to the same bytes.
func comparableJSON(s *Statement) ([]byte, error) {
	s.ID = strings.ToLower(s.ID)
	s.Stored, s.Authority, s.Version = nil, nil, ""
	s.Timestamp = truncateMillis(s.Timestamp)
	normCore(&s.Actor, &s.Verb, &s.Object, &s.Result, &s.Context, s.Attachments)
	return json.Marshal(s)
}

func normCore(actor *Agent, verb *Verb, obj *Object, result **Result, ctx **Context, attachments []Attachment) {
	normAgent(actor)
	verb.Display = nil
	normObject(obj)
	*result = normResult(*result)
	*ctx = normContext(*ctx)
	for i := range attachments {
		a := &attachments[i]
		a.Display = lowerKeys(a.Display)
		a.Description = lowerKeys(a.Description)
		a.SHA2 = strings.ToLower(a.SHA2)
		a.ContentType = strings.ToLower(a.ContentType)
	}
}

func normAgent(a *Agent) {
	if a.ObjectType == "" {
		a.ObjectType = ObjectTypeAgent
	}
	if a.Mbox != "" {
		a.Mbox = normalizeMbox(a.Mbox)
	}
	a.MboxSHA1Sum = strings.ToLower(a.MboxSHA1Sum)
	if len(a.Member) == 0 {
		a.Member = nil
		return
	}
	// Members form an unordered list: sort them by their own encoding.
	encoded := make([]string, len(a.Member))
	order := make([]int, len(a.Member))
	for i := range a.Member {
		normAgent(&a.Member[i])
		b, _ := json.Marshal(a.Member[i])
		encoded[i] = string(b)
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return encoded[order[i]] < encoded[order[j]] })
	sorted := make([]Agent, len(order))
	for i, k := range order {
		sorted[i] = a.Member[k]
	}
	a.Member = sorted
}

func normActivity(a *Activity) {
	a.ObjectType = ObjectTypeActivity
	a.Definition = nil
}

func normObject(o *Object) {
	switch {
	case o.Activity != nil:
		normActivity(o.Activity)
	case o.Agent != nil:
		normAgent(o.Agent)
	case o.StatementRef != nil:
		o.StatementRef.ID = strings.ToLower(o.StatementRef.ID)
	case o.SubStatement != nil:
		sub := o.SubStatement
		sub.Timestamp = truncateMillis(sub.Timestamp)
		normCore(&sub.Actor, &sub.Verb, &sub.Object, &sub.Result, &sub.Context, sub.Attachments)
	}
}

func normResult(r *Result) *Result {
	if r == nil {
		return nil
	}
	r.Duration = durationForComparison(r.Duration)
	r.Extensions = normExtensions(r.Extensions)
	if r.Score != nil && *r.Score == (Score{}) {
		r.Score = nil
	}
	if r.Score == nil && r.Success == nil && r.Completion == nil && r.Response == nil && r.Duration == "" && r.Extensions == nil {
		return nil
	}
	return r
}

func normContext(c *Context) *Context {
	if c == nil {
		return nil
	}
	c.Registration = strings.ToLower(c.Registration)
	if c.Instructor != nil {
		normAgent(c.Instructor)
	}
	if c.Team != nil {
		normAgent(c.Team)
	}
	if ca := c.ContextActivities; ca != nil {
		for _, list := range []*[]Activity{&ca.Parent, &ca.Grouping, &ca.Category, &ca.Other} {
			if len(*list) == 0 {
				*list = nil
			}
			for i := range *list {
				normActivity(&(*list)[i])
			}
		}
		if ca.empty() {
			c.ContextActivities = nil
		}
	}
	c.Language = strings.ToLower(c.Language)
	if c.Statement != nil {
		c.Statement.ID = strings.ToLower(c.Statement.ID)
	}
	c.Extensions = normExtensions(c.Extensions)
	if len(c.ContextAgents) == 0 {
		c.ContextAgents = nil
	}
	for i := range c.ContextAgents {
		normAgent(&c.ContextAgents[i].Agent)
	}
	if len(c.ContextGroups) == 0 {
		c.ContextGroups = nil
	}
	for i := range c.ContextGroups {
		normAgent(&c.ContextGroups[i].Group)
	}
	if c.Registration == "" && c.Instructor == nil && c.Team == nil && c.ContextActivities == nil &&
		c.Revision == "" && c.Platform == "" && c.Language == "" && c.Statement == nil && c.Extensions == nil &&
		c.ContextAgents == nil && c.ContextGroups == nil {
		return nil
	}
	return c
}

// normExtensions re-encodes each value through a generic decode, which
// sorts object keys and drops whitespace, and writes numbers one way:
// integers exactly (so large ids stay distinct), others as float64 (so 1.50
// equals 1.5 and 1.0 equals 1).
func normExtensions(e Extensions) Extensions {
	if len(e) == 0 {
		return nil
	}
	for k, raw := range e {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			continue
		}
		if b, err := json.Marshal(normNumbers(v)); err == nil {
			e[k] = b
		}
	}
	return e
}

func normNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10))
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return json.Number(strconv.FormatInt(int64(f), 10))
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return x
	case []any:
		for i := range x {
			x[i] = normNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normNumbers(x[k])
		}
	}
	return v
}

func lowerKeys(m LanguageMap) LanguageMap {
	if len(m) == 0 {
		return nil
	}
	out := make(LanguageMap, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func truncateMillis(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}
