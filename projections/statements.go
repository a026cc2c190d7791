package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// StatementsName is the statements projection's name (offsets, replay, CLI).
const StatementsName = "statements"

// TypeAttachmentStored is the event carrying one attachment payload of a
// statement. The API publishes it on the statements topic, with the
// statement's key and before the statement, so the payload is stored by the
// time the statement is.
const TypeAttachmentStored = "learnstream.xapi.attachment.stored.v1"

// AttachmentData is the data of a TypeAttachmentStored event.
type AttachmentData struct {
	SHA2        string `json:"sha2"`
	ContentType string `json:"contentType"`
	// Content is the payload (base64 in JSON).
	Content []byte `json:"content"`
}

// Statements is the read model of stored xAPI statements, with an index
// for every filter of GET /statements, the voiding marks, the activity
// definitions and agent names learned from statements, and attachment
// payloads.
type Statements struct {
	*Projection
}

// NewStatements returns the statements projection over store; waiters (may
// be nil) are told when each event is applied.
func NewStatements(store *Store, waiters *Waiters) (*Statements, error) {
	p, err := NewProjection(store, statementsModel{store: store}, waiters)
	if err != nil {
		return nil, err
	}
	if err := upgradeFormat(store, p, store.log); err != nil {
		return nil, fmt.Errorf("statements projection: %w", err)
	}
	if err := markReferenced(store, p.Space()); err != nil {
		return nil, fmt.Errorf("statements projection: %w", err)
	}
	if err := p.keepCounts(); err != nil {
		return nil, fmt.Errorf("statements projection: %w", err)
	}
	// The upgrades wrote around the model.
	store.dropMemos()
	return &Statements{p}, nil
}

// markReferenced gives every rf entry of a space written before rm markers
// existed its marker, once (the rmv key records that it was done), so that
// inheritLate can trust a missing marker; and then every vp entry, once
// (rmvp), so that a statement without a marker has no voiding statement
// waiting for it either (rf entries, and so markers, came after vp
// entries: a space may hold a vp entry of a statement without one).
func markReferenced(store *Store, sp Space) error {
	if err := markKeys(store, sp, "rmv", "rf"); err != nil {
		return err
	}
	return markKeys(store, sp, "rmvp", "vp")
}

// markKeys writes, once (done records it), the rm marker of the statement
// that each key of kind (tenant, id first) names.
func markKeys(store *Store, sp Space, doneKey, kind string) error {
	done := sp.Key(doneKey)
	var marks [][]byte
	err := store.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(done); err == nil {
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		prefix := sp.Prefix(kind)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			parts := strings.Split(string(it.Item().Key()[len(prefix):]), "\x00")
			if len(parts) >= 2 {
				marks = append(marks, sp.Key("rm", parts[0], parts[1]))
			}
		}
		marks = append(marks, done)
		return nil
	})
	if err != nil || len(marks) == 0 {
		return err
	}
	// The batch commits as it fills.
	return store.committing(func() error {
		wb := store.db.NewWriteBatch()
		defer wb.Cancel()
		for _, k := range marks {
			if err := wb.Set(k, nil); err != nil {
				return err
			}
		}
		return wb.Flush()
	})
}

// statementsModel applies statements.
type statementsModel struct{ store *Store }

func (statementsModel) Name() string { return StatementsName }

// countedStatements names the counter of a tenant's statements.
const countedStatements = "statements"

func (statementsModel) countedKinds() []countedKind {
	return []countedKind{{name: countedStatements, kind: "s"}}
}

// Key layout of the statements projection (every key under its space,
// kind first, then the tenant, so a tenant's prefix holds all its data):
//
//	fmt                            -> key format (uint32, see statementsFormat)
//	s  tenant id                   -> statement JSON as stored
//	m  tenant id                   -> index entries (encodeIndexSet), only when they are not the content's own
//	rf tenant targetId refId       -> pos of refId, a statement whose StatementRef targets targetId
//	rm tenant targetId             -> "" (targetId has rf entries: a Get, not a scan, on every write)
//	x  tenant kind digest pos      -> verb digest or "" (an index entry, digest = valueDigest(value); kind "*" indexes all, no digest; A and C hold only what a, u and c do not, see relatedKinds)
//	ag tenant agentKey             -> "" (an agent in some statement's related agents or authority)
//	vd tenant id                   -> id of the voiding statement (id is voided)
//	vp tenant id                   -> id of a voiding statement whose target is not stored yet
//	ac tenant activityId           -> canonical Activity JSON (merged definitions)
//	nm tenant agentKey name        -> "" (names an agent was seen under)
//	at tenant sha2                 -> attachment payload
//	ax tenant sha2 id              -> "" (statement id lists the attachment)
//
// pos is the statement's place in stored order: 8 bytes of big-endian
// stored Unix nanoseconds, then the 16 bytes of the id, so equal stored
// times still sort stably. ids elsewhere are lower-case text.
func statementKey(sp Space, tenant, id string) []byte {
	return sp.Key("s", tenant, strings.ToLower(id))
}

// Index kinds.
const (
	idxAll             = "*"
	idxAgent           = "a"
	idxRelatedAgent    = "A"
	idxVerb            = "v"
	idxActivity        = "c"
	idxRelatedActivity = "C"
	idxRegistration    = "r"
	idxAuthority       = "u"
)

// The related kinds are stored without what other kinds of the same
// statement hold. A statement's related agents are its own agents (a),
// its authority (u) and the rest (instructor, team, context agents, a
// sub-statement's): A entries are written for the rest only. Its related
// activities are its object (c) and its context activities: C entries
// are written for those only. Index entries are most of what the store
// takes in (11 a statement of the load tool's shape, 70% of the store's
// entries), and each is inserted, logged, flushed and merged down the
// levels: these were three of the eleven. A related filter reads the
// union of its kinds (relatedKinds), each statement once; stores written
// before hold whole A and C sets, which the union reads the same.
//
// The written entries are the stored form of the logical set (indexSet,
// the m records, readIndexSet stay whole): storedValues. Deleting
// entries deletes the whole logical set, so an entry never written only
// costs a tombstone; a rewrite of a statement's entries (reindex) writes
// its whole stored form, since an entry left out while another kind
// covered it must exist once that kind no longer does.

// relatedKinds lists the kinds whose entries together answer a filter of
// kind: the first is the kind itself.
func relatedKinds(kind string) []string {
	switch kind {
	case idxRelatedAgent:
		return []string{idxRelatedAgent, idxAgent, idxAuthority}
	case idxRelatedActivity:
		return []string{idxRelatedActivity, idxActivity}
	}
	return []string{kind}
}

// storedValues is the part of keys[kind] written as index entries for a
// statement whose authority's digest is authority ("" for none): the
// related values without those its own kinds or its authority entry
// hold. keys is not changed.
func storedValues(keys indexSet, kind, authority string) []string {
	var own []string
	switch kind {
	case idxRelatedAgent:
		own = keys[idxAgent]
	case idxRelatedActivity:
		own = keys[idxActivity]
		authority = ""
	default:
		return keys[kind]
	}
	covered := func(v string) bool {
		_, found := slices.BinarySearch(own, v)
		return found || v == authority
	}
	vs := keys[kind]
	if !slices.ContainsFunc(vs, covered) {
		return vs
	}
	return slices.DeleteFunc(slices.Clone(vs), covered)
}

// Position is a statement's place in stored order; paging cursors carry it.
type Position struct {
	Stored int64  // Unix nanoseconds
	ID     string // lower case
}

func (p Position) bytes() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+16), uint64(p.Stored))
	if b, ok := uuidBytes(b, p.ID); ok {
		return b
	}
	// Not a UUID (applyStatement stores none such): as text, which
	// positionFrom tells apart by its length.
	return append(b, p.ID...)
}

func positionFrom(b []byte) Position {
	if len(b) < 8 {
		return Position{}
	}
	id := b[8:]
	if len(id) == 16 {
		return Position{Stored: int64(binary.BigEndian.Uint64(b)), ID: xapi.UUIDText(id)}
	}
	return Position{Stored: int64(binary.BigEndian.Uint64(b)), ID: string(id)}
}

// String encodes p for a cursor.
func (p Position) String() string { return strconv.FormatInt(p.Stored, 10) + "." + p.ID }

// ParsePosition decodes Position.String.
func ParsePosition(s string) (Position, error) {
	n, id, ok := strings.Cut(s, ".")
	v, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || !xapi.IsUUID(id) {
		return Position{}, fmt.Errorf("position %q is malformed", s)
	}
	return Position{Stored: v, ID: strings.ToLower(id)}, nil
}

func (m statementsModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	return applyAlone(m.store, txn, sp, m, e)
}

func (m statementsModel) applyStaged(ts *txnState, e event.Event) (Outcome, error) {
	txn, sp := ts.txn, ts.sp
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		// An erasure or a retention deletes agents and names.
		if err := ts.forgetting(); err != nil {
			return 0, err
		}
		return m.forget(ts, e, pe)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	for _, t := range []string{event.TypeStatementStored, TypeAttachmentStored} {
		want, wantMajor, _ := event.SplitType(t)
		if name != want {
			continue
		}
		if major != wantMajor {
			return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
		}
		if t == TypeAttachmentStored {
			return applyAttachment(txn, sp, e)
		}
		return applyStatement(ts, e, m.store)
	}
	// Not ours: stepping over it still advances the offset.
	return Unchanged, nil
}

func applyAttachment(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	var a AttachmentData
	if err := json.Unmarshal(e.Data, &a); err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if a.SHA2 == "" {
		return 0, event.Reject(errors.New("data.sha2: is required"))
	}
	return Stored, txn.Set(sp.Key("at", e.Tenant, strings.ToLower(a.SHA2)), a.Content)
}

// applyStatement stores a statement with its index entries, voiding
// marks, references, agents, names and activity definitions. Of the keys
// it reads, only two are read from the store for every statement (the
// statement itself, for duplicates, and its referrer marker); agents,
// names and definitions already known come from the memo (staged.go).
func applyStatement(ts *txnState, e event.Event, store *Store) (Outcome, error) {
	txn, sp := ts.txn, ts.sp
	// Validation was most of this projection's time per statement. A
	// verified event was produced by this install's LRS, which validated
	// the statement under the rules of its day and stored its canonical
	// JSON: DecodeStored gives the same statement for those bytes, and a
	// replay under stricter rules keeps what was once accepted. Anything
	// else (unsigned records from before signing, or no signing key) is
	// validated.
	var st *xapi.Statement
	var err error
	if e.Verified {
		st, err = StoredStatement(e) // shared with the other roles: read only
	} else {
		st, err = xapi.ParseStatement(e.Data)
	}
	if err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	if st.ID == "" {
		return 0, event.Reject(errors.New("data: statement has no id"))
	}
	if !xapi.IsUUID(st.ID) {
		return 0, event.Reject(fmt.Errorf("data.id: %q is not a UUID", st.ID))
	}
	if st.Stored == nil {
		return 0, event.Reject(errors.New("data: statement has no stored time"))
	}
	tenant, id := e.Tenant, strings.ToLower(st.ID)
	key := statementKey(sp, tenant, id)
	ids := store.statementIDs(sp)
	item, err := (*badger.Item)(nil), badger.ErrKeyNotFound
	if !ids.absent(tenant, id) {
		item, err = txn.Get(key)
	}
	if err == nil {
		outcome := Conflict
		err = item.Value(func(v []byte) error {
			// Stored by the LRS, so validated already; decoding is enough,
			// and stays possible if validation rules grow stricter.
			old, err := xapi.DecodeStored(v)
			if err != nil {
				return fmt.Errorf("stored statement %s is unreadable: %w", st.ID, err)
			}
			if xapi.Equivalent(old, st) {
				outcome = Unchanged
			}
			return nil
		})
		return outcome, err
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return 0, err
	}
	if err := txn.Set(key, e.Data); err != nil {
		return 0, err
	}
	if ids != nil {
		// Before the commit: a check that sees it finds the id.
		ids.add(tenant, id)
	}
	ts.count(tenant, countedStatements, 1)
	agents, related := st.AgentKeys(false), st.AgentKeys(true)
	own := indexKeysOf(st, agents, related, ts.digest)
	keys := own
	target, voiding := st.IsVoiding()
	pos := Position{Stored: st.Stored.UnixNano(), ID: id}.bytes()
	if ref := st.Object.StatementRef; ref != nil {
		inherited, err := readIndexSet(txn, sp, tenant, ref.ID, nil)
		if err != nil {
			return 0, err
		}
		keys = indexSet{}
		for k, vs := range own {
			keys[k] = vs
		}
		for k, vs := range inherited {
			keys[k] = mergeSorted(keys[k], vs)
		}
		// Remembered so that a target stored later still passes its
		// index entries on (see inheritLate).
		if err := txn.Set(sp.Key("rf", tenant, strings.ToLower(ref.ID), id), pos); err != nil {
			return 0, err
		}
		if err := ts.markReferrers(tenant, strings.ToLower(ref.ID)); err != nil {
			return 0, err
		}
	}
	// A new statement has no m record (one goes with its statement), so
	// it needs one only when it inherited entries.
	if !sameIndexSet(keys, own) {
		if err := txn.Set(sp.Key("m", tenant, id), encodeIndexSet(keys)); err != nil {
			return 0, err
		}
	}
	// Most statements have no referrers: the marker (a filter of them, a
	// Get when the filter cannot rule it out) spares them an iterator,
	// which in a write transaction sorts all its pending writes (a
	// batch's worth), and a voiding statement waiting for them has one too
	// (markReferenced).
	referred, err := ts.hasReferrers(tenant, id)
	if err != nil {
		return 0, err
	}
	if referred {
		if err := inheritLate(txn, sp, tenant, id, keys); err != nil {
			return 0, err
		}
	}
	if err := txn.Set(indexKey(sp, tenant, idxAll, "", pos), nil); err != nil {
		return 0, err
	}
	authority, authorityDigest := "", ""
	if st.Authority != nil {
		authority = xapi.ActorKey(*st.Authority)
		authorityDigest = ts.digest(authority)
		if err := txn.Set(indexKey(sp, tenant, idxAuthority, authorityDigest, pos), nil); err != nil {
			return 0, err
		}
	}
	verb := entryVerbOf(st, keys)
	for kind := range keys {
		val := indexValue(kind, verb)
		for _, v := range storedValues(keys, kind, authorityDigest) {
			if err := txn.Set(indexKey(sp, tenant, kind, v, pos), val); err != nil {
				return 0, err
			}
		}
	}
	if err := noteAgents(ts, tenant, related, authority); err != nil {
		return 0, err
	}
	if voiding || referred {
		if err := applyVoiding(txn, sp, store.voidedSet(sp), tenant, id, target, voiding); err != nil {
			return 0, err
		}
	}
	// Which statements list a payload: erasing one keeps a payload
	// another statement still lists.
	for _, a := range st.Attachments {
		if err := txn.Set(sp.Key("ax", tenant, strings.ToLower(a.SHA2), id), nil); err != nil {
			return 0, err
		}
	}
	// Stored without the define scope, the statement keeps its
	// definitions but the canonical ones do not learn from them.
	if e.Extensions[ExtDefine] != "false" {
		if err := learnActivities(ts, tenant, st); err != nil {
			return 0, err
		}
	}
	for _, a := range st.NamedAgents() {
		if err := ts.ensureKey(sp.Key("nm", tenant, xapi.ActorKey(a), a.Name)); err != nil {
			return 0, err
		}
	}
	return Stored, nil
}

// applyVoiding records what voiding the new statement id does or suffers.
// A statement is voided only by a voiding statement and only if it is not
// itself voiding (Data 2.2.3); the target may arrive after its voiding
// statement, so a pending mark waits for it. A statement is added to
// voided before its mark is written.
func applyVoiding(txn *badger.Txn, sp Space, voided *voidedSet, tenant, id, target string, voiding bool) error {
	if voiding {
		target = strings.ToLower(target)
		item, err := txn.Get(statementKey(sp, tenant, target))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(sp.Key("vp", tenant, target), []byte(id))
		}
		if err != nil {
			return err
		}
		var targetVoids bool
		if err := item.Value(func(v []byte) error {
			t, err := xapi.DecodeStored(v)
			if err != nil {
				return fmt.Errorf("stored statement %s is unreadable: %w", target, err)
			}
			_, targetVoids = t.IsVoiding()
			return nil
		}); err != nil {
			return err
		}
		if targetVoids {
			return nil
		}
		voided.add(tenant, target)
		return txn.Set(sp.Key("vd", tenant, target), []byte(id))
	}
	pending := sp.Key("vp", tenant, id)
	item, err := txn.Get(pending)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	by, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	if err := txn.Delete(pending); err != nil {
		return err
	}
	voided.add(tenant, id)
	return txn.Set(sp.Key("vd", tenant, id), by)
}

// ExtDefine is the event extension the API sets to "false" on a statement
// stored by a credential without the define scope (nor all): xAPI says the
// activity ids of such a statement are stored but its definitions neither
// saved nor merged into the canonical ones.
const ExtDefine = "xapidefine"

// learnActivities merges the definitions a statement carries into the
// activities' canonical definitions. A definition of a valid statement is
// valid, and merging valid definitions yields a valid one (see
// xapi.MergeDefinition), so only the store can make this fail.
func learnActivities(ts *txnState, tenant string, st *xapi.Statement) error {
	for _, a := range st.ActivityRefs() {
		if a.Definition == nil {
			continue
		}
		key := ts.sp.Key("ac", tenant, a.ID)
		sv, err := ts.lookup(key, func(item *badger.Item) (any, error) {
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return nil, err
			}
			return newKnownActivity(a.ID, raw), nil
		})
		if err != nil {
			return err
		}
		known, _ := sv.v.(*knownActivity)
		var knownDef *xapi.ActivityDefinition
		if known != nil {
			knownDef = known.act.Definition
			if known.settled && known.absorbed != nil && sameDefinition(a.Definition, known.absorbed) {
				// Most statements repeat a definition merged before
				// without a change: it changes nothing again.
				continue
			}
		}
		def := xapi.MergeDefinition(knownDef, a.Definition)
		if known != nil && known.settled && sameDefinition(def, knownDef) {
			// Stored as it would be written, valid, and the merge
			// changes nothing: remembered for the next statements (a
			// copy: the statement is not the memo's to keep).
			known.absorbed = xapi.MergeDefinition(nil, a.Definition)
			continue
		}
		if def.Validate() != nil {
			// Unreachable for valid input; should it ever be reached, the
			// LRS keeps the latest definition rather than an invalid mix
			// or a partition stuck on this statement.
			def = xapi.MergeDefinition(nil, a.Definition)
		}
		act := xapi.Activity{ObjectType: xapi.ObjectTypeActivity, ID: a.ID, Definition: def}
		b, err := json.Marshal(act)
		if err != nil {
			return err
		}
		if known != nil && bytes.Equal(b, known.raw) {
			continue // no write
		}
		if err := ts.txn.Set(key, b); err != nil {
			return err
		}
		ts.note(sv, &knownActivity{raw: b, act: act, settled: def.Validate() == nil})
	}
	return nil
}

// knownActivity is a canonical definition as stored (raw) and parsed.
// settled says that raw is what learnActivities would write for act and
// that act's definition is valid: a merge that leaves it unchanged then
// writes nothing, without encoding it again.
type knownActivity struct {
	raw     []byte
	act     xapi.Activity
	settled bool
	// absorbed is a definition a statement carried that merged into act
	// without changing it.
	absorbed *xapi.ActivityDefinition
}

// sameDefinition reports whether a and b are equal field by field, telling
// nil from empty as their JSON does: equal definitions encode and merge
// alike.
func sameDefinition(a, b *xapi.ActivityDefinition) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameMap(a.Name, b.Name) && sameMap(a.Description, b.Description) &&
		a.Type == b.Type && a.MoreInfo == b.MoreInfo && a.InteractionType == b.InteractionType &&
		(a.CorrectResponsesPattern == nil) == (b.CorrectResponsesPattern == nil) &&
		slices.Equal(a.CorrectResponsesPattern, b.CorrectResponsesPattern) &&
		sameComponents(a.Choices, b.Choices) && sameComponents(a.Scale, b.Scale) &&
		sameComponents(a.Source, b.Source) && sameComponents(a.Target, b.Target) &&
		sameComponents(a.Steps, b.Steps) &&
		(a.Extensions == nil) == (b.Extensions == nil) &&
		maps.EqualFunc(a.Extensions, b.Extensions, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

func sameMap(a, b xapi.LanguageMap) bool {
	return (a == nil) == (b == nil) && maps.Equal(a, b)
}

func sameComponents(a, b []xapi.InteractionComponent) bool {
	return (a == nil) == (b == nil) && slices.EqualFunc(a, b, func(x, y xapi.InteractionComponent) bool {
		return x.ID == y.ID && sameMap(x.Description, y.Description)
	})
}

func newKnownActivity(id string, raw []byte) *knownActivity {
	a, err := xapi.ParseStoredActivity(raw)
	if err != nil {
		a = xapi.Activity{} // as readCanonicalActivity: read as no definition
	}
	k := &knownActivity{raw: raw, act: a}
	if a.Definition != nil && a.Definition.Validate() == nil {
		b, err := json.Marshal(xapi.Activity{ObjectType: xapi.ObjectTypeActivity, ID: id, Definition: a.Definition})
		k.settled = err == nil && bytes.Equal(b, raw)
	}
	return k
}

// readCanonicalActivity reads a canonical definition. Only the store can
// make it fail: a stored value that does not parse even after
// xapi.ParseStoredActivity's repair (none written by this release) reads as
// no definition, so the next statement defining the activity replaces it
// and the Activities resource still answers.
func readCanonicalActivity(txn *badger.Txn, key []byte) (xapi.Activity, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return xapi.Activity{}, nil
	}
	if err != nil {
		return xapi.Activity{}, err
	}
	var a xapi.Activity
	err = item.Value(func(v []byte) error {
		var perr error
		if a, perr = xapi.ParseStoredActivity(v); perr != nil {
			a = xapi.Activity{}
		}
		return nil
	})
	return a, err
}

// indexKey is the key of an index entry; digest is valueDigest of the
// filter's value ("" for idxAll).
func indexKey(sp Space, tenant, kind, digest string, pos []byte) []byte {
	// sp.Prefix("x", tenant, kind, digest) and pos, in one allocation:
	// a statement writes a dozen of these.
	k := make([]byte, 0, len(sp.prefix)+len(tenant)+len(kind)+len(digest)+len(pos)+5)
	k = append(k, sp.prefix...)
	k = append(k, 'x', 0)
	k = append(k, tenant...)
	k = append(k, 0)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, digest...)
	k = append(k, 0)
	return append(k, pos...)
}

// The entries' verb. A query that names a verb and something more
// selective walks the selective index and used to probe the verb index
// for every statement it stepped over: for "this learner's completions"
// most of a learner's statements have another verb, and each probe is a
// read through every level of the store, which made these probes a
// quarter of a filtered GET's CPU. So an entry of the indexes that can
// drive such a walk (registration, activity, agent) carries its
// statement's verb digest as its value, and the walk decides the verb
// from the entry it is on: it steps over a statement of another verb and
// takes one of the query's verb without a probe.
//
// A statement's entries carry its verb only when its verb entries are its
// own verb alone and stay so. A statement that refers to another
// (StatementRef) matches its target's verb too and may inherit entries
// later (a target stored after it), so its entries carry none, and nor do
// those of stores written before: an entry without a verb is probed as
// before. Entries an erasure writes carry what applying the statement
// gives, so that the store after an erasure is the one a replay builds.

// verbCarried reports whether entries of index kind carry their
// statement's verb: the kinds a query walks before it probes the verb
// (Query's order).
func verbCarried(kind string) bool {
	switch kind {
	case idxRegistration, idxActivity, idxRelatedActivity, idxAgent, idxRelatedAgent:
		return true
	}
	return false
}

// indexValue is the value of an entry of index kind for a statement
// whose entries carry verb (nil: none).
func indexValue(kind string, verb []byte) []byte {
	if verbCarried(kind) {
		return verb
	}
	return nil
}

// entryVerbOf is the verb digest that the index entries of a statement
// with entries keys carry, or nil when they carry none.
func entryVerbOf(st *xapi.Statement, keys indexSet) []byte {
	if st.Object.StatementRef != nil || len(keys[idxVerb]) != 1 {
		return nil
	}
	return []byte(keys[idxVerb][0])
}

// indexKeys lists the index entries of a statement's own content, as
// value digests.
func indexKeys(st *xapi.Statement) indexSet {
	return indexKeysOf(st, st.AgentKeys(false), st.AgentKeys(true), valueDigest)
}

// indexKeysOf is indexKeys given the statement's agent keys (actor and
// object; related too) and the digest function.
func indexKeysOf(st *xapi.Statement, agents, related []string, digest func(string) string) indexSet {
	digests := func(values []string) []string {
		out := make([]string, len(values))
		for i, v := range values {
			out[i] = digest(v)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	keys := indexSet{
		idxAgent:           digests(agents),
		idxRelatedAgent:    digests(related),
		idxVerb:            {digest(st.Verb.ID)},
		idxActivity:        digests(st.ActivityIDs(false)),
		idxRelatedActivity: digests(st.ActivityIDs(true)),
	}
	if st.Context != nil && st.Context.Registration != "" {
		// Registrations are mostly new: not memoised.
		keys[idxRegistration] = []string{valueDigest(strings.ToLower(st.Context.Registration))}
	}
	return keys
}

// noteAgents records the agents of st that erasures look for (agentsOf):
// index keys hold only their digests.
func noteAgents(ts *txnState, tenant string, related []string, authority string) error {
	agents := related
	if authority != "" {
		agents = append(agents[:len(agents):len(agents)], authority)
	}
	for _, a := range agents {
		if err := ts.ensureKey(ts.sp.Key("ag", tenant, a)); err != nil {
			return err
		}
	}
	return nil
}

// noteAgentsIn is noteAgents straight on a transaction, for erasures
// (which run with nothing staged).
func noteAgentsIn(txn *badger.Txn, sp Space, tenant string, st *xapi.Statement) error {
	agents := st.AgentKeys(true)
	if st.Authority != nil {
		agents = append(agents, xapi.ActorKey(*st.Authority))
	}
	for _, a := range agents {
		key := sp.Key("ag", tenant, a)
		if ok, err := keyExists(txn, key); err != nil || ok {
			if err != nil {
				return err
			}
			continue // known: no write
		}
		if err := txn.Set(key, nil); err != nil {
			return err
		}
	}
	return nil
}

// inheritLate gives the statements that refer to id (stored before it,
// when their target was not there yet) the index entries keys, and so on
// along chains of references. Entries only ever grow, so reference cycles
// end.
func inheritLate(txn *badger.Txn, sp Space, tenant, id string, keys indexSet) error {
	type referrer struct {
		id  string
		pos []byte
	}
	// The caller checked the marker (rm): id has referrers.
	var refs []referrer
	prefix := sp.Prefix("rf", tenant, id)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	for it.Rewind(); it.Valid(); it.Next() {
		pos, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		refs = append(refs, referrer{id: string(it.Item().Key()[len(prefix):]), pos: pos})
	}
	it.Close()
	for _, r := range refs {
		meta, err := readIndexSet(txn, sp, tenant, r.id, nil)
		if err != nil {
			return err
		}
		added := indexSet{}
		for kind, vs := range keys {
			for _, v := range vs {
				if !slices.Contains(meta[kind], v) {
					added[kind] = append(added[kind], v)
				}
			}
		}
		if len(added) == 0 {
			continue
		}
		for kind, vs := range added {
			meta[kind] = mergeSorted(meta[kind], vs)
			for _, v := range vs {
				if err := txn.Set(indexKey(sp, tenant, kind, v, r.pos), nil); err != nil {
					return err
				}
			}
		}
		// It has entries its content does not give now: recorded.
		if err := txn.Set(sp.Key("m", tenant, r.id), encodeIndexSet(meta)); err != nil {
			return err
		}
		if referred, err := keyExists(txn, sp.Key("rm", tenant, r.id)); err != nil {
			return err
		} else if !referred {
			continue
		}
		if err := inheritLate(txn, sp, tenant, r.id, added); err != nil {
			return err
		}
	}
	return nil
}

// readIndexSet returns the index entries of statement id: its m record,
// else those of its content (st when the caller has it decoded, else read
// from the store); none when it is not stored.
func readIndexSet(txn *badger.Txn, sp Space, tenant, id string, st *xapi.Statement) (indexSet, error) {
	id = strings.ToLower(id)
	item, err := txn.Get(sp.Key("m", tenant, id))
	if err == nil {
		var keys indexSet
		err = item.Value(func(v []byte) error {
			var err error
			keys, err = decodeIndexSet(v)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("statement %s: %w", id, err)
		}
		return keys, nil
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, err
	}
	if st == nil {
		raw, err := readStatement(txn, sp, tenant, id)
		if errors.Is(err, ErrNotFound) {
			return indexSet{}, nil
		}
		if err != nil {
			return nil, err
		}
		if st, err = xapi.DecodeStored(raw); err != nil {
			return nil, fmt.Errorf("stored statement %s is unreadable: %w", id, err)
		}
	}
	return indexKeys(st), nil
}

// putIndexSet records the index entries keys of statement id, whose own
// content gives own: an m record only when they differ.
func putIndexSet(txn *badger.Txn, sp Space, tenant, id string, keys, own indexSet) error {
	key := sp.Key("m", tenant, id)
	if sameIndexSet(keys, own) {
		if _, err := txn.Get(key); errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return txn.Delete(key)
	}
	return txn.Set(key, encodeIndexSet(keys))
}

func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrNotFound reports a missing record.
var ErrNotFound = errors.New("not found")

// Statement returns the stored statement JSON of tenant with id, voided or
// not.
func (p *Statements) Statement(_ context.Context, tenant, id string) ([]byte, error) {
	var out []byte
	err := p.viewStatements(func(txn *badger.Txn, sp Space, reads cachedReads) error {
		var found bool
		var err error
		if out, found, err = reads.get(txn, statementKey(sp, tenant, id)); err == nil && !found {
			return ErrNotFound
		}
		return err
	})
	return out, err
}

// StatementsByID reads the statements ids of tenant in one read
// transaction, by lower-case id; an id not stored is absent. The write
// path checks a whole batch's ids with it: a read transaction waits for
// the commits in flight, and one per statement made a batch of 100 wait
// for them 100 times.
func (p *Statements) StatementsByID(_ context.Context, tenant string, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	err := p.View(func(txn *badger.Txn, sp Space) error {
		filter := p.store.statementIDs(sp)
		for _, id := range ids {
			if filter.absent(tenant, strings.ToLower(id)) {
				continue
			}
			item, err := txn.Get(statementKey(sp, tenant, id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("statement %s: %w", id, err)
			}
			if out[strings.ToLower(id)], err = item.ValueCopy(nil); err != nil {
				return fmt.Errorf("statement %s: %w", id, err)
			}
		}
		return nil
	})
	return out, err
}

// Voided reports whether the statement tenant/id is voided.
func (p *Statements) Voided(_ context.Context, tenant, id string) (bool, error) {
	var voided bool
	err := p.View(func(txn *badger.Txn, sp Space) error {
		var err error
		voided, err = keyExists(txn, sp.Key("vd", tenant, strings.ToLower(id)))
		return err
	})
	return voided, err
}

func keyExists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Attachment returns a stored attachment payload by its SHA-2.
func (p *Statements) Attachment(_ context.Context, tenant, sha2 string) ([]byte, error) {
	var out []byte
	err := p.View(func(txn *badger.Txn, sp Space) error {
		item, err := txn.Get(sp.Key("at", tenant, strings.ToLower(sha2)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// Activity returns the canonical definition of an activity, or just its id
// when no statement defined it (the Activities resource answers with an
// Activity either way).
func (p *Statements) Activity(_ context.Context, tenant, id string) (xapi.Activity, error) {
	var a xapi.Activity
	err := p.View(func(txn *badger.Txn, sp Space) error {
		var err error
		a, err = readCanonicalActivity(txn, sp.Key("ac", tenant, id))
		return err
	})
	if err != nil {
		return xapi.Activity{}, fmt.Errorf("read activity %s: %w", id, err)
	}
	a.ObjectType, a.ID = xapi.ObjectTypeActivity, id
	return a, nil
}

// AgentNames returns the names the agent with the ActorKey key was seen
// under, sorted.
func (p *Statements) AgentNames(_ context.Context, tenant, key string) ([]string, error) {
	var names []string
	err := p.View(func(txn *badger.Txn, sp Space) error {
		prefix := sp.Prefix("nm", tenant, key)
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			names = append(names, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	return names, err
}

// StatementQuery is a GET /statements query. Empty fields do not filter.
type StatementQuery struct {
	Agent             string // an ActorKey
	RelatedAgents     bool
	Verb              string
	Activity          string
	RelatedActivities bool
	Registration      string
	// Authority, an ActorKey, keeps only statements stored by that
	// authority (the statements/read/mine scope).
	Authority string
	// Since (exclusive) and Until (inclusive) bound stored; zero is open.
	Since, Until time.Time
	Ascending    bool
	Limit        int
	// After continues a query after a position (exclusive), in its order.
	After *Position
}

// StatementPage is one page of a query's answer.
type StatementPage struct {
	Statements []json.RawMessage
	// Next is the position to continue after, when more statements match.
	Next *Position
	// Latest is the most recent stored time among Statements.
	Latest time.Time
}

type stmtFilter struct{ kind, value string }

// Query answers a statement query from the indexes. It walks the most
// selective index that the query names, in stored order, and probes the
// other filters' indexes for each candidate, so the cost grows with the
// statements of the driving index that it has to step over, not with the
// store. Voided statements never match (they are only reachable by
// voidedStatementId).
func (p *Statements) Query(_ context.Context, tenant string, q StatementQuery) (StatementPage, error) {
	var filters []stmtFilter
	add := func(kind, value string) {
		if value != "" {
			filters = append(filters, stmtFilter{kind, valueDigest(value)})
		}
	}
	// Most selective first: the first filter drives the walk.
	add(idxRegistration, strings.ToLower(q.Registration))
	if q.RelatedActivities {
		add(idxRelatedActivity, q.Activity)
	} else {
		add(idxActivity, q.Activity)
	}
	if q.RelatedAgents {
		add(idxRelatedAgent, q.Agent)
	} else {
		add(idxAgent, q.Agent)
	}
	add(idxVerb, q.Verb)
	add(idxAuthority, q.Authority)
	drive := stmtFilter{idxAll, ""}
	if len(filters) > 0 {
		drive, filters = filters[0], filters[1:]
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var page StatementPage
	err := p.viewStatements(func(txn *badger.Txn, sp Space, reads cachedReads) error {
		voided := p.store.voidedSet(sp)
		voided.load(txn, sp)
		w := newIndexWalk(txn, sp, tenant, relatedKinds(drive.kind), drive.value, !q.Ascending)
		defer w.Close()
		// Where the walk starts: a position, or a part of one (the
		// stored time), after the prefix of each kind.
		var start []byte
		switch {
		case q.After != nil:
			start = q.After.bytes()
		case q.Ascending && !q.Since.IsZero():
			start = binary.BigEndian.AppendUint64(nil, uint64(q.Since.UnixNano()+1))
		case q.Ascending:
		case !q.Until.IsZero():
			// Backwards from the first key past until: a key is the
			// stored time then the 16 bytes of the id, so until with one
			// 0xff byte after it would sort before an id that starts
			// with 0xff, and miss that statement stored at until.
			start = binary.BigEndian.AppendUint64(nil, uint64(q.Until.UnixNano()+1))
		default:
			start = []byte{0xff}
		}
		// The walk decides the query's verb from the entries that carry
		// their statement's: unprobed is the other filters.
		var verb []byte
		unprobed := filters
		if verbCarried(drive.kind) {
			if i := slices.IndexFunc(filters, func(f stmtFilter) bool { return f.kind == idxVerb }); i >= 0 {
				verb = []byte(filters[i].value)
				unprobed = slices.Delete(slices.Clone(filters), i, i+1)
			}
		}
		for w.Seek(start); w.Valid(); w.Next() {
			probe := filters
			if verb != nil {
				switch carried, is := entryVerb(w.Item(), verb); {
				case is:
					probe = unprobed
				case carried:
					continue
				}
			}
			pos := positionFrom(w.Pos())
			if q.After != nil && pos == *q.After {
				continue
			}
			if !q.Since.IsZero() && pos.Stored <= q.Since.UnixNano() {
				if q.Ascending {
					continue
				}
				break
			}
			if !q.Until.IsZero() && pos.Stored > q.Until.UnixNano() {
				if q.Ascending {
					break
				}
				continue
			}
			ok, err := stmtMatches(txn, sp, tenant, probe, pos, voided.mayBeVoided(tenant, pos.ID))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if len(page.Statements) == limit {
				// One more match exists: page.Next (the last returned) stays.
				return nil
			}
			b, found, err := reads.get(txn, statementKey(sp, tenant, pos.ID))
			if err == nil && !found {
				err = badger.ErrKeyNotFound
			}
			if err != nil {
				return fmt.Errorf("statement %s is indexed but not stored: %w", pos.ID, err)
			}
			page.Statements = append(page.Statements, b)
			at := pos
			page.Next = &at
			if t := time.Unix(0, pos.Stored).UTC(); t.After(page.Latest) {
				page.Latest = t
			}
		}
		// The walk ended without finding one more match: no next page.
		page.Next = nil
		return nil
	})
	return page, err
}

// indexWalk walks the entries of one value in several index kinds
// together (a related filter's kinds, relatedKinds), in stored order or
// its reverse, each statement once, with an iterator per kind.
type indexWalk struct {
	its      []*badger.Iterator
	prefixes [][]byte
	reverse  bool
	cur      int    // the kind whose entry the walk is on; -1: none
	at       []byte // Next's copy of the position it leaves
}

func newIndexWalk(txn *badger.Txn, sp Space, tenant string, kinds []string, digest string, reverse bool) *indexWalk {
	w := &indexWalk{reverse: reverse, cur: -1}
	for _, kind := range kinds {
		prefix := sp.Prefix("x", tenant, kind, digest)
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		opts.Reverse = reverse
		w.its = append(w.its, txn.NewIterator(opts))
		w.prefixes = append(w.prefixes, prefix)
	}
	return w
}

func (w *indexWalk) Close() {
	for _, it := range w.its {
		it.Close()
	}
}

// Seek moves to the first entry at or after start in the walk's order
// (at or before it in reverse); start is the part of a key after the
// kind's prefix (a position or its first bytes).
func (w *indexWalk) Seek(start []byte) {
	for i, it := range w.its {
		it.Seek(append(slices.Clone(w.prefixes[i]), start...))
	}
	w.pick()
}

// pick puts the walk on the first entry of its kinds in its order; on
// a tie (a store written before holds a statement under several of
// them), the first kind's, whose entries carry the verb.
func (w *indexWalk) pick() {
	w.cur = -1
	for i, it := range w.its {
		if !it.Valid() {
			continue
		}
		if w.cur >= 0 {
			c := bytes.Compare(w.pos(i), w.pos(w.cur))
			if c == 0 || (c > 0) != w.reverse {
				continue
			}
		}
		w.cur = i
	}
}

func (w *indexWalk) pos(i int) []byte { return w.its[i].Item().Key()[len(w.prefixes[i]):] }

func (w *indexWalk) Valid() bool { return w.cur >= 0 }

// Item is the index entry the walk is on.
func (w *indexWalk) Item() *badger.Item { return w.its[w.cur].Item() }

// Pos is the position of the statement the walk is on, valid until Next.
func (w *indexWalk) Pos() []byte { return w.pos(w.cur) }

// Next moves past the statement the walk is on, in every kind.
func (w *indexWalk) Next() {
	if len(w.its) == 1 {
		w.its[0].Next()
		w.pick()
		return
	}
	w.at = append(w.at[:0], w.Pos()...)
	for i, it := range w.its {
		if it.Valid() && bytes.Equal(w.pos(i), w.at) {
			it.Next()
		}
	}
	w.pick()
}

// entryVerb reports whether index entry item carries its statement's
// verb, and whether that is verb.
func entryVerb(item *badger.Item, verb []byte) (carried, is bool) {
	// The value is in the entry itself (far below the value-log
	// threshold): reading it reads nothing more. Were it to fail, the
	// entry would count as carrying none, and the probe decide.
	_ = item.Value(func(v []byte) error {
		carried = len(v) == digestLen
		is = carried && bytes.Equal(v, verb)
		return nil
	})
	return carried, is
}

// stmtMatches probes the filters' indexes for a candidate and, when it may
// be voided (voidedSet), checks it is not.
func stmtMatches(txn *badger.Txn, sp Space, tenant string, filters []stmtFilter, pos Position, mayBeVoided bool) (bool, error) {
	if len(filters) > 0 {
		pb := pos.bytes()
	filters:
		for _, f := range filters {
			for _, kind := range relatedKinds(f.kind) {
				ok, err := keyExists(txn, indexKey(sp, tenant, kind, f.value, pb))
				if err != nil {
					return false, err
				}
				if ok {
					continue filters
				}
			}
			return false, nil
		}
	}
	if !mayBeVoided {
		return true, nil
	}
	voided, err := keyExists(txn, sp.Key("vd", tenant, pos.ID))
	return !voided, err
}

// Count returns how many statements tenant has stored.
func (p *Statements) Count(_ context.Context, tenant string) (int, error) {
	n, err := p.Counted(tenant, countedStatements)
	return int(n), err
}
