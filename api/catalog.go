package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
)

// MasteryReader gives a learner's mastery per skill (the adaptive model's,
// when that role runs).
type MasteryReader interface {
	Mastery(ctx context.Context, tenant, learner string) (map[string]float64, error)
}

// CatalogModule serves the catalog and knowledge graph under /v1/: CRUD of
// skills, prerequisite edges, activities and roles, bulk import, learner
// role assignments and learning paths. Every change is published as events
// on the catalog topic; a write answers once the catalog projection of this
// process applied them.
type CatalogModule struct {
	Catalog   *projections.Catalog
	Waiters   *projections.Waiters
	Publisher EventPublisher
	Topic     string
	// StatementsTopic, when set, also receives a learner.role.set event
	// on each PUT of a learner's role, keyed like the learner's
	// statements, so that the recommender ranks their list again for it.
	StatementsTopic string
	Source          string
	// Timeout bounds the wait for the projection (default 10 s).
	Timeout time.Duration
	// Progress gives default mastery for paths (skills taught by completed
	// activities); Mastery, when set, is used instead.
	Progress ProgressReader
	Mastery  MasteryReader
	Logger   *slog.Logger

	// mu serialises writes in this process, so that each is validated
	// against the graph the previous one produced.
	mu sync.Mutex
}

// Register adds the catalog routes.
func (m *CatalogModule) Register(r Router) {
	read := []string{"all", "all/read"}
	r.Handle("GET /v1/catalog", m.summary, read...)
	r.Handle("POST /v1/catalog/import", m.importCatalog, "all")
	r.Handle("GET /v1/skills", m.listSkills, read...)
	r.Handle("GET /v1/skills/{id}", m.getSkill, read...)
	r.Handle("PUT /v1/skills/{id}", m.putEntity("skill", "skills"), "all")
	r.Handle("DELETE /v1/skills/{id}", m.deleteEntity("skill"), "all")
	r.Handle("GET /v1/prerequisites", m.listEdges, read...)
	r.Handle("PUT /v1/prerequisites/{from}/{to}", m.putEdge, "all")
	r.Handle("DELETE /v1/prerequisites/{from}/{to}", m.deleteEdge, "all")
	r.Handle("GET /v1/activities", m.listActivities, read...)
	r.Handle("GET /v1/activities/{id}", m.getActivity, read...)
	r.Handle("PUT /v1/activities/{id}", m.putEntity("activity", "activities"), "all")
	r.Handle("DELETE /v1/activities/{id}", m.deleteEntity("activity"), "all")
	r.Handle("GET /v1/roles", m.listRoles, read...)
	r.Handle("GET /v1/roles/{id}", m.getRole, read...)
	r.Handle("PUT /v1/roles/{id}", m.putEntity("role", "roles"), "all")
	r.Handle("DELETE /v1/roles/{id}", m.deleteEntity("role"), "all")
	r.Handle("PUT /v1/learners/{learner}/role", m.putLearnerRole, "all")
	r.Handle("GET /v1/learners/{learner}/role", m.getLearnerRole, read...)
	r.Handle("GET /v1/learners/{learner}/path", m.path, read...)
}

func (m *CatalogModule) log() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

func (m *CatalogModule) graph(w http.ResponseWriter, r *http.Request) (*graph.Graph, bool) {
	g, err := m.Catalog.Graph(Tenant(r))
	if err != nil {
		m.log().Error("read catalog", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read the catalog")
		return nil, false
	}
	return g, true
}

// graphError answers a rejected change: 400 naming field and rule (cycles
// name the cycle), 404 for what does not exist, 409 for what is in use.
func graphError(w http.ResponseWriter, err error) {
	body := map[string]any{"error": err.Error()}
	var fe *graph.FieldError
	var ce *graph.CycleError
	var ie *graph.ImportError
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errNotFound):
		status = http.StatusNotFound
	case errors.As(err, &ie):
		probs := make([]map[string]any, len(ie.Problems))
		for i, p := range ie.Problems {
			probs[i] = map[string]any{"line": p.Line, "message": p.Msg}
			var pc *graph.CycleError
			if errors.As(p.Err, &pc) {
				probs[i]["cycle"] = pc.Path
			}
		}
		body["error"] = fmt.Sprintf("import rejected, nothing applied: %d problem(s)", len(ie.Problems))
		body["problems"] = probs
	case errors.As(err, &ce):
		body["field"], body["rule"], body["cycle"] = "prerequisites", "must not close a cycle: "+err.Error(), ce.Path
	case errors.As(err, &fe):
		body["field"], body["rule"] = fe.Field, fe.Msg
		if errors.Is(err, graph.ErrInUse) {
			status = http.StatusConflict
		}
	}
	writePlainJSON(w, status, body)
}

// commit publishes the events that turn old into next and waits until the
// projection applied them.
func (m *CatalogModule) commit(ctx context.Context, tenant string, evs []event.Event) (int, string) {
	if len(evs) == 0 {
		return http.StatusOK, ""
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
		m.Waiters.Register(e.ID)
	}
	for start := 0; start < len(evs); start += 1000 {
		end := min(start+1000, len(evs))
		if err := m.Publisher.PublishEvents(ctx, m.Topic, evs[start:end]...); err != nil {
			for _, id := range ids {
				m.Waiters.Forget(id)
			}
			m.log().Error("publish catalog events", "err", err)
			if start > 0 {
				return http.StatusServiceUnavailable, fmt.Sprintf("the event log failed after %d of %d changes; retry the same request to complete it", start, len(evs))
			}
			return http.StatusServiceUnavailable, "the event log is unavailable; nothing was changed, retry later"
		}
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, id := range ids {
		if _, err := m.Waiters.Wait(wctx, id); err != nil {
			for _, rest := range ids[i+1:] {
				m.Waiters.Forget(rest)
			}
			m.log().Warn("catalog change accepted before it was projected", "event", id)
			break
		}
	}
	return http.StatusOK, ""
}

// CatalogEvents returns the events that turn catalog old into next:
// puts (skills, edges, activities, roles) then deletions in reverse order.
func CatalogEvents(old, next *graph.Graph, source, tenant string, now time.Time) ([]event.Event, error) {
	type change struct {
		typ  string
		data any
	}
	var puts, dels []change
	for _, id := range next.Skills() {
		s, _ := next.Skill(id)
		if o, ok := old.Skill(id); !ok || o != s {
			puts = append(puts, change{projections.TypeSkillPut, s})
		}
	}
	oldEdges := map[graph.Edge]bool{}
	for _, e := range old.Edges() {
		oldEdges[e] = true
	}
	for _, e := range next.Edges() {
		if !oldEdges[e] {
			puts = append(puts, change{projections.TypePrerequisitePut, e})
		}
		delete(oldEdges, e)
	}
	for _, id := range next.Activities() {
		a, _ := next.Activity(id)
		if o, ok := old.Activity(id); !ok || !reflect.DeepEqual(o, a) {
			puts = append(puts, change{projections.TypeActivityPut, a})
		}
	}
	for _, id := range next.Roles() {
		ro, _ := next.Role(id)
		if o, ok := old.Role(id); !ok || !reflect.DeepEqual(o, ro) {
			puts = append(puts, change{projections.TypeRolePut, ro})
		}
	}
	for _, id := range old.Roles() {
		if _, ok := next.Role(id); !ok {
			dels = append(dels, change{projections.TypeRoleDeleted, projections.CatalogRef{ID: id}})
		}
	}
	for _, id := range old.Activities() {
		if _, ok := next.Activity(id); !ok {
			dels = append(dels, change{projections.TypeActivityDeleted, projections.CatalogRef{ID: id}})
		}
	}
	gone := make([]graph.Edge, 0, len(oldEdges))
	for e := range oldEdges {
		gone = append(gone, e)
	}
	sort.Slice(gone, func(i, j int) bool {
		return gone[i].From < gone[j].From || gone[i].From == gone[j].From && gone[i].To < gone[j].To
	})
	for _, e := range gone {
		dels = append(dels, change{projections.TypePrerequisiteDeleted, e})
	}
	for _, id := range old.Skills() {
		if _, ok := next.Skill(id); !ok {
			dels = append(dels, change{projections.TypeSkillDeleted, projections.CatalogRef{ID: id}})
		}
	}
	var evs []event.Event
	for _, c := range append(puts, dels...) {
		data, err := json.Marshal(c.data)
		if err != nil {
			return nil, err
		}
		key, err := projections.CatalogKey(c.typ, data)
		if err != nil {
			return nil, err
		}
		e, err := event.New(watermill.NewUUID(), c.typ, source, tenant, key, now, data)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// change applies fn to a copy of the tenant's graph and, when it succeeds,
// publishes the difference and waits for it. It answers errors itself.
func (m *CatalogModule) change(w http.ResponseWriter, r *http.Request, fn func(g *graph.Graph) error) (*graph.Graph, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tenant := Tenant(r)
	old, ok := m.graph(w, r)
	if !ok {
		return nil, false
	}
	next := old.Clone()
	if err := fn(next); err != nil {
		graphError(w, err)
		return nil, false
	}
	evs, err := CatalogEvents(old, next, m.Source, tenant, time.Now())
	if err != nil {
		writePlainError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	if status, msg := m.commit(r.Context(), tenant, evs); status != http.StatusOK {
		writePlainError(w, status, msg)
		return nil, false
	}
	return next, true
}

func readCatalogBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writePlainError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit))
			return nil, false
		}
		writePlainError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return b, true
}

// entityBatch parses one entity of a PUT through the import parser, so it
// gets the same strict checks; the path's id is the entity's id.
func entityBatch(w http.ResponseWriter, body []byte, kind, section, id string) (*graph.Batch, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		writePlainField(w, "body", "must be a JSON object describing the "+kind)
		return nil, false
	}
	if raw, ok := obj["id"]; ok {
		var bid string
		if json.Unmarshal(raw, &bid) != nil || bid != id {
			writePlainField(w, "id", fmt.Sprintf("must equal the id in the path (%q)", id))
			return nil, false
		}
	}
	obj["id"], _ = json.Marshal(id)
	doc, _ := json.Marshal(map[string]any{section: []any{obj}})
	b := graph.ParseJSON(bytes.NewReader(doc))
	if len(b.Problems) > 0 {
		p := b.Problems[0]
		msg := p.Msg
		// "... field X: rule" -> name the field.
		field := "body"
		if i := strings.Index(msg, " field "); i >= 0 {
			rest := msg[i+len(" field "):]
			if f, _, ok := strings.Cut(rest, ":"); ok {
				field = f
			}
		}
		writePlainJSON(w, http.StatusBadRequest, map[string]any{"error": msg, "field": field, "rule": msg})
		return nil, false
	}
	return b, true
}

func (m *CatalogModule) putEntity(kind, section string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		body, ok := readCatalogBody(w, r)
		if !ok {
			return
		}
		b, ok := entityBatch(w, body, kind, section, id)
		if !ok {
			return
		}
		next, ok := m.change(w, r, func(g *graph.Graph) error {
			_, err := g.Apply(b, graph.ImportOptions{})
			var ie *graph.ImportError
			if errors.As(err, &ie) && len(ie.Problems) == 1 && ie.Problems[0].Err != nil {
				return ie.Problems[0].Err // one entity: answer its own error
			}
			return err
		})
		if !ok {
			return
		}
		writePlainJSON(w, http.StatusOK, describe(next, kind, id))
	}
}

func describe(g *graph.Graph, kind, id string) any {
	switch kind {
	case "skill":
		s, _ := g.Skill(id)
		return map[string]any{"id": s.ID, "name": s.Name, "prerequisites": nonNil(g.Prerequisites(id)),
			"dependents": nonNil(g.Dependents(id)), "taught_by": nonNil(g.TeachersOf(id)), "assessed_by": nonNil(g.AssessorsOf(id))}
	case "activity":
		a, _ := g.Activity(id)
		return a
	default:
		ro, _ := g.Role(id)
		return ro
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (m *CatalogModule) deleteEntity(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		_, ok := m.change(w, r, func(g *graph.Graph) error {
			var exists bool
			switch kind {
			case "skill":
				_, exists = g.Skill(id)
			case "activity":
				_, exists = g.Activity(id)
			default:
				_, exists = g.Role(id)
			}
			if !exists {
				return fmt.Errorf("%s %q does not exist: %w", kind, id, errNotFound)
			}
			switch kind {
			case "skill":
				return g.RemoveSkill(id)
			case "activity":
				return g.RemoveActivity(id)
			default:
				return g.RemoveRole(id)
			}
		})
		if ok {
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

var errNotFound = errors.New("not found")

func (m *CatalogModule) putEdge(w http.ResponseWriter, r *http.Request) {
	from, to := r.PathValue("from"), r.PathValue("to")
	next, ok := m.change(w, r, func(g *graph.Graph) error { return g.AddPrerequisite(from, to) })
	if ok {
		writePlainJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "prerequisites_of_to": next.Prerequisites(to)})
	}
}

func (m *CatalogModule) deleteEdge(w http.ResponseWriter, r *http.Request) {
	from, to := r.PathValue("from"), r.PathValue("to")
	_, ok := m.change(w, r, func(g *graph.Graph) error {
		for _, p := range g.Prerequisites(to) {
			if p == from {
				return g.RemovePrerequisite(from, to)
			}
		}
		return fmt.Errorf("prerequisite %s -> %s does not exist: %w", from, to, errNotFound)
	})
	if ok {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (m *CatalogModule) importCatalog(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch mt {
		case "text/csv":
			format = "csv"
		case "application/json", "":
			format = "json"
		default:
			writePlainJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("header Content-Type: %q is not application/json or text/csv", mt),
				"field": "Content-Type", "rule": "application/json or text/csv (or ?format=json|csv|junyi)"})
			return
		}
	}
	partial := r.URL.Query().Get("partial") == "true"
	body, ok := readCatalogBody(w, r)
	if !ok {
		return
	}
	var b *graph.Batch
	switch format {
	case "json":
		b = graph.ParseJSON(bytes.NewReader(body))
	case "csv":
		b = graph.ParseCSV(bytes.NewReader(body))
	case "junyi":
		b = graph.ParseJunyi(bytes.NewReader(body), graph.JunyiOptions{})
	default:
		writePlainField(w, "format", fmt.Sprintf("%q is not json, csv or junyi", format))
		return
	}
	var rep graph.ImportReport
	_, ok = m.change(w, r, func(g *graph.Graph) error {
		var err error
		rep, err = g.Apply(b, graph.ImportOptions{Partial: partial})
		return err
	})
	if !ok {
		return
	}
	probs := make([]map[string]any, len(rep.Problems))
	for i, p := range rep.Problems {
		probs[i] = map[string]any{"line": p.Line, "message": p.Msg}
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"skills": rep.Skills, "prerequisites": rep.Prerequisites,
		"activities": rep.Activities, "roles": rep.Roles, "problems": probs})
}

func (m *CatalogModule) summary(w http.ResponseWriter, r *http.Request) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	s, a, ro, e := g.Counts()
	probs, _ := m.Catalog.Problems(Tenant(r))
	writePlainJSON(w, http.StatusOK, map[string]any{"skills": s, "activities": a, "roles": ro, "prerequisites": e, "problems": nonNil(probs)})
}

func (m *CatalogModule) listSkills(w http.ResponseWriter, r *http.Request) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	out := []any{}
	for _, id := range g.TopoOrder() {
		s, _ := g.Skill(id)
		out = append(out, map[string]any{"id": s.ID, "name": s.Name, "prerequisites": nonNil(g.Prerequisites(id))})
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"skills": out})
}

func (m *CatalogModule) getSkill(w http.ResponseWriter, r *http.Request) {
	m.getOne(w, r, "skill")
}

func (m *CatalogModule) getActivity(w http.ResponseWriter, r *http.Request) {
	m.getOne(w, r, "activity")
}

func (m *CatalogModule) getRole(w http.ResponseWriter, r *http.Request) {
	m.getOne(w, r, "role")
}

func (m *CatalogModule) getOne(w http.ResponseWriter, r *http.Request, kind string) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	var exists bool
	switch kind {
	case "skill":
		_, exists = g.Skill(id)
	case "activity":
		_, exists = g.Activity(id)
	default:
		_, exists = g.Role(id)
	}
	if !exists {
		writePlainError(w, http.StatusNotFound, fmt.Sprintf("%s %q does not exist", kind, id))
		return
	}
	writePlainJSON(w, http.StatusOK, describe(g, kind, id))
}

func (m *CatalogModule) listEdges(w http.ResponseWriter, r *http.Request) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"prerequisites": append([]graph.Edge{}, g.Edges()...)})
}

func (m *CatalogModule) listActivities(w http.ResponseWriter, r *http.Request) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"activities": lookupAll(g.Activities(), g.Activity)})
}

// lookupAll returns the entities of ids, in order; an empty list (not
// null) when there are none.
func lookupAll[T any](ids []string, get func(string) (T, bool)) []T {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if v, ok := get(id); ok {
			out = append(out, v)
		}
	}
	return out
}

func (m *CatalogModule) listRoles(w http.ResponseWriter, r *http.Request) {
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"roles": lookupAll(g.Roles(), g.Role)})
}

func (m *CatalogModule) putLearnerRole(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	body, ok := readCatalogBody(w, r)
	if !ok {
		return
	}
	var in struct {
		Role *string `json:"role"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		writePlainField(w, "body", "must be {\"role\": \"<role id>\"}: "+err.Error())
		return
	}
	if in.Role == nil {
		writePlainField(w, "role", "is required (\"\" removes the assignment)")
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	if _, exists := g.Role(*in.Role); *in.Role != "" && !exists {
		writePlainField(w, "role", fmt.Sprintf("unknown role %q", *in.Role))
		return
	}
	data, _ := json.Marshal(projections.LearnerRole{Learner: learner, Role: *in.Role})
	e, err := event.New(watermill.NewUUID(), projections.TypeLearnerRolePut, m.Source, Tenant(r), "learner_role:"+learner, time.Now(), data)
	if err != nil {
		writePlainError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if status, msg := m.commit(r.Context(), Tenant(r), []event.Event{e}); status != http.StatusOK {
		writePlainError(w, status, msg)
		return
	}
	// After the catalog holds the role: a recommender reading its own
	// copy of the catalog in this process then agrees with the event.
	if m.StatementsTopic != "" {
		set, err := event.New(watermill.NewUUID(), projections.TypeLearnerRoleSet, m.Source, Tenant(r), learner, time.Now(), data)
		if err != nil {
			writePlainError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if err := m.Publisher.PublishEvents(r.Context(), m.StatementsTopic, set); err != nil {
			m.log().Error("publish learner role to the statements topic", "err", err)
			writePlainError(w, http.StatusServiceUnavailable,
				"the role is stored but the recommendations could not be told yet; retry the same request")
			return
		}
	}
	writePlainJSON(w, http.StatusOK, map[string]string{"learner": learner, "role": *in.Role})
}

func (m *CatalogModule) getLearnerRole(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	role, err := m.Catalog.LearnerRole(Tenant(r), learner)
	if err != nil {
		writePlainError(w, http.StatusInternalServerError, "could not read the catalog")
		return
	}
	writePlainJSON(w, http.StatusOK, map[string]string{"learner": learner, "role": role})
}

// learnerMastery is the mastery a path is planned from: the adaptive
// model's when it runs, else every skill taught by an activity the learner
// completed or passed counts as mastered (1) and the rest as 0.
func (m *CatalogModule) learnerMastery(ctx context.Context, g *graph.Graph, tenant, learner string) (map[string]float64, string, error) {
	ms := map[string]float64{}
	source := "completed_activities"
	if m.Mastery != nil {
		am, err := m.Mastery.Mastery(ctx, tenant, learner)
		if err != nil {
			return nil, "", err
		}
		for s, p := range am {
			ms[s] = p
		}
		source = "adaptive"
	}
	if m.Progress == nil {
		if m.Mastery == nil {
			source = "none"
		}
		return ms, source, nil
	}
	// Completions count with the adaptive model too: an activity completed
	// without a scored answer (a course, a video) still teaches its skills,
	// as the recommender has it when it ranks.
	ps, err := m.Progress.Learner(ctx, tenant, learner)
	if err != nil {
		return nil, "", err
	}
	var done []string
	for _, p := range ps {
		if p.Completed || p.Passed {
			done = append(done, p.Activity)
		}
	}
	for _, s := range g.SkillsTaughtBy(done) {
		ms[s] = 1
	}
	return ms, source, nil
}

type pathStep struct {
	Activity string             `json:"activity"`
	Type     graph.ActivityType `json:"type"`
	Title    string             `json:"title,omitempty"`
	Duration string             `json:"duration"`
	Skills   []string           `json:"skills"`
	Reasons  []string           `json:"reasons"`
}

func (m *CatalogModule) path(w http.ResponseWriter, r *http.Request) {
	learner := learnerKey(r.PathValue("learner"))
	q := r.URL.Query()
	t := graph.Target{Role: q.Get("role"), Skill: q.Get("skill")}
	if (t.Role == "") == (t.Skill == "") {
		writePlainField(w, "role", "give exactly one of the parameters role and skill")
		return
	}
	g, ok := m.graph(w, r)
	if !ok {
		return
	}
	ms, source, err := m.learnerMastery(r.Context(), g, Tenant(r), learner)
	if err != nil {
		m.log().Error("learner mastery", "err", err)
		writePlainError(w, http.StatusInternalServerError, "could not read the learner's mastery")
		return
	}
	plan, err := g.PlanPath(ms, t, graph.PlanOptions{})
	if err != nil {
		if errors.Is(err, graph.ErrUnknown) {
			writePlainError(w, http.StatusNotFound, err.Error())
			return
		}
		graphError(w, err)
		return
	}
	steps := make([]pathStep, len(plan.Steps))
	for i, s := range plan.Steps {
		steps[i] = pathStep{Activity: s.Activity, Type: s.Type, Title: s.Title, Duration: graph.FormatDuration(s.Duration), Skills: s.Skills, Reasons: s.Reasons}
	}
	writePlainJSON(w, http.StatusOK, map[string]any{"learner": learner, "target": map[string]string{"role": t.Role, "skill": t.Skill},
		"mastery_source": source, "missing": nonNil(plan.Missing), "steps": steps, "uncovered": nonNil(plan.Uncovered),
		"duration": graph.FormatDuration(plan.Duration)})
}

// writePlainJSON is writeJSON without HTML escaping, so that messages read
// "a -> b" rather than "a -\u003e b".
func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writePlainError(w http.ResponseWriter, status int, msg string) {
	writePlainJSON(w, status, errorBody{Error: msg})
}

func writePlainField(w http.ResponseWriter, field, rule string) {
	writePlainJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + rule, Field: field, Rule: rule})
}
