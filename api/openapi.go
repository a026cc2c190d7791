package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/domain/webhook"
)

// The OpenAPI document is built from a table of operations rather than
// written by hand as JSON: the event schemas of domain/event/schema are
// embedded in it the same way they are in the AsyncAPI document, and a test
// holds the table to the routes the server registers.

type obj = map[string]any

// apiOp is one operation of the HTTP API.
type apiOp struct {
	method, path string
	tag          string
	summary      string
	// public operations take no credentials (health, contracts, what
	// browsers load by URL, the player's token-bearing calls).
	public bool
	// scopes are the credential scopes that may call it (any one).
	scopes []string
	query  []string
	// headers are request headers the operation reads.
	headers []string
	// request maps a content type to its schema; nil means no body.
	request obj
	// responses maps a status code to a content map (nil for no body).
	responses map[string]obj
}

func jsonBody(s obj) obj { return obj{"application/json": obj{"schema": s}} }

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func arrayOf(items obj) obj { return obj{"type": "array", "items": items} }

var (
	str      = obj{"type": "string"}
	anyJSON  = obj{}
	anyBody  = obj{"*/*": obj{"schema": anyJSON}}
	errorRes = jsonBody(ref("Error"))
	// xapiErrors are what every xAPI resource may answer besides success.
	xapiErrors = map[string]obj{"400": errorRes, "401": errorRes, "403": errorRes, "404": errorRes, "409": errorRes,
		"412": errorRes, "413": errorRes, "503": errorRes}
	v1Errors = map[string]obj{"400": errorRes, "401": errorRes, "403": errorRes, "404": errorRes, "409": errorRes,
		"413": errorRes, "503": errorRes}
)

func with(base map[string]obj, more map[string]obj) map[string]obj {
	out := maps.Clone(base)
	maps.Copy(out, more)
	return out
}

var (
	scopesAllRead       = []string{"all", "all/read"}
	statementQueryNames = []string{"statementId", "voidedStatementId", "agent", "verb", "activity", "registration",
		"related_activities", "related_agents", "since", "until", "limit", "format", "attachments", "ascending", "more"}
	documentQueryParams = []string{"activityId", "agent", "registration", "stateId", "profileId", "since"}
	catalogEntity       = map[string]string{"skills": "learnstream.catalog.skill.put.v1",
		"activities": "learnstream.catalog.activity.put.v1", "roles": "learnstream.catalog.role.put.v1"}
)

// apiOps lists every operation the server can register (which of them a
// process serves depends on its roles).
func apiOps() []apiOp {
	ops := []apiOp{
		{method: "GET", path: "/healthz", tag: "operations", summary: "Liveness: the process is up.", public: true,
			responses: map[string]obj{"200": jsonBody(ref("Status"))}},
		{method: "GET", path: "/readyz", tag: "operations", summary: "Readiness: the broker is reachable and the consumers run.", public: true,
			responses: map[string]obj{"200": jsonBody(ref("Status")), "503": jsonBody(ref("Status"))}},
		{method: "GET", path: "/metrics", tag: "operations", summary: "Prometheus metrics (text exposition format).", public: true,
			responses: map[string]obj{"200": obj{"text/plain": obj{"schema": str}}}},
		{method: "GET", path: "/openapi.json", tag: "operations", summary: "This document.", public: true,
			responses: map[string]obj{"200": jsonBody(obj{"type": "object", "required": []string{"openapi", "paths"}})}},
		{method: "GET", path: "/asyncapi.json", tag: "operations", summary: "The AsyncAPI 3.0 document of every topic and event type.", public: true,
			responses: map[string]obj{"200": jsonBody(obj{"type": "object", "required": []string{"asyncapi", "channels"}})}},

		// xAPI LRS.
		{method: "GET", path: "/xapi/about", tag: "xapi", summary: "The xAPI versions this LRS speaks.", public: true,
			responses: map[string]obj{"200": jsonBody(object([]string{"version"}, obj{"version": arrayOf(str), "extensions": obj{"type": "object"}}))}},
		{method: "OPTIONS", path: "/xapi/", tag: "xapi", summary: "CORS preflight; answers for every path under /xapi/.", public: true,
			responses: map[string]obj{"204": nil, "200": nil}},
		{method: "POST", path: "/xapi/", tag: "xapi", summary: "Any path under /xapi/ without a POST of its own: the xAPI alternate request syntax (method=... in the query, the request in a form body) is served, anything else answers 405.", public: true,
			query: []string{"method"}, request: obj{"application/x-www-form-urlencoded": obj{"schema": obj{"type": "object"}}},
			responses: with(xapiErrors, map[string]obj{"200": anyBody, "204": nil, "405": errorRes})},
		{method: "POST", path: "/xapi/statements", tag: "xapi", summary: "Store one statement or a batch; answers the ids.", scopes: scopesStatementsWrite,
			headers: []string{"X-Experience-API-Version"}, query: []string{"method"},
			request: obj{"application/json": obj{"schema": obj{"oneOf": []any{ref("Statement"), arrayOf(ref("Statement"))}}},
				"multipart/mixed": obj{"schema": obj{"type": "string"}}},
			responses: with(xapiErrors, map[string]obj{"200": jsonBody(arrayOf(str))})},
		{method: "PUT", path: "/xapi/statements", tag: "xapi", summary: "Store one statement under the given statementId.", scopes: scopesStatementsWrite,
			headers: []string{"X-Experience-API-Version"}, query: []string{"statementId"},
			request:   obj{"application/json": obj{"schema": ref("Statement")}, "multipart/mixed": obj{"schema": obj{"type": "string"}}},
			responses: with(xapiErrors, map[string]obj{"204": nil})},
		{method: "GET", path: "/xapi/statements", tag: "xapi", summary: "One statement by id, or a StatementResult of a query (more for the next page).", scopes: scopesStatementsRead,
			headers: []string{"X-Experience-API-Version"}, query: statementQueryNames,
			responses: with(xapiErrors, map[string]obj{"200": obj{
				"application/json": obj{"schema": obj{"oneOf": []any{ref("Statement"), ref("StatementResult")}}},
				"multipart/mixed":  obj{"schema": obj{"type": "string"}}}})},
		{method: "GET", path: "/xapi/activities", tag: "xapi", summary: "The canonical definition of an activity.", scopes: scopesDescribe,
			headers: []string{"X-Experience-API-Version"}, query: []string{"activityId"},
			responses: with(xapiErrors, map[string]obj{"200": jsonBody(object([]string{"id"}, obj{"id": str, "objectType": str, "definition": obj{"type": "object"}}))})},
		{method: "GET", path: "/xapi/agents", tag: "xapi", summary: "The Person object of an agent.", scopes: scopesDescribe,
			headers: []string{"X-Experience-API-Version"}, query: []string{"agent"},
			responses: with(xapiErrors, map[string]obj{"200": jsonBody(object([]string{"objectType"}, obj{"objectType": obj{"const": "Person"}}))})},

		// Administration.
		{method: "POST", path: "/v1/admin/credentials", tag: "admin", summary: "Create a credential (the secret is answered once and stored hashed).", scopes: scopesAdmin,
			request:   jsonBody(ref("CredentialRequest")),
			responses: with(v1Errors, map[string]obj{"201": jsonBody(ref("CredentialRequest"))})},
		{method: "GET", path: "/v1/admin/credentials", tag: "admin", summary: "The caller's tenant's credentials (an operator's ?tenant= names another, or * all).", scopes: scopesAdmin,
			query:     []string{"tenant"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(arrayOf(ref("Credential")))})},
		{method: "DELETE", path: "/v1/admin/credentials/{key}", tag: "admin", summary: "Revoke a credential.", scopes: scopesAdmin,
			responses: with(v1Errors, map[string]obj{"204": nil})},
		{method: "GET", path: "/v1/admin/projections", tag: "admin", summary: "The read models, their counts and (operators) their positions; ?counts=false leaves out the counts (statements and audit entries are counters; the rest walk read models the size of the population).", scopes: scopesAdmin,
			query:     []string{"tenant", "counts"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(arrayOf(object([]string{"name"}, obj{"name": str})))})},
		{method: "POST", path: "/v1/admin/projections/{name}/replay", tag: "admin", summary: "Rebuild a read model from offset 0 (operator scope).", scopes: []string{"operator"},
			responses: with(v1Errors, map[string]obj{"202": jsonBody(object([]string{"name"}, obj{"name": str}))})},

		// Learners.
		{method: "GET", path: "/v1/learners/{learner}/progress", tag: "learners", summary: "Progress per activity (attempts, best score, completion), with the adaptive role's effect evaluation when it runs.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"learner", "activities"}, obj{"learner": str, "activities": arrayOf(obj{"type": "object"})}))})},
		{method: "GET", path: "/v1/learners/{learner}/recommendations", tag: "learners", summary: "The learner's latest recommendations, as the last recommendations.updated event carried them.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("LearnerRecommendations"))})},
		{method: "GET", path: "/v1/learners/{learner}/mastery", tag: "learners", summary: "BKT mastery and Elo ability per skill.", scopes: scopesAllRead,
			query:     []string{"threshold"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"learner", "skills"}, obj{"learner": str, "threshold": obj{"type": "number"}, "skills": arrayOf(ref("SkillMastery"))}))})},
		{method: "GET", path: "/v1/learners/{learner}/next", tag: "learners", summary: "The next items, nearest the target success probability.", scopes: scopesAllRead,
			query:     []string{"skill", "n", "target"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("NextItem"))})},
		{method: "GET", path: "/v1/learners/{learner}/role", tag: "learners", summary: "The learner's role.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("LearnerRole"))})},
		{method: "PUT", path: "/v1/learners/{learner}/role", tag: "learners", summary: "Assign the learner a target role (an empty role removes it); their recommendations are ranked again for its skill gap.", scopes: []string{"all"},
			request:   jsonBody(object([]string{"role"}, obj{"role": str})),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("LearnerRole"))})},
		{method: "GET", path: "/v1/learners/{learner}/path", tag: "learners", summary: "A learning path to a role or skill.", scopes: scopesAllRead,
			query:     []string{"role", "skill"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("LearningPath"))})},
		{method: "GET", path: "/v1/courses/{id}/effectiveness", tag: "learners", summary: "How well a course teaches its skills across learners.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(obj{"type": "object"})})},
		{method: "GET", path: "/v1/streams/recommendations", tag: "learners", summary: "Server-sent events of the recommendations topic: each event's name is the ce_type, its data the event data, its id a resume position for Last-Event-ID.", scopes: scopesAllRead,
			headers: []string{"Last-Event-ID"}, query: []string{"from", "learner"},
			responses: with(v1Errors, map[string]obj{"200": obj{"text/event-stream": obj{"schema": str, "x-event-data": ref("learnstream.recommendations.updated.v1")}}})},

		// Privacy.
		{method: "GET", path: "/v1/learners/{learner}/access", tag: "privacy", summary: "The access audit of the learner: every read of their data through the API, oldest first (cursor: the next value of the previous page).", scopes: scopesPrivacy,
			query:     []string{"limit", "cursor"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("AccessPage"))})},
		{method: "GET", path: "/v1/learners/{learner}/export", tag: "privacy", summary: "Everything learnstream holds of the learner as one zip a person can read: README.txt, statements (JSON and readable lines), attachments, state and agent-profile documents, progress, mastery, recommendations with their reasons, consent, the access audit. Streamed; 404 when the tenant holds nothing of the learner.", scopes: scopesPrivacy,
			responses: with(v1Errors, map[string]obj{"200": obj{"application/zip": obj{"schema": obj{"type": "string", "contentEncoding": "binary"}}}})},
		{method: "GET", path: "/v1/learners/{learner}/consent", tag: "privacy", summary: "The learner's consent to personalisation and analytics (both true until withdrawn).", scopes: scopesConsent,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Consent"))})},
		{method: "PUT", path: "/v1/learners/{learner}/consent", tag: "privacy", summary: "Set the learner's consent; a consent.set event in order with their statements.", scopes: scopesConsent,
			request:   jsonBody(object([]string{"personalisation", "analytics"}, obj{"personalisation": obj{"type": "boolean"}, "analytics": obj{"type": "boolean"}})),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Consent"))})},
		{method: "DELETE", path: "/v1/learners/{learner}", tag: "privacy", summary: "Erase the learner (privacy scope, which all does not include): their data keys are destroyed and every consumer deletes what it holds. 202 with the erasure id and Location /v1/erasures/{id}; with ?wait= (at most 55s) 200 and the complete receipt when every consumer answered in time. Erasing a learner whose erasure is still open, or an erased learner, answers with that erasure (no second one starts); a learner the tenant never held is 404; 503 while a restarted server's receipts catch up.", scopes: scopesPrivacy,
			query:     []string{"wait"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("ErasureReceipt")), "202": jsonBody(object([]string{"id", "status", "receipt"}, obj{"id": str, "status": str, "receipt": str}))})},
		{method: "GET", path: "/v1/erasures/{id}", tag: "privacy", summary: "The receipt of an erasure: when the keys were destroyed, what each consumer removed (counts), which have not answered, the store purges. No personal data.", scopes: scopesPrivacy,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("ErasureReceipt"))})},
		{method: "POST", path: "/v1/admin/purge", tag: "privacy", summary: "Purge this process's projections store now (operator scope): deleted values leave its files. Runs by itself at most every --purge-every after erasures.", scopes: []string{"operator"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"store", "at", "erasures"}, obj{"store": str, "at": obj{"type": "string", "format": "date-time"}, "erasures": arrayOf(str)}))})},
		{method: "GET", path: "/v1/admin/retention", tag: "privacy", summary: "The tenant's retention period (an operator's ?tenant= names another).", scopes: scopesRetentionRead,
			query:     []string{"tenant"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Retention"))})},
		{method: "PUT", path: "/v1/admin/retention", tag: "privacy", summary: "Set the tenant's retention period in days (0: keep until erased); the retention role applies it by whole months.", scopes: scopesRetention,
			query:     []string{"tenant"},
			request:   jsonBody(object([]string{"days"}, obj{"days": obj{"type": "integer", "minimum": 0, "maximum": 36500}})),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Retention"))})},

		// Catalog.
		{method: "GET", path: "/v1/catalog", tag: "catalog", summary: "Counts of the catalog's entities and the problems found in it.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"skills", "activities", "roles", "prerequisites", "problems"}, obj{"problems": arrayOf(anyJSON)}))})},
		{method: "POST", path: "/v1/catalog/import", tag: "catalog", summary: "Import skills, prerequisites, activities and roles (JSON or CSV).", scopes: []string{"all"},
			request:   obj{"application/json": obj{"schema": ref("CatalogImport")}, "text/csv": obj{"schema": str}},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"skills", "prerequisites"}, obj{}))})},
		{method: "GET", path: "/v1/prerequisites", tag: "catalog", summary: "Every prerequisite edge.", scopes: scopesAllRead,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"prerequisites"}, obj{"prerequisites": arrayOf(ref("learnstream.catalog.prerequisite.put.v1"))}))})},
		{method: "PUT", path: "/v1/prerequisites/{from}/{to}", tag: "catalog", summary: "Add the edge: from is learned before to.", scopes: []string{"all"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"from", "to"}, obj{"from": str, "to": str, "prerequisites_of_to": arrayOf(str)}))})},
		{method: "DELETE", path: "/v1/prerequisites/{from}/{to}", tag: "catalog", summary: "Remove the edge.", scopes: []string{"all"},
			responses: with(v1Errors, map[string]obj{"204": nil})},

		// Content.
		{method: "POST", path: "/v1/packages", tag: "content", summary: "Import a SCORM 1.2/2004 or cmi5 package (zip); its course joins the catalog.", scopes: []string{"all", "packages"},
			request:   obj{"application/zip": obj{"schema": obj{"type": "string", "contentEncoding": "binary"}}},
			responses: with(v1Errors, map[string]obj{"201": jsonBody(ref("PackageImport"))})},
		{method: "GET", path: "/v1/packages", tag: "content", summary: "The tenant's packages.", scopes: []string{"all", "all/read", "packages"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"packages"}, obj{"packages": arrayOf(obj{"type": "object"})}))})},
		{method: "GET", path: "/v1/packages/{id}", tag: "content", summary: "One package and its units.", scopes: []string{"all", "all/read", "packages"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"id", "import"}, obj{"id": str, "import": str}))})},
		{method: "GET", path: "/content/{id}/{import}/{path}", tag: "content", summary: "A file of an imported package ({path} may span several segments).", public: true,
			responses: map[string]obj{"200": anyBody, "404": anyBody}},
		{method: "POST", path: "/v1/registrations", tag: "content", summary: "Launch a package unit for a learner: a registration and a player URL.", scopes: []string{"all"},
			request:   jsonBody(object([]string{"actor", "package"}, obj{"actor": obj{"type": "object"}, "package": str, "unit": str})),
			responses: with(v1Errors, map[string]obj{"201": jsonBody(ref("Registration"))})},
		{method: "POST", path: "/v1/registrations/{registration}/waive", tag: "content", summary: "Waive a cmi5 AU for a registration.", scopes: []string{"all"},
			request:   jsonBody(obj{"type": "object"}),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(obj{"type": "object"})})},
		{method: "GET", path: "/player/{token}", tag: "player", summary: "The SCORM player page of a launch.", public: true,
			responses: map[string]obj{"200": obj{"text/html": obj{"schema": str}}, "404": anyBody, "503": anyBody}},
		{method: "GET", path: "/player/assets/{file}", tag: "player", summary: "The player's runtime assets.", public: true,
			responses: map[string]obj{"200": anyBody, "404": anyBody}},
		{method: "POST", path: "/v1/runtime/{token}", tag: "player", summary: "A SCORM runtime commit of a launch (the token authorises it); answers the SCORM error code.", public: true,
			request:   jsonBody(obj{"type": "object"}),
			responses: map[string]obj{"200": jsonBody(object([]string{"error"}, obj{"error": obj{"type": "integer"}, "message": str, "statements": obj{"type": "integer"}})), "400": errorRes, "404": errorRes, "410": errorRes, "503": errorRes}},
		{method: "POST", path: "/v1/cmi5/fetch/{token}", tag: "player", summary: "The cmi5 fetch URL: answers the launch's auth token once.", public: true,
			responses: map[string]obj{"200": jsonBody(object([]string{"auth-token"}, obj{"auth-token": str})), "400": jsonBody(object([]string{"error-code"}, obj{"error-code": obj{"type": "integer"}, "error-text": str}))}},
		{method: "GET", path: "/cmi5/{token}/xapi/about", tag: "player", summary: "xAPI about for a cmi5 AU.", public: true,
			responses: map[string]obj{"200": jsonBody(object([]string{"version"}, obj{"version": arrayOf(str)}))}},
	}
	for _, m := range []string{"POST", "PUT"} {
		ops = append(ops, apiOp{method: m, path: "/cmi5/{token}/xapi/statements", tag: "player", summary: "Statements of a cmi5 AU (cmi5 rules enforced), under the launch's auth token.", public: true,
			headers: []string{"Authorization"}, query: []string{"statementId"},
			request:   jsonBody(obj{"oneOf": []any{ref("Statement"), arrayOf(ref("Statement"))}}),
			responses: with(xapiErrors, map[string]obj{"200": jsonBody(arrayOf(str)), "204": nil})})
	}
	for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
		ops = append(ops, apiOp{method: m, path: "/cmi5/{token}/xapi/activities/state", tag: "player", summary: "The xAPI State resource of a cmi5 AU, under the launch's auth token.", public: true,
			headers: []string{"Authorization"}, query: documentQueryParams,
			request:   anyBody,
			responses: with(xapiErrors, map[string]obj{"200": anyBody, "204": nil})})
	}
	ops = append(ops, apiOp{method: "GET", path: "/cmi5/{token}/xapi/agents/profile", tag: "player", summary: "The learner preferences agent profile of a cmi5 AU.", public: true,
		headers: []string{"Authorization"}, query: documentQueryParams,
		responses: with(xapiErrors, map[string]obj{"200": anyBody})})

	// Webhooks and statement forwarding.
	wh := []string{"all", "webhooks"}
	ops = append(ops,
		apiOp{method: "POST", path: "/v1/webhooks", tag: "webhooks", summary: "Register a webhook (signed deliveries of matching events) or an xapi-forward subscription (statements posted to another LRS); the answer shows the signing secret, once.", scopes: wh,
			request:   jsonBody(ref("WebhookRequest")),
			responses: with(v1Errors, map[string]obj{"201": jsonBody(ref("Webhook"))})},
		apiOp{method: "GET", path: "/v1/webhooks", tag: "webhooks", summary: "The tenant's subscriptions.", scopes: wh,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"webhooks"}, obj{"webhooks": arrayOf(ref("Webhook"))}))})},
		apiOp{method: "GET", path: "/v1/webhooks/{id}", tag: "webhooks", summary: "One subscription (another tenant's answers 404).", scopes: wh,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Webhook"))})},
		apiOp{method: "PATCH", path: "/v1/webhooks/{id}", tag: "webhooks", summary: "Change a subscription's URL, filter, description or credentials, or pause and resume it (paused: deliveries wait, nothing is dropped).", scopes: wh,
			request:   jsonBody(ref("WebhookRequest")),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Webhook"))})},
		apiOp{method: "DELETE", path: "/v1/webhooks/{id}", tag: "webhooks", summary: "Delete a subscription with its queued deliveries and dead letters.", scopes: wh,
			responses: with(v1Errors, map[string]obj{"204": nil})},
		apiOp{method: "POST", path: "/v1/webhooks/{id}/ping", tag: "webhooks", summary: "Send a signed learnstream.webhook.ping.v1 message once (xapi-forward: GET the target LRS's about with its credentials) and answer how the receiver answered.", scopes: wh,
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"delivered", "status", "duration_ms"}, obj{
				"delivered": obj{"type": "boolean"}, "status": obj{"type": "integer"}, "duration_ms": obj{"type": "integer"}, "error": str}))})},
		apiOp{method: "POST", path: "/v1/webhooks/{id}/secret/rotate", tag: "webhooks", summary: "Make a new signing secret current; the old one keeps signing (both signatures are sent) for the overlap (default 24h).", scopes: wh,
			request:   jsonBody(object(nil, obj{"overlap": obj{"type": "string", "description": "a duration such as 24h, at most 168h"}, "secret": obj{"type": "string", "pattern": "^whsec_"}})),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(ref("Webhook"))})},
		apiOp{method: "POST", path: "/v1/webhooks/{id}/replay", tag: "webhooks", summary: "Deliver again every matching event since a time, from the log, with the same webhook-id as before.", scopes: wh,
			request:   jsonBody(object([]string{"since"}, obj{"since": obj{"type": "string", "format": "date-time"}})),
			responses: with(v1Errors, map[string]obj{"202": jsonBody(object([]string{"id", "since"}, obj{"id": str, "since": obj{"type": "string", "format": "date-time"}}))})},
		apiOp{method: "GET", path: "/v1/webhooks/{id}/dead-letters", tag: "webhooks", summary: "Messages that used up their attempts, oldest first (this process's, when it runs the webhooks role); next pages the rest.", scopes: wh,
			query:     []string{"limit", "after"},
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"dead_letters"}, obj{"dead_letters": arrayOf(ref("DeadLetter")), "next": str}))})},
		apiOp{method: "POST", path: "/v1/webhooks/{id}/dead-letters/redeliver", tag: "webhooks", summary: "Queue dead letters again (ids, or all without a body), attempts reset, same webhook-id.", scopes: wh,
			request:   jsonBody(object(nil, obj{"ids": arrayOf(str)})),
			responses: with(v1Errors, map[string]obj{"202": jsonBody(object([]string{"redelivering"}, obj{"redelivering": obj{"type": "integer"}}))})},
		apiOp{method: "DELETE", path: "/v1/webhooks/{id}/dead-letters", tag: "webhooks", summary: "Delete dead letters (ids, or all without a body).", scopes: wh,
			request:   jsonBody(object(nil, obj{"ids": arrayOf(str)})),
			responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{"deleted"}, obj{"deleted": obj{"type": "integer"}}))})},
	)

	docs := []struct {
		path        string
		what        string
		read, write []string
	}{
		{"/xapi/activities/state", "State", scopesStateRead, scopesStateWrite},
		{"/xapi/activities/profile", "Activity Profile", scopesProfileRead, scopesProfileWrite},
		{"/xapi/agents/profile", "Agent Profile", scopesProfileRead, scopesProfileWrite},
	}
	for _, d := range docs {
		ops = append(ops,
			apiOp{method: "GET", path: d.path, tag: "xapi", summary: "One " + d.what + " document, or the ids of the documents (without the id parameter).", scopes: d.read,
				headers: []string{"X-Experience-API-Version", "If-None-Match"}, query: documentQueryParams,
				responses: with(xapiErrors, map[string]obj{"200": anyBody, "304": nil})},
			apiOp{method: "PUT", path: d.path, tag: "xapi", summary: "Store a " + d.what + " document (If-Match / If-None-Match honoured).", scopes: d.write,
				headers: []string{"X-Experience-API-Version", "If-Match", "If-None-Match"}, query: documentQueryParams, request: anyBody,
				responses: with(xapiErrors, map[string]obj{"204": nil})},
			apiOp{method: "POST", path: d.path, tag: "xapi", summary: "Merge a JSON object into a " + d.what + " document.", scopes: d.write,
				headers: []string{"X-Experience-API-Version", "If-Match", "If-None-Match"}, query: documentQueryParams, request: jsonBody(obj{"type": "object"}),
				responses: with(xapiErrors, map[string]obj{"204": nil})},
			apiOp{method: "DELETE", path: d.path, tag: "xapi", summary: "Delete a " + d.what + " document (State: or every matching document).", scopes: d.write,
				headers: []string{"X-Experience-API-Version", "If-Match"}, query: documentQueryParams,
				responses: with(xapiErrors, map[string]obj{"204": nil})},
		)
	}

	// Skills, activities and roles share one shape of resource; their
	// bodies are the data of their catalog events (a skill's answers add
	// its place in the graph).
	for _, kind := range []string{"skills", "activities", "roles"} {
		one := map[string]string{"skills": "skill", "activities": "activity", "roles": "role"}[kind]
		entity := ref(catalogEntity[kind])
		answer, item := entity, entity
		if kind == "skills" {
			answer = ref("SkillInfo")
			item = object([]string{"id", "prerequisites"}, obj{"id": str, "name": str, "prerequisites": arrayOf(str)})
		}
		ops = append(ops,
			apiOp{method: "GET", path: "/v1/" + kind, tag: "catalog", summary: "Every " + one + (map[string]string{"skills": ", prerequisites first"})[kind] + ".", scopes: scopesAllRead,
				responses: with(v1Errors, map[string]obj{"200": jsonBody(object([]string{kind}, obj{kind: arrayOf(item)}))})},
			apiOp{method: "GET", path: "/v1/" + kind + "/{id}", tag: "catalog", summary: "One " + one + ".", scopes: scopesAllRead,
				responses: with(v1Errors, map[string]obj{"200": jsonBody(answer)})},
			apiOp{method: "PUT", path: "/v1/" + kind + "/{id}", tag: "catalog", summary: "Create or replace a " + one + " (the body is the data of its catalog event; id defaults to the path's).", scopes: []string{"all"},
				request:   jsonBody(entity),
				responses: with(v1Errors, map[string]obj{"200": jsonBody(answer)})},
			apiOp{method: "DELETE", path: "/v1/" + kind + "/{id}", tag: "catalog", summary: "Remove a " + one + ".", scopes: []string{"all"},
				responses: with(v1Errors, map[string]obj{"204": nil})},
		)
	}
	return ops
}

// componentSchemas are the named schemas of the document: the event
// schemas under their type names, and the API's own.
func componentSchemas() (obj, error) {
	out := obj{}
	for _, name := range schema.Names() {
		s, err := eventSchema(name)
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	rec, err := eventSchema("learnstream.recommendations.updated.v1")
	if err != nil {
		return nil, err
	}
	// The read model answers the event's data with the event's id and time.
	props := maps.Clone(rec["properties"].(map[string]any))
	props["event_id"] = obj{"type": "string", "description": "ce_id of the recommendations.updated event"}
	props["time"] = obj{"type": "string", "format": "date-time", "description": "its ce_time"}
	rec["properties"] = props
	rec["required"] = append(slices.Clone(toStrings(rec["required"])), "event_id", "time")
	rec["description"] = "The data of the learner's latest learnstream.recommendations.updated.v1 event, with its id and time."
	out["LearnerRecommendations"] = rec

	out["Statement"] = obj{"type": "object", "required": []string{"actor", "verb", "object"},
		"description": "An xAPI statement (xAPI 1.0.3 or 2.0, Data chapter). Stored statements are the data of learnstream.xapi.statement.stored.v1."}
	out["StatementResult"] = object([]string{"statements"}, obj{"statements": arrayOf(ref("learnstream.xapi.statement.stored.v1")), "more": str})
	out["Error"] = obj{"type": "object", "required": []string{"error"}, "properties": obj{
		"error": obj{"type": "string", "description": "what went wrong, naming the field and the rule"},
		"field": obj{"type": "string"}, "rule": obj{"type": "string"}}}
	out["Status"] = object([]string{"status"}, obj{"status": str, "reason": str})
	dateTime := obj{"type": "string", "format": "date-time"}
	out["AccessPage"] = object([]string{"learner", "pseudonym", "records"}, obj{"learner": str, "pseudonym": str,
		"records": arrayOf(ref("learnstream.audit.access.recorded.v1")), "next": str})
	out["Consent"] = object([]string{"learner", "personalisation", "analytics"}, obj{"learner": str,
		"personalisation": obj{"type": "boolean"}, "analytics": obj{"type": "boolean"},
		"set": obj{"type": "string", "format": "date-time", "description": "when it was last set; absent when never (the defaults)"}})
	out["Retention"] = object([]string{"tenant", "days"}, obj{"tenant": str, "days": obj{"type": "integer", "minimum": 0},
		"before": obj{"type": "string", "format": "date-time", "description": "start of the UTC month before which the tenant's data is destroyed once the retention role ran"},
		"set":    dateTime, "by": str})
	out["ErasureReceipt"] = object([]string{"id", "tenant", "status", "requested_at", "keys_destroyed", "expected", "pending", "consumers"}, obj{
		"id": str, "tenant": str,
		"status": obj{"type": "string", "enum": []string{"requested", "keys_destroyed", "published", "complete"}},
		"reason": str, "requested_by": str, "requested_at": dateTime,
		"keys_destroyed_at": dateTime, "keys_destroyed": obj{"type": "integer"},
		"published_at": dateTime, "topics": arrayOf(str),
		"expected": arrayOf(str), "pending": arrayOf(str),
		"consumers": arrayOf(object([]string{"consumer", "at", "removed"}, obj{"consumer": str, "at": dateTime,
			"removed": obj{"type": "object", "additionalProperties": obj{"type": "integer"}}})),
		"completed_at": dateTime,
		"purges":       arrayOf(object([]string{"store", "at"}, obj{"store": str, "at": dateTime}))})
	out["CredentialRequest"] = object([]string{"key", "secret"}, obj{
		"key": str, "secret": str, "name": str, "tenant": str,
		"scopes": arrayOf(str)})
	out["Credential"] = object([]string{"key", "tenant", "scopes"}, obj{
		"key": str, "name": str, "tenant": str, "scopes": arrayOf(str), "created": obj{"type": "string", "format": "date-time"}})
	out["SkillInfo"] = object([]string{"id", "prerequisites", "dependents", "taught_by", "assessed_by"}, obj{
		"id": str, "name": str,
		"prerequisites": obj{"type": "array", "items": str, "description": "skills learned before this one"},
		"dependents":    obj{"type": "array", "items": str, "description": "skills that require this one"},
		"taught_by":     obj{"type": "array", "items": str, "description": "activities that teach it"},
		"assessed_by":   obj{"type": "array", "items": str, "description": "activities that assess it"}})
	num := obj{"type": "number"}
	p01 := obj{"type": "number", "minimum": 0, "maximum": 1}
	out["NextItem"] = object([]string{"learner", "skill", "target", "requested_target", "item", "candidates", "reasons", "ability", "ability_source"}, obj{
		"learner": str, "skill": str,
		"item":              obj{"type": []string{"string", "null"}, "description": "the item to practise next; null when no open item assesses the skill"},
		"title":             str,
		"target":            obj{"type": "number", "minimum": 0, "maximum": 1, "description": "the success probability aimed at, after adjusting for recent success"},
		"requested_target":  p01,
		"predicted_success": p01, "difficulty": num, "ability": num,
		"ability_source": obj{"enum": []string{"skill", "global", "prior"}},
		"recent_success": p01, "recent_attempts": obj{"type": "number", "minimum": 0},
		"reasons": arrayOf(str),
		"candidates": arrayOf(object([]string{"item", "predicted_success", "difficulty", "item_attempts"}, obj{
			"item": str, "title": str, "predicted_success": p01, "difficulty": num, "item_attempts": obj{"type": "integer", "minimum": 0}})),
	})
	out["LearningPath"] = object([]string{"learner", "target", "missing", "steps", "uncovered", "duration"}, obj{
		"learner":        str,
		"target":         object(nil, obj{"role": str, "skill": str}),
		"mastery_source": str,
		"missing":        obj{"type": "array", "items": str, "description": "skills the learner lacks for the target"},
		"uncovered":      obj{"type": "array", "items": str, "description": "missing skills no activity teaches"},
		"duration":       obj{"type": "string", "description": "ISO 8601 total of the steps"},
		"steps": arrayOf(object([]string{"activity", "type", "skills", "reasons"}, obj{
			"activity": str, "type": str, "title": str, "duration": str, "skills": arrayOf(str), "reasons": arrayOf(str)})),
	})
	out["LearnerRole"] = object([]string{"learner", "role"}, obj{"learner": str, "role": str})
	out["SkillMastery"] = object([]string{"skill", "p_mastery", "attempts", "mastered"}, obj{
		"skill": str, "p_mastery": obj{"type": "number", "minimum": 0, "maximum": 1}, "ability": obj{"type": "number"},
		"attempts": obj{"type": "integer", "minimum": 0}, "correct": obj{"type": "integer", "minimum": 0}, "mastered": obj{"type": "boolean"},
		"mastered_at": obj{"type": []string{"string", "null"}, "format": "date-time"}})
	out["CatalogImport"] = object(nil, obj{
		"skills": arrayOf(obj{"type": "object", "required": []string{"id"}, "additionalProperties": false, "properties": obj{
			"id": str, "name": str, "requires": obj{"type": "array", "items": str, "description": "the skill's prerequisites"}}}),
		"prerequisites": arrayOf(ref("learnstream.catalog.prerequisite.put.v1")),
		"activities":    arrayOf(ref("learnstream.catalog.activity.put.v1")),
		"roles":         arrayOf(ref("learnstream.catalog.role.put.v1"))})
	out["PackageImport"] = object([]string{"id", "import", "type", "course", "url"}, obj{
		"id": str, "import": str, "type": str, "course": str, "title": str, "units": obj{"type": "integer"},
		"files": obj{"type": "integer"}, "bytes": obj{"type": "integer"}, "url": str, "catalog": obj{"type": "object"}})
	out["Registration"] = object([]string{"registration", "package", "unit", "activity", "launch"}, obj{
		"registration": str, "package": str, "unit": str, "activity": str, "launch": str, "session": str})
	filter := object(nil, obj{
		"types":      obj{"type": "array", "items": obj{"enum": webhook.Types()}, "description": "event types (empty: every type a webhook can receive; xapi-forward: statements)"},
		"learners":   obj{"type": "array", "items": str, "description": "learners, sent as learner keys, mailto: IRIs, e-mail addresses or the pseudonyms answered before; kept and answered as the learners' privacy pseudonyms (p and 32 hex digits), so a subscription names no learner once they are erased. Send an identifier again to name the same learner. With privacy off: learner keys"},
		"activities": obj{"type": "array", "items": str, "description": "activity IRIs (a statement's object, a decision's item)"},
		"verbs":      obj{"type": "array", "items": str, "description": "verb IRIs (statements)"}})
	filter["additionalProperties"] = false
	out["WebhookRequest"] = obj{"type": "object", "additionalProperties": false, "properties": obj{
		"kind":        obj{"enum": []string{webhook.KindWebhook, webhook.KindXAPIForward}},
		"url":         obj{"type": "string", "format": "uri", "description": "https receiver (or the target LRS's xAPI endpoint); must resolve to public addresses"},
		"description": str, "filter": filter, "paused": obj{"type": "boolean"},
		"secret": obj{"type": "string", "pattern": "^whsec_", "description": "a signing secret of your own (POST only; default: generated)"},
		"auth": obj{"type": "object", "additionalProperties": false, "required": []string{"username", "password"}, "properties": obj{
			"username": str, "password": str}, "description": "xapi-forward: the target LRS's Basic credentials (stored sealed, never answered)"}}}
	date := obj{"type": "string", "format": "date-time"}
	count := obj{"type": "integer", "minimum": 0}
	out["Webhook"] = object([]string{"id", "kind", "url", "filter", "paused", "created", "updated"}, obj{
		"id": str, "kind": obj{"enum": []string{webhook.KindWebhook, webhook.KindXAPIForward}}, "url": str, "description": str,
		"filter": filter, "paused": obj{"type": "boolean"}, "created": date, "updated": date,
		"secret":                  obj{"type": "string", "description": "the signing secret: in the answers of POST and of rotation only"},
		"previous_secret_expires": date, "username": str,
		"replay":       object([]string{"id", "since"}, obj{"id": str, "since": date}),
		"queued":       count,
		"dead_letters": count})
	out["DeadLetter"] = object([]string{"id", "message", "event", "type", "time", "attempts", "dead", "body"}, obj{
		"id": str, "message": obj{"type": "string", "description": "the webhook-id"}, "event": str, "type": str, "time": date,
		"attempts": count, "last_status": obj{"type": "integer"}, "last_error": str, "dead": date,
		"body": obj{"description": "what was sent"}})
	return out, nil
}

func toStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// eventSchema returns the schema name of domain/event/schema as a schema
// object to embed in a document ($schema dropped: the document says which
// dialect its schemas use).
func eventSchema(name string) (obj, error) {
	b, err := schema.JSON(name)
	if err != nil {
		return nil, err
	}
	var s obj
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	delete(s, "$schema")
	return s, nil
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// OpenAPI returns the OpenAPI 3.1 document of the HTTP API.
func OpenAPI() ([]byte, error) {
	schemas, err := componentSchemas()
	if err != nil {
		return nil, err
	}
	paths := obj{}
	for _, op := range apiOps() {
		item, _ := paths[op.path].(obj)
		if item == nil {
			item = obj{}
			paths[op.path] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
			p := obj{"name": m[1], "in": "path", "required": true, "schema": str}
			if m[1] == "learner" {
				p["description"] = "a learner key (mbox:mailto:..., account:<homePage>|<name>, ...), a mailto: IRI or an e-mail address"
			}
			params = append(params, p)
		}
		for _, q := range op.query {
			params = append(params, obj{"name": q, "in": "query", "schema": str})
		}
		for _, h := range op.headers {
			params = append(params, obj{"name": h, "in": "header", "schema": str})
		}
		o := obj{
			"operationId": operationID(op.method, op.path),
			"summary":     op.summary,
			"tags":        []string{op.tag},
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.public {
			o["security"] = []any{}
		} else {
			o["description"] = "Scopes: " + strings.Join(op.scopes, ", ") + " (any one)."
		}
		if op.request != nil {
			o["requestBody"] = obj{"content": op.request}
		}
		res := obj{}
		for code, content := range op.responses {
			r := obj{"description": http.StatusText(atoi(code))}
			if content != nil {
				r["content"] = content
			}
			res[code] = r
		}
		if !op.public {
			res["401"] = obj{"description": "no or bad credentials", "content": errorRes}
		}
		o["responses"] = res
		item[strings.ToLower(op.method)] = o
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "learnstream",
			"version":     "1",
			"description": "The HTTP API of learnstream: the xAPI 1.0.3 / 2.0 LRS under /xapi/, the REST API under /v1/, the content player, and operations. The events behind it are described by /asyncapi.json; both documents share the event schemas of docs/events.md.",
		},
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"tags": []any{
			obj{"name": "xapi", "description": "xAPI LRS (statements, documents, activities, agents, about)."},
			obj{"name": "catalog", "description": "Skills, prerequisites, activities and roles."},
			obj{"name": "learners", "description": "Recommendations, mastery, next items, paths, progress."},
			obj{"name": "content", "description": "SCORM and cmi5 packages and their launches."},
			obj{"name": "player", "description": "Routes the browser player and cmi5 AUs call with a launch token."},
			obj{"name": "privacy", "description": "A learner's access audit, consent and export; the tenant's retention period (docs/privacy.md)."},
			obj{"name": "admin", "description": "Credentials and read models."},
			obj{"name": "webhooks", "description": "Webhook and statement-forwarding subscriptions, their dead letters and replays."},
			obj{"name": "operations", "description": "Health, metrics and the contracts."},
		},
		"security": []any{obj{"basic": []any{}}},
		"paths":    paths,
		"components": obj{
			"securitySchemes": obj{"basic": obj{"type": "http", "scheme": "basic",
				"description": "A credential's key and secret. Its tenant scopes every read and write; its scopes decide what it may call."}},
			"schemas": schemas,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// operationID names an operation after its method and path:
// GET /v1/learners/{learner}/mastery is getV1LearnersLearnerMastery.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	up := true
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if up && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

// documentHandler serves a document built once, on first request.
func documentHandler(build func() ([]byte, error)) http.HandlerFunc {
	once := sync.OnceValues(build)
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := once()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(b)
	}
}
