package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
)

// CatalogName is the catalog projection's name.
const CatalogName = "catalog"

// Catalog event types (topic learnstream.catalog.v1, compacted, keyed by
// entity: see CatalogKey). A removal is a "deleted" event under the same
// key, not a Kafka tombstone, so that the compacted log keeps it and every
// consumer (with CloudEvents headers) sees it.
const (
	TypeSkillPut            = "learnstream.catalog.skill.put.v1"
	TypeSkillDeleted        = "learnstream.catalog.skill.deleted.v1"
	TypePrerequisitePut     = "learnstream.catalog.prerequisite.put.v1"
	TypePrerequisiteDeleted = "learnstream.catalog.prerequisite.deleted.v1"
	TypeActivityPut         = "learnstream.catalog.activity.put.v1"
	TypeActivityDeleted     = "learnstream.catalog.activity.deleted.v1"
	TypeActivitySeen        = "learnstream.catalog.activity.seen.v1"
	TypeRolePut             = "learnstream.catalog.role.put.v1"
	TypeRoleDeleted         = "learnstream.catalog.role.deleted.v1"
	TypeLearnerRolePut      = "learnstream.catalog.learner_role.put.v1"
)

// Entity kinds as stored and as used in catalog keys.
const (
	kindSkill       = "skill"
	kindEdge        = "prerequisite"
	kindActivity    = "activity"
	kindSeen        = "activity_seen"
	kindRole        = "role"
	kindLearnerRole = "learner_role"
)

// CatalogKey is the record key of a catalog event: the entity kind and its
// id. An edge's id is "<from>;<to>" (skill ids cannot contain ';').
func CatalogKey(typ string, data []byte) (string, error) {
	kind, id, _, err := decodeCatalog(typ, data)
	if err != nil {
		return "", err
	}
	return kind + ":" + id, nil
}

// CatalogRef names one entity in a deleted event: Id, or From and To.
type CatalogRef struct {
	ID   string `json:"id,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// SeenActivity is the data of an activity.seen event: an activity met in a
// statement that the catalog did not hold. It registers the activity as an
// item without skills unless the catalog defines it.
type SeenActivity struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"` // the xAPI definition type, if any
	Name string `json:"name,omitempty"`
}

// TypeLearnerRoleSet is the data of a LearnerRole published on the
// statements topic, keyed by the learner, when the learner's role is
// assigned: in order with the learner's statements, it tells the
// recommender to rank the learner's list again for the new role. The
// catalog keeps the assignment (TypeLearnerRolePut); this event only
// carries it to the learner's partition.
const TypeLearnerRoleSet = "learnstream.learner.role.set.v1"

// LearnerRole assigns a learner (learner key) a role; an empty role removes
// the assignment.
type LearnerRole struct {
	Learner string `json:"learner"`
	Role    string `json:"role"`
}

// decodeCatalog validates a catalog event's data on its own and returns its
// kind, id, whether it removes the entity, and the value to store.
func decodeCatalog(typ string, data []byte) (kind, id string, del bool, err error) {
	strict := func(v any) error {
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		return nil
	}
	switch typ {
	case TypeSkillPut:
		var s graph.Skill
		if err = strict(&s); err == nil {
			err = s.Validate()
		}
		return kindSkill, s.ID, false, err
	case TypeActivityPut:
		var a graph.Activity
		if err = strict(&a); err == nil {
			err = a.Validate()
		}
		return kindActivity, a.ID, false, err
	case TypeRolePut:
		var r graph.Role
		if err = strict(&r); err == nil {
			err = r.Validate()
		}
		return kindRole, r.ID, false, err
	case TypePrerequisitePut, TypePrerequisiteDeleted:
		var e graph.Edge
		if err = strict(&e); err == nil && (e.From == "" || e.To == "") {
			err = errors.New("data: from and to are required")
		}
		return kindEdge, e.From + ";" + e.To, typ == TypePrerequisiteDeleted, err
	case TypeActivitySeen:
		var s SeenActivity
		if err = strict(&s); err == nil && s.ID == "" {
			err = errors.New("data.id: required")
		}
		return kindSeen, s.ID, false, err
	case TypeLearnerRolePut:
		var l LearnerRole
		if err = strict(&l); err == nil && l.Learner == "" {
			err = errors.New("data.learner: required")
		}
		return kindLearnerRole, l.Learner, l.Role == "", err
	case TypeSkillDeleted, TypeActivityDeleted, TypeRoleDeleted:
		var r CatalogRef
		if err = strict(&r); err == nil && r.ID == "" {
			err = errors.New("data.id: required")
		}
		kind = map[string]string{TypeSkillDeleted: kindSkill, TypeActivityDeleted: kindActivity, TypeRoleDeleted: kindRole}[typ]
		return kind, r.ID, true, err
	}
	return "", "", false, fmt.Errorf("ce_type: %q is not a catalog event type", typ)
}

// Catalog is the catalog & knowledge-graph read model. Badger keeps every
// entity (tenant first); each tenant's graph is also kept in memory for
// ranking and planning, rebuilt from Badger (in dependency order, so the
// order in which partitions deliver entities does not matter) whenever an
// event changed it.
type Catalog struct {
	*Projection
	mu      sync.Mutex
	gen     uint32
	tenants map[string]*tenantCatalog
}

type tenantCatalog struct {
	g        *graph.Graph
	roles    map[string]string // learner -> role
	problems []string          // entities the rebuild could not apply
	version  spaceVersion      // of the space when the graph was read
}

// NewCatalog returns the catalog projection; waiters (may be nil) hear of
// each applied event.
func NewCatalog(store *Store, waiters *Waiters) (*Catalog, error) {
	c := &Catalog{tenants: map[string]*tenantCatalog{}}
	p, err := NewProjection(store, catalogModel{c, store}, waiters)
	if err != nil {
		return nil, err
	}
	c.Projection = p
	c.gen = p.Space().Generation()
	return c, nil
}

type catalogModel struct {
	c     *Catalog
	store *Store
}

func (catalogModel) Name() string { return CatalogName }

// forget applies a LearnerErased: the learner's role assignment goes. A
// RetentionApplied changes nothing: an assignment is a setting in force,
// not a record of learning, and has no age.
func (m catalogModel) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	if pe.erased == nil {
		return Unchanged, nil
	}
	if m.store.pseudonyms == nil {
		return 0, errNoPseudonyms
	}
	prefix := sp.Prefix("e", e.Tenant, kindLearnerRole)
	learner, found, err := findLearner(txn, prefix, e.Tenant, pe.erased.Pseudonym, m.store.pseudonyms)
	var n int64
	switch {
	case err != nil:
		return 0, err
	case found:
		if err := txn.Delete(sp.Key("e", e.Tenant, kindLearnerRole, learner)); err != nil {
			return 0, err
		}
		n = 1
	}
	if err := m.store.noteErasure(txn, CatalogName, e, *pe.erased, map[string]int64{"learner_roles": n}); err != nil {
		return 0, err
	}
	return Stored, nil
}

func (m catalogModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		return m.forget(txn, sp, e, pe)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	if !strings.HasPrefix(name, "learnstream.catalog.") {
		return Unchanged, nil
	}
	if major != 1 {
		return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want 1)", major, name))
	}
	kind, id, del, err := decodeCatalog(e.Type, e.Data)
	if err != nil {
		return 0, event.Reject(err)
	}
	key := sp.Key("e", e.Tenant, kind, id)
	old, err := txn.Get(key)
	var prev []byte
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return 0, err
	default:
		if prev, err = old.ValueCopy(nil); err != nil {
			return 0, err
		}
	}
	if del {
		if prev == nil {
			return Unchanged, nil
		}
		return Stored, txn.Delete(key)
	}
	if string(prev) == string(e.Data) {
		return Unchanged, nil
	}
	return Stored, txn.Set(key, e.Data)
}

// Graph returns the tenant's current graph. It must not be modified (Clone
// it to try a change); it stays valid and unchanged after later events.
func (c *Catalog) Graph(tenant string) (*graph.Graph, error) {
	t, err := c.tenant(tenant)
	if err != nil {
		return nil, err
	}
	return t.g, nil
}

// LearnerRole returns the role assigned to a learner ("" when none).
func (c *Catalog) LearnerRole(tenant, learner string) (string, error) {
	t, err := c.tenant(tenant)
	if err != nil {
		return "", err
	}
	return t.roles[learner], nil
}

// Problems lists the stored entities that could not be applied to the
// in-memory graph (possible only when concurrent writers raced).
func (c *Catalog) Problems(tenant string) ([]string, error) {
	t, err := c.tenant(tenant)
	if err != nil {
		return nil, err
	}
	return t.problems, nil
}

func (c *Catalog) tenant(tenant string) (*tenantCatalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen := c.Space().Generation(); gen != c.gen {
		// A replay swapped generations: reload everything.
		c.gen, c.tenants = gen, map[string]*tenantCatalog{}
	}
	// Only applied events change the catalog, and each moves the space's
	// version: comparing it costs no read of the store (summing the
	// stored offsets did, an iterator over every table of the store
	// per batch of each model consumer).
	if t := c.tenants[tenant]; t != nil && t.version == c.version() {
		return t, nil
	}
	t := &tenantCatalog{}
	if err := c.load(tenant, t); err != nil {
		return nil, err
	}
	c.tenants[tenant] = t
	return t, nil
}

// load rebuilds a tenant's graph from Badger.
func (c *Catalog) load(tenant string, t *tenantCatalog) error {
	b := &graph.Batch{}
	seen := map[string]SeenActivity{}
	t.roles = map[string]string{}
	// Before the read: a commit while it reads moves the version past
	// this, and the next call reads again.
	t.version = c.version()
	err := c.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("e", tenant)
		it := txn.NewIterator(opts)
		defer it.Close()
		line := 0
		for it.Rewind(); it.Valid(); it.Next() {
			line++
			rest := string(it.Item().Key()[len(opts.Prefix):])
			kind, _, _ := strings.Cut(rest, "\x00")
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			rec := graph.Record{Line: line}
			switch kind {
			case kindSkill:
				rec.Kind = graph.KindSkill
				err = json.Unmarshal(v, &rec.Skill)
			case kindEdge:
				rec.Kind = graph.KindPrerequisite
				err = json.Unmarshal(v, &rec.Edge)
			case kindActivity:
				rec.Kind = graph.KindActivity
				err = json.Unmarshal(v, &rec.Activity)
			case kindRole:
				rec.Kind = graph.KindRole
				err = json.Unmarshal(v, &rec.Role)
			case kindSeen:
				var s SeenActivity
				if err = json.Unmarshal(v, &s); err == nil {
					seen[s.ID] = s
				}
				continue
			case kindLearnerRole:
				var l LearnerRole
				if err = json.Unmarshal(v, &l); err == nil {
					t.roles[l.Learner] = l.Role
				}
				continue
			default:
				continue
			}
			if err != nil {
				return fmt.Errorf("catalog %s %s is unreadable: %w", tenant, rest, err)
			}
			b.Records = append(b.Records, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defined := map[string]bool{}
	for _, r := range b.Records {
		if r.Kind == graph.KindActivity {
			defined[r.Activity.ID] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		if !defined[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		a, err := graph.NewActivity(id, graph.TypeItem, seen[id].Name, 0, nil, nil, "")
		if err != nil {
			continue // not an IRI the catalog accepts; statements still flow
		}
		b.Records = append(b.Records, graph.Record{Line: len(b.Records) + 1, Kind: graph.KindActivity, Activity: a})
	}
	g := graph.New()
	rep, err := g.Apply(b, graph.ImportOptions{Partial: true})
	if err != nil {
		return err
	}
	t.problems = nil
	for _, p := range rep.Problems {
		t.problems = append(t.problems, p.Msg)
	}
	t.g = g
	return nil
}

// Counts reports the tenant's entity counts (admin status).
func (c *Catalog) Counts(_ context.Context, tenant string) (map[string]int64, error) {
	g, err := c.Graph(tenant)
	if err != nil {
		return nil, err
	}
	s, a, r, e := g.Counts()
	return map[string]int64{"skills": int64(s), "activities": int64(a), "roles": int64(r), "prerequisites": int64(e)}, nil
}
