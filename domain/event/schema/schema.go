// Package schema is the one source of the shapes of learnstream's events:
// the JSON Schema of the CloudEvents headers (the envelope) and of every
// event type's data, with the topic and key each type travels on.
//
// docs/events.md shows these schemas (a test keeps it equal to them), the
// AsyncAPI and OpenAPI documents the API serves embed them, and the tests
// validate emitted records against them, so none of those can drift from
// the others.
package schema

import (
	"embed"
	"fmt"
	"slices"
)

//go:embed json/*.json
var files embed.FS

// Names of the non-event schemas.
const (
	// Envelope is the schema of the CloudEvents headers, as a JSON object
	// of header name to value.
	Envelope = "envelope"
)

// Topic is a Kafka topic learnstream writes, under its default name.
type Topic struct {
	Name string
	// Key says what the record key is.
	Key string
	// Compacted topics keep the latest record per key.
	Compacted bool
	// Internal topics belong to one role; integrators should not depend
	// on them.
	Internal bool
	// Summary is one line for the contract documents.
	Summary string
}

// Event is one event type.
type Event struct {
	Type  string
	Topic string
	// Tombstone events have the envelope headers and no value.
	Tombstone bool
	Summary   string
}

// Topics are the topics learnstream writes, under their default names
// (each name is configurable). Every topic also has a dead-letter topic,
// "<name>.dlq".
var Topics = []Topic{
	{Name: "learnstream.statements.v1", Key: "the pseudonym of the statement actor's learner key (the learner key with --privacy=off)",
		Summary: "Every accepted xAPI statement, as stored, and its attachment payloads."},
	{Name: "learnstream.documents.v1", Key: "the pseudonym of the agent's learner key (state, agent profile) or the activity id (activity profile)",
		Summary: "xAPI document writes and deletes (state, activity profile, agent profile)."},
	{Name: "learnstream.catalog.v1", Key: "the entity: skill:<id>, prerequisite:<from>;<to>, activity:<iri>, role:<id>, activity_seen:<iri>, learner_role:<pseudonym>", Compacted: true,
		Summary: "Catalog and skills graph: skills, prerequisites, activities, roles, learner roles."},
	{Name: "learnstream.recommendations.v1", Key: "the learner's pseudonym", Compacted: true,
		Summary: "A learner's recommendations, published when their top-N list changes."},
	{Name: "learnstream.adaptive.v1", Key: "the learner's pseudonym",
		Summary: "Mastery and difficulty updates from scored statements."},
	{Name: "learnstream.credentials.v1", Key: "the credential key (HTTP Basic user name)", Compacted: true, Internal: true,
		Summary: "API credentials, hashed secrets only."},
	{Name: "learnstream.recommender.items.v1", Key: "<tenant>|<partition>|<item>", Compacted: true, Internal: true,
		Summary: "Item factors shared between recommender instances."},
	{Name: "learnstream.privacy.v1", Key: "the learner's pseudonym (erasure events) or the tenant (retention events)",
		Summary: "Privacy decisions: erasure requests and receipts, retention settings and their application."},
	{Name: "learnstream.audit.v1", Key: "the pseudonym of the first learner read, or the tenant",
		Summary: "Every read of a learner's data through the API: who, what, when, whose (pseudonyms); no personal data."},
	{Name: "learnstream.webhooks.v1", Key: "the subscription id", Compacted: true, Internal: true,
		Summary: "Webhook and statement-forwarding subscriptions, secrets sealed."},
}

// Events are every event type learnstream writes.
var Events = []Event{
	{Type: "learnstream.xapi.statement.stored.v1", Topic: "learnstream.statements.v1", Summary: "An xAPI statement exactly as stored and served by the LRS."},
	{Type: "learnstream.xapi.attachment.stored.v1", Topic: "learnstream.statements.v1", Summary: "One attachment payload of a statement sent as multipart/mixed."},
	{Type: "learnstream.xapi.document.v1", Topic: "learnstream.documents.v1", Summary: "One write to an xAPI document resource."},
	{Type: "learnstream.catalog.skill.put.v1", Topic: "learnstream.catalog.v1", Summary: "A skill created or replaced."},
	{Type: "learnstream.catalog.skill.deleted.v1", Topic: "learnstream.catalog.v1", Summary: "A skill removed."},
	{Type: "learnstream.catalog.prerequisite.put.v1", Topic: "learnstream.catalog.v1", Summary: "A prerequisite edge between two skills added."},
	{Type: "learnstream.catalog.prerequisite.deleted.v1", Topic: "learnstream.catalog.v1", Summary: "A prerequisite edge removed."},
	{Type: "learnstream.catalog.activity.put.v1", Topic: "learnstream.catalog.v1", Summary: "A catalog activity created or replaced."},
	{Type: "learnstream.catalog.activity.deleted.v1", Topic: "learnstream.catalog.v1", Summary: "A catalog activity removed."},
	{Type: "learnstream.catalog.activity.seen.v1", Topic: "learnstream.catalog.v1", Summary: "An activity met in a statement that the catalog did not define."},
	{Type: "learnstream.catalog.role.put.v1", Topic: "learnstream.catalog.v1", Summary: "A role and the skill levels it requires, created or replaced."},
	{Type: "learnstream.catalog.role.deleted.v1", Topic: "learnstream.catalog.v1", Summary: "A role removed."},
	{Type: "learnstream.catalog.learner_role.put.v1", Topic: "learnstream.catalog.v1", Summary: "A learner's role assigned (an empty role removes it)."},
	{Type: "learnstream.recommendations.updated.v1", Topic: "learnstream.recommendations.v1", Summary: "A learner's top-N recommendations changed."},
	{Type: "learnstream.adaptive.mastery.updated.v1", Topic: "learnstream.adaptive.v1", Summary: "BKT mastery of one skill after a scored attempt."},
	{Type: "learnstream.adaptive.difficulty.adjusted.v1", Topic: "learnstream.adaptive.v1", Summary: "Elo difficulty of an item after a scored attempt."},
	{Type: "learnstream.credential.put.v1", Topic: "learnstream.credentials.v1", Summary: "A credential created or replaced (salted hash, never the secret)."},
	{Type: "learnstream.credential.revoked.v1", Topic: "learnstream.credentials.v1", Tombstone: true, Summary: "A credential revoked: a tombstone (headers, no value)."},
	{Type: "learnstream.recommender.item_factors.v1", Topic: "learnstream.recommender.items.v1", Summary: "One partition model's latest factors for one item."},
	{Type: "learnstream.learner.role.set.v1", Topic: "learnstream.statements.v1", Summary: "A learner's role assigned, in order with their statements: the recommender ranks their list again for it (the catalog keeps the assignment)."},
	{Type: "learnstream.privacy.consent.set.v1", Topic: "learnstream.statements.v1", Summary: "A learner's consent to personalisation and analytics, in order with their statements."},
	{Type: "learnstream.privacy.erasure.requested.v1", Topic: "learnstream.privacy.v1", Summary: "An erasure of a learner asked for (DELETE /v1/learners/{learner}); a restart resumes it from here."},
	{Type: "learnstream.privacy.erasure.keys.destroyed.v1", Topic: "learnstream.privacy.v1", Summary: "The erased learner's data keys destroyed: nothing of the learner in the log opens any more."},
	{Type: "learnstream.privacy.learner.erased.v1", Topic: "learnstream.privacy.v1", Summary: "Delete what you hold of this pseudonym; also published on every topic with learner events, keyed by the pseudonym."},
	{Type: "learnstream.privacy.erasure.applied.v1", Topic: "learnstream.privacy.v1", Summary: "One consumer's answer to an erasure: what it removed, counted by kind."},
	{Type: "learnstream.privacy.erasure.completed.v1", Topic: "learnstream.privacy.v1", Summary: "The erasure's learner.erased published on every learner topic."},
	{Type: "learnstream.privacy.store.purged.v1", Topic: "learnstream.privacy.v1", Summary: "A projections store physically purged after the erasures listed."},
	{Type: "learnstream.privacy.retention.set.v1", Topic: "learnstream.privacy.v1", Summary: "A tenant's retention period set (0 days: kept until erased)."},
	{Type: "learnstream.privacy.retention.applied.v1", Topic: "learnstream.privacy.v1", Summary: "A tenant's data keys of the months before a date destroyed; also published on every topic with learner events, keyed by the tenant."},
	{Type: "learnstream.audit.access.recorded.v1", Topic: "learnstream.audit.v1", Summary: "One read of learners' data through the API."},
	{Type: "learnstream.webhook.subscription.put.v1", Topic: "learnstream.webhooks.v1", Summary: "A webhook or forwarding subscription created or changed (secrets sealed)."},
	{Type: "learnstream.webhook.subscription.deleted.v1", Topic: "learnstream.webhooks.v1", Tombstone: true, Summary: "A subscription deleted: a tombstone (headers, no value)."},
}

// DLQHeaders are the headers a dead-letter record carries on top of the
// original record's, and what each means.
var DLQHeaders = map[string]string{
	"dlq_reason":    "the error, naming the field and the rule",
	"dlq_topic":     "the topic the record was read from",
	"dlq_partition": "its partition",
	"dlq_offset":    "its offset",
	"dlq_consumer":  "the consumer that rejected it",
}

// JSON returns the schema named name (Envelope or an event type) as JSON.
func JSON(name string) ([]byte, error) {
	b, err := files.ReadFile("json/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("schema %q: no such schema", name)
	}
	return b, nil
}

// Names returns the names of every schema: Envelope and the event types
// that carry data, sorted.
func Names() []string {
	ents, err := files.ReadDir("json")
	if err != nil {
		panic(err) // the directory is embedded; it cannot be missing
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		out = append(out, n[:len(n)-len(".json")])
	}
	slices.Sort(out)
	return out
}

// Lookup returns the event type typ.
func Lookup(typ string) (Event, bool) {
	i := slices.IndexFunc(Events, func(e Event) bool { return e.Type == typ })
	if i < 0 {
		return Event{}, false
	}
	return Events[i], true
}
