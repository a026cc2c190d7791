package privacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ConsentSet is a learner's consent settings as of At. It travels on the
// statements topic, keyed by the learner (the learner's pseudonym once
// sealed), so every consumer of statements meets it in order with the
// learner's statements. It is personal: sealed whole.
type ConsentSet struct {
	// Learner is the learner key (xapi.ActorKey form).
	Learner string `json:"learner"`
	// Personalisation false: the models neither learn from the learner's
	// statements nor personalise for them.
	Personalisation bool `json:"personalisation"`
	// Analytics false: the analytics sink leaves the learner out of
	// ClickHouse (and deletes what it holds when consent is withdrawn).
	Analytics bool `json:"analytics"`
	// By is the credential key that set it.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Consent is a learner's consent settings: both on unless the learner
// withdrew them.
type Consent struct {
	Personalisation bool `json:"personalisation"`
	Analytics       bool `json:"analytics"`
}

// DefaultConsent is the consent of a learner who never set any.
var DefaultConsent = Consent{Personalisation: true, Analytics: true}

// Validate checks a ConsentSet as read from an event.
func (c ConsentSet) Validate() error {
	switch {
	case c.Learner == "":
		return errors.New("data.learner: must not be empty")
	case c.At.IsZero():
		return errors.New("data.at: must be set")
	}
	return nil
}

// Consent returns the settings c records.
func (c ConsentSet) Consent() Consent {
	return Consent{Personalisation: c.Personalisation, Analytics: c.Analytics}
}

// RetentionSet sets a tenant's retention period (on TopicPrivacy, keyed by
// the tenant). Days 0 turns retention off: data is kept until erased.
type RetentionSet struct {
	Tenant string    `json:"tenant"`
	Days   int       `json:"days"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// MaxRetentionDays bounds a retention period (100 years).
const MaxRetentionDays = 36500

// MinRetentionDays is the shortest period: data keys are monthly, so a
// period shorter than a month would destroy the current month's keys.
const MinRetentionDays = 31

// Validate checks a RetentionSet (from a request or an event).
func (r RetentionSet) Validate() error {
	switch {
	case r.Tenant == "":
		return errors.New("data.tenant: must not be empty")
	case r.Days != 0 && (r.Days < MinRetentionDays || r.Days > MaxRetentionDays):
		return fmt.Errorf("days: must be 0 (keep until erased) or between %d and %d, got %d", MinRetentionDays, MaxRetentionDays, r.Days)
	case r.At.IsZero():
		return errors.New("data.at: must be set")
	}
	return nil
}

// RetentionCutoff returns the first instant whose data is kept when a
// period of days applies at now: the start of the UTC month that holds
// now-days. Data keys are per month, so retention destroys whole months:
// those that end before now-days. Zero when days is 0.
func RetentionCutoff(now time.Time, days int) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	t := now.UTC().AddDate(0, 0, -days)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// AccessRecorded is one read of learners' data through the API (on
// TopicAudit, keyed by the first learner's pseudonym, or the tenant when
// the read named none). It carries no personal data: who is a credential
// key, what is the route pattern (never the query or path values), and
// the learners are pseudonyms.
type AccessRecorded struct {
	ID string `json:"id"`
	// Credential is the key of the credential that read.
	Credential string `json:"credential"`
	// Route is the server's route pattern, e.g.
	// "GET /v1/learners/{learner}/progress".
	Route string `json:"route"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Learners are the pseudonyms of the learners whose data was read
	// (at most MaxAccessLearners; Truncated says when there were more).
	Learners  []string  `json:"learners"`
	Truncated bool      `json:"truncated,omitempty"`
	At        time.Time `json:"at"`
}

// MaxAccessLearners bounds the learners one access record names (a page
// of statements of many learners).
const MaxAccessLearners = 1000

// Validate checks an AccessRecorded as read from an event.
func (a AccessRecorded) Validate() error {
	switch {
	case a.ID == "":
		return errors.New("data.id: must not be empty")
	case a.Credential == "":
		return errors.New("data.credential: must not be empty")
	case a.Route == "":
		return errors.New("data.route: must not be empty")
	case a.Status < 100 || a.Status > 599:
		return fmt.Errorf("data.status: must be an HTTP status, got %d", a.Status)
	case a.At.IsZero():
		return errors.New("data.at: must be set")
	case len(a.Learners) > MaxAccessLearners:
		return fmt.Errorf("data.learners: at most %d", MaxAccessLearners)
	}
	for i, p := range a.Learners {
		if !IsPseudonym(p) {
			return fmt.Errorf("data.learners[%d]: must be a pseudonym", i)
		}
	}
	return nil
}

// DecodeConsentSet decodes and checks the data of a ConsentSet event.
func DecodeConsentSet(data []byte) (ConsentSet, error) {
	var c ConsentSet
	if err := json.Unmarshal(data, &c); err != nil {
		return ConsentSet{}, fmt.Errorf("data: %w", err)
	}
	return c, c.Validate()
}
