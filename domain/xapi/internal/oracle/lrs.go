package oracle

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// IsVoiding reports whether s voids another statement, and which: its verb
// is VerbVoided and its object a StatementRef. (Parsing already rejects a
// voiding verb with any other kind of object.)
func (s *Statement) IsVoiding() (target string, ok bool) {
	if s.Verb.ID == VerbVoided && s.Object.StatementRef != nil {
		return s.Object.StatementRef.ID, true
	}
	return "", false
}

// Prepare does what the LRS does to an accepted statement before storing
// it: assign id when the client sent none, set stored, overwrite the
// authority with the one the credentials establish (a zero Agent leaves the
// authority alone), set timestamp to stored when absent, set version to
// "1.0.0" when absent, and give an Activity object its objectType (the ADL
// conformance suite expects "Activity" to be filled in).
func (s *Statement) Prepare(id string, stored time.Time, authority Agent) {
	if s.ID == "" {
		s.ID = id
	}
	st := stored.UTC()
	s.Stored = &st
	if authority.IsIdentified() || len(authority.Member) > 0 {
		a := authority.clone()
		s.Authority = &a
	}
	if s.Timestamp == nil {
		t := st
		s.Timestamp = &t
	}
	if s.Version == "" {
		s.Version = Version
	}
	if a := s.Object.Activity; a != nil && a.ObjectType == "" {
		a.ObjectType = ObjectTypeActivity
	}
	if sub := s.Object.SubStatement; sub != nil && sub.Object.Activity != nil && sub.Object.Activity.ObjectType == "" {
		sub.Object.Activity.ObjectType = ObjectTypeActivity
	}
}

// Validate checks a statement built in code (by the SCORM bridge, say)
// against the same rules ParseStatement applies to a request, by encoding it
// and parsing the result.
func (s *Statement) Validate() error {
	data, err := s.MarshalJSON()
	if err != nil {
		return invalid("statement", "cannot be encoded as JSON: %v", err)
	}
	_, err = ParseStatement(data)
	return err
}

// Values of the "format" parameter of GET /statements.
const (
	FormatExact     = "exact"
	FormatIDs       = "ids"
	FormatCanonical = "canonical"
)

// Format returns a copy of s shaped for the "format" parameter:
//
//   - "exact" (and anything else; the HTTP layer validates the parameter):
//     the statement as stored.
//   - "ids": Agents and identified Groups reduced to their identifier,
//     anonymous Groups to their members' identifiers, Activities to their
//     id and Verbs to their id.
//   - "canonical": every language map of Verbs and Activities (display,
//     name, description, interaction components) reduced to the one entry
//     that best matches langs, an Accept-Language preference list (see
//     ParseAcceptLanguage). Replacing definitions with the LRS's canonical
//     ones needs the activity store and is left to the caller.
//
// s itself is never modified.
func (s *Statement) Format(mode string, langs []string) *Statement {
	c := s.Clone()
	switch mode {
	case FormatIDs:
		c.Actor = idsAgent(c.Actor)
		c.Verb.Display = nil
		c.Object = idsObject(c.Object)
		c.Context = idsContext(c.Context)
		if c.Authority != nil {
			a := idsAgent(*c.Authority)
			c.Authority = &a
		}
	case FormatCanonical:
		canonicalVerb(&c.Verb, langs)
		canonicalObject(c.Object, langs)
		canonicalContext(c.Context, langs)
	}
	return c
}

func idsAgent(a Agent) Agent {
	r := Agent{ObjectType: a.ObjectType, Mbox: a.Mbox, MboxSHA1Sum: a.MboxSHA1Sum, OpenID: a.OpenID, Account: a.Account}
	if !a.IsIdentified() {
		r.Member = make([]Agent, len(a.Member))
		for i, m := range a.Member {
			r.Member[i] = idsAgent(m)
		}
	}
	return r
}

func idsObject(o Object) Object {
	switch {
	case o.Activity != nil:
		// Just the id: objectType is optional for an Activity and "ids"
		// keeps only identifiers (the ADL suite counts the keys).
		return Object{Activity: &Activity{ID: o.Activity.ID}}
	case o.Agent != nil:
		a := idsAgent(*o.Agent)
		return Object{Agent: &a}
	case o.SubStatement != nil:
		sub := *o.SubStatement
		sub.Actor = idsAgent(sub.Actor)
		sub.Verb.Display = nil
		sub.Object = idsObject(sub.Object)
		sub.Context = idsContext(sub.Context)
		return Object{SubStatement: &sub}
	}
	return o
}

func idsContext(c *Context) *Context {
	if c == nil {
		return nil
	}
	if c.Instructor != nil {
		a := idsAgent(*c.Instructor)
		c.Instructor = &a
	}
	if c.Team != nil {
		a := idsAgent(*c.Team)
		c.Team = &a
	}
	for i := range c.ContextAgents {
		c.ContextAgents[i].Agent = idsAgent(c.ContextAgents[i].Agent)
	}
	for i := range c.ContextGroups {
		c.ContextGroups[i].Group = idsAgent(c.ContextGroups[i].Group)
	}
	if ca := c.ContextActivities; ca != nil {
		for _, list := range [][]Activity{ca.Parent, ca.Grouping, ca.Category, ca.Other} {
			for i := range list {
				list[i].Definition = nil
			}
		}
	}
	return c
}

func canonicalVerb(v *Verb, langs []string) {
	v.Display = v.Display.best(langs)
}

func canonicalObject(o Object, langs []string) {
	switch {
	case o.Activity != nil:
		canonicalActivity(o.Activity, langs)
	case o.SubStatement != nil:
		canonicalVerb(&o.SubStatement.Verb, langs)
		canonicalObject(o.SubStatement.Object, langs)
		canonicalContext(o.SubStatement.Context, langs)
	}
}

func canonicalContext(c *Context, langs []string) {
	if c == nil || c.ContextActivities == nil {
		return
	}
	ca := c.ContextActivities
	for _, list := range [][]Activity{ca.Parent, ca.Grouping, ca.Category, ca.Other} {
		for i := range list {
			canonicalActivity(&list[i], langs)
		}
	}
}

func canonicalActivity(a *Activity, langs []string) {
	d := a.Definition
	if d == nil {
		return
	}
	d.Name = d.Name.best(langs)
	d.Description = d.Description.best(langs)
	for _, list := range [][]InteractionComponent{d.Choices, d.Scale, d.Source, d.Target, d.Steps} {
		for i := range list {
			list[i].Description = list[i].Description.best(langs)
		}
	}
}

// best returns a map holding only the entry BestLanguage picks.
func (m LanguageMap) best(langs []string) LanguageMap {
	if len(m) == 0 {
		return m
	}
	k := BestLanguage(m, langs)
	return LanguageMap{k: m[k]}
}

// BestLanguage picks the key of m that best matches prefs, a list of
// language ranges in order of preference (an Accept-Language header as
// returned by ParseAcceptLanguage). As in RFC 2616, a range matches a tag
// equal to it or starting with it and "-" ("en" matches "en-US"), and "*"
// matches anything. When no range matches, a range is shortened subtag by
// subtag ("en-GB" falls back to "en"); when that fails too, "und"
// (undetermined) is preferred, then the first tag in sorted order, so the
// choice is always deterministic. Tags compare case-insensitively. It
// returns "" only for an empty map.
func BestLanguage(m LanguageMap, prefs []string) string {
	if len(m) == 0 {
		return ""
	}
	keys := sortedKeys(m)
	for _, pref := range prefs {
		pref = strings.TrimSpace(pref)
		if pref == "" {
			continue
		}
		if pref == "*" {
			return keys[0]
		}
		for _, k := range keys {
			if strings.EqualFold(k, pref) {
				return k
			}
		}
		for _, k := range keys {
			if len(k) > len(pref) && k[len(pref)] == '-' && strings.EqualFold(k[:len(pref)], pref) {
				return k
			}
		}
	}
	for _, pref := range prefs {
		for p := strings.TrimSpace(pref); strings.Contains(p, "-"); {
			p = p[:strings.LastIndexByte(p, '-')]
			for _, k := range keys {
				if strings.EqualFold(k, p) {
					return k
				}
			}
		}
	}
	for _, k := range keys {
		if strings.EqualFold(k, "und") {
			return k
		}
	}
	return keys[0]
}

// ParseAcceptLanguage turns an Accept-Language header ("fr-CH, fr;q=0.9,
// en;q=0.8, *;q=0.5") into language ranges ordered by preference. Ranges
// with q=0 ("not acceptable") and malformed entries are dropped; equal
// weights keep their order in the header.
func ParseAcceptLanguage(header string) []string {
	type weighted struct {
		lang string
		q    float64
	}
	var list []weighted
	for _, part := range strings.Split(header, ",") {
		lang, params, _ := strings.Cut(part, ";")
		lang = strings.TrimSpace(lang)
		if lang == "" || (lang != "*" && !isLenientLanguage(lang)) {
			continue
		}
		q := 1.0
		if params = strings.TrimSpace(params); params != "" {
			v, ok := strings.CutPrefix(params, "q=")
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > 0 {
			list = append(list, weighted{lang, q})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].q > list[j].q })
	out := make([]string, len(list))
	for i, w := range list {
		out[i] = w.lang
	}
	return out
}
