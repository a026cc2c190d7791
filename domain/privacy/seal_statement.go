package privacy

import (
	"strconv"

	"github.com/learnstream/learnstream/domain/xapi"
)

// walker seals (or opens) the personal fields of a stored statement in
// place: every Agent and Group (actor, an Agent or Group object, context
// instructor, team, contextAgents and contextGroups, authority, and the
// same inside a SubStatement) and result.response. Everything between
// them is copied as it is.
//
// Sealed forms, as they appear in the statement on the log:
//
//	Agent: {"objectType":"Agent","sealed":"<kid>.<b64>"}          the agent's JSON, under its own key
//	Group: {"objectType":"Group","sealed":"<kid>.<b64>","member":[<sealed Agent>…]}
//	       the group without its members, under the group's key (an
//	       anonymous group: the statement actor's key); each member under its own
//	response: "<kid>.<b64>"                                        the JSON string, under the actor's key
type walker struct {
	*sealer
	in      []byte
	out     []byte
	last    int    // in[:last] is accounted for in out
	owner   string // learner key of the statement's actor (sealing)
	opening bool
	head    []byte // scratch: a group without its members
}

func (w *walker) run() ([]byte, error) {
	w.out = make([]byte, 0, len(w.in)+len(w.in)/2+256)
	if err := w.statement(0, len(w.in), "", true); err != nil {
		return nil, err
	}
	return append(w.out, w.in[w.last:]...), nil
}

// splice copies the input up to s, lets f append the replacement of
// in[s:e] to out, and continues after e.
func (w *walker) splice(s, e int, f func(dst []byte) ([]byte, error)) error {
	w.out = append(w.out, w.in[w.last:s]...)
	out, err := f(w.out)
	if err != nil {
		return err
	}
	w.out, w.last = out, e
	return nil
}

func (w *walker) syntax(path string) error {
	if path == "" {
		return errField("data", "a statement must be a JSON object")
	}
	return errField("data."+path, "malformed JSON")
}

// statement walks the statement (top) or SubStatement spanning in[s:e];
// prefix is its path with a trailing dot.
func (w *walker) statement(s, e int, prefix string, top bool) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return w.syntax(prefix)
	}
	for _, m := range ms {
		var err error
		switch {
		case m.is(w.in, "actor"):
			err = w.agentAt(m, prefix+"actor")
		case m.is(w.in, "object"):
			err = w.object(m, prefix+"object")
		case m.is(w.in, "context"):
			err = w.context(m, prefix+"context")
		case m.is(w.in, "result"):
			err = w.result(m, prefix+"result")
		case top && m.is(w.in, "authority"):
			err = w.agentAt(m, "authority")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) agentAt(m member, path string) error {
	if w.in[m.vs] == 'n' { // null: nothing to seal
		return nil
	}
	return w.splice(m.vs, m.ve, func(dst []byte) ([]byte, error) {
		if w.opening {
			return w.openAgent(dst, m.vs, m.ve, path)
		}
		return w.sealAgent(dst, m.vs, m.ve, path)
	})
}

func (w *walker) object(m member, path string) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax(path)
	}
	ot, ok := find(ms, w.in, "objectType")
	if !ok {
		return nil // an Activity
	}
	t, err := stringValue(w.in, ot.vs, ot.ve)
	if err != nil {
		return errField("data."+path+".objectType", "must be a string")
	}
	switch t {
	case xapi.ObjectTypeAgent, xapi.ObjectTypeGroup:
		return w.agentAt(m, path)
	case xapi.ObjectTypeSubStatement:
		return w.statement(m.vs, m.ve, path+".", false)
	}
	return nil
}

func (w *walker) context(m member, path string) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax(path)
	}
	for _, c := range ms {
		var err error
		switch {
		case c.is(w.in, "instructor"):
			err = w.agentAt(c, path+".instructor")
		case c.is(w.in, "team"):
			err = w.agentAt(c, path+".team")
		case c.is(w.in, "contextAgents"):
			err = w.related(c, path+".contextAgents", "agent")
		case c.is(w.in, "contextGroups"):
			err = w.related(c, path+".contextGroups", "group")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// related walks xAPI 2.0 contextAgents or contextGroups: an array of
// objects, each with its agent (or group) under the property prop.
func (w *walker) related(m member, path, prop string) error {
	if w.in[m.vs] == 'n' {
		return nil
	}
	els, err := elements(nil, w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax(path)
	}
	for i, el := range els {
		p := path + "." + strconv.Itoa(i)
		var buf [4]member
		ms, err := members(buf[:0], w.in, el[0], el[1])
		if err != nil {
			return w.syntax(p)
		}
		if a, ok := find(ms, w.in, prop); ok {
			if err := w.agentAt(a, p+"."+prop); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) result(m member, path string) error {
	var buf [8]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax(path)
	}
	r, ok := find(ms, w.in, "response")
	if !ok {
		return nil
	}
	path += ".response"
	if !w.opening {
		k, err := w.keyFor(w.owner)
		if err != nil {
			return err
		}
		return w.splice(r.vs, r.ve, func(dst []byte) ([]byte, error) {
			dst = append(dst, '"')
			dst = w.seal(dst, k, path, w.in[r.vs:r.ve])
			return append(dst, '"'), nil
		})
	}
	sealed, err := stringValue(w.in, r.vs, r.ve)
	if err != nil {
		return errField("data."+path, ruleShape)
	}
	plain, gone, err := w.open(nil, "data."+path, path, []byte(sealed))
	if err != nil {
		return err
	}
	if !gone {
		return w.splice(r.vs, r.ve, func(dst []byte) ([]byte, error) { return append(dst, plain...), nil })
	}
	// The response's key is gone: the result loses it, nothing else.
	return w.splice(m.vs, m.ve, func(dst []byte) ([]byte, error) {
		dst = append(dst, '{')
		n := 0
		for _, o := range ms {
			if o == r {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, w.in[o.ks:o.ve]...)
			n++
		}
		return append(dst, '}'), nil
	})
}

// agentFields reads the identifying fields of the agent or group whose
// members are ms.
func (w *walker) agentFields(ms []member, path string) (xapi.Agent, bool, error) {
	var a xapi.Agent
	hasMember := false
	for _, m := range ms {
		var dst *string
		switch {
		case m.is(w.in, "objectType"):
			dst = &a.ObjectType
		case m.is(w.in, "mbox"):
			dst = &a.Mbox
		case m.is(w.in, "mbox_sha1sum"):
			dst = &a.MboxSHA1Sum
		case m.is(w.in, "openid"):
			dst = &a.OpenID
		case m.is(w.in, "member"):
			hasMember = true
		case m.is(w.in, "account"):
			var buf [4]member
			as, err := members(buf[:0], w.in, m.vs, m.ve)
			if err != nil {
				return a, false, w.syntax(path + ".account")
			}
			a.Account = &xapi.Account{}
			for _, f := range as {
				switch {
				case f.is(w.in, "homePage"):
					a.Account.HomePage, err = stringValue(w.in, f.vs, f.ve)
				case f.is(w.in, "name"):
					a.Account.Name, err = stringValue(w.in, f.vs, f.ve)
				}
				if err != nil {
					return a, false, errField("data."+path+".account", "homePage and name must be strings")
				}
			}
		}
		if dst != nil {
			v, err := stringValue(w.in, m.vs, m.ve)
			if err != nil {
				return a, false, errField("data."+path+"."+m.name(w.in), "must be a string")
			}
			*dst = v
		}
	}
	return a, hasMember, nil
}

// sealAgent appends the sealed form of the Agent or Group in[s:e] to dst.
func (w *walker) sealAgent(dst []byte, s, e int, path string) ([]byte, error) {
	var buf [8]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return nil, w.syntax(path)
	}
	a, hasMember, err := w.agentFields(ms, path)
	if err != nil {
		return nil, err
	}
	if !a.IsGroup() {
		learner := xapi.ActorKey(a)
		if learner == "" {
			return nil, errField("data."+path, "an Agent needs an identifier (mbox, mbox_sha1sum, openid or account) to be sealed under its key")
		}
		k, err := w.keyFor(learner)
		if err != nil {
			return nil, err
		}
		dst = append(dst, `{"objectType":"Agent","sealed":"`...)
		dst = w.seal(dst, k, path, w.in[s:e])
		return append(dst, `"}`...), nil
	}
	// A Group: its own name and identifier under its key (an anonymous
	// group has none: under the actor's), each member under the member's.
	learner := w.owner
	if a.IsIdentified() {
		learner = xapi.ActorKey(a)
	}
	k, err := w.keyFor(learner)
	if err != nil {
		return nil, err
	}
	head := append(w.head[:0], '{')
	var list member
	n := 0
	for _, m := range ms {
		if m.is(w.in, "member") {
			list = m
			continue
		}
		if n > 0 {
			head = append(head, ',')
		}
		head = append(head, w.in[m.ks:m.ve]...)
		n++
	}
	head = append(head, '}')
	w.head = head
	dst = append(dst, `{"objectType":"Group","sealed":"`...)
	dst = w.seal(dst, k, path, head)
	dst = append(dst, '"')
	if hasMember {
		dst = append(dst, `,"member":`...)
		if w.in[list.vs] == 'n' {
			dst = append(dst, "null"...)
		} else {
			els, err := elements(nil, w.in, list.vs, list.ve)
			if err != nil {
				return nil, w.syntax(path + ".member")
			}
			dst = append(dst, '[')
			for i, el := range els {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, err = w.sealAgent(dst, el[0], el[1], path+".member."+strconv.Itoa(i)); err != nil {
					return nil, err
				}
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}'), nil
}

// openAgent appends the Agent or Group whose sealed form is in[s:e] to
// dst; an agent whose key is gone becomes ErasedAgent, a group whose own
// key is gone keeps its members (opened one by one) under an erased
// identity.
func (w *walker) openAgent(dst []byte, s, e int, path string) ([]byte, error) {
	var buf [4]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return nil, w.syntax(path)
	}
	sm, ok := find(ms, w.in, "sealed")
	if !ok {
		return nil, errField("data."+path, `is not a sealed agent ({"objectType":…,"sealed":"<kid>.<b64>"})`)
	}
	sealed, err := stringValue(w.in, sm.vs, sm.ve)
	if err != nil {
		return nil, errField("data."+path+".sealed", ruleShape)
	}
	isGroup := false
	if ot, ok := find(ms, w.in, "objectType"); ok {
		t, err := stringValue(w.in, ot.vs, ot.ve)
		if err != nil {
			return nil, errField("data."+path+".objectType", "must be a string")
		}
		isGroup = t == xapi.ObjectTypeGroup
	}
	list, hasMember := find(ms, w.in, "member")
	if !isGroup && hasMember {
		return nil, errField("data."+path+".member", "only a Group has members")
	}
	start := len(dst)
	dst, gone, err := w.open(dst, "data."+path+".sealed", path, []byte(sealed))
	if err != nil {
		return nil, err
	}
	if !isGroup {
		if gone {
			dst = append(dst, erasedAgentJSON...)
		}
		return dst, nil
	}
	if gone {
		dst = append(dst, erasedGroupJSON...)
	} else {
		// Reopen the group's object to append its members.
		i := len(dst) - 1
		for i > start && dst[i] != '}' {
			i--
		}
		if i <= start || dst[start] != '{' {
			return nil, errField("data."+path+".sealed", "does not hold a JSON object")
		}
		dst = dst[:i]
	}
	if hasMember {
		if j := ws(dst, start+1); j < len(dst) {
			dst = append(dst, ',')
		}
		dst = append(dst, `"member":`...)
		if w.in[list.vs] == 'n' {
			dst = append(dst, "null"...)
		} else {
			els, err := elements(nil, w.in, list.vs, list.ve)
			if err != nil {
				return nil, w.syntax(path + ".member")
			}
			dst = append(dst, '[')
			for i, el := range els {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, err = w.openAgent(dst, el[0], el[1], path+".member."+strconv.Itoa(i)); err != nil {
					return nil, err
				}
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}'), nil
}
