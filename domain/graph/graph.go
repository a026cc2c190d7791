// Package graph is the catalog and skills knowledge graph of learnstream:
// activities (courses, modules, assessments, items), skills, prerequisite
// edges between skills, and roles that require skills at given levels.
//
// The package is pure: no IO beyond the io.Reader importers, no global state.
// A Graph keeps itself valid at all times: every mutation is checked
// (identifiers, types, levels, references, cycles) and a rejected mutation
// leaves the graph unchanged. A Graph is not safe for concurrent mutation;
// concurrent reads are safe while nobody writes.
//
// Prerequisite edges point from the prerequisite to the skill that needs it:
// the edge "fractions -> decimals" means fractions must be learned before
// decimals. Cycle errors print paths in that direction.
package graph

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors; every error returned by this package wraps one of them
// (test with errors.Is).
var (
	// ErrInvalid marks a malformed entity: empty id, unknown type, level out of range...
	ErrInvalid = errors.New("invalid")
	// ErrUnknown marks a reference to an entity the graph does not hold.
	ErrUnknown = errors.New("unknown reference")
	// ErrCycle marks an edge or parent link that would close a cycle.
	ErrCycle = errors.New("cycle")
	// ErrInUse marks a removal of an entity that others still reference.
	ErrInUse = errors.New("in use")
)

// ActivityType is the kind of a catalog activity.
type ActivityType string

// The activity types a catalog knows.
const (
	TypeCourse     ActivityType = "course"
	TypeModule     ActivityType = "module"
	TypeAssessment ActivityType = "assessment"
	TypeItem       ActivityType = "item"
)

// Valid reports whether t is one of the known activity types.
func (t ActivityType) Valid() bool {
	switch t {
	case TypeCourse, TypeModule, TypeAssessment, TypeItem:
		return true
	}
	return false
}

// Skill is a node of the knowledge graph.
type Skill struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Activity is a catalog entry. ID is an absolute IRI (the xAPI activity id).
type Activity struct {
	ID       string        `json:"id"`
	Type     ActivityType  `json:"type"`
	Title    string        `json:"title,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Teaches lists the skills the activity teaches.
	Teaches []string `json:"teaches,omitempty"`
	// Assesses lists the skills the activity assesses.
	Assesses []string `json:"assesses,omitempty"`
	// Parent is the id of the enclosing activity (a module's course), or "".
	Parent string `json:"parent,omitempty"`
}

// Requirement is one skill a role needs, at a mastery level in [0, 1].
type Requirement struct {
	Skill string  `json:"skill"`
	Level float64 `json:"level"`
}

// Role is a job role (or any target profile) defined by required skills.
type Role struct {
	ID       string        `json:"id"`
	Name     string        `json:"name,omitempty"`
	Requires []Requirement `json:"requires"`
}

// Edge is a prerequisite edge: From must be learned before To.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// FieldError is a validation or reference error on one field of one entity.
type FieldError struct {
	Entity string // "skill", "activity", "role", "prerequisite"
	ID     string
	Field  string
	Msg    string
	Err    error // ErrInvalid, ErrUnknown or ErrInUse
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Entity)
	if e.ID != "" {
		fmt.Fprintf(&b, " %q", e.ID)
	}
	if e.Field != "" {
		b.WriteString(" field ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// CycleError names the cycle an edge would close, as a path whose first and
// last elements are the same node.
type CycleError struct {
	Kind string   // "prerequisite" or "parent"
	Path []string // e.g. [a b c a]
}

func (e *CycleError) Error() string {
	if len(e.Path) == 2 && e.Path[0] == e.Path[1] {
		return e.Kind + " self-loop: " + e.Path[0] + " -> " + e.Path[1]
	}
	return e.Kind + " cycle: " + strings.Join(e.Path, " -> ")
}

// Is makes errors.Is(err, ErrCycle) true.
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

func invalid(entity, id, field, format string, args ...any) error {
	return &FieldError{Entity: entity, ID: id, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

func unknown(entity, id, field, format string, args ...any) error {
	return &FieldError{Entity: entity, ID: id, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrUnknown}
}

// checkID validates a skill or role identifier: non-empty, no leading or
// trailing white space, no control characters and no ';' (the list separator
// of the CSV format).
func checkID(entity, owner, field, id string) error {
	if id == "" {
		return invalid(entity, owner, field, "must not be empty")
	}
	if strings.TrimSpace(id) != id {
		return invalid(entity, owner, field, "%q must not start or end with white space", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return invalid(entity, owner, field, "%q must not contain control characters", id)
		}
		if r == ';' {
			return invalid(entity, owner, field, "%q must not contain ';'", id)
		}
	}
	return nil
}

// checkIRI validates an activity id: an absolute IRI (scheme ":" rest)
// without white space or control characters.
func checkIRI(entity, owner, field, id string) error {
	if id == "" {
		return invalid(entity, owner, field, "must not be empty")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return invalid(entity, owner, field, "%q must not contain white space or control characters", id)
		}
	}
	colon := strings.IndexByte(id, ':')
	if colon <= 0 || colon == len(id)-1 {
		return invalid(entity, owner, field, "%q is not an absolute IRI (scheme:rest)", id)
	}
	for i, r := range id[:colon] {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || i > 0 && (unicode.IsDigit(r) || r == '+' || r == '-' || r == '.'))
		if !ok {
			return invalid(entity, owner, field, "%q is not an absolute IRI (bad scheme %q)", id, id[:colon])
		}
	}
	return nil
}

func checkSkillList(entity, id, field string, skills []string) error {
	for i, s := range skills {
		if err := checkID(entity, id, fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
		if slices.Contains(skills[:i], s) {
			return invalid(entity, id, field, "skill %q listed twice", s)
		}
	}
	return nil
}

// Validate checks a skill on its own (not its references).
func (s Skill) Validate() error { return checkID("skill", s.ID, "id", s.ID) }

// Validate checks an activity on its own: id, type, duration and skill lists.
// References (skills, parent) are checked when it is put into a Graph.
func (a Activity) Validate() error {
	if err := checkIRI("activity", a.ID, "id", a.ID); err != nil {
		return err
	}
	if !a.Type.Valid() {
		return invalid("activity", a.ID, "type", "unknown activity type %q (want course, module, assessment or item)", a.Type)
	}
	if a.Duration < 0 {
		return invalid("activity", a.ID, "duration", "must not be negative")
	}
	if err := checkSkillList("activity", a.ID, "teaches", a.Teaches); err != nil {
		return err
	}
	if err := checkSkillList("activity", a.ID, "assesses", a.Assesses); err != nil {
		return err
	}
	if a.Parent != "" {
		if err := checkIRI("activity", a.ID, "parent", a.Parent); err != nil {
			return err
		}
		if a.Parent == a.ID {
			return &CycleError{Kind: "parent", Path: []string{a.ID, a.ID}}
		}
	}
	return nil
}

// Validate checks a role on its own: id, and each requirement's skill id and
// level (a number in [0, 1]).
func (r Role) Validate() error {
	if err := checkID("role", r.ID, "id", r.ID); err != nil {
		return err
	}
	for i, q := range r.Requires {
		field := fmt.Sprintf("requires[%d]", i)
		if err := checkID("role", r.ID, field+".skill", q.Skill); err != nil {
			return err
		}
		if math.IsNaN(q.Level) || q.Level < 0 || q.Level > 1 {
			return invalid("role", r.ID, field+".level", "level %v of skill %q is outside [0, 1]", q.Level, q.Skill)
		}
		for _, p := range r.Requires[:i] {
			if p.Skill == q.Skill {
				return invalid("role", r.ID, field+".skill", "skill %q required twice", q.Skill)
			}
		}
	}
	return nil
}

// NewSkill returns a validated skill.
func NewSkill(id, name string) (Skill, error) {
	s := Skill{ID: id, Name: name}
	return s, s.Validate()
}

// NewActivity returns a validated activity.
func NewActivity(id string, typ ActivityType, title string, duration time.Duration, teaches, assesses []string, parent string) (Activity, error) {
	a := Activity{ID: id, Type: typ, Title: title, Duration: duration,
		Teaches: slices.Clone(teaches), Assesses: slices.Clone(assesses), Parent: parent}
	return a, a.Validate()
}

// NewRole returns a validated role.
func NewRole(id, name string, requires []Requirement) (Role, error) {
	r := Role{ID: id, Name: name, Requires: slices.Clone(requires)}
	return r, r.Validate()
}

type set map[string]struct{}

func (s set) add(k string) { s[k] = struct{}{} }

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// index is a multimap string -> set of strings.
type index map[string]set

func (x index) add(k, v string) {
	s := x[k]
	if s == nil {
		s = set{}
		x[k] = s
	}
	s.add(v)
}

func (x index) del(k, v string) {
	if s := x[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(x, k)
		}
	}
}

func (x index) clone() index {
	out := make(index, len(x))
	for k, s := range x {
		c := make(set, len(s))
		for v := range s {
			c.add(v)
		}
		out[k] = c
	}
	return out
}

// Graph holds the catalog and the knowledge graph. The zero value is not
// usable; call New.
type Graph struct {
	skills     map[string]Skill
	activities map[string]Activity
	roles      map[string]Role

	requires index // skill -> its prerequisites
	enables  index // prerequisite -> skills that need it
	teachers index // skill -> activities teaching it
	assessor index // skill -> activities assessing it
	children index // activity -> child activities
	roleRefs index // skill -> roles requiring it
	edges    int
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{
		skills:     map[string]Skill{},
		activities: map[string]Activity{},
		roles:      map[string]Role{},
		requires:   index{},
		enables:    index{},
		teachers:   index{},
		assessor:   index{},
		children:   index{},
		roleRefs:   index{},
	}
}

// Clone returns a deep copy of g.
func (g *Graph) Clone() *Graph {
	c := &Graph{
		skills:     make(map[string]Skill, len(g.skills)),
		activities: make(map[string]Activity, len(g.activities)),
		roles:      make(map[string]Role, len(g.roles)),
		requires:   g.requires.clone(),
		enables:    g.enables.clone(),
		teachers:   g.teachers.clone(),
		assessor:   g.assessor.clone(),
		children:   g.children.clone(),
		roleRefs:   g.roleRefs.clone(),
		edges:      g.edges,
	}
	for k, v := range g.skills {
		c.skills[k] = v
	}
	for k, v := range g.activities {
		c.activities[k] = v // slices are never mutated in place
	}
	for k, v := range g.roles {
		c.roles[k] = v
	}
	return c
}

// PutSkill adds a skill or replaces the one with the same id.
func (g *Graph) PutSkill(s Skill) error {
	if err := s.Validate(); err != nil {
		return err
	}
	g.skills[s.ID] = s
	return nil
}

// RemoveSkill removes a skill and its prerequisite edges. It fails with
// ErrInUse, naming them, while activities or roles still reference the skill.
func (g *Graph) RemoveSkill(id string) error {
	if _, ok := g.skills[id]; !ok {
		return unknown("skill", id, "", "no such skill")
	}
	var users []string
	for _, a := range g.teachers[id].sorted() {
		users = append(users, "activity "+a+" (teaches)")
	}
	for _, a := range g.assessor[id].sorted() {
		users = append(users, "activity "+a+" (assesses)")
	}
	for _, r := range g.roleRefs[id].sorted() {
		users = append(users, "role "+r)
	}
	if len(users) > 0 {
		return &FieldError{Entity: "skill", ID: id, Msg: "still referenced by " + strings.Join(users, ", "), Err: ErrInUse}
	}
	for p := range g.requires[id] {
		g.enables.del(p, id)
		g.edges--
	}
	for d := range g.enables[id] {
		g.requires.del(d, id)
		g.edges--
	}
	delete(g.requires, id)
	delete(g.enables, id)
	delete(g.skills, id)
	return nil
}

// AddPrerequisite adds the edge from -> to (from must be learned before to).
// Both skills must exist. Self-loops and edges that would close a cycle are
// rejected with a *CycleError naming the path. Adding an existing edge is a
// no-op.
func (g *Graph) AddPrerequisite(from, to string) error {
	if _, ok := g.skills[from]; !ok {
		return unknown("prerequisite", from+" -> "+to, "from", "unknown skill %q", from)
	}
	if _, ok := g.skills[to]; !ok {
		return unknown("prerequisite", from+" -> "+to, "to", "unknown skill %q", to)
	}
	if from == to {
		return &CycleError{Kind: "prerequisite", Path: []string{from, to}}
	}
	if _, ok := g.requires[to][from]; ok {
		return nil
	}
	if path := g.pathTo(to, from); path != nil {
		return &CycleError{Kind: "prerequisite", Path: append([]string{from}, path...)}
	}
	g.requires.add(to, from)
	g.enables.add(from, to)
	g.edges++
	return nil
}

// pathTo returns the shortest path start -> ... -> goal along prerequisite
// edges, or nil. Neighbours are visited in sorted order so that the path is
// deterministic.
func (g *Graph) pathTo(start, goal string) []string {
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == goal {
			var path []string
			for ; n != ""; n = prev[n] {
				path = append(path, n)
			}
			slices.Reverse(path)
			return path
		}
		for _, m := range g.enables[n].sorted() {
			if _, seen := prev[m]; !seen {
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	return nil
}

// RemovePrerequisite removes the edge from -> to.
func (g *Graph) RemovePrerequisite(from, to string) error {
	if _, ok := g.requires[to][from]; !ok {
		return unknown("prerequisite", from+" -> "+to, "", "no such edge")
	}
	g.requires.del(to, from)
	g.enables.del(from, to)
	g.edges--
	return nil
}

// PutActivity adds an activity or replaces the one with the same id. Its
// skills and its parent must exist, and the parent chain must not loop back.
func (g *Graph) PutActivity(a Activity) error {
	if err := a.Validate(); err != nil {
		return err
	}
	for i, s := range a.Teaches {
		if _, ok := g.skills[s]; !ok {
			return unknown("activity", a.ID, fmt.Sprintf("teaches[%d]", i), "unknown skill %q", s)
		}
	}
	for i, s := range a.Assesses {
		if _, ok := g.skills[s]; !ok {
			return unknown("activity", a.ID, fmt.Sprintf("assesses[%d]", i), "unknown skill %q", s)
		}
	}
	if a.Parent != "" {
		if _, ok := g.activities[a.Parent]; !ok {
			return unknown("activity", a.ID, "parent", "unknown activity %q", a.Parent)
		}
		path := []string{a.ID}
		for p := a.Parent; p != ""; p = g.activities[p].Parent {
			path = append(path, p)
			if p == a.ID {
				return &CycleError{Kind: "parent", Path: path}
			}
		}
	}
	a.Teaches = slices.Clone(a.Teaches)
	a.Assesses = slices.Clone(a.Assesses)
	if old, ok := g.activities[a.ID]; ok {
		g.unindexActivity(old)
	}
	g.activities[a.ID] = a
	for _, s := range a.Teaches {
		g.teachers.add(s, a.ID)
	}
	for _, s := range a.Assesses {
		g.assessor.add(s, a.ID)
	}
	if a.Parent != "" {
		g.children.add(a.Parent, a.ID)
	}
	return nil
}

func (g *Graph) unindexActivity(a Activity) {
	for _, s := range a.Teaches {
		g.teachers.del(s, a.ID)
	}
	for _, s := range a.Assesses {
		g.assessor.del(s, a.ID)
	}
	if a.Parent != "" {
		g.children.del(a.Parent, a.ID)
	}
}

// RemoveActivity removes an activity; it fails with ErrInUse while the
// activity has children.
func (g *Graph) RemoveActivity(id string) error {
	a, ok := g.activities[id]
	if !ok {
		return unknown("activity", id, "", "no such activity")
	}
	if kids := g.children[id]; len(kids) > 0 {
		return &FieldError{Entity: "activity", ID: id, Msg: "still the parent of " + strings.Join(kids.sorted(), ", "), Err: ErrInUse}
	}
	g.unindexActivity(a)
	delete(g.activities, id)
	return nil
}

// PutRole adds a role or replaces the one with the same id. Its skills must exist.
func (g *Graph) PutRole(r Role) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for i, q := range r.Requires {
		if _, ok := g.skills[q.Skill]; !ok {
			return unknown("role", r.ID, fmt.Sprintf("requires[%d].skill", i), "unknown skill %q", q.Skill)
		}
	}
	r.Requires = slices.Clone(r.Requires)
	if old, ok := g.roles[r.ID]; ok {
		for _, q := range old.Requires {
			g.roleRefs.del(q.Skill, r.ID)
		}
	}
	g.roles[r.ID] = r
	for _, q := range r.Requires {
		g.roleRefs.add(q.Skill, r.ID)
	}
	return nil
}

// RemoveRole removes a role.
func (g *Graph) RemoveRole(id string) error {
	r, ok := g.roles[id]
	if !ok {
		return unknown("role", id, "", "no such role")
	}
	for _, q := range r.Requires {
		g.roleRefs.del(q.Skill, id)
	}
	delete(g.roles, id)
	return nil
}

// Skill returns the skill with the given id.
func (g *Graph) Skill(id string) (Skill, bool) { s, ok := g.skills[id]; return s, ok }

// Activity returns the activity with the given id. The returned slices must
// not be modified.
func (g *Graph) Activity(id string) (Activity, bool) { a, ok := g.activities[id]; return a, ok }

// Role returns the role with the given id. The returned slice must not be modified.
func (g *Graph) Role(id string) (Role, bool) { r, ok := g.roles[id]; return r, ok }

// Counts returns the number of skills, activities, roles and prerequisite edges.
func (g *Graph) Counts() (skills, activities, roles, edges int) {
	return len(g.skills), len(g.activities), len(g.roles), g.edges
}

// Skills returns all skill ids, sorted.
func (g *Graph) Skills() []string { return sortedKeys(g.skills) }

// Activities returns all activity ids, sorted.
func (g *Graph) Activities() []string { return sortedKeys(g.activities) }

// Roles returns all role ids, sorted.
func (g *Graph) Roles() []string { return sortedKeys(g.roles) }

// Edges returns all prerequisite edges sorted by (From, To).
func (g *Graph) Edges() []Edge {
	out := make([]Edge, 0, g.edges)
	for to, from := range g.requires {
		for f := range from {
			out = append(out, Edge{From: f, To: to})
		}
	}
	slices.SortFunc(out, func(a, b Edge) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		return strings.Compare(a.To, b.To)
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Prerequisites returns the direct prerequisites of a skill, sorted.
func (g *Graph) Prerequisites(skill string) []string { return g.requires[skill].sorted() }

// Dependents returns the skills that directly need the given skill, sorted.
func (g *Graph) Dependents(skill string) []string { return g.enables[skill].sorted() }

// TeachersOf returns the activities that teach a skill, sorted.
func (g *Graph) TeachersOf(skill string) []string { return g.teachers[skill].sorted() }

// AssessorsOf returns the activities that assess a skill, sorted.
func (g *Graph) AssessorsOf(skill string) []string { return g.assessor[skill].sorted() }

// Children returns the child activities of an activity, sorted.
func (g *Graph) Children(activity string) []string { return g.children[activity].sorted() }

// SkillsTaught returns the skills an activity teaches (nil for an unknown
// activity). The slice must not be modified.
func (g *Graph) SkillsTaught(activity string) []string { return g.activities[activity].Teaches }

// SkillsTaughtBy lists the skills the activities teach, each once, in the
// order first taught. A learner's completed activities count their skills
// as mastered, for the recommender and for the path planner alike.
func (g *Graph) SkillsTaughtBy(activities []string) []string {
	var skills []string
	seen := map[string]bool{}
	for _, a := range activities {
		for _, s := range g.SkillsTaught(a) {
			if !seen[s] {
				seen[s] = true
				skills = append(skills, s)
			}
		}
	}
	return skills
}

// TopoOrder returns every skill in prerequisite order (each skill after all
// of its prerequisites). Among skills that are ready at the same time the
// smaller id comes first, so the order is deterministic.
func (g *Graph) TopoOrder() []string {
	indeg := make(map[string]int, len(g.skills))
	ready := &stringHeap{}
	for id := range g.skills {
		n := len(g.requires[id])
		indeg[id] = n
		if n == 0 {
			ready.push(id)
		}
	}
	out := make([]string, 0, len(g.skills))
	for ready.len() > 0 {
		s := ready.pop()
		out = append(out, s)
		for d := range g.enables[s] {
			indeg[d]--
			if indeg[d] == 0 {
				ready.push(d)
			}
		}
	}
	return out // the graph is acyclic by construction, so all skills are here
}

// stringHeap is a min-heap of strings.
type stringHeap struct{ a []string }

func (h *stringHeap) len() int { return len(h.a) }

func (h *stringHeap) push(s string) {
	h.a = append(h.a, s)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *stringHeap) pop() string {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.a[l] < h.a[m] {
			m = l
		}
		if r < last && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			break
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
	return top
}
