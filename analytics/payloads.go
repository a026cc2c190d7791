package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// Event types the sink understands besides event.TypeStatementStored. The
// producers (recommender, adaptive, catalog) are to emit these names and the
// payload shapes below; docs/analytics.md documents them for integrators.
const (
	TypeRecommendationsUpdated = "learnstream.recommendations.updated.v1"
	TypeMasteryUpdated         = "learnstream.adaptive.mastery.updated.v1"
	TypeDifficultyAdjusted     = "learnstream.adaptive.difficulty.adjusted.v1"
	TypeCatalogActivity        = "learnstream.catalog.activity.v1"
	TypeCatalogSkill           = "learnstream.catalog.skill.v1"
	TypeCatalogPrerequisite    = "learnstream.catalog.prerequisite.v1"
	TypeCatalogRole            = "learnstream.catalog.role.v1"
	TypeCatalogRoleMember      = "learnstream.catalog.role_member.v1"
)

// RecommendationsUpdatedPayload is the data of TypeRecommendationsUpdated:
// a learner's new top-N. Record key: the learner key.
type RecommendationsUpdatedPayload struct {
	Learner string            `json:"learner"`
	Items   []RecommendedItem `json:"items"`
	Model   string            `json:"model,omitempty"`
	// At is when the list was computed; the event time when absent.
	At *time.Time `json:"at,omitempty"`
}

// RecommendedItem is one entry of a recommendation list.
type RecommendedItem struct {
	Item    string   `json:"item"`
	Score   float64  `json:"score"`
	Rank    int      `json:"rank"` // 1 = top
	Reasons []string `json:"reasons,omitempty"`
}

// MasteryUpdatedPayload is the data of TypeMasteryUpdated: the BKT posterior
// of one learner on one skill after one graded attempt.
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
// Elo difficulty after one attempt, with the prediction made before it.
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

// CatalogActivityPayload is the data of TypeCatalogActivity (key: the id).
type CatalogActivityPayload struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Type        string   `json:"type,omitempty"`   // xAPI activity type IRI
	Course      string   `json:"course,omitempty"` // the course it belongs to
	Skills      []string `json:"skills,omitempty"`
	Difficulty  *float64 `json:"difficulty,omitempty"`
	Deleted     bool     `json:"deleted,omitempty"`
}

// CatalogSkillPayload is the data of TypeCatalogSkill (key: the id).
type CatalogSkillPayload struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Deleted     bool   `json:"deleted,omitempty"`
}

// CatalogPrerequisitePayload is the data of TypeCatalogPrerequisite: Requires
// must be mastered before Skill (key: "<skill>|<requires>").
type CatalogPrerequisitePayload struct {
	Skill    string `json:"skill"`
	Requires string `json:"requires"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// CatalogRolePayload is the data of TypeCatalogRole (key: the id).
type CatalogRolePayload struct {
	ID      string      `json:"id"`
	Name    string      `json:"name,omitempty"`
	Skills  []RoleSkill `json:"skills,omitempty"`
	Deleted bool        `json:"deleted,omitempty"`
}

// RoleSkill is a skill a role requires, at a target mastery level in [0,1].
type RoleSkill struct {
	Skill string  `json:"skill"`
	Level float64 `json:"level"`
}

// CatalogRoleMemberPayload is the data of TypeCatalogRoleMember: a learner
// holds a role (key: "<role>|<learner>").
type CatalogRoleMemberPayload struct {
	Role    string `json:"role"`
	Learner string `json:"learner"`
	Deleted bool   `json:"deleted,omitempty"`
}

// Recommendation is one row of the recommendations table.
type Recommendation struct {
	Tenant, EventID, ActorKey, ActorPseudo, ItemID string
	Rank                                           uint16
	Score                                          float64
	Reasons                                        []string
	Model                                          string
	RecommendedAt                                  time.Time
	IngestVersion                                  uint32
}

var recommendationColumns = []string{"tenant", "event_id", "actor_key", "actor_pseudo", "item_id", "rank",
	"score", "reasons", "model", "recommended_at", "ingest_version"}

func (Recommendation) Table() string     { return "recommendations" }
func (Recommendation) Columns() []string { return recommendationColumns }
func (r Recommendation) Values() []any {
	return []any{r.Tenant, r.EventID, r.ActorKey, r.ActorPseudo, r.ItemID, r.Rank, r.Score,
		nonNil(r.Reasons), r.Model, r.RecommendedAt, r.IngestVersion}
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
	return w.done()
}
func (r Recommendation) Size() int { return 200 + len(r.ItemID) }

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
}

var catalogActivityColumns = []string{"tenant", "activity_id", "name", "description", "activity_type", "course_id",
	"skill_ids", "difficulty", "updated_at", "version", "deleted"}

func (CatalogActivity) Table() string     { return "catalog_activities" }
func (CatalogActivity) Columns() []string { return catalogActivityColumns }
func (r CatalogActivity) Values() []any {
	return []any{r.Tenant, r.ActivityID, r.Name, r.Description, r.ActivityType, r.CourseID, nonNil(r.SkillIDs),
		r.Difficulty, r.UpdatedAt, r.Version, r.Deleted}
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
	return w.done()
}
func (r CatalogActivity) Size() int { return 200 + len(r.Description) }

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

// RoleMember is one row of role_members.
type RoleMember struct {
	Tenant, RoleID, ActorKey, ActorPseudo string
	catalogMeta
}

var roleMemberColumns = []string{"tenant", "role_id", "actor_key", "actor_pseudo", "updated_at", "version", "deleted"}

func (RoleMember) Table() string     { return "role_members" }
func (RoleMember) Columns() []string { return roleMemberColumns }
func (r RoleMember) Values() []any {
	return []any{r.Tenant, r.RoleID, r.ActorKey, r.ActorPseudo, r.UpdatedAt, r.Version, r.Deleted}
}
func (r RoleMember) AppendJSON(b []byte) []byte {
	w := newJSONW(b)
	w.str("tenant", r.Tenant)
	w.str("role_id", r.RoleID)
	w.str("actor_key", r.ActorKey)
	w.str("actor_pseudo", r.ActorPseudo)
	r.catalogMeta.appendJSON(&w)
	return w.done()
}
func (r RoleMember) Size() int { return 150 }

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
	at := eventTime(e, p.At)
	if err := checkTime(e, "at", at); err != nil {
		return nil, err
	}
	key, pseudo, err := enc.Pseudonymizer.learner(e.Tenant, p.Learner)
	if err != nil {
		return nil, err
	}
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
			ItemID: it.Item, Rank: uint16(it.Rank), Score: it.Score, Reasons: it.Reasons, Model: p.Model,
			RecommendedAt: at, IngestVersion: IngestVersion})
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

// CatalogRow flattens one catalog entity event into its table's row. An
// event with empty data is a tombstone for the entity named by the record
// key (the id, or "<skill>|<requires>", or "<role>|<learner>").
func (enc *Encoder) CatalogRow(e event.Event) (Row, error) {
	if err := e.Validate(); err != nil {
		return nil, event.Reject(err)
	}
	name, _, err := event.SplitType(e.Type)
	if err != nil {
		return nil, event.Reject(err)
	}
	if err := checkType(e, name); err != nil {
		return nil, err
	}
	tomb := len(bytes.TrimSpace(e.Data)) == 0
	meta := catalogMeta{UpdatedAt: e.Time.UTC(), Version: uint64(e.Time.UnixNano())}
	if e.Time.UnixNano() < 0 {
		return nil, payloadErr(e, event.HeaderTime, "must not be before 1970 (it versions catalog entities)")
	}
	decode := func(v any) error {
		if tomb {
			return nil
		}
		return decodePayload(e, v)
	}
	split := func(what string) (string, string, error) {
		a, b, ok := strings.Cut(e.Key, "|")
		if !ok || a == "" || b == "" {
			return "", "", payloadErr(e, "key", "a %s tombstone needs the record key \"<%s>\"", what, strings.ReplaceAll(what, " ", ">|<"))
		}
		return a, b, nil
	}
	switch name + ".v1" {
	case TypeCatalogActivity:
		var p CatalogActivityPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if tomb {
			p.ID, p.Deleted = e.Key, true
		}
		if p.ID == "" {
			return nil, payloadErr(e, "id", "is required")
		}
		if err := checkFinite(e, "difficulty", p.Difficulty); err != nil {
			return nil, err
		}
		meta.Deleted = b2u(p.Deleted)
		return CatalogActivity{Tenant: e.Tenant, ActivityID: p.ID, Name: p.Name, Description: p.Description,
			ActivityType: p.Type, CourseID: p.Course, SkillIDs: p.Skills, Difficulty: p.Difficulty, catalogMeta: meta}, nil
	case TypeCatalogSkill:
		var p CatalogSkillPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if tomb {
			p.ID, p.Deleted = e.Key, true
		}
		if p.ID == "" {
			return nil, payloadErr(e, "id", "is required")
		}
		meta.Deleted = b2u(p.Deleted)
		return CatalogSkill{Tenant: e.Tenant, SkillID: p.ID, Name: p.Name, Description: p.Description, catalogMeta: meta}, nil
	case TypeCatalogPrerequisite:
		var p CatalogPrerequisitePayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if tomb {
			if p.Skill, p.Requires, err = split("skill requires"); err != nil {
				return nil, err
			}
			p.Deleted = true
		}
		switch {
		case p.Skill == "":
			return nil, payloadErr(e, "skill", "is required")
		case p.Requires == "":
			return nil, payloadErr(e, "requires", "is required")
		case p.Skill == p.Requires:
			return nil, payloadErr(e, "requires", "a skill cannot require itself")
		}
		meta.Deleted = b2u(p.Deleted)
		return CatalogPrerequisite{Tenant: e.Tenant, SkillID: p.Skill, PrerequisiteID: p.Requires, catalogMeta: meta}, nil
	case TypeCatalogRole:
		var p CatalogRolePayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if tomb {
			p.ID, p.Deleted = e.Key, true
		}
		if p.ID == "" {
			return nil, payloadErr(e, "id", "is required")
		}
		r := CatalogRole{Tenant: e.Tenant, RoleID: p.ID, Name: p.Name, SkillIDs: []string{}, TargetLevels: []float64{}}
		for i, s := range p.Skills {
			if s.Skill == "" {
				return nil, payloadErr(e, fmt.Sprintf("skills[%d].skill", i), "is required")
			}
			if err := checkProb(e, fmt.Sprintf("skills[%d].level", i), &s.Level); err != nil {
				return nil, err
			}
			r.SkillIDs = append(r.SkillIDs, s.Skill)
			r.TargetLevels = append(r.TargetLevels, s.Level)
		}
		meta.Deleted = b2u(p.Deleted)
		r.catalogMeta = meta
		return r, nil
	case TypeCatalogRoleMember:
		var p CatalogRoleMemberPayload
		if err := decode(&p); err != nil {
			return nil, err
		}
		if tomb {
			if p.Role, p.Learner, err = split("role learner"); err != nil {
				return nil, err
			}
			p.Deleted = true
		}
		switch {
		case p.Role == "":
			return nil, payloadErr(e, "role", "is required")
		case p.Learner == "":
			return nil, payloadErr(e, "learner", "is required")
		}
		key, pseudo, err := enc.Pseudonymizer.learner(e.Tenant, p.Learner)
		if err != nil {
			return nil, err
		}
		meta.Deleted = b2u(p.Deleted)
		return RoleMember{Tenant: e.Tenant, RoleID: p.Role, ActorKey: key, ActorPseudo: pseudo, catalogMeta: meta}, nil
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
