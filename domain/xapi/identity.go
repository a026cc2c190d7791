package xapi

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// ActorKey returns a stable identity key for an Agent or Group, built from
// its inverse functional identifier:
//
//	mbox:mailto:alice@example.com
//	mbox_sha1sum:<40 lowercase hex digits>
//	openid:<uri>
//	account:<homePage>|<name>
//
// Parts the specification treats as case-insensitive are lowercased (the
// domain of an email address, hex digits), so two spellings of one agent
// get one key. An anonymous Group has no identifier; its key is
// "group:" and the SHA-256 of its members' sorted keys, so that the same
// set of members always lands on the same Kafka partition. An Agent without
// any identifier (never valid) gets "".
func ActorKey(a Agent) string {
	switch {
	case a.Mbox != "":
		// One concatenation: every consumer keys each statement's learner.
		return withNormalMbox("mbox:", a.Mbox)
	case a.MboxSHA1Sum != "":
		return "mbox_sha1sum:" + strings.ToLower(a.MboxSHA1Sum)
	case a.OpenID != "":
		return "openid:" + a.OpenID
	case a.Account != nil:
		return "account:" + a.Account.HomePage + "|" + a.Account.Name
	case len(a.Member) > 0:
		keys := make([]string, len(a.Member))
		for i, m := range a.Member {
			keys[i] = ActorKey(m)
		}
		sort.Strings(keys)
		sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
		return "group:" + hex.EncodeToString(sum[:])
	}
	return ""
}

// LearnerKey is the key of the statement's actor (see ActorKey). The event
// log partitions statements by it, so one learner's statements stay in
// order.
func (s *Statement) LearnerKey() string {
	return ActorKey(s.Actor)
}

// normalizeMbox lowercases the domain of a mailto IRI, which RFC 5321 makes
// case-insensitive; the local part may be case-sensitive and is kept.
func normalizeMbox(mbox string) string { return withNormalMbox("", mbox) }

// withNormalMbox is prefix followed by normalizeMbox(mbox), built in one
// string.
func withNormalMbox(prefix, mbox string) string {
	at := strings.LastIndexByte(mbox, '@')
	if at < 0 {
		return prefix + mbox
	}
	return prefix + mbox[:at+1] + strings.ToLower(mbox[at+1:])
}

// AgentKeys returns the sorted, distinct ActorKeys that the "agent" filter of
// GET /statements matches against: the actor and an Agent or Group object,
// each Group's members too. With related set (the related_agents
// parameter) it adds the authority, the context's instructor and team, and
// the same people inside a SubStatement.
func (s *Statement) AgentKeys(related bool) []string {
	set := map[string]bool{}
	add := func(a *Agent) {
		if a == nil {
			return
		}
		if k := ActorKey(*a); k != "" {
			set[k] = true
		}
		for i := range a.Member {
			if k := ActorKey(a.Member[i]); k != "" {
				set[k] = true
			}
		}
	}
	addCore := func(actor *Agent, obj Object, ctx *Context) {
		add(actor)
		add(obj.Agent)
		if related && ctx != nil {
			add(ctx.Instructor)
			add(ctx.Team)
			// xAPI 2.0 widens related_agents to the context agents and
			// groups (Communication 2.1.3).
			for i := range ctx.ContextAgents {
				add(&ctx.ContextAgents[i].Agent)
			}
			for i := range ctx.ContextGroups {
				add(&ctx.ContextGroups[i].Group)
			}
		}
	}
	addCore(&s.Actor, s.Object, s.Context)
	if related {
		add(s.Authority)
		if sub := s.Object.SubStatement; sub != nil {
			addCore(&sub.Actor, sub.Object, sub.Context)
		}
	}
	return sortedKeys(set)
}

// ActivityIDs returns the sorted, distinct activity ids that the "activity"
// filter of GET /statements matches: the object's. With related set (the
// related_activities parameter) it adds every context activity and the
// activities of a SubStatement.
func (s *Statement) ActivityIDs(related bool) []string {
	set := map[string]bool{}
	addCore := func(obj Object, ctx *Context) {
		if obj.Activity != nil {
			set[obj.Activity.ID] = true
		}
		if related && ctx != nil && ctx.ContextActivities != nil {
			ca := ctx.ContextActivities
			for _, list := range [][]Activity{ca.Parent, ca.Grouping, ca.Category, ca.Other} {
				for _, a := range list {
					set[a.ID] = true
				}
			}
		}
	}
	addCore(s.Object, s.Context)
	if related && s.Object.SubStatement != nil {
		addCore(s.Object.SubStatement.Object, s.Object.SubStatement.Context)
	}
	return sortedKeys(set)
}
