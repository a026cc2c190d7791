package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// Event types (ce_type). The schema of each one's data is in
// /asyncapi.json and docs/events.md.
const (
	TypeStatementStored     = "learnstream.xapi.statement.stored.v1"
	TypeAttachmentStored    = "learnstream.xapi.attachment.stored.v1"
	TypeDocument            = "learnstream.xapi.document.v1"
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
	// TypeLearnerRoleSet (data: LearnerRole) is on the statements topic,
	// in order with the learner's statements: their list is ranked again
	// for the role.
	TypeLearnerRoleSet         = "learnstream.learner.role.set.v1"
	TypeRecommendationsUpdated = "learnstream.recommendations.updated.v1"
	TypeMasteryUpdated         = "learnstream.adaptive.mastery.updated.v1"
	TypeDifficultyAdjusted     = "learnstream.adaptive.difficulty.adjusted.v1"
	// Privacy (docs/privacy.md).
	TypeConsentSet       = "learnstream.privacy.consent.set.v1"
	TypeRetentionSet     = "learnstream.privacy.retention.set.v1"
	TypeRetentionApplied = "learnstream.privacy.retention.applied.v1"
	TypeAccessRecorded   = "learnstream.audit.access.recorded.v1"
	// Erasure (docs/privacy.md, Erasure): their data carry pseudonyms and
	// counts, never personal data.
	TypeErasureRequested     = "learnstream.privacy.erasure.requested.v1"
	TypeErasureKeysDestroyed = "learnstream.privacy.erasure.keys.destroyed.v1"
	TypeLearnerErased        = "learnstream.privacy.learner.erased.v1"
	TypeErasureApplied       = "learnstream.privacy.erasure.applied.v1"
	TypeErasureCompleted     = "learnstream.privacy.erasure.completed.v1"
	TypeStorePurged          = "learnstream.privacy.store.purged.v1"
)

// ConsentSet is the data of a TypeConsentSet event (on the statements
// topic, in order with the learner's statements).
type ConsentSet struct {
	Learner         string    `json:"learner"`
	Personalisation bool      `json:"personalisation"`
	Analytics       bool      `json:"analytics"`
	By              string    `json:"by"`
	At              time.Time `json:"at"`
}

// RetentionSet is the data of a TypeRetentionSet event.
type RetentionSet struct {
	Tenant string    `json:"tenant"`
	Days   int       `json:"days"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// RetentionApplied is the data of a TypeRetentionApplied event: the
// tenant's data from before Before is gone.
type RetentionApplied struct {
	Tenant string    `json:"tenant"`
	Before time.Time `json:"before"`
	At     time.Time `json:"at"`
}

// Default topics (each is configurable on the server).
const (
	TopicStatements      = "learnstream.statements.v1"
	TopicDocuments       = "learnstream.documents.v1"
	TopicCatalog         = "learnstream.catalog.v1"
	TopicRecommendations = "learnstream.recommendations.v1"
	TopicAdaptive        = "learnstream.adaptive.v1"
)

// Skill is the data of learnstream.catalog.skill.put.v1 and the body of
// PUT /v1/skills/{id}.
type Skill struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Prerequisite is the data of learnstream.catalog.prerequisite.put.v1 and
// .deleted.v1: From is learned before To.
type Prerequisite struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Activity is the data of learnstream.catalog.activity.put.v1.
type Activity struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"` // course, module, assessment or item
	Title    string   `json:"title,omitempty"`
	Duration string   `json:"duration,omitempty"` // ISO 8601
	Teaches  []string `json:"teaches,omitempty"`
	Assesses []string `json:"assesses,omitempty"`
	Parent   string   `json:"parent,omitempty"`
}

// Role is the data of learnstream.catalog.role.put.v1.
type Role struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	Requires []RoleRequirement `json:"requires"`
}

// RoleRequirement is a skill level a role requires.
type RoleRequirement struct {
	Skill string  `json:"skill"`
	Level float64 `json:"level"`
}

// LearnerRole is the data of learnstream.catalog.learner_role.put.v1.
type LearnerRole struct {
	Learner string `json:"learner"`
	Role    string `json:"role"`
}

// Deleted is the data of the skill, activity and role .deleted.v1 events.
type Deleted struct {
	ID string `json:"id"`
}

// Recommendation is one recommended item.
type Recommendation struct {
	Item    string   `json:"item"`
	Score   float64  `json:"score"`
	Rank    int      `json:"rank"`
	Reasons []string `json:"reasons"`
}

// RecommendationsUpdated is the data of
// learnstream.recommendations.updated.v1.
type RecommendationsUpdated struct {
	Learner      string           `json:"learner"`
	Items        []Recommendation `json:"items"`
	ModelVersion string           `json:"model_version"`
	BasedOn      string           `json:"based_on"`
	Role         string           `json:"role,omitempty"`
	ColdStart    bool             `json:"cold_start"`
}

// MasteryUpdated is the data of learnstream.adaptive.mastery.updated.v1.
type MasteryUpdated struct {
	Learner        string    `json:"learner"`
	Skill          string    `json:"skill"`
	PMastery       float64   `json:"p_mastery"`
	PPrevious      float64   `json:"p_previous"`
	Item           string    `json:"item"`
	Statement      string    `json:"statement"`
	Correct        bool      `json:"correct"`
	At             time.Time `json:"at"`
	Score          float64   `json:"score"`
	Ability        float64   `json:"ability"`
	GlobalAbility  float64   `json:"global_ability"`
	Attempts       int       `json:"attempts"`
	RecentSuccess  float64   `json:"recent_success"`
	RecentAttempts float64   `json:"recent_attempts"`
	InputPartition int       `json:"input_partition"`
	InputOffset    int64     `json:"input_offset"`
}

// DifficultyAdjusted is the data of
// learnstream.adaptive.difficulty.adjusted.v1.
type DifficultyAdjusted struct {
	Item               string    `json:"item"`
	Skill              string    `json:"skill"`
	Difficulty         float64   `json:"difficulty"`
	PreviousDifficulty float64   `json:"previous_difficulty"`
	Learner            string    `json:"learner"`
	Ability            float64   `json:"ability"`
	Expected           float64   `json:"expected"`
	Correct            bool      `json:"correct"`
	Statement          string    `json:"statement"`
	At                 time.Time `json:"at"`
	Skills             []string  `json:"skills"`
	Score              float64   `json:"score"`
	ExpectedElo        float64   `json:"expected_elo"`
	ExpectedBKT        float64   `json:"expected_bkt"`
	ItemAttempts       int       `json:"item_attempts"`
	InputPartition     int       `json:"input_partition"`
	InputOffset        int64     `json:"input_offset"`
}

// Document is the data of learnstream.xapi.document.v1.
type Document struct {
	Resource     string    `json:"resource"`
	Op           string    `json:"op"`
	ActivityID   string    `json:"activityId,omitempty"`
	Agent        string    `json:"agent,omitempty"`
	Registration string    `json:"registration,omitempty"`
	ID           string    `json:"id,omitempty"`
	ContentType  string    `json:"contentType,omitempty"`
	Content      []byte    `json:"content,omitempty"`
	Updated      time.Time `json:"updated"`
	IfMatch      string    `json:"ifMatch,omitempty"`
	IfNoneMatch  string    `json:"ifNoneMatch,omitempty"`
	MustNotExist bool      `json:"mustNotExist,omitempty"`
}

// Envelope is an event's CloudEvents attributes, read from the Kafka
// record's headers.
type Envelope struct {
	ID          string
	Type        string
	Source      string
	Time        time.Time
	Tenant      string
	ContentType string
	// Extensions are the ce_<name> attributes other than the standard
	// ones (e.g. xapidefine).
	Extensions map[string]string
	// Signature is ce_signature.
	Signature string
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// ParseEnvelope reads the CloudEvents attributes of a record; the error
// names the header at fault.
func ParseEnvelope(headers []Header, key, value []byte) (Envelope, error) {
	e, err := event.FromHeaders(toEventHeaders(headers), key, value)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{ID: e.ID, Type: e.Type, Source: e.Source, Time: e.Time, Tenant: e.Tenant,
		ContentType: e.ContentType, Extensions: e.Extensions, Signature: e.Signature}, nil
}

func toEventHeaders(hs []Header) []event.Header {
	out := make([]event.Header, len(hs))
	for i, h := range hs {
		out[i] = event.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// VerifySignature checks a record's ce_signature under the install's
// signing key (which the operator shares only with consumers it trusts):
// nil means this learnstream install wrote the record exactly as it is
// (headers, key and value). See docs/integrations.md for what that does
// and does not prove.
func VerifySignature(signingKey []byte, headers []Header, key, value []byte) error {
	e, err := event.FromHeaders(toEventHeaders(headers), key, value)
	if err != nil {
		return err
	}
	return event.Verify(e, signingKey)
}

// StreamEvent is one event of an SSE feed.
type StreamEvent struct {
	// Type is the event's ce_type.
	Type string
	// Position resumes the feed after this event (Last-Event-ID).
	Position string
	// Data is the event's data (JSON).
	Data json.RawMessage
}

// Start positions of a feed.
const (
	FromEnd       = "end"
	FromBeginning = "beginning"
)

// StreamOptions say where a feed starts and what it carries.
type StreamOptions struct {
	// Position is FromEnd (the default), FromBeginning (the oldest
	// retained record), or the Position of an event seen before: the feed
	// resumes right after it.
	Position string
	// Learner, when set, keeps only that learner's events (a learner key,
	// mailto: IRI or e-mail address).
	Learner string
}

// StreamRecommendations follows GET /v1/streams/recommendations and calls
// fn for each event until ctx ends, fn returns an error (returned), or
// the server closes the stream (nil).
func (c *Client) StreamRecommendations(ctx context.Context, opt StreamOptions, fn func(StreamEvent) error) error {
	q := url.Values{}
	position := opt.Position
	if position == FromBeginning || position == FromEnd {
		q.Set("from", position)
	}
	if opt.Learner != "" {
		q.Set("learner", opt.Learner)
	}
	u := c.base + "/v1/streams/recommendations"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return fmt.Errorf("learnstream: stream: %w", err)
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Accept", "text/event-stream")
	if position != "" && position != FromBeginning && position != FromEnd {
		req.Header.Set("Last-Event-ID", position)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("learnstream: stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		json.NewDecoder(resp.Body).Decode(e)
		return e
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ev StreamEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				ev.Data = json.RawMessage(strings.Join(data, "\n"))
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = StreamEvent{}, nil
		case strings.HasPrefix(line, ":"):
			// A heartbeat comment.
		default:
			field, val, _ := strings.Cut(line, ":")
			val = strings.TrimPrefix(val, " ")
			switch field {
			case "event":
				ev.Type = val
			case "id":
				ev.Position = val
			case "data":
				data = append(data, val)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("learnstream: stream: %w", err)
	}
	return nil
}
