package privacy

import (
	"errors"
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
	// The statement's own actor, when an Agent: its key (set when
	// sealing, and when opening with deriveKey), and whether it was
	// found and whether its data key is gone (opening).
	actorKey  string
	deriveKey bool
	actorSeen bool
	actorGone bool
	path      []byte // the path of the value at hand ("context.instructor")
	head      []byte // scratch: a group without its members
	pathArr   [64]byte
}

func (w *walker) run() ([]byte, error) {
	// Sealing makes values longer (base64 of nonce, ciphertext and tag);
	// opening makes them shorter, or replaces a whole erased agent.
	n := len(w.in) + len(w.in)/2 + 256
	if w.opening {
		n = len(w.in) + 64
	}
	w.out = make([]byte, 0, n)
	w.path = w.pathArr[:0]
	if err := w.statement(0, len(w.in), true); err != nil {
		return nil, err
	}
	return append(w.out, w.in[w.last:]...), nil
}

// push appends a segment to the path and returns what pop needs to
// take it off again.
func (w *walker) push(seg string) int {
	n := len(w.path)
	if n > 0 {
		w.path = append(w.path, '.')
	}
	w.path = append(w.path, seg...)
	return n
}

func (w *walker) pushIndex(i int) int {
	n := len(w.path)
	w.path = strconv.AppendInt(append(w.path, '.'), int64(i), 10)
	return n
}

func (w *walker) pop(n int) { w.path = w.path[:n] }

// field names the value at hand, plus sub, for an error.
func (w *walker) field(sub string) string {
	f := "data"
	if len(w.path) > 0 {
		f += "." + string(w.path)
	}
	if sub != "" {
		f += "." + sub
	}
	return f
}

func (w *walker) syntax() error {
	if len(w.path) == 0 {
		return errField("data", "a statement must be a JSON object")
	}
	return errField(w.field(""), "malformed JSON")
}

// statement walks the statement (top) or SubStatement spanning in[s:e].
func (w *walker) statement(s, e int, top bool) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return w.syntax()
	}
	for _, m := range ms {
		var n int
		switch {
		case m.is(w.in, "actor"):
			n = w.push("actor")
			err = w.agentAt(m)
		case m.is(w.in, "object"):
			n = w.push("object")
			err = w.object(m)
		case m.is(w.in, "context"):
			n = w.push("context")
			err = w.context(m)
		case m.is(w.in, "result"):
			n = w.push("result")
			err = w.result(m)
		case top && m.is(w.in, "authority"):
			n = w.push("authority")
			err = w.agentAt(m)
		default:
			continue
		}
		if err != nil {
			return err
		}
		w.pop(n)
	}
	return nil
}

// agentAt replaces the Agent or Group m holds by its sealed (or opened)
// form.
func (w *walker) agentAt(m member) error {
	if w.in[m.vs] == 'n' { // null: nothing to seal
		return nil
	}
	w.out = append(w.out, w.in[w.last:m.vs]...)
	var err error
	if w.opening {
		w.out, err = w.openAgent(w.out, m.vs, m.ve)
	} else {
		w.out, err = w.sealAgent(w.out, m.vs, m.ve)
	}
	w.last = m.ve
	return err
}

func (w *walker) object(m member) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax()
	}
	ot, ok := find(ms, w.in, "objectType")
	if !ok {
		return nil // an Activity
	}
	t, err := stringValue(w.in, ot.vs, ot.ve)
	if err != nil {
		return errField(w.field("objectType"), "must be a string")
	}
	switch t {
	case xapi.ObjectTypeAgent, xapi.ObjectTypeGroup:
		return w.agentAt(m)
	case xapi.ObjectTypeSubStatement:
		return w.statement(m.vs, m.ve, false)
	}
	return nil
}

func (w *walker) context(m member) error {
	var buf [12]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax()
	}
	for _, c := range ms {
		var n int
		switch {
		case c.is(w.in, "instructor"):
			n = w.push("instructor")
			err = w.agentAt(c)
		case c.is(w.in, "team"):
			n = w.push("team")
			err = w.agentAt(c)
		case c.is(w.in, "contextAgents"):
			n = w.push("contextAgents")
			err = w.related(c, "agent")
		case c.is(w.in, "contextGroups"):
			n = w.push("contextGroups")
			err = w.related(c, "group")
		default:
			continue
		}
		if err != nil {
			return err
		}
		w.pop(n)
	}
	return nil
}

// related walks xAPI 2.0 contextAgents or contextGroups: an array of
// objects, each with its agent (or group) under the property prop.
func (w *walker) related(m member, prop string) error {
	if w.in[m.vs] == 'n' {
		return nil
	}
	var ebuf [8][2]int
	els, err := elements(ebuf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax()
	}
	for i, el := range els {
		n := w.pushIndex(i)
		var buf [4]member
		ms, err := members(buf[:0], w.in, el[0], el[1])
		if err != nil {
			return w.syntax()
		}
		if a, ok := find(ms, w.in, prop); ok {
			w.push(prop)
			if err := w.agentAt(a); err != nil {
				return err
			}
		}
		w.pop(n)
	}
	return nil
}

func (w *walker) result(m member) error {
	var buf [8]member
	ms, err := members(buf[:0], w.in, m.vs, m.ve)
	if err != nil {
		return w.syntax()
	}
	r, ok := find(ms, w.in, "response")
	if !ok {
		return nil
	}
	n := w.push("response")
	defer w.pop(n)
	if !w.opening {
		k, err := w.keyFor(w.owner)
		if err != nil {
			return err
		}
		w.out = append(w.out, w.in[w.last:r.vs]...)
		w.out = append(w.out, '"')
		w.out = w.seal(w.out, k, w.path, w.in[r.vs:r.ve])
		w.out = append(w.out, '"')
		w.last = r.ve
		return nil
	}
	if r.ve-r.vs < 2 || w.in[r.vs] != '"' || w.in[r.ve-1] != '"' {
		return errField(w.field(""), ruleShape)
	}
	// Sealed values need no escapes: the raw string is the value.
	sealed := w.in[r.vs+1 : r.ve-1]
	w.out = append(w.out, w.in[w.last:r.vs]...)
	mark := len(w.out)
	out, gone, err := w.open(w.out, w.path, sealed)
	if err != nil {
		return w.openError(err, "")
	}
	w.out = out
	if !gone {
		w.last = r.ve
		return nil
	}
	// The response's key is gone: the result loses it, nothing else.
	w.out = append(w.out[:mark-(r.vs-m.vs)], '{')
	k := 0
	for _, o := range ms {
		if o == r {
			continue
		}
		if k > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, w.in[o.ks:o.ve]...)
		k++
	}
	w.out = append(w.out, '}')
	w.last = m.ve
	return nil
}

// agentFields reads the identifying fields of the agent or group whose
// members are ms.
func (w *walker) agentFields(ms []member) (xapi.Agent, bool, error) {
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
				return a, false, errField(w.field("account"), "must be an object")
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
					return a, false, errField(w.field("account"), "homePage and name must be strings")
				}
			}
		}
		if dst != nil {
			v, err := stringValue(w.in, m.vs, m.ve)
			if err != nil {
				return a, false, errField(w.field(m.name(w.in)), "must be a string")
			}
			*dst = v
		}
	}
	return a, hasMember, nil
}

// sealAgent appends the sealed form of the Agent or Group in[s:e] to dst.
func (w *walker) sealAgent(dst []byte, s, e int) ([]byte, error) {
	var buf [8]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return dst, w.syntax()
	}
	a, hasMember, err := w.agentFields(ms)
	if err != nil {
		return dst, err
	}
	if !a.IsGroup() {
		learner := xapi.ActorKey(a)
		if learner == "" {
			return dst, errField(w.field(""), "an Agent needs an identifier (mbox, mbox_sha1sum, openid or account) to be sealed under its key")
		}
		k, err := w.keyFor(learner)
		if err != nil {
			return dst, err
		}
		if string(w.path) == "actor" {
			w.actorKey = learner
		}
		dst = append(dst, `{"objectType":"Agent","sealed":"`...)
		dst = w.seal(dst, k, w.path, w.in[s:e])
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
		return dst, err
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
	dst = w.seal(dst, k, w.path, head)
	dst = append(dst, '"')
	if hasMember {
		dst = append(dst, `,"member":`...)
		p := w.push("member")
		if dst, err = w.members(dst, list, w.sealAgent); err != nil {
			return dst, err
		}
		w.pop(p)
	}
	return append(dst, '}'), nil
}

// members appends the members of a group, each sealed or opened by f.
func (w *walker) members(dst []byte, list member, f func([]byte, int, int) ([]byte, error)) ([]byte, error) {
	if w.in[list.vs] == 'n' {
		return append(dst, "null"...), nil
	}
	var ebuf [8][2]int
	els, err := elements(ebuf[:0], w.in, list.vs, list.ve)
	if err != nil {
		return dst, w.syntax()
	}
	dst = append(dst, '[')
	for i, el := range els {
		if i > 0 {
			dst = append(dst, ',')
		}
		n := w.pushIndex(i)
		if dst, err = f(dst, el[0], el[1]); err != nil {
			return dst, err
		}
		w.pop(n)
	}
	return append(dst, ']'), nil
}

// openAgent appends the Agent or Group whose sealed form is in[s:e] to
// dst; an agent whose key is gone becomes ErasedAgent, a group whose own
// key is gone keeps its members (opened one by one) under an erased
// identity.
func (w *walker) openAgent(dst []byte, s, e int) ([]byte, error) {
	var buf [4]member
	ms, err := members(buf[:0], w.in, s, e)
	if err != nil {
		return dst, w.syntax()
	}
	isGroup, hasSealed := false, false
	var sealed []byte
	var list member
	hasMember := false
	for _, m := range ms {
		switch {
		case m.is(w.in, "sealed"):
			if m.ve-m.vs < 2 || w.in[m.vs] != '"' || w.in[m.ve-1] != '"' {
				return dst, errField(w.field("sealed"), ruleShape)
			}
			sealed, hasSealed = w.in[m.vs+1:m.ve-1], true
		case m.is(w.in, "objectType"):
			isGroup = string(w.in[m.vs:m.ve]) == `"Group"`
		case m.is(w.in, "member"):
			list, hasMember = m, true
		}
	}
	if !hasSealed {
		return dst, errField(w.field(""), `is not a sealed agent ({"objectType":…,"sealed":"<kid>.<b64>"})`)
	}
	if !isGroup && hasMember {
		return dst, errField(w.field("member"), "only a Group has members")
	}
	start := len(dst)
	dst, gone, err := w.open(dst, w.path, sealed)
	if err != nil {
		return dst, w.openError(err, "sealed")
	}
	if !isGroup {
		if w.deriveKey && string(w.path) == "actor" {
			if err := w.openedActor(dst[start:], gone); err != nil {
				return dst, err
			}
		}
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
			return dst, errField(w.field("sealed"), "does not hold a JSON object")
		}
		dst = dst[:i]
	}
	if hasMember {
		if j := ws(dst, start+1); j < len(dst) {
			dst = append(dst, ',')
		}
		dst = append(dst, `"member":`...)
		p := w.push("member")
		if dst, err = w.members(dst, list, w.openAgent); err != nil {
			return dst, err
		}
		w.pop(p)
	}
	return append(dst, '}'), nil
}

// openedActor notes the key of the statement's actor, opened as agent
// (gone: its data key is gone), from which the record key derives.
func (w *walker) openedActor(agent []byte, gone bool) error {
	w.actorSeen = true
	if gone {
		w.actorGone = true
		return nil
	}
	in := w.in
	defer func() { w.in = in }()
	w.in = agent
	var buf [8]member
	ms, err := members(buf[:0], w.in, 0, len(w.in))
	if err != nil {
		return errField(w.field("sealed"), "does not hold a JSON object")
	}
	a, hasMember, err := w.agentFields(ms)
	if err != nil {
		return err
	}
	if w.actorKey = xapi.ActorKey(a); w.actorKey == "" || hasMember || a.IsGroup() {
		return errField(w.field("sealed"), "the record key is the actor's, and the actor does not hold an identified Agent")
	}
	return nil
}

// openError names the field of a value that did not open.
func (w *walker) openError(err error, sub string) error {
	if errors.Is(err, errShape) || errors.Is(err, errOpen) {
		return fieldOf(err, w.field(sub))
	}
	return err
}
