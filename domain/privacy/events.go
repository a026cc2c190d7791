// Package privacy holds what learnstream's privacy design shares between
// its layers: the privacy event types and their data, pseudonyms, and the
// sealing of personal fields (see docs/privacy.md). It is pure.
package privacy

import "time"

// Topics the privacy design adds.
const (
	// TopicKeys is the key store: wrapped data keys, compacted.
	TopicKeys = "learnstream.keys.v1"
	// TopicPrivacy carries erasure requests and receipts, consent and
	// retention settings.
	TopicPrivacy = "learnstream.privacy.v1"
	// TopicAudit records every read of a learner's data through the API.
	TopicAudit = "learnstream.audit.v1"
)

// Event types of the privacy design.
const (
	TypeErasureRequested = "learnstream.privacy.erasure.requested.v1"
	TypeLearnerErased    = "learnstream.privacy.learner.erased.v1"
	TypeErasureApplied   = "learnstream.privacy.erasure.applied.v1"
	TypeConsentSet       = "learnstream.privacy.consent.set.v1"
	TypeRetentionSet     = "learnstream.privacy.retention.set.v1"
	TypeRetentionApplied = "learnstream.privacy.retention.applied.v1"
	TypeAccessRecorded   = "learnstream.audit.access.recorded.v1"
)

// ErasureRequested starts an erasure (on TopicPrivacy, keyed by the
// pseudonym). It is the durable record a restart resumes from.
type ErasureRequested struct {
	Erasure   string    `json:"erasure"`
	Pseudonym string    `json:"pseudonym"`
	By        string    `json:"by"` // credential key of the requester
	At        time.Time `json:"at"`
	// Reason is "request" (DELETE /v1/learners/{id}) or "retention".
	Reason string `json:"reason"`
	// Tenant is the tenant of the learner (also the event's tenant).
	Tenant string `json:"tenant,omitempty"`
	// Consumers are the consumers expected to answer with ErasureApplied
	// (those of the roles the install runs): the receipt is complete when
	// each has answered.
	Consumers []string `json:"consumers,omitempty"`
}

// LearnerErased tells every consumer of a topic to delete what it holds of
// the learner with this pseudonym. It is published, keyed by the
// pseudonym, on every topic that carries learner events, after the
// learner's keys were destroyed.
type LearnerErased struct {
	Erasure   string    `json:"erasure"`
	Pseudonym string    `json:"pseudonym"`
	At        time.Time `json:"at"`
}

// ErasureApplied is one consumer's answer to a LearnerErased: what it
// removed, as counts per kind. It carries no personal data.
type ErasureApplied struct {
	Erasure  string `json:"erasure"`
	Consumer string `json:"consumer"`
	// Pseudonym is the erased learner's (the record's key); receipts never
	// show it.
	Pseudonym string           `json:"pseudonym,omitempty"`
	Removed   map[string]int64 `json:"removed"`
	At        time.Time        `json:"at"`
}

// RetentionApplied tells every consumer to delete what it holds of the
// tenant from before Before (statements stored, documents updated, derived
// state). Published by the retention role, keyed by the tenant, on every
// topic that carries learner events, after the keys of the months before
// Before were destroyed.
type RetentionApplied struct {
	Tenant string    `json:"tenant"`
	Before time.Time `json:"before"`
	At     time.Time `json:"at"`
}

// Erasure progress the orchestrator records on TopicPrivacy, keyed by the
// pseudonym, so that a restart knows where an erasure stands.
const (
	TypeErasureKeysDestroyed = "learnstream.privacy.erasure.keys.destroyed.v1"
	TypeErasureCompleted     = "learnstream.privacy.erasure.completed.v1"
	TypeStorePurged          = "learnstream.privacy.store.purged.v1"
)

// ErasureKeysDestroyed records that the learner's data keys are destroyed
// (step 2 of an erasure): Keys is how many the key store held.
type ErasureKeysDestroyed struct {
	Erasure   string    `json:"erasure"`
	Pseudonym string    `json:"pseudonym"`
	Keys      int       `json:"keys"`
	At        time.Time `json:"at"`
	// Final marks the destruction once every consumer answered: keys a
	// consumer's late output (a model publishing for the learner before it
	// met the erasure) made after the first destruction go too.
	Final bool `json:"final,omitempty"`
}

// ErasureCompleted records that the orchestrator has published the
// LearnerErased of an erasure on every learner topic: nothing of it is
// left to do but the consumers' answers.
type ErasureCompleted struct {
	Erasure   string    `json:"erasure"`
	Pseudonym string    `json:"pseudonym"`
	Topics    []string  `json:"topics"`
	At        time.Time `json:"at"`
}

// StorePurged records that a process physically purged its projection
// store (deleted versions dropped from disk) after the erasures listed.
type StorePurged struct {
	Store    string    `json:"store"`
	Erasures []string  `json:"erasures"`
	At       time.Time `json:"at"`
}
