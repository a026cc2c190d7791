// Package client is a Go client of learnstream's REST API (/v1/) and the
// Go types of its events, for integrators who would otherwise write both
// by hand. The shapes are those of /openapi.json and /asyncapi.json (and
// docs/events.md); learnstream's own end-to-end tests use this package, so
// it keeps working as the API changes.
//
//	c := client.New("https://lrs.example.com", key, secret)
//	recs, err := c.Recommendations(ctx, "mailto:ada@example.com")
//
// Every method takes a context, sends the credential with HTTP Basic, and
// answers an *Error for a status that is not a success, with the field
// and the rule the server named.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one learnstream with one credential.
type Client struct {
	base        string
	key, secret string
	// HTTP sends the requests; http.DefaultClient when nil.
	HTTP *http.Client
}

// New returns a client of the learnstream at baseURL (scheme, host and
// optional path prefix) with the credential key and secret.
func New(baseURL, key, secret string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), key: key, secret: secret}
}

// Error is an answer that is not a success.
type Error struct {
	Status int
	// Message, Field and Rule are the server's error body: what went
	// wrong, the field at fault and the rule it broke.
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("learnstream: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends a request with body (JSON-encoded unless it is an io.Reader of
// contentType) and decodes a success answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, contentType string, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("learnstream: encode %s %s: %w", method, path, err)
		}
		rd, contentType = bytes.NewReader(buf), "application/json"
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("learnstream: %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("learnstream: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.errorOf(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("learnstream: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// errorOf reads a failure answer's error body.
func (c *Client) errorOf(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

// learnerPath escapes a learner key, mailto: IRI or e-mail address for a
// path segment.
func learnerPath(learner string) string { return url.PathEscape(learner) }

// Catalog.

// CatalogSummary counts the catalog's entities.
type CatalogSummary struct {
	Skills        int               `json:"skills"`
	Activities    int               `json:"activities"`
	Roles         int               `json:"roles"`
	Prerequisites int               `json:"prerequisites"`
	Problems      []json.RawMessage `json:"problems"`
}

// CatalogImport is a whole catalog (or part of one) to import.
type CatalogImport struct {
	Skills        []ImportSkill  `json:"skills,omitempty"`
	Prerequisites []Prerequisite `json:"prerequisites,omitempty"`
	Activities    []Activity     `json:"activities,omitempty"`
	Roles         []Role         `json:"roles,omitempty"`
}

// ImportSkill is a skill in an import, with its prerequisites.
type ImportSkill struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	Requires []string `json:"requires,omitempty"`
}

// ImportReport counts what an import changed.
type ImportReport map[string]any

// Catalog returns the catalog's counts and problems.
func (c *Client) Catalog(ctx context.Context) (CatalogSummary, error) {
	var out CatalogSummary
	return out, c.do(ctx, "GET", "/v1/catalog", nil, nil, "", &out)
}

// ImportCatalog imports skills, prerequisites, activities and roles; the
// answer comes once the serving process applied them.
func (c *Client) ImportCatalog(ctx context.Context, cat CatalogImport) (ImportReport, error) {
	var out ImportReport
	return out, c.do(ctx, "POST", "/v1/catalog/import", nil, cat, "", &out)
}

// ImportCatalogCSV imports a catalog in the CSV form of docs/recommendations.md.
func (c *Client) ImportCatalogCSV(ctx context.Context, csv io.Reader) (ImportReport, error) {
	var out ImportReport
	return out, c.do(ctx, "POST", "/v1/catalog/import", nil, csv, "text/csv", &out)
}

// SkillInfo is a skill and its place in the graph.
type SkillInfo struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Prerequisites []string `json:"prerequisites"`
	Dependents    []string `json:"dependents"`
	TaughtBy      []string `json:"taught_by"`
	AssessedBy    []string `json:"assessed_by"`
}

// PutSkill creates or replaces a skill.
func (c *Client) PutSkill(ctx context.Context, s Skill) (SkillInfo, error) {
	var out SkillInfo
	return out, c.do(ctx, "PUT", "/v1/skills/"+url.PathEscape(s.ID), nil, s, "", &out)
}

// Skill returns one skill.
func (c *Client) Skill(ctx context.Context, id string) (SkillInfo, error) {
	var out SkillInfo
	return out, c.do(ctx, "GET", "/v1/skills/"+url.PathEscape(id), nil, nil, "", &out)
}

// Skills returns every skill, prerequisites first; the list fills ID,
// Name and Prerequisites (Skill answers the rest).
func (c *Client) Skills(ctx context.Context) ([]SkillInfo, error) {
	var out struct {
		Skills []SkillInfo `json:"skills"`
	}
	return out.Skills, c.do(ctx, "GET", "/v1/skills", nil, nil, "", &out)
}

// DeleteSkill removes a skill.
func (c *Client) DeleteSkill(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/skills/"+url.PathEscape(id), nil, nil, "", nil)
}

// PutActivity creates or replaces a catalog activity.
func (c *Client) PutActivity(ctx context.Context, a Activity) (Activity, error) {
	var out Activity
	return out, c.do(ctx, "PUT", "/v1/activities/"+url.PathEscape(a.ID), nil, a, "", &out)
}

// Activity returns one catalog activity.
func (c *Client) Activity(ctx context.Context, id string) (Activity, error) {
	var out Activity
	return out, c.do(ctx, "GET", "/v1/activities/"+url.PathEscape(id), nil, nil, "", &out)
}

// Activities returns every catalog activity.
func (c *Client) Activities(ctx context.Context) ([]Activity, error) {
	var out struct {
		Activities []Activity `json:"activities"`
	}
	return out.Activities, c.do(ctx, "GET", "/v1/activities", nil, nil, "", &out)
}

// DeleteActivity removes a catalog activity.
func (c *Client) DeleteActivity(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/activities/"+url.PathEscape(id), nil, nil, "", nil)
}

// PutRole creates or replaces a role.
func (c *Client) PutRole(ctx context.Context, r Role) (Role, error) {
	var out Role
	return out, c.do(ctx, "PUT", "/v1/roles/"+url.PathEscape(r.ID), nil, r, "", &out)
}

// Role returns one role.
func (c *Client) Role(ctx context.Context, id string) (Role, error) {
	var out Role
	return out, c.do(ctx, "GET", "/v1/roles/"+url.PathEscape(id), nil, nil, "", &out)
}

// Roles returns every role.
func (c *Client) Roles(ctx context.Context) ([]Role, error) {
	var out struct {
		Roles []Role `json:"roles"`
	}
	return out.Roles, c.do(ctx, "GET", "/v1/roles", nil, nil, "", &out)
}

// DeleteRole removes a role.
func (c *Client) DeleteRole(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/roles/"+url.PathEscape(id), nil, nil, "", nil)
}

// Prerequisites returns every prerequisite edge.
func (c *Client) Prerequisites(ctx context.Context) ([]Prerequisite, error) {
	var out struct {
		Prerequisites []Prerequisite `json:"prerequisites"`
	}
	return out.Prerequisites, c.do(ctx, "GET", "/v1/prerequisites", nil, nil, "", &out)
}

// PutPrerequisite adds the edge: from is learned before to. It answers
// every prerequisite of to.
func (c *Client) PutPrerequisite(ctx context.Context, from, to string) ([]string, error) {
	var out struct {
		Of []string `json:"prerequisites_of_to"`
	}
	return out.Of, c.do(ctx, "PUT", "/v1/prerequisites/"+url.PathEscape(from)+"/"+url.PathEscape(to), nil, nil, "", &out)
}

// DeletePrerequisite removes the edge.
func (c *Client) DeletePrerequisite(ctx context.Context, from, to string) error {
	return c.do(ctx, "DELETE", "/v1/prerequisites/"+url.PathEscape(from)+"/"+url.PathEscape(to), nil, nil, "", nil)
}

// Learners.

// SetLearnerRole assigns learner a role ("" removes the assignment).
func (c *Client) SetLearnerRole(ctx context.Context, learner, role string) (LearnerRole, error) {
	var out LearnerRole
	return out, c.do(ctx, "PUT", "/v1/learners/"+learnerPath(learner)+"/role", nil, map[string]string{"role": role}, "", &out)
}

// LearnerRole returns learner's role.
func (c *Client) LearnerRole(ctx context.Context, learner string) (LearnerRole, error) {
	var out LearnerRole
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/role", nil, nil, "", &out)
}

// LearnerRecommendations is a learner's latest recommendations: the data
// of the last learnstream.recommendations.updated.v1 event, with its id
// and time.
type LearnerRecommendations struct {
	RecommendationsUpdated
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// Recommendations returns learner's latest recommendations; IsNotFound
// before the recommender published any.
func (c *Client) Recommendations(ctx context.Context, learner string) (LearnerRecommendations, error) {
	var out LearnerRecommendations
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/recommendations", nil, nil, "", &out)
}

// SkillMastery is a learner's mastery of one skill.
type SkillMastery struct {
	Skill        string         `json:"skill"`
	PMastery     float64        `json:"p_mastery"`
	Ability      float64        `json:"ability"`
	Attempts     int            `json:"attempts"`
	Correct      int            `json:"correct"`
	Mastered     bool           `json:"mastered"`
	MasteredAt   *time.Time     `json:"mastered_at"`
	FirstAt      time.Time      `json:"first_at"`
	LastAt       time.Time      `json:"last_at"`
	FirstCorrect bool           `json:"first_correct"`
	Trajectory   []MasteryPoint `json:"trajectory"`
}

// MasteryPoint is one step of a mastery trajectory.
type MasteryPoint struct {
	At       time.Time `json:"at"`
	PMastery float64   `json:"p_mastery"`
	Correct  bool      `json:"correct"`
}

// Mastery is a learner's mastery of every skill they attempted.
type Mastery struct {
	Learner   string         `json:"learner"`
	Threshold float64        `json:"threshold"`
	Skills    []SkillMastery `json:"skills"`
}

// Mastery returns learner's mastery per skill.
func (c *Client) Mastery(ctx context.Context, learner string) (Mastery, error) {
	var out Mastery
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/mastery", nil, nil, "", &out)
}

// NextItem is the item a learner should practise next on a skill.
type NextItem struct {
	Learner string `json:"learner"`
	Skill   string `json:"skill"`
	// Item is empty when no open item assesses the skill (Reasons say why).
	Item             string          `json:"item"`
	Title            string          `json:"title,omitempty"`
	Target           float64         `json:"target"`
	RequestedTarget  float64         `json:"requested_target"`
	PredictedSuccess float64         `json:"predicted_success"`
	Difficulty       float64         `json:"difficulty"`
	Ability          float64         `json:"ability"`
	AbilitySource    string          `json:"ability_source"`
	RecentSuccess    float64         `json:"recent_success"`
	RecentAttempts   float64         `json:"recent_attempts"`
	Reasons          []string        `json:"reasons"`
	Candidates       []NextCandidate `json:"candidates"`
}

// NextCandidate is one open item considered.
type NextCandidate struct {
	Item             string  `json:"item"`
	Title            string  `json:"title,omitempty"`
	PredictedSuccess float64 `json:"predicted_success"`
	Difficulty       float64 `json:"difficulty"`
	ItemAttempts     int     `json:"item_attempts"`
}

// Next returns the next item for learner on skill; query may add n and
// target (see /openapi.json).
func (c *Client) Next(ctx context.Context, learner, skill string, query url.Values) (NextItem, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if skill != "" {
		q.Set("skill", skill)
	}
	var out NextItem
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/next", q, nil, "", &out)
}

// Progress is a learner's progress per activity, with the adaptive role's
// additions when it runs.
type Progress struct {
	Learner    string            `json:"learner"`
	Activities []json.RawMessage `json:"activities"`
	// Extra holds the fields the roles add (effect evaluation).
	Extra map[string]json.RawMessage `json:"-"`
}

// Progress returns learner's progress.
func (c *Client) Progress(ctx context.Context, learner string) (Progress, error) {
	var raw map[string]json.RawMessage
	if err := c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/progress", nil, nil, "", &raw); err != nil {
		return Progress{}, err
	}
	var out Progress
	json.Unmarshal(raw["learner"], &out.Learner)
	json.Unmarshal(raw["activities"], &out.Activities)
	delete(raw, "learner")
	delete(raw, "activities")
	out.Extra = raw
	return out, nil
}

// LearningPath is the plan that brings a learner to a role or skill.
type LearningPath struct {
	Learner       string            `json:"learner"`
	Target        map[string]string `json:"target"`
	MasterySource string            `json:"mastery_source"`
	Missing       []string          `json:"missing"`
	Uncovered     []string          `json:"uncovered"`
	Duration      string            `json:"duration"`
	Steps         []PathStep        `json:"steps"`
}

// PathStep is one activity of a path.
type PathStep struct {
	Activity string   `json:"activity"`
	Type     string   `json:"type"`
	Title    string   `json:"title,omitempty"`
	Duration string   `json:"duration"`
	Skills   []string `json:"skills"`
	Reasons  []string `json:"reasons"`
}

// Path returns a learning path for learner to a role or a skill (give
// exactly one).
func (c *Client) Path(ctx context.Context, learner, role, skill string) (LearningPath, error) {
	q := url.Values{}
	if role != "" {
		q.Set("role", role)
	}
	if skill != "" {
		q.Set("skill", skill)
	}
	var out LearningPath
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/path", q, nil, "", &out)
}

// CourseEffectiveness returns how well course teaches its skills.
func (c *Client) CourseEffectiveness(ctx context.Context, course string) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, "GET", "/v1/courses/"+url.PathEscape(course)+"/effectiveness", nil, nil, "", &out)
}

// Content.

// PackageImport is what importing a package made.
type PackageImport struct {
	ID      string         `json:"id"`
	Import  string         `json:"import"`
	Type    string         `json:"type"`
	Course  string         `json:"course"`
	Title   string         `json:"title"`
	Units   int            `json:"units"`
	Files   int            `json:"files"`
	Bytes   int64          `json:"bytes"`
	URL     string         `json:"url"`
	Catalog map[string]int `json:"catalog"`
}

// ImportPackage imports a SCORM or cmi5 package (a zip archive).
func (c *Client) ImportPackage(ctx context.Context, zip io.Reader) (PackageImport, error) {
	var out PackageImport
	return out, c.do(ctx, "POST", "/v1/packages", nil, zip, "application/zip", &out)
}

// Packages returns the tenant's packages as the server describes them.
func (c *Client) Packages(ctx context.Context) ([]map[string]any, error) {
	var out struct {
		Packages []map[string]any `json:"packages"`
	}
	return out.Packages, c.do(ctx, "GET", "/v1/packages", nil, nil, "", &out)
}

// Package returns one package.
func (c *Client) Package(ctx context.Context, id string) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, "GET", "/v1/packages/"+url.PathEscape(id), nil, nil, "", &out)
}

// Registration is a launch of a package unit for a learner.
type Registration struct {
	Registration string `json:"registration"`
	Package      string `json:"package"`
	Unit         string `json:"unit"`
	Activity     string `json:"activity"`
	// Launch is the URL to open in the learner's browser.
	Launch  string `json:"launch"`
	Session string `json:"session,omitempty"`
}

// Launch registers actor (an xAPI Agent) on a unit of package (unit may
// be empty for a single-unit package).
func (c *Client) Launch(ctx context.Context, actor any, pkg, unit string) (Registration, error) {
	body := map[string]any{"actor": actor, "package": pkg}
	if unit != "" {
		body["unit"] = unit
	}
	var out Registration
	return out, c.do(ctx, "POST", "/v1/registrations", nil, body, "", &out)
}

// Administration.

// NewCredential is a credential to create.
type NewCredential struct {
	Key    string   `json:"key"`
	Secret string   `json:"secret"`
	Name   string   `json:"name,omitempty"`
	Tenant string   `json:"tenant,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// Credential is a credential as listed (never its secret).
type Credential struct {
	Key     string    `json:"key"`
	Name    string    `json:"name"`
	Tenant  string    `json:"tenant"`
	Scopes  []string  `json:"scopes"`
	Created time.Time `json:"created"`
}

// CreateCredential creates a credential.
func (c *Client) CreateCredential(ctx context.Context, nc NewCredential) (NewCredential, error) {
	var out NewCredential
	return out, c.do(ctx, "POST", "/v1/admin/credentials", nil, nc, "", &out)
}

// Credentials lists the caller's tenant's credentials.
func (c *Client) Credentials(ctx context.Context) ([]Credential, error) {
	var out []Credential
	return out, c.do(ctx, "GET", "/v1/admin/credentials", nil, nil, "", &out)
}

// RevokeCredential revokes a credential.
func (c *Client) RevokeCredential(ctx context.Context, key string) error {
	return c.do(ctx, "DELETE", "/v1/admin/credentials/"+url.PathEscape(key), nil, nil, "", nil)
}

// Projections lists the read models as the server describes them.
func (c *Client) Projections(ctx context.Context) ([]map[string]any, error) {
	var out []map[string]any
	return out, c.do(ctx, "GET", "/v1/admin/projections", nil, nil, "", &out)
}

// ReplayProjection starts rebuilding a read model (operator scope).
func (c *Client) ReplayProjection(ctx context.Context, name string) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, "POST", "/v1/admin/projections/"+url.PathEscape(name)+"/replay", nil, nil, "", &out)
}
