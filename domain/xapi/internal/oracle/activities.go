package oracle

// ActivityRefs returns pointers to every Activity a statement carries: its
// object, its context activities, and those of a SubStatement object. The
// LRS uses them to learn activity definitions and, for the "canonical"
// format, to replace the definitions a statement carries with its own.
func (s *Statement) ActivityRefs() []*Activity {
	var out []*Activity
	addCore := func(obj Object, ctx *Context) {
		if obj.Activity != nil {
			out = append(out, obj.Activity)
		}
		if ctx != nil && ctx.ContextActivities != nil {
			ca := ctx.ContextActivities
			for _, list := range [][]Activity{ca.Parent, ca.Grouping, ca.Category, ca.Other} {
				for i := range list {
					out = append(out, &list[i])
				}
			}
		}
	}
	addCore(s.Object, s.Context)
	if sub := s.Object.SubStatement; sub != nil {
		addCore(sub.Object, sub.Context)
	}
	return out
}

// Person is what the Agents resource returns: everything the LRS knows
// about one person, each identifier as a list (xAPI Communication 2.4).
type Person struct {
	ObjectType  string    `json:"objectType"`
	Name        []string  `json:"name,omitempty"`
	Mbox        []string  `json:"mbox,omitempty"`
	MboxSHA1Sum []string  `json:"mbox_sha1sum,omitempty"`
	OpenID      []string  `json:"openid,omitempty"`
	Account     []Account `json:"account,omitempty"`
}

// PersonOf returns the Person of one agent with the names it was seen
// under. The LRS links no identities, so the Person has the agent's one
// identifier.
func PersonOf(a Agent, names []string) Person {
	p := Person{ObjectType: "Person", Name: names}
	switch {
	case a.Mbox != "":
		p.Mbox = []string{a.Mbox}
	case a.MboxSHA1Sum != "":
		p.MboxSHA1Sum = []string{a.MboxSHA1Sum}
	case a.OpenID != "":
		p.OpenID = []string{a.OpenID}
	case a.Account != nil:
		p.Account = []Account{*a.Account}
	}
	return p
}

// NamedAgents returns every Agent and Group of a statement that carries a
// name, with group members, so the LRS can tell the Agents resource the
// names each person was seen under.
func (s *Statement) NamedAgents() []Agent {
	var out []Agent
	var add func(a *Agent)
	add = func(a *Agent) {
		if a == nil {
			return
		}
		if a.Name != "" && a.IsIdentified() {
			out = append(out, *a)
		}
		for i := range a.Member {
			add(&a.Member[i])
		}
	}
	addCore := func(actor *Agent, obj Object, ctx *Context) {
		add(actor)
		add(obj.Agent)
		if ctx != nil {
			add(ctx.Instructor)
			add(ctx.Team)
		}
	}
	addCore(&s.Actor, s.Object, s.Context)
	if sub := s.Object.SubStatement; sub != nil {
		addCore(&sub.Actor, sub.Object, sub.Context)
	}
	return out
}

// ParseActivity parses an Activity object (as the LRS stores canonical
// definitions) with the rules of a statement's object.
func ParseActivity(data []byte) (Activity, error) {
	raw, err := readJSON(data, "activity")
	if err != nil {
		return Activity{}, err
	}
	return parseActivity(raw, "activity")
}
