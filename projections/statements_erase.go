package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
)

// How the statements projection forgets a learner (docs/privacy.md,
// Erasure). It ends in the state a replay of the log reaches once the
// learner's keys are destroyed: the learner's own statements (actor) are
// gone, since the log no longer opens them; in everyone else's statements
// the learner (as object, instructor, team or group member, authority,
// context agent) is privacy.ErasedAgent, since that is how the log opens
// them; index entries follow the statements (a statement referring to a
// deleted one keeps only its own). Canonical activity definitions are the
// one exception: they are not personal, and merging is not reversible, so
// a definition learned only from the learner's statements stays.

// maxStatementsInEvent bounds the statements one attempt at a
// LearnerErased or RetentionApplied changes: more are committed in parts
// (see maxDeletesInEvent).
const maxStatementsInEvent = 256

func (m statementsModel) forget(ts *txnState, e event.Event, pe privacyEvent) (Outcome, error) {
	txn, sp := ts.txn, ts.sp
	ts.changesStatements(m.store.statements)
	if pe.retention != nil {
		return Stored, m.retain(ts, e, pe.retention.Before.UnixNano())
	}
	if m.store.pseudonyms == nil {
		return 0, errNoPseudonyms
	}
	tenant := e.Tenant
	learners, err := agentsOf(txn, sp, tenant, pe.erased.Pseudonym, m.store.pseudonyms)
	if err != nil {
		return 0, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, l := range learners {
		for _, kind := range []string{idxRelatedAgent, idxAgent, idxAuthority} {
			prefix := sp.Prefix("x", tenant, kind, valueDigest(l))
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			for it.Rewind(); it.Valid(); it.Next() {
				id := positionFrom(it.Item().Key()[len(prefix):]).ID
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			it.Close()
		}
	}
	carry := carryKey(e.ID, sp.Prefix("statements", tenant))
	if len(ids) > maxStatementsInEvent {
		c, err := m.forgetPart(sp, tenant, ids[:maxStatementsInEvent], learners)
		if err != nil {
			return 0, err
		}
		m.store.carryCounts(carry, c)
		return 0, errMoreDeletes
	}
	c, err := forgetStatements(txn, sp, tenant, ids, learners)
	if err != nil {
		return 0, err
	}
	ts.count(tenant, countedStatements, -int64(c.deleted))
	// The names the learner was seen under.
	for _, l := range learners {
		n, err := deleteWhere(txn, m.store, carryKey(e.ID, sp.Prefix("nm", tenant, l)), sp.Prefix("nm", tenant, l), nil)
		if err != nil {
			return 0, err
		}
		c.names += n
		// No statement shows the learner any more.
		if _, err := deleteKey(txn, sp.Key("ag", tenant, l)); err != nil {
			return 0, err
		}
	}
	c.add(m.store.takeCounts(carry))
	return Stored, m.store.noteErasure(txn, StatementsName, e, *pe.erased, map[string]int64{
		"statements": int64(c.deleted), "statements_redacted": int64(c.redacted),
		"attachments": int64(c.attachments), "names": int64(c.names)})
}

// retain deletes the tenant's statements stored before before (Unix
// nanoseconds), oldest first.
func (m statementsModel) retain(ts *txnState, e event.Event, before int64) error {
	txn, sp := ts.txn, ts.sp
	prefix := sp.Prefix("x", e.Tenant, idxAll, "")
	var ids []string
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); it.Next() {
		pos := positionFrom(it.Item().Key()[len(prefix):])
		if pos.Stored >= before {
			break
		}
		ids = append(ids, pos.ID)
	}
	it.Close()
	if len(ids) > maxStatementsInEvent {
		if _, err := m.forgetPart(sp, e.Tenant, ids[:maxStatementsInEvent], nil); err != nil {
			return err
		}
		return errMoreDeletes
	}
	c, err := forgetStatements(txn, sp, e.Tenant, ids, nil)
	if err != nil {
		return err
	}
	ts.count(e.Tenant, countedStatements, -int64(c.deleted))
	return nil
}

// forgetPart is forgetStatements in a transaction of its own, a part of
// an erasure or a retention committed before its event (errMoreDeletes),
// with the statements counter.
func (m statementsModel) forgetPart(sp Space, tenant string, ids, learners []string) (forgetCounts, error) {
	var c forgetCounts
	m.store.statements.beginChange()
	defer m.store.statements.endChange()
	err := m.store.update(func(t *badger.Txn) error {
		var err error
		if c, err = forgetStatements(t, sp, tenant, ids, learners); err != nil {
			return err
		}
		return addCount(t, countKey(sp, tenant, countedStatements), -int64(c.deleted))
	})
	return c, err
}

type forgetCounts struct{ deleted, redacted, attachments, names int }

func (c *forgetCounts) add(o forgetCounts) {
	c.deleted += o.deleted
	c.redacted += o.redacted
	c.attachments += o.attachments
	c.names += o.names
}

func (s *Store) carryCounts(carry string, c forgetCounts) {
	v, _ := s.carried.LoadOrStore(carry, new(forgetCounts))
	v.(*forgetCounts).add(c)
}

func (s *Store) takeCounts(carry string) forgetCounts {
	if v, ok := s.carried.LoadAndDelete(carry); ok {
		return *v.(*forgetCounts)
	}
	return forgetCounts{}
}

// agentsOf finds the agent keys of tenant whose pseudonym is pseudonym,
// among the agents the statements name (any part, authority included):
// the ag keys, since index keys hold only digests.
func agentsOf(txn *badger.Txn, sp Space, tenant, pseudonym string, ps privacy.Pseudonyms) ([]string, error) {
	var out []string
	prefix := sp.Prefix("ag", tenant)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		agent := string(it.Item().Key()[len(prefix):])
		if ps.Pseudonym(tenant, agent) == pseudonym {
			out = append(out, agent)
		}
	}
	return out, nil
}

// forgetStatements deletes the statements ids whose actor is one of
// learners (every one of ids when learners is nil: retention) and redacts
// the learners in the others, then brings the index entries of every
// statement whose inherited entries changed up to date.
func forgetStatements(txn *badger.Txn, sp Space, tenant string, ids, learners []string) (forgetCounts, error) {
	var c forgetCounts
	recompute := map[string]bool{}
	var attachments []string
	var names [][2]string // agent key, name: seen in a deleted statement
	var agents []string   // agent keys of a deleted or redacted statement
	for _, id := range ids {
		raw, err := readStatement(txn, sp, tenant, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return c, err
		}
		st, err := xapi.DecodeStored(raw)
		if err != nil {
			return c, fmt.Errorf("stored statement %s is unreadable: %w", id, err)
		}
		if learners == nil || slices.Contains(learners, xapi.ActorKey(st.Actor)) {
			refs, err := deleteStatement(txn, sp, tenant, id, st)
			if err != nil {
				return c, err
			}
			for _, r := range refs {
				recompute[r] = true
			}
			for _, a := range st.Attachments {
				attachments = append(attachments, strings.ToLower(a.SHA2))
			}
			for _, a := range st.NamedAgents() {
				names = append(names, [2]string{xapi.ActorKey(a), a.Name})
			}
			agents = append(agents, st.AgentKeys(true)...)
			if st.Authority != nil {
				agents = append(agents, xapi.ActorKey(*st.Authority))
			}
			c.deleted++
			continue
		}
		shown := st.AgentKeys(true) // before redaction: some may go
		if st.Authority != nil {
			shown = append(shown, xapi.ActorKey(*st.Authority))
		}
		if !redactStatement(st, learners) {
			continue
		}
		agents = append(agents, shown...)
		// The entries of the content before redaction, recorded so that
		// reindex finds and removes the ones that go.
		before, err := readIndexSet(txn, sp, tenant, id, nil)
		if err != nil {
			return c, err
		}
		if err := txn.Set(sp.Key("m", tenant, id), encodeIndexSet(before)); err != nil {
			return c, err
		}
		if err := writeRedacted(txn, sp, tenant, id, st, raw); err != nil {
			return c, err
		}
		recompute[id] = true
		c.redacted++
	}
	done := map[string]bool{}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range recompute {
			if !yield(id) {
				return
			}
		}
	}) {
		if err := reindex(txn, sp, tenant, id, done); err != nil {
			return c, err
		}
	}
	// A name stays known while a statement still shows the agent under it.
	slices.SortFunc(names, func(x, y [2]string) int { return strings.Compare(x[0]+"\x00"+x[1], y[0]+"\x00"+y[1]) })
	for _, n := range slices.Compact(names) {
		if learners != nil && slices.Contains(learners, n[0]) {
			continue // the caller deletes every name of the learners
		}
		shown, err := nameShown(txn, sp, tenant, n[0], n[1])
		if err != nil {
			return c, err
		}
		if !shown {
			k, err := deleteKey(txn, sp.Key("nm", tenant, n[0], n[1]))
			if err != nil {
				return c, err
			}
			c.names += k
		}
	}
	// An agent stays known while a statement still names them.
	slices.Sort(agents)
	for _, a := range slices.Compact(agents) {
		if learners != nil && slices.Contains(learners, a) {
			continue // the caller forgets the learners
		}
		d := valueDigest(a)
		if hasAnyPrefix(txn, sp, tenant, relatedKinds(idxRelatedAgent), d) {
			continue
		}
		if _, err := deleteKey(txn, sp.Key("ag", tenant, a)); err != nil {
			return c, err
		}
	}
	slices.Sort(attachments)
	for _, sha := range slices.Compact(attachments) {
		n, err := dropUnusedAttachment(txn, sp, tenant, sha)
		if err != nil {
			return c, err
		}
		c.attachments += n
	}
	return c, nil
}

func readStatement(txn *badger.Txn, sp Space, tenant, id string) ([]byte, error) {
	item, err := txn.Get(statementKey(sp, tenant, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// deleteStatement removes a statement with its index entries, voiding
// marks and references, leaving what a log without it would have built:
// a statement it voided is no longer voided; a voiding statement that
// voided it waits for it (vp), as it would have had it never arrived. It
// returns the statements that referred to it (their inherited index
// entries must go).
func deleteStatement(txn *badger.Txn, sp Space, tenant, id string, st *xapi.Statement) ([]string, error) {
	meta, err := readIndexSet(txn, sp, tenant, id, st)
	if err != nil {
		return nil, err
	}
	pos := Position{Stored: st.Stored.UnixNano(), ID: id}.bytes()
	dels := [][]byte{statementKey(sp, tenant, id), sp.Key("m", tenant, id), indexKey(sp, tenant, idxAll, "", pos)}
	for kind, vs := range meta {
		for _, v := range vs {
			dels = append(dels, indexKey(sp, tenant, kind, v, pos))
		}
	}
	if st.Authority != nil {
		dels = append(dels, indexKey(sp, tenant, idxAuthority, valueDigest(xapi.ActorKey(*st.Authority)), pos))
	}
	for _, a := range st.Attachments {
		dels = append(dels, sp.Key("ax", tenant, strings.ToLower(a.SHA2), id))
	}
	if target, voiding := st.IsVoiding(); voiding {
		target = strings.ToLower(target)
		for _, k := range []string{"vd", "vp"} {
			key := sp.Key(k, tenant, target)
			if v, ok, err := getValue(txn, key); err != nil {
				return nil, err
			} else if ok && string(v) == id {
				dels = append(dels, key)
			}
		}
	}
	if by, ok, err := getValue(txn, sp.Key("vd", tenant, id)); err != nil {
		return nil, err
	} else if ok {
		dels = append(dels, sp.Key("vd", tenant, id))
		if err := txn.Set(sp.Key("vp", tenant, id), by); err != nil {
			return nil, err
		}
	}
	if ref := st.Object.StatementRef; ref != nil {
		target := strings.ToLower(ref.ID)
		dels = append(dels, sp.Key("rf", tenant, target, id))
		// The marker stays while other statements refer to the target.
		others := false
		prefix := sp.Prefix("rf", tenant, target)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Rewind(); it.Valid(); it.Next() {
			if string(it.Item().Key()[len(prefix):]) != id {
				others = true
				break
			}
		}
		it.Close()
		if !others {
			dels = append(dels, sp.Key("rm", tenant, target))
		}
	}
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return nil, err
		}
	}
	// Its referrers keep their rf entries (a statement arriving later
	// would pass its entries on, as in a replay) and lose what they
	// inherited from it.
	var refs []string
	prefix := sp.Prefix("rf", tenant, id)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); it.Next() {
		refs = append(refs, string(it.Item().Key()[len(prefix):]))
	}
	it.Close()
	return refs, nil
}

func getValue(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

// redactStatement replaces every agent of learners in st (not its actor)
// by privacy.ErasedAgent, as opening the statement's event does once
// their keys are gone. It reports whether anything changed.
func redactStatement(st *xapi.Statement, learners []string) bool {
	changed := false
	agent := func(a *xapi.Agent) {
		if a == nil {
			return
		}
		if k := xapi.ActorKey(*a); a.IsIdentified() && slices.Contains(learners, k) {
			if a.IsGroup() {
				// A group's own identity goes; its members are others'.
				members := a.Member
				*a = xapi.Agent{ObjectType: xapi.ObjectTypeGroup, Account: privacy.ErasedAgent.Account, Member: members}
			} else {
				*a = privacy.ErasedAgent
			}
			changed = true
		}
		for i := range a.Member {
			if slices.Contains(learners, xapi.ActorKey(a.Member[i])) {
				a.Member[i] = privacy.ErasedAgent
				changed = true
			}
		}
	}
	core := func(actor *xapi.Agent, obj *xapi.Object, ctx *xapi.Context) {
		agent(actor)
		agent(obj.Agent)
		if ctx != nil {
			agent(ctx.Instructor)
			agent(ctx.Team)
			for i := range ctx.ContextAgents {
				agent(&ctx.ContextAgents[i].Agent)
			}
			for i := range ctx.ContextGroups {
				agent(&ctx.ContextGroups[i].Group)
			}
		}
	}
	// The actor's own members may be the learner; the actor itself is
	// not (its statements are deleted).
	for i := range st.Actor.Member {
		if slices.Contains(learners, xapi.ActorKey(st.Actor.Member[i])) {
			st.Actor.Member[i] = privacy.ErasedAgent
			changed = true
		}
	}
	core(&xapi.Agent{}, &st.Object, st.Context)
	if sub := st.Object.SubStatement; sub != nil {
		core(&sub.Actor, &sub.Object, sub.Context)
	}
	agent(st.Authority)
	return changed
}

// writeRedacted stores the redacted statement and moves its authority
// entry; reindex moves the other entries.
func writeRedacted(txn *badger.Txn, sp Space, tenant, id string, st *xapi.Statement, old []byte) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := txn.Set(statementKey(sp, tenant, id), b); err != nil {
		return err
	}
	before, err := xapi.DecodeStored(old)
	if err != nil {
		return err
	}
	if before.Authority != nil && st.Authority != nil {
		pos := Position{Stored: st.Stored.UnixNano(), ID: id}.bytes()
		if o, n := xapi.ActorKey(*before.Authority), xapi.ActorKey(*st.Authority); o != n {
			if err := txn.Delete(indexKey(sp, tenant, idxAuthority, valueDigest(o), pos)); err != nil {
				return err
			}
			if err := txn.Set(indexKey(sp, tenant, idxAuthority, valueDigest(n), pos), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// reindex recomputes the index entries of statement id from its content
// and its target's entries (what applying it, or its target arriving
// later, gives), replaces the old ones, and does the same for the
// statements referring to it when its entries changed.
func reindex(txn *badger.Txn, sp Space, tenant, id string, done map[string]bool) error {
	if done[id] {
		return nil
	}
	done[id] = true
	raw, err := readStatement(txn, sp, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := xapi.DecodeStored(raw)
	if err != nil {
		return fmt.Errorf("stored statement %s is unreadable: %w", id, err)
	}
	own := indexKeys(st)
	keys := indexSet{}
	for k, vs := range own {
		keys[k] = vs
	}
	if ref := st.Object.StatementRef; ref != nil {
		target := strings.ToLower(ref.ID)
		// A target that is itself being reindexed passes on its new
		// entries.
		if !done[target] {
			if err := reindex(txn, sp, tenant, target, done); err != nil {
				return err
			}
		}
		inherited, err := readIndexSet(txn, sp, tenant, target, nil)
		if err != nil {
			return err
		}
		for k, vs := range inherited {
			keys[k] = mergeSorted(keys[k], vs)
		}
	}
	old, err := readIndexSet(txn, sp, tenant, id, nil)
	if err != nil {
		return err
	}
	pos := Position{Stored: st.Stored.UnixNano(), ID: id}.bytes()
	changed := false
	for kind, vs := range old {
		for _, v := range vs {
			if !slices.Contains(keys[kind], v) {
				changed = true
				if err := txn.Delete(indexKey(sp, tenant, kind, v, pos)); err != nil {
					return err
				}
			}
		}
	}
	for kind, vs := range keys {
		for _, v := range vs {
			changed = changed || !slices.Contains(old[kind], v)
		}
	}
	// The related kinds are written whole (their stored form): a value
	// left out while another kind held it needs its entry once that kind
	// no longer does.
	verb := entryVerbOf(st, keys)
	authority := ""
	if st.Authority != nil {
		authority = valueDigest(xapi.ActorKey(*st.Authority))
	}
	for kind := range keys {
		val := indexValue(kind, verb)
		whole := len(relatedKinds(kind)) > 1
		for _, v := range storedValues(keys, kind, authority) {
			if whole || !slices.Contains(old[kind], v) {
				if err := txn.Set(indexKey(sp, tenant, kind, v, pos), val); err != nil {
					return err
				}
			}
		}
	}
	if err := putIndexSet(txn, sp, tenant, id, keys, own); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	if err := noteAgentsIn(txn, sp, tenant, st); err != nil {
		return err
	}
	prefix := sp.Prefix("rf", tenant, id)
	var refs []string
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Rewind(); it.Valid(); it.Next() {
		refs = append(refs, string(it.Item().Key()[len(prefix):]))
	}
	it.Close()
	for _, r := range refs {
		delete(done, r) // its inheritance changed: recompute even if done
		if err := reindex(txn, sp, tenant, r, done); err != nil {
			return err
		}
	}
	return nil
}

// dropUnusedAttachment deletes an attachment payload no stored statement
// lists any more, and returns 1 if it did.
func dropUnusedAttachment(txn *badger.Txn, sp Space, tenant, sha string) (int, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: sp.Prefix("ax", tenant, sha)})
	it.Rewind()
	used := it.Valid()
	it.Close()
	if used {
		return 0, nil
	}
	return deleteKey(txn, sp.Key("at", tenant, sha))
}

// nameShown reports whether a stored statement shows the agent with key
// under name.
func nameShown(txn *badger.Txn, sp Space, tenant, key, name string) (bool, error) {
	// One kind after the other, in no order: the first statement that
	// shows the name ends the search.
	for _, kind := range relatedKinds(idxRelatedAgent) {
		if shown, err := nameShownIn(txn, sp.Prefix("x", tenant, kind, valueDigest(key)), sp, tenant, key, name); shown || err != nil {
			return shown, err
		}
	}
	return false, nil
}

// nameShownIn is nameShown over the statements of one index prefix.
func nameShownIn(txn *badger.Txn, prefix []byte, sp Space, tenant, key, name string) (bool, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		raw, err := readStatement(txn, sp, tenant, positionFrom(it.Item().Key()[len(prefix):]).ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		st, err := xapi.DecodeStored(raw)
		if err != nil {
			return false, err
		}
		for _, a := range st.NamedAgents() {
			if a.Name == name && xapi.ActorKey(a) == key {
				return true, nil
			}
		}
	}
	return false, nil
}

// Knows reports whether a stored statement names the agent with key (in
// any part, authority included).
func (p *Statements) Knows(_ context.Context, tenant, key string) (bool, error) {
	found := false
	err := p.View(func(txn *badger.Txn, sp Space) error {
		found = hasAnyPrefix(txn, sp, tenant, relatedKinds(idxRelatedAgent), valueDigest(key))
		return nil
	})
	return found, err
}

// hasAnyPrefix reports whether an index entry of one of kinds has the
// value digest d.
func hasAnyPrefix(txn *badger.Txn, sp Space, tenant string, kinds []string, d string) bool {
	return slices.ContainsFunc(kinds, func(kind string) bool { return hasPrefix(txn, sp.Prefix("x", tenant, kind, d)) })
}

func hasPrefix(txn *badger.Txn, prefix []byte) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Rewind()
	return it.Valid()
}
