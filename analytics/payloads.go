package analytics

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// Event types the sink stores besides event.TypeStatementStored. The
// recommendation and catalog types are those the recommender
// (streams/recommend.go) and the catalog API (api/catalog.go, types declared
// in projections/catalog.go) emit, with the payloads docs/events.md
// documents; a test builds events with the producers' own types, so a rename
// on either side fails it. The adaptive types are emitted by the adaptive
// role with exactly the payloads below.
const (
	TypeRecommendationsUpdated = "learnstream.recommendations.updated.v1"
	TypeMasteryUpdated         = "learnstream.adaptive.mastery.updated.v1"
	TypeDifficultyAdjusted     = "learnstream.adaptive.difficulty.adjusted.v1"

	TypeCatalogSkillPut            = "learnstream.catalog.skill.put.v1"
	TypeCatalogSkillDeleted        = "learnstream.catalog.skill.deleted.v1"
	TypeCatalogPrerequisitePut     = "learnstream.catalog.prerequisite.put.v1"
	TypeCatalogPrerequisiteDeleted = "learnstream.catalog.prerequisite.deleted.v1"
	TypeCatalogActivityPut         = "learnstream.catalog.activity.put.v1"
	TypeCatalogActivityDeleted     = "learnstream.catalog.activity.deleted.v1"
	TypeCatalogActivitySeen        = "learnstream.catalog.activity.seen.v1"
	TypeCatalogRolePut             = "learnstream.catalog.role.put.v1"
	TypeCatalogRoleDeleted         = "learnstream.catalog.role.deleted.v1"
	TypeCatalogLearnerRolePut      = "learnstream.catalog.learner_role.put.v1"
)

// RecommendationsUpdatedPayload is the data of TypeRecommendationsUpdated as
// the recommender publishes it: a learner's new top-N. Record key: the
// learner key. It carries no time of its own: ce_time is the time of the
// statement event the list is based on.
type RecommendationsUpdatedPayload struct {
	Learner      string            `json:"learner"`
	Items        []RecommendedItem `json:"items"`
	ModelVersion string            `json:"model_version"` // <algorithm>-k<factors>/p<partition>/<events>
	BasedOn      string            `json:"based_on"`      // ce_id of the statement event behind the update
	Role         string            `json:"role,omitempty"`
	ColdStart    bool              `json:"cold_start"`
}

// RecommendedItem is one entry of a recommendation list.
type RecommendedItem struct {
	Item    string   `json:"item"`
	Score   float64  `json:"score"`
	Rank    int      `json:"rank"` // 1 = top
	Reasons []string `json:"reasons"`
}

// MasteryUpdatedPayload is the data of TypeMasteryUpdated: the BKT posterior
// of one learner on one skill after one graded attempt. The adaptive role
// emits exactly these field names: keep them stable.
type MasteryUpdatedPayload struct {
	Learner   string   `json:"learner"`
	Skill     string   `json:"skill"`
	PMastery  float64  `json:"p_mastery"`
	PPrevious *float64 `json:"p_previous,omitempty"`
	Item      string   `json:"item,omitempty"`
	Statement string   `json:"statement,omitempty"` // id of the statement graded
	Correct   *bool    `json:"correct,omitempty"`
	// At is the time of the attempt; the event time when absent.
	At *time.Time `json:"at,omitempty"`
}

// DifficultyAdjustedPayload is the data of TypeDifficultyAdjusted: an item's
// Elo difficulty after one attempt, with the prediction made before it. The
// adaptive role emits exactly these field names: keep them stable.
type DifficultyAdjustedPayload struct {
	Item               string     `json:"item"`
	Skill              string     `json:"skill,omitempty"`
	Difficulty         float64    `json:"difficulty"`
	PreviousDifficulty *float64   `json:"previous_difficulty,omitempty"`
	Learner            string     `json:"learner,omitempty"`
	Ability            *float64   `json:"ability,omitempty"`  // the learner's ability before the attempt
	Expected           *float64   `json:"expected,omitempty"` // predicted probability of success
	Correct            *bool      `json:"correct,omitempty"`  // observed outcome
	Statement          string     `json:"statement,omitempty"`
	At                 *time.Time `json:"at,omitempty"`
}

// The catalog payloads, as docs/events.md documents them. The sink decodes
// them leniently (unknown fields are ignored: minor versions may add
// optional ones) and checks only what its rows need.
type (
	catalogSkill struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	catalogActivity struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"` // course, module, assessment or item
		Title    string   `json:"title"`
		Duration string   `json:"duration"` // ISO 8601
		Teaches  []string `json:"teaches"`
		Assesses []string `json:"assesses"`
		Parent   string   `json:"parent"`
	}
	catalogSeen struct {
		ID   string `json:"id"`
		Type string `json:"type"` // the statement's activity definition type IRI
		Name string `json:"name"`
	}
	catalogEdge struct {
		From string `json:"from"` // learned before To
		To   string `json:"to"`
	}
	catalogRole struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Requires []struct {
			Skill string  `json:"skill"`
			Level float64 `json:"level"`
		} `json:"requires"`
	}
	catalogRef struct {
		ID string `json:"id"`
	}
	catalogLearnerRole struct {
		Learner string `json:"learner"`
		Role    string `json:"role"` // empty removes the assignment
	}
)

// Recommendation is one row of the recommendations table.
type Recommendation struct {
	Tenant, EventID, ActorKey, ActorPseudo, ItemID string
	Rank                                           uint16
	Score                                          float64
	Reasons                                        []string
	Model                                          string // the algorithm part of ModelVersion
	RecommendedAt                                  time.Time
	IngestVersion                                  uint32
	ModelVersion, BasedOn, Role                    string
	ColdStart                                      uint8
}

// The columns after ingest_version came with migration 0004 and so follow
// the table's ingested_at, which has a default and is never sent.
var recommendationColumns = []string{"tenant", "event_id", "actor_key", "actor_pseudo", "item_id", "rank",
	"score", "reasons", "model", "recommended_at", "ingest_version", "model_version", "based_on", "role", "cold_start"}

func (Recommendation) Table() string     { return "recommendations" }
func (Recommendation) Columns() []string { return recommendationColumns }
func (r Recommendation) Values() []any {
	return []any{r.Tenant, r.EventID, r.ActorKey, r.ActorPseudo, r.ItemID, r.Rank, r.Score,
		nonNil(r.Reasons), r.Model, r.RecommendedAt, r.IngestVersion, r.ModelVersion, r.BasedOn, r.Role, r.ColdStart}
}
func (r Recommendation) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("event_id", r.EventID)
	w.str("actor_key", r.ActorKey)
	w.str("actor_pseudo", r.ActorPseudo)
	w.str("item_id", r.ItemID)
	w.u64("rank", uint64(r.Rank))
	w.f64("score", r.Score)
	w.strs("reasons", r.Reasons)
	w.str("model", r.Model)
	w.time("recommended_at", r.RecommendedAt)
	w.u64("ingest_version", uint64(r.IngestVersion))
	w.str("model_version", r.ModelVersion)
	w.str("based_on", r.BasedOn)
	w.str("role", r.Role)
	w.u64("cold_start", uint64(r.ColdStart))
	return w.done()
}
func (r Recommendation) Size() int { return 250 + len(r.ItemID) + len(r.ModelVersion) }

// MasteryUpdate is one row of the mastery_events table.
type MasteryUpdate struct {
	Tenant, EventID, ActorKey, ActorPseudo, SkillID string
	PMastery                                        float64
	PPrevious                                       *float64
	ItemID, StatementID                             string
	Correct                                         *uint8
	UpdatedAt                                       time.Time
	IngestVersion                                   uint32
}

var masteryColumns = []string{"tenant", "event_id", "actor_key", "actor_pseudo", "skill_id", "p_mastery",
	"p_previous", "item_id", "statement_id", "correct", "updated_at", "ingest_version"}

func (MasteryUpdate) Table() string     { return "mastery_events" }
func (MasteryUpdate) Columns() []string { return masteryColumns }
func (r MasteryUpdate) Values() []any {
	return []any{r.Tenant, r.EventID, r.ActorKey, r.ActorPseudo, r.SkillID, r.PMastery, r.PPrevious,
		r.ItemID, r.StatementID, r.Correct, r.UpdatedAt, r.IngestVersion}
}
func (r MasteryUpdate) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("event_id", r.EventID)
	w.str("actor_key", r.ActorKey)
	w.str("actor_pseudo", r.ActorPseudo)
	w.str("skill_id", r.SkillID)
	w.f64("p_mastery", r.PMastery)
	w.nf64("p_previous", r.PPrevious)
	w.str("item_id", r.ItemID)
	w.str("statement_id", r.StatementID)
	w.nu8("correct", r.Correct)
	w.time("updated_at", r.UpdatedAt)
	w.u64("ingest_version", uint64(r.IngestVersion))
	return w.done()
}
func (r MasteryUpdate) Size() int { return 250 }

// DifficultyAdjustment is one row of the difficulty_events table.
type DifficultyAdjustment struct {
	Tenant, EventID, ItemID, SkillID string
	Difficulty                       float64
	DifficultyPrevious               *float64
	ActorKey, ActorPseudo            string
	Ability, Expected                *float64
	Correct                          *uint8
	StatementID                      string
	AdjustedAt                       time.Time
	IngestVersion                    uint32
}

var difficultyColumns = []string{"tenant", "event_id", "item_id", "skill_id", "difficulty", "difficulty_previous",
	"actor_key", "actor_pseudo", "ability", "expected", "correct", "statement_id", "adjusted_at", "ingest_version"}

func (DifficultyAdjustment) Table() string     { return "difficulty_events" }
func (DifficultyAdjustment) Columns() []string { return difficultyColumns }
func (r DifficultyAdjustment) Values() []any {
	return []any{r.Tenant, r.EventID, r.ItemID, r.SkillID, r.Difficulty, r.DifficultyPrevious, r.ActorKey,
		r.ActorPseudo, r.Ability, r.Expected, r.Correct, r.StatementID, r.AdjustedAt, r.IngestVersion}
}
func (r DifficultyAdjustment) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("event_id", r.EventID)
	w.str("item_id", r.ItemID)
	w.str("skill_id", r.SkillID)
	w.f64("difficulty", r.Difficulty)
	w.nf64("difficulty_previous", r.DifficultyPrevious)
	w.str("actor_key", r.ActorKey)
	w.str("actor_pseudo", r.ActorPseudo)
	w.nf64("ability", r.Ability)
	w.nf64("expected", r.Expected)
	w.nu8("correct", r.Correct)
	w.str("statement_id", r.StatementID)
	w.time("adjusted_at", r.AdjustedAt)
	w.u64("ingest_version", uint64(r.IngestVersion))
	return w.done()
}
func (r DifficultyAdjustment) Size() int { return 250 }

// catalogMeta is common to catalog rows: the event time, and the version
// (event time in ns) that decides which write of an entity wins.
type catalogMeta struct {
	UpdatedAt time.Time
	Version   uint64
	Deleted   uint8
}

// CatalogActivity is one row of catalog_activities.
type CatalogActivity struct {
	Tenant, ActivityID, Name, Description, ActivityType, CourseID string
	SkillIDs                                                      []string
	Difficulty                                                    *float64
	catalogMeta
	ParentID        string
	AssessesIDs     []string
	DurationSeconds *float64
	Origin          string // "catalog" (activity.put/deleted) or "seen" (activity.seen)
}

// Origins of a catalog_activities row.
const (
	OriginCatalog = "catalog"
	OriginSeen    = "seen"
)

// The columns after deleted came with migration 0004.
var catalogActivityColumns = []string{"tenant", "activity_id", "name", "description", "activity_type", "course_id",
	"skill_ids", "difficulty", "updated_at", "version", "deleted", "parent_id", "assesses_ids", "duration_seconds", "origin"}

func (CatalogActivity) Table() string     { return "catalog_activities" }
func (CatalogActivity) Columns() []string { return catalogActivityColumns }
func (r CatalogActivity) Values() []any {
	return []any{r.Tenant, r.ActivityID, r.Name, r.Description, r.ActivityType, r.CourseID, nonNil(r.SkillIDs),
		r.Difficulty, r.UpdatedAt, r.Version, r.Deleted, r.ParentID, nonNil(r.AssessesIDs), r.DurationSeconds, r.Origin}
}
func (r CatalogActivity) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("activity_id", r.ActivityID)
	w.str("name", r.Name)
	w.str("description", r.Description)
	w.str("activity_type", r.ActivityType)
	w.str("course_id", r.CourseID)
	w.strs("skill_ids", r.SkillIDs)
	w.nf64("difficulty", r.Difficulty)
	r.catalogMeta.appendJSON(&w)
	w.str("parent_id", r.ParentID)
	w.strs("assesses_ids", r.AssessesIDs)
	w.nf64("duration_seconds", r.DurationSeconds)
	w.str("origin", r.Origin)
	return w.done()
}
func (r CatalogActivity) Size() int { return 250 + len(r.Description) }

func (m catalogMeta) appendJSON(w *jsonw) {
	w.time("updated_at", m.UpdatedAt)
	w.u64("version", m.Version)
	w.u64("deleted", uint64(m.Deleted))
}

// CatalogSkill is one row of catalog_skills.
type CatalogSkill struct {
	Tenant, SkillID, Name, Description string
	catalogMeta
}

var catalogSkillColumns = []string{"tenant", "skill_id", "name", "description", "updated_at", "version", "deleted"}

func (CatalogSkill) Table() string     { return "catalog_skills" }
func (CatalogSkill) Columns() []string { return catalogSkillColumns }
func (r CatalogSkill) Values() []any {
	return []any{r.Tenant, r.SkillID, r.Name, r.Description, r.UpdatedAt, r.Version, r.Deleted}
}
func (r CatalogSkill) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("skill_id", r.SkillID)
	w.str("name", r.Name)
	w.str("description", r.Description)
	r.catalogMeta.appendJSON(&w)
	return w.done()
}
func (r CatalogSkill) Size() int { return 100 + len(r.Description) }

// CatalogPrerequisite is one row of catalog_prerequisites.
type CatalogPrerequisite struct {
	Tenant, SkillID, PrerequisiteID string
	catalogMeta
}

var catalogPrerequisiteColumns = []string{"tenant", "skill_id", "prerequisite_id", "updated_at", "version", "deleted"}

func (CatalogPrerequisite) Table() string     { return "catalog_prerequisites" }
func (CatalogPrerequisite) Columns() []string { return catalogPrerequisiteColumns }
func (r CatalogPrerequisite) Values() []any {
	return []any{r.Tenant, r.SkillID, r.PrerequisiteID, r.UpdatedAt, r.Version, r.Deleted}
}
func (r CatalogPrerequisite) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("skill_id", r.SkillID)
	w.str("prerequisite_id", r.PrerequisiteID)
	r.catalogMeta.appendJSON(&w)
	return w.done()
}
func (r CatalogPrerequisite) Size() int { return 100 }

// CatalogRole is one row of catalog_roles.
type CatalogRole struct {
	Tenant, RoleID, Name string
	SkillIDs             []string
	TargetLevels         []float64
	catalogMeta
}

var catalogRoleColumns = []string{"tenant", "role_id", "name", "skill_ids", "target_levels", "updated_at", "version", "deleted"}

func (CatalogRole) Table() string     { return "catalog_roles" }
func (CatalogRole) Columns() []string { return catalogRoleColumns }
func (r CatalogRole) Values() []any {
	lv := r.TargetLevels
	if lv == nil {
		lv = []float64{}
	}
	return []any{r.Tenant, r.RoleID, r.Name, nonNil(r.SkillIDs), lv, r.UpdatedAt, r.Version, r.Deleted}
}
func (r CatalogRole) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("role_id", r.RoleID)
	w.str("name", r.Name)
	w.strs("skill_ids", r.SkillIDs)
	w.f64s("target_levels", r.TargetLevels)
	r.catalogMeta.appendJSON(&w)
	return w.done()
}
func (r CatalogRole) Size() int { return 100 + 40*len(r.SkillIDs) }

// LearnerRole is one row of learner_roles: the role a learner holds. A
// learner holds one role at a time, so the table is keyed by the learner and
// the newest assignment wins; removing the assignment is a delete.
type LearnerRole struct {
	Tenant, ActorKey, ActorPseudo, RoleID string
	catalogMeta
}

var learnerRoleColumns = []string{"tenant", "actor_key", "actor_pseudo", "role_id", "updated_at", "version", "deleted"}

func (LearnerRole) Table() string     { return "learner_roles" }
func (LearnerRole) Columns() []string { return learnerRoleColumns }
func (r LearnerRole) Values() []any {
	return []any{r.Tenant, r.ActorKey, r.ActorPseudo, r.RoleID, r.UpdatedAt, r.Version, r.Deleted}
}
func (r LearnerRole) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("actor_key", r.ActorKey)
	w.str("actor_pseudo", r.ActorPseudo)
	w.str("role_id", r.RoleID)
	r.catalogMeta.appendJSON(&w)
	return w.done()
}
func (r LearnerRole) Size() int { return 150 }

// decodePayload decodes e.Data into v, naming the rule on failure.
func decodePayload(e event.Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return payloadErr(e, "data", "must be a JSON object of the documented shape: %v", err)
	}
	return nil
}

func eventTime(e event.Event, at *time.Time) time.Time {
	if at != nil && !at.IsZero() {
		return at.UTC()
	}
	return e.Time.UTC()
}

func checkTime(e event.Event, field string, t time.Time) error {
	if y := t.Year(); y < 1900 || y > 2299 {
		return payloadErr(e, field, "must lie between the years 1900 and 2299")
	}
	return nil
}

func checkProb(e event.Event, field string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || *v < 0 || *v > 1) {
		return payloadErr(e, field, "must be a probability between 0 and 1, got %v", *v)
	}
	return nil
}

func checkFinite(e event.Event, field string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		return payloadErr(e, field, "must be a finite number")
	}
	return nil
}

// RecommendationRows flattens a RecommendationsUpdated event with Default.
func RecommendationRows(e event.Event) ([]Recommendation, error) {
	return Default.RecommendationRows(e)
}

// RecommendationRows flattens a RecommendationsUpdated event: one row per item.
func (enc *Encoder) RecommendationRows(e event.Event) ([]Recommendation, error) {
	if err := checkType(e, strings.TrimSuffix(TypeRecommendationsUpdated, ".v1")); err != nil {
		return nil, err
	}
	var p RecommendationsUpdatedPayload
	if err := decodePayload(e, &p); err != nil {
		return nil, err
	}
	if p.Learner == "" {
		return nil, payloadErr(e, "learner", "is required")
	}
	at := e.Time.UTC()
	if err := checkTime(e, event.HeaderTime, at); err != nil {
		return nil, err
	}
	key, pseudo, err := enc.Pseudonymizer.learner(e.Tenant, p.Learner)
	if err != nil {
		return nil, err
	}
	model, _, _ := strings.Cut(p.ModelVersion, "/")
	rows := make([]Recommendation, 0, len(p.Items))
	seen := make(map[string]bool, len(p.Items))
	for i, it := range p.Items {
		field := fmt.Sprintf("items[%d]", i)
		switch {
		case it.Item == "":
			return nil, payloadErr(e, field+".item", "is required")
		case seen[it.Item]:
			return nil, payloadErr(e, field+".item", "%q appears twice in one list", it.Item)
		case it.Rank < 1 || it.Rank > math.MaxUint16:
			return nil, payloadErr(e, field+".rank", "must be between 1 and %d, got %d", math.MaxUint16, it.Rank)
		}
		if err := checkFinite(e, field+".score", &it.Score); err != nil {
			return nil, err
		}
		seen[it.Item] = true
		rows = append(rows, Recommendation{Tenant: e.Tenant, EventID: e.ID, ActorKey: key, ActorPseudo: pseudo,
			ItemID: it.Item, Rank: uint16(it.Rank), Score: it.Score, Reasons: it.Reasons, Model: model,
			RecommendedAt: at, IngestVersion: IngestVersion, ModelVersion: p.ModelVersion, BasedOn: p.BasedOn,
			Role: p.Role, ColdStart: b2u(p.ColdStart)})
	}
	return rows, nil
}

// MasteryRow flattens a MasteryUpdated event with Default.
func MasteryRow(e event.Event) (MasteryUpdate, error) { return Default.MasteryRow(e) }

// MasteryRow flattens a MasteryUpdated event.
func (enc *Encoder) MasteryRow(e event.Event) (MasteryUpdate, error) {
	if err := checkType(e, strings.TrimSuffix(TypeMasteryUpdated, ".v1")); err != nil {
		return MasteryUpdate{}, err
	}
	var p MasteryUpdatedPayload
	if err := decodePayload(e, &p); err != nil {
		return MasteryUpdate{}, err
	}
	switch {
	case p.Learner == "":
		return MasteryUpdate{}, payloadErr(e, "learner", "is required")
	case p.Skill == "":
		return MasteryUpdate{}, payloadErr(e, "skill", "is required")
	}
	if err := checkProb(e, "p_mastery", &p.PMastery); err != nil {
		return MasteryUpdate{}, err
	}
	if err := checkProb(e, "p_previous", p.PPrevious); err != nil {
		return MasteryUpdate{}, err
	}
	at := eventTime(e, p.At)
	if err := checkTime(e, "at", at); err != nil {
		return MasteryUpdate{}, err
	}
	key, pseudo, err := enc.Pseudonymizer.learner(e.Tenant, p.Learner)
	if err != nil {
		return MasteryUpdate{}, err
	}
	return MasteryUpdate{Tenant: e.Tenant, EventID: e.ID, ActorKey: key, ActorPseudo: pseudo, SkillID: p.Skill,
		PMastery: p.PMastery, PPrevious: p.PPrevious, ItemID: p.Item, StatementID: p.Statement,
		Correct: boolPtr(p.Correct), UpdatedAt: at, IngestVersion: IngestVersion}, nil
}

// DifficultyRow flattens a DifficultyAdjusted event with Default.
func DifficultyRow(e event.Event) (DifficultyAdjustment, error) { return Default.DifficultyRow(e) }

// DifficultyRow flattens a DifficultyAdjusted event.
func (enc *Encoder) DifficultyRow(e event.Event) (DifficultyAdjustment, error) {
	if err := checkType(e, strings.TrimSuffix(TypeDifficultyAdjusted, ".v1")); err != nil {
		return DifficultyAdjustment{}, err
	}
	var p DifficultyAdjustedPayload
	if err := decodePayload(e, &p); err != nil {
		return DifficultyAdjustment{}, err
	}
	if p.Item == "" {
		return DifficultyAdjustment{}, payloadErr(e, "item", "is required")
	}
	for _, c := range []struct {
		f string
		v *float64
	}{{"difficulty", &p.Difficulty}, {"previous_difficulty", p.PreviousDifficulty}, {"ability", p.Ability}} {
		if err := checkFinite(e, c.f, c.v); err != nil {
			return DifficultyAdjustment{}, err
		}
	}
	if err := checkProb(e, "expected", p.Expected); err != nil {
		return DifficultyAdjustment{}, err
	}
	at := eventTime(e, p.At)
	if err := checkTime(e, "at", at); err != nil {
		return DifficultyAdjustment{}, err
	}
	r := DifficultyAdjustment{Tenant: e.Tenant, EventID: e.ID, ItemID: p.Item, SkillID: p.Skill,
		Difficulty: p.Difficulty, DifficultyPrevious: p.PreviousDifficulty, Ability: p.Ability,
		Expected: p.Expected, Correct: boolPtr(p.Correct), StatementID: p.Statement, AdjustedAt: at,
		IngestVersion: IngestVersion}
	if p.Learner != "" {
		var err error
		if r.ActorKey, r.ActorPseudo, err = enc.Pseudonymizer.learner(e.Tenant, p.Learner); err != nil {
			return DifficultyAdjustment{}, err
		}
	}
	return r, nil
}

// CatalogRow flattens a catalog event with Default.
func CatalogRow(e event.Event) (Row, error) { return Default.CatalogRow(e) }

// CatalogRow flattens one catalog entity event (a put or a delete, as the
// catalog API publishes them) into its table's row. Catalog tables keep the
// newest version of each entity: version is the event time in ns.
func (enc *Encoder) CatalogRow(e event.Event) (Row, error) {
	name, _, err := event.SplitType(e.Type)
	if err != nil {
		return nil, event.Reject(err)
	}
	if err := checkType(e, name); err != nil {
		return nil, err
	}
	if e.Time.UnixNano() < 0 {
		return nil, payloadErr(e, event.HeaderTime, "must not be before 1970 (it versions catalog entities)")
	}
	meta := catalogMeta{UpdatedAt: e.Time.UTC(), Version: uint64(e.Time.UnixNano())}
	required := func(field, v string) error {
		if v == "" {
			return payloadErr(e, field, "is required")
		}
		return nil
	}
	switch name + ".v1" {
	case TypeCatalogSkillPut, TypeCatalogSkillDeleted:
		var p catalogSkill
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("id", p.ID); err != nil {
			return nil, err
		}
		meta.Deleted = b2u(name+".v1" == TypeCatalogSkillDeleted)
		return CatalogSkill{Tenant: e.Tenant, SkillID: p.ID, Name: p.Name, catalogMeta: meta}, nil
	case TypeCatalogPrerequisitePut, TypeCatalogPrerequisiteDeleted:
		var p catalogEdge
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("from", p.From); err != nil {
			return nil, err
		}
		if err := required("to", p.To); err != nil {
			return nil, err
		}
		if p.From == p.To {
			return nil, payloadErr(e, "to", "a skill cannot require itself")
		}
		meta.Deleted = b2u(name+".v1" == TypeCatalogPrerequisiteDeleted)
		return CatalogPrerequisite{Tenant: e.Tenant, SkillID: p.To, PrerequisiteID: p.From, catalogMeta: meta}, nil
	case TypeCatalogActivityPut:
		var p catalogActivity
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("id", p.ID); err != nil {
			return nil, err
		}
		r := CatalogActivity{Tenant: e.Tenant, ActivityID: p.ID, Name: p.Title, ActivityType: p.Type,
			SkillIDs: p.Teaches, AssessesIDs: p.Assesses, ParentID: p.Parent, Origin: OriginCatalog, catalogMeta: meta}
		if p.Type == "course" {
			r.CourseID = p.ID
		}
		if p.Duration != "" {
			secs, err := durationSeconds(p.Duration)
			if err != nil {
				return nil, payloadErr(e, "duration", "%q must be an ISO 8601 duration: %v", p.Duration, err)
			}
			r.DurationSeconds = &secs
		}
		return r, nil
	case TypeCatalogActivityDeleted, TypeCatalogRoleDeleted:
		var p catalogRef
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("id", p.ID); err != nil {
			return nil, err
		}
		meta.Deleted = 1
		if name+".v1" == TypeCatalogRoleDeleted {
			return CatalogRole{Tenant: e.Tenant, RoleID: p.ID, SkillIDs: []string{}, TargetLevels: []float64{}, catalogMeta: meta}, nil
		}
		return CatalogActivity{Tenant: e.Tenant, ActivityID: p.ID, Origin: OriginCatalog, catalogMeta: meta}, nil
	case TypeCatalogActivitySeen:
		var p catalogSeen
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("id", p.ID); err != nil {
			return nil, err
		}
		// A seen activity is one the catalog does not define; any put or
		// delete of the same activity must win over it whatever the order,
		// so its row has the lowest version.
		meta.Version = 0
		return CatalogActivity{Tenant: e.Tenant, ActivityID: p.ID, Name: p.Name, ActivityType: p.Type,
			Origin: OriginSeen, catalogMeta: meta}, nil
	case TypeCatalogRolePut:
		var p catalogRole
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("id", p.ID); err != nil {
			return nil, err
		}
		r := CatalogRole{Tenant: e.Tenant, RoleID: p.ID, Name: p.Name, SkillIDs: []string{}, TargetLevels: []float64{}, catalogMeta: meta}
		for i, s := range p.Requires {
			if s.Skill == "" {
				return nil, payloadErr(e, fmt.Sprintf("requires[%d].skill", i), "is required")
			}
			if err := checkProb(e, fmt.Sprintf("requires[%d].level", i), &s.Level); err != nil {
				return nil, err
			}
			r.SkillIDs = append(r.SkillIDs, s.Skill)
			r.TargetLevels = append(r.TargetLevels, s.Level)
		}
		return r, nil
	case TypeCatalogLearnerRolePut:
		var p catalogLearnerRole
		if err := decodePayload(e, &p); err != nil {
			return nil, err
		}
		if err := required("learner", p.Learner); err != nil {
			return nil, err
		}
		key, pseudo, err := enc.Pseudonymizer.learner(e.Tenant, p.Learner)
		if err != nil {
			return nil, err
		}
		meta.Deleted = b2u(p.Role == "")
		return LearnerRole{Tenant: e.Tenant, ActorKey: key, ActorPseudo: pseudo, RoleID: p.Role, catalogMeta: meta}, nil
	}
	return nil, event.Reject(&event.FieldError{Field: event.HeaderType, Rule: fmt.Sprintf("%q is not a catalog event type this sink knows", e.Type)})
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Rows flattens any event the sink understands with Default.
func Rows(e event.Event) ([]Row, error) { return Default.Rows(e) }

// Rows flattens any event the sink understands into rows, dispatching on the
// event type. An unknown type, or an unknown major version of a known one, is
// rejected (dead-letter), never guessed at.
func (enc *Encoder) Rows(e event.Event) ([]Row, error) {
	name, _, err := event.SplitType(e.Type)
	if err != nil {
		return nil, event.Reject(err)
	}
	switch {
	case name == statementTypeName:
		r, err := enc.StatementRow(e)
		if err != nil {
			return nil, err
		}
		return []Row{r}, nil
	case name == strings.TrimSuffix(TypeRecommendationsUpdated, ".v1"):
		rs, err := enc.RecommendationRows(e)
		if err != nil {
			return nil, err
		}
		out := make([]Row, len(rs))
		for i := range rs {
			out[i] = rs[i]
		}
		return out, nil
	case name == strings.TrimSuffix(TypeMasteryUpdated, ".v1"):
		r, err := enc.MasteryRow(e)
		if err != nil {
			return nil, err
		}
		return []Row{r}, nil
	case name == strings.TrimSuffix(TypeDifficultyAdjusted, ".v1"):
		r, err := enc.DifficultyRow(e)
		if err != nil {
			return nil, err
		}
		return []Row{r}, nil
	case strings.HasPrefix(name, "learnstream.catalog."):
		r, err := enc.CatalogRow(e)
		if err != nil {
			return nil, err
		}
		return []Row{r}, nil
	}
	return nil, event.Reject(&event.FieldError{Field: event.HeaderType, Rule: fmt.Sprintf("%q is not an event type the analytics sink knows", e.Type)})
}
