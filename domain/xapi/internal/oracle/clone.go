package oracle

import (
	"encoding/json"
	"slices"
	"time"
)

// Clone returns a deep copy of s: nothing in the copy shares memory with s,
// so projections and formatters can change it freely.
func (s *Statement) Clone() *Statement {
	if s == nil {
		return nil
	}
	return &Statement{
		ID:          s.ID,
		Actor:       s.Actor.clone(),
		Verb:        s.Verb.clone(),
		Object:      s.Object.clone(),
		Result:      s.Result.clone(),
		Context:     s.Context.clone(),
		Timestamp:   cloneTime(s.Timestamp),
		Stored:      cloneTime(s.Stored),
		Authority:   cloneAgentPtr(s.Authority),
		Version:     s.Version,
		Attachments: cloneAttachments(s.Attachments),
	}
}

func (a Agent) clone() Agent {
	c := a
	if a.Account != nil {
		acc := *a.Account
		c.Account = &acc
	}
	if a.Member != nil {
		c.Member = make([]Agent, len(a.Member))
		for i, m := range a.Member {
			c.Member[i] = m.clone()
		}
	}
	return c
}

func cloneAgentPtr(a *Agent) *Agent {
	if a == nil {
		return nil
	}
	c := a.clone()
	return &c
}

func (v Verb) clone() Verb {
	return Verb{ID: v.ID, Display: v.Display.clone()}
}

func (m LanguageMap) clone() LanguageMap {
	if m == nil {
		return nil
	}
	c := make(LanguageMap, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (e Extensions) clone() Extensions {
	if e == nil {
		return nil
	}
	c := make(Extensions, len(e))
	for k, v := range e {
		c[k] = append(json.RawMessage(nil), v...)
	}
	return c
}

func (o Object) clone() Object {
	var c Object
	if o.Activity != nil {
		a := o.Activity.clone()
		c.Activity = &a
	}
	c.Agent = cloneAgentPtr(o.Agent)
	if o.StatementRef != nil {
		r := *o.StatementRef
		c.StatementRef = &r
	}
	if o.SubStatement != nil {
		s := o.SubStatement
		c.SubStatement = &SubStatement{
			Actor:       s.Actor.clone(),
			Verb:        s.Verb.clone(),
			Object:      s.Object.clone(),
			Result:      s.Result.clone(),
			Context:     s.Context.clone(),
			Timestamp:   cloneTime(s.Timestamp),
			Attachments: cloneAttachments(s.Attachments),
		}
	}
	return c
}

func (a Activity) clone() Activity {
	c := a
	if a.Definition != nil {
		d := a.Definition.clone()
		c.Definition = &d
	}
	return c
}

func (d ActivityDefinition) clone() ActivityDefinition {
	c := d
	c.Name = d.Name.clone()
	c.Description = d.Description.clone()
	if d.CorrectResponsesPattern != nil {
		c.CorrectResponsesPattern = append(make([]string, 0, len(d.CorrectResponsesPattern)), d.CorrectResponsesPattern...)
	}
	c.Choices = cloneComponents(d.Choices)
	c.Scale = cloneComponents(d.Scale)
	c.Source = cloneComponents(d.Source)
	c.Target = cloneComponents(d.Target)
	c.Steps = cloneComponents(d.Steps)
	c.Extensions = d.Extensions.clone()
	return c
}

func cloneComponents(list []InteractionComponent) []InteractionComponent {
	if list == nil {
		return nil
	}
	c := make([]InteractionComponent, len(list))
	for i, ic := range list {
		c[i] = InteractionComponent{ID: ic.ID, Description: ic.Description.clone()}
	}
	return c
}

func (r *Result) clone() *Result {
	if r == nil {
		return nil
	}
	c := &Result{Duration: r.Duration, Extensions: r.Extensions.clone()}
	if r.Score != nil {
		c.Score = &Score{
			Scaled: cloneFloat(r.Score.Scaled),
			Raw:    cloneFloat(r.Score.Raw),
			Min:    cloneFloat(r.Score.Min),
			Max:    cloneFloat(r.Score.Max),
		}
	}
	if r.Success != nil {
		b := *r.Success
		c.Success = &b
	}
	if r.Completion != nil {
		b := *r.Completion
		c.Completion = &b
	}
	if r.Response != nil {
		s := *r.Response
		c.Response = &s
	}
	return c
}

func (c *Context) clone() *Context {
	if c == nil {
		return nil
	}
	n := *c
	n.Instructor = cloneAgentPtr(c.Instructor)
	n.Team = cloneAgentPtr(c.Team)
	if c.ContextActivities != nil {
		ca := c.ContextActivities
		n.ContextActivities = &ContextActivities{
			Parent:   cloneActivities(ca.Parent),
			Grouping: cloneActivities(ca.Grouping),
			Category: cloneActivities(ca.Category),
			Other:    cloneActivities(ca.Other),
		}
	}
	if c.Statement != nil {
		r := *c.Statement
		n.Statement = &r
	}
	n.Extensions = c.Extensions.clone()
	if c.ContextAgents != nil {
		n.ContextAgents = make([]ContextAgent, len(c.ContextAgents))
		for i, a := range c.ContextAgents {
			n.ContextAgents[i] = ContextAgent{Agent: a.Agent.clone(), RelevantTypes: slices.Clone(a.RelevantTypes)}
		}
	}
	if c.ContextGroups != nil {
		n.ContextGroups = make([]ContextGroup, len(c.ContextGroups))
		for i, g := range c.ContextGroups {
			n.ContextGroups[i] = ContextGroup{Group: g.Group.clone(), RelevantTypes: slices.Clone(g.RelevantTypes)}
		}
	}
	return &n
}

func cloneActivities(list []Activity) []Activity {
	if list == nil {
		return nil
	}
	c := make([]Activity, len(list))
	for i, a := range list {
		c[i] = a.clone()
	}
	return c
}

func cloneAttachments(list []Attachment) []Attachment {
	if list == nil {
		return nil
	}
	c := make([]Attachment, len(list))
	for i, a := range list {
		c[i] = a
		c[i].Display = a.Display.clone()
		c[i].Description = a.Description.clone()
	}
	return c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}
