package xapi

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeStoredFast fills in what json.Unmarshal would from data, for the
// JSON the LRS stores: every property named exactly as the struct tags or
// fields say, without escapes, no property twice, no null, every value of
// the type its field has. On anything else it reports false and the caller
// decodes with encoding/json, whose rules (case-insensitive names, ignored
// unknown properties, nulls, merging of repeated objects, the errors'
// wording) then decide. Where encoding/json calls a validating UnmarshalJSON
// (an Agent inside a Group, a Context or a contextAgent) this calls the same
// method.
//
// It reads data once, front to back, after validJSON has checked it.
func decodeStoredFast(data []byte, blk *storedBlock) bool {
	in := &blk.in
	if !utf8.Valid(data) || !validJSON(data) {
		return false
	}
	w := walker{b: data}
	w.space()
	var seen uint32
	ok := w.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return once(&seen, 1<<0) && w.str(&in.ID)
		case "actor":
			return once(&seen, 1<<1) && w.agent(&in.Actor)
		case "verb":
			return once(&seen, 1<<2) && w.verb(&in.Verb)
		case "object":
			return once(&seen, 1<<3) && w.storedObject(&in.Object)
		case "result":
			in.Result = &blk.result
			return once(&seen, 1<<4) && w.result(in.Result, &blk.bools, &blk.response)
		case "context":
			in.Context = &blk.context
			return once(&seen, 1<<5) && w.context(in.Context, &blk.ca)
		case "timestamp":
			return once(&seen, 1<<6) && w.time(&in.Timestamp, &blk.times[0])
		case "stored":
			return once(&seen, 1<<7) && w.time(&in.Stored, &blk.times[1])
		case "authority":
			in.Authority = &plainAgent{}
			return once(&seen, 1<<8) && w.agent(in.Authority)
		case "version":
			return once(&seen, 1<<9) && w.str(&in.Version)
		case "attachments":
			return once(&seen, 1<<10) && w.attachments(&in.Attachments)
		}
		return false
	})
	w.space()
	return ok && w.i == len(data)
}

// once reports whether bit is not yet set in seen, and sets it: a property
// that comes twice sends the statement to encoding/json, which merges.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// walker reads JSON that validJSON accepted, so it never meets a syntax
// error; it only refuses shapes decodeStoredFast leaves to encoding/json.
type walker struct {
	b []byte
	i int
}

func (w *walker) space() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\r' || w.b[w.i] == '\n') {
		w.i++
	}
}

func (w *walker) peek() byte {
	if w.i < len(w.b) {
		return w.b[w.i]
	}
	return 0
}

// object calls member with each property name, the walker at its value,
// which member must consume. Names with escapes are refused.
func (w *walker) object(member func(key []byte) bool) bool {
	if w.peek() != '{' {
		return false
	}
	w.i++
	w.space()
	if w.peek() == '}' {
		w.i++
		return true
	}
	for {
		end := stringEnd(w.b, w.i)
		key := w.b[w.i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		w.i = end
		w.space()
		w.i++ // the colon
		w.space()
		if !member(key) {
			return false
		}
		w.space()
		if w.peek() == ',' {
			w.i++
			w.space()
			continue
		}
		w.i++ // the closing brace
		return true
	}
}

// array calls item with the walker at each element, which item consumes,
// and reports how many elements there were.
func (w *walker) array(item func(i int) bool) (int, bool) {
	if w.peek() != '[' {
		return 0, false
	}
	w.i++
	w.space()
	if w.peek() == ']' {
		w.i++
		return 0, true
	}
	for n := 0; ; n++ {
		if !item(n) {
			return 0, false
		}
		w.space()
		if w.peek() == ',' {
			w.i++
			w.space()
			continue
		}
		w.i++ // the closing bracket
		return n + 1, true
	}
}

// count returns the number of elements of the array at the walker without
// moving it, so that slices are made at their size.
func (w *walker) count() int {
	i := skipSpace(w.b, w.i+1)
	if i >= len(w.b) || w.b[i] == ']' {
		return 0
	}
	n, depth := 1, 1
	for ; i < len(w.b); i++ {
		switch w.b[i] {
		case '"':
			i = stringEnd(w.b, i) - 1
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return n
			}
		case ',':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

// value consumes any value and returns its bytes.
func (w *walker) value() []byte {
	start := w.i
	w.i = valueEnd(w.b, w.i)
	return w.b[start:w.i]
}

func (w *walker) str(dst *string) bool {
	if w.peek() != '"' {
		return false
	}
	*dst = unquote(w.value())
	return true
}

// boolean decodes a bool into slot, or into a new one when slot is nil.
func (w *walker) boolean(dst **bool, slot *bool) bool {
	switch w.peek() {
	case 't', 'f':
		if slot == nil {
			slot = new(bool)
		}
		*slot = w.peek() == 't'
		*dst = slot
		w.value()
		return true
	}
	return false
}

func (w *walker) float(dst **float64, slot *float64) bool {
	if kindOf(w.b[w.i:]) != kindNumber {
		return false
	}
	v, err := strconv.ParseFloat(string(w.value()), 64)
	if err != nil {
		return false
	}
	*slot = v
	*dst = slot
	return true
}

// time decodes a time into slot, or into a new one when slot is nil.
func (w *walker) time(dst **time.Time, slot *time.Time) bool {
	if w.peek() != '"' {
		return false
	}
	t := slot
	if t == nil {
		t = new(time.Time)
	}
	if err := t.UnmarshalJSON(w.value()); err != nil {
		return false
	}
	*dst = t
	return true
}

func (w *walker) strings(dst *[]string) bool {
	if w.peek() != '[' {
		return false
	}
	out := make([]string, 0, w.count())
	_, ok := w.array(func(int) bool {
		var s string
		ok := w.str(&s)
		out = append(out, s)
		return ok
	})
	*dst = out
	return ok
}

func (w *walker) languageMap(dst *LanguageMap) bool {
	lm := LanguageMap{}
	*dst = lm
	return w.object(func(key []byte) bool {
		if _, dup := lm[string(key)]; dup {
			return false
		}
		var s string
		if !w.str(&s) {
			return false
		}
		lm[internKey(key)] = s
		return true
	})
}

func (w *walker) extensions(dst *Extensions) bool {
	ext := Extensions{}
	*dst = ext
	return w.object(func(key []byte) bool {
		if _, dup := ext[string(key)]; dup || w.peek() == 'n' {
			return false
		}
		ext[string(key)] = bytes.Clone(w.value())
		return true
	})
}

// agent decodes a plainAgent: the properties of an Agent, without
// validation, except that members are Agents and validated.
func (w *walker) agent(a *plainAgent) bool {
	var seen uint32
	return w.object(func(key []byte) bool { return w.agentMember(key, a, &seen) })
}

func (w *walker) agentMember(key []byte, a *plainAgent, seen *uint32) bool {
	switch string(key) {
	case "objectType":
		return once(seen, 1<<0) && w.str(&a.ObjectType)
	case "name":
		return once(seen, 1<<1) && w.str(&a.Name)
	case "mbox":
		return once(seen, 1<<2) && w.str(&a.Mbox)
	case "mbox_sha1sum":
		return once(seen, 1<<3) && w.str(&a.MboxSHA1Sum)
	case "openid":
		return once(seen, 1<<4) && w.str(&a.OpenID)
	case "account":
		if !once(seen, 1<<5) {
			return false
		}
		acc := &Account{}
		a.Account = acc
		var aseen uint32
		return w.object(func(key []byte) bool {
			switch string(key) {
			case "homePage":
				return once(&aseen, 1) && w.str(&acc.HomePage)
			case "name":
				return once(&aseen, 2) && w.str(&acc.Name)
			}
			return false
		})
	case "member":
		if !once(seen, 1<<6) || w.peek() != '[' {
			return false
		}
		members := make([]Agent, w.count())
		a.Member = members
		_, ok := w.array(func(i int) bool { return w.validAgent(&members[i]) })
		return ok
	}
	return false
}

// validAgent decodes an Agent with its validating UnmarshalJSON, as
// encoding/json would.
func (w *walker) validAgent(a *Agent) bool {
	if w.peek() != '{' {
		return false
	}
	return a.UnmarshalJSON(w.value()) == nil
}

func (w *walker) verb(v *Verb) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return once(&seen, 1) && w.str(&v.ID)
		case "display":
			return once(&seen, 2) && w.languageMap(&v.Display)
		}
		return false
	})
}

func (w *walker) storedObject(o *storedObject) bool {
	var seen, agentSeen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member":
			return w.agentMember(key, &o.plainAgent, &agentSeen)
		case "id":
			return once(&seen, 1<<0) && w.str(&o.ID)
		case "definition":
			o.Definition = &ActivityDefinition{}
			return once(&seen, 1<<1) && w.definition(o.Definition)
		case "actor":
			o.Actor = &plainAgent{}
			return once(&seen, 1<<2) && w.agent(o.Actor)
		case "verb":
			o.Verb = &Verb{}
			return once(&seen, 1<<3) && w.verb(o.Verb)
		case "object":
			o.Object = &storedObject{}
			return once(&seen, 1<<4) && w.storedObject(o.Object)
		case "result":
			o.Result = &Result{}
			return once(&seen, 1<<5) && w.result(o.Result, nil, nil)
		case "context":
			o.Context = &Context{}
			return once(&seen, 1<<6) && w.context(o.Context, nil)
		case "timestamp":
			return once(&seen, 1<<7) && w.time(&o.Timestamp, nil)
		case "attachments":
			return once(&seen, 1<<8) && w.attachments(&o.Attachments)
		}
		return false
	})
}

func (w *walker) activity(a *Activity) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "objectType":
			return once(&seen, 1) && w.str(&a.ObjectType)
		case "id":
			return once(&seen, 2) && w.str(&a.ID)
		case "definition":
			a.Definition = &ActivityDefinition{}
			return once(&seen, 4) && w.definition(a.Definition)
		}
		return false
	})
}

func (w *walker) definition(d *ActivityDefinition) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return once(&seen, 1<<0) && w.languageMap(&d.Name)
		case "description":
			return once(&seen, 1<<1) && w.languageMap(&d.Description)
		case "type":
			return once(&seen, 1<<2) && w.str(&d.Type)
		case "moreInfo":
			return once(&seen, 1<<3) && w.str(&d.MoreInfo)
		case "interactionType":
			return once(&seen, 1<<4) && w.str(&d.InteractionType)
		case "correctResponsesPattern":
			return once(&seen, 1<<5) && w.strings(&d.CorrectResponsesPattern)
		case "choices":
			return once(&seen, 1<<6) && w.components(&d.Choices)
		case "scale":
			return once(&seen, 1<<7) && w.components(&d.Scale)
		case "source":
			return once(&seen, 1<<8) && w.components(&d.Source)
		case "target":
			return once(&seen, 1<<9) && w.components(&d.Target)
		case "steps":
			return once(&seen, 1<<10) && w.components(&d.Steps)
		case "extensions":
			return once(&seen, 1<<11) && w.extensions(&d.Extensions)
		}
		return false
	})
}

func (w *walker) components(dst *[]InteractionComponent) bool {
	if w.peek() != '[' {
		return false
	}
	out := make([]InteractionComponent, w.count())
	*dst = out
	_, ok := w.array(func(i int) bool {
		var seen uint32
		c := &out[i]
		return w.object(func(key []byte) bool {
			switch string(key) {
			case "id":
				return once(&seen, 1) && w.str(&c.ID)
			case "description":
				return once(&seen, 2) && w.languageMap(&c.Description)
			}
			return false
		})
	})
	return ok
}

// scoreBlock allocates a Score with room for its numbers.
type scoreBlock struct {
	score Score
	v     [4]float64
}

// result decodes a Result; bools and response, when not nil, take its
// success, completion and response.
func (w *walker) result(r *Result, bools *[2]bool, response *string) bool {
	if bools == nil {
		bools = new([2]bool)
	}
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "score":
			if !once(&seen, 1<<0) {
				return false
			}
			sb := &scoreBlock{}
			s := &sb.score
			r.Score = s
			var sseen uint32
			return w.object(func(key []byte) bool {
				switch string(key) {
				case "scaled":
					return once(&sseen, 1) && w.float(&s.Scaled, &sb.v[0])
				case "raw":
					return once(&sseen, 2) && w.float(&s.Raw, &sb.v[1])
				case "min":
					return once(&sseen, 4) && w.float(&s.Min, &sb.v[2])
				case "max":
					return once(&sseen, 8) && w.float(&s.Max, &sb.v[3])
				}
				return false
			})
		case "success":
			return once(&seen, 1<<1) && w.boolean(&r.Success, &bools[0])
		case "completion":
			return once(&seen, 1<<2) && w.boolean(&r.Completion, &bools[1])
		case "response":
			if response == nil {
				response = new(string)
			}
			r.Response = response
			return once(&seen, 1<<3) && w.str(r.Response)
		case "duration":
			return once(&seen, 1<<4) && w.str(&r.Duration)
		case "extensions":
			return once(&seen, 1<<5) && w.extensions(&r.Extensions)
		}
		return false
	})
}

// context decodes a Context; ca, when not nil, takes its
// contextActivities.
func (w *walker) context(c *Context, ca *ContextActivities) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "registration":
			return once(&seen, 1<<0) && w.str(&c.Registration)
		case "instructor":
			c.Instructor = &Agent{}
			return once(&seen, 1<<1) && w.validAgent(c.Instructor)
		case "team":
			c.Team = &Agent{}
			return once(&seen, 1<<2) && w.validAgent(c.Team)
		case "contextActivities":
			if ca == nil {
				ca = new(ContextActivities)
			}
			c.ContextActivities = ca
			return once(&seen, 1<<3) && w.contextActivities(c.ContextActivities)
		case "revision":
			return once(&seen, 1<<4) && w.str(&c.Revision)
		case "platform":
			return once(&seen, 1<<5) && w.str(&c.Platform)
		case "language":
			return once(&seen, 1<<6) && w.str(&c.Language)
		case "statement":
			c.Statement = &StatementRef{}
			return once(&seen, 1<<7) && w.statementRef(c.Statement)
		case "extensions":
			return once(&seen, 1<<8) && w.extensions(&c.Extensions)
		case "contextAgents":
			return once(&seen, 1<<9) && w.contextAgents(&c.ContextAgents)
		case "contextGroups":
			return once(&seen, 1<<10) && w.contextGroups(&c.ContextGroups)
		}
		return false
	})
}

func (w *walker) contextActivities(ca *ContextActivities) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		var dst *[]Activity
		var bit uint32
		switch string(key) {
		case "parent":
			dst, bit = &ca.Parent, 1
		case "grouping":
			dst, bit = &ca.Grouping, 2
		case "category":
			dst, bit = &ca.Category, 4
		case "other":
			dst, bit = &ca.Other, 8
		default:
			return false
		}
		if !once(&seen, bit) || w.peek() != '[' {
			return false
		}
		list := make([]Activity, w.count())
		*dst = list
		_, ok := w.array(func(i int) bool { return w.activity(&list[i]) })
		return ok
	})
}

// statementRef decodes a StatementRef, whose only field is ID: the JSON
// names it "id", which encoding/json matches case-insensitively, and its
// "objectType" has no field, so encoding/json skips it.
func (w *walker) statementRef(r *StatementRef) bool {
	var seen uint32
	return w.object(func(key []byte) bool {
		switch string(key) {
		case "objectType":
			if !once(&seen, 1) {
				return false
			}
			w.value()
			return true
		case "id":
			return once(&seen, 2) && w.str(&r.ID)
		}
		return false
	})
}

func (w *walker) contextAgents(dst *[]ContextAgent) bool {
	if w.peek() != '[' {
		return false
	}
	out := make([]ContextAgent, w.count())
	*dst = out
	_, ok := w.array(func(i int) bool {
		var seen uint32
		return w.object(func(key []byte) bool {
			switch string(key) {
			case "objectType": // no field: skipped
				if !once(&seen, 1) {
					return false
				}
				w.value()
				return true
			case "agent":
				return once(&seen, 2) && w.validAgent(&out[i].Agent)
			case "relevantTypes":
				return once(&seen, 4) && w.strings(&out[i].RelevantTypes)
			}
			return false
		})
	})
	return ok
}

func (w *walker) contextGroups(dst *[]ContextGroup) bool {
	if w.peek() != '[' {
		return false
	}
	out := make([]ContextGroup, w.count())
	*dst = out
	_, ok := w.array(func(i int) bool {
		var seen uint32
		return w.object(func(key []byte) bool {
			switch string(key) {
			case "objectType": // no field: skipped
				if !once(&seen, 1) {
					return false
				}
				w.value()
				return true
			case "group":
				return once(&seen, 2) && w.validAgent(&out[i].Group)
			case "relevantTypes":
				return once(&seen, 4) && w.strings(&out[i].RelevantTypes)
			}
			return false
		})
	})
	return ok
}

func (w *walker) attachments(dst *[]Attachment) bool {
	if w.peek() != '[' {
		return false
	}
	out := make([]Attachment, w.count())
	*dst = out
	_, ok := w.array(func(i int) bool {
		a := &out[i]
		var seen uint32
		return w.object(func(key []byte) bool {
			switch string(key) {
			case "usageType":
				return once(&seen, 1<<0) && w.str(&a.UsageType)
			case "display":
				return once(&seen, 1<<1) && w.languageMap(&a.Display)
			case "description":
				return once(&seen, 1<<2) && w.languageMap(&a.Description)
			case "contentType":
				return once(&seen, 1<<3) && w.str(&a.ContentType)
			case "length":
				if !once(&seen, 1<<4) || kindOf(w.b[w.i:]) != kindNumber {
					return false
				}
				n, err := strconv.ParseInt(string(w.value()), 10, 64)
				a.Length = n
				return err == nil
			case "sha2":
				return once(&seen, 1<<5) && w.str(&a.SHA2)
			case "fileUrl":
				return once(&seen, 1<<6) && w.str(&a.FileURL)
			}
			return false
		})
	})
	return ok
}
