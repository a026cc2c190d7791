package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// docSchemas compiles the event schemas of the AsyncAPI document the
// server serves (components.schemas: the schemas of domain/event/schema,
// which docs/events.md shows), keyed by name: "envelope" or an event type.
func docSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	b, err := api.AsyncAPI(api.AsyncAPIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for name, raw := range doc.Components.Schemas {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("asyncapi schema %s is not JSON: %v", name, err)
		}
		url := "mem://asyncapi/" + name
		if err := c.AddResource(url, v); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(url)
		if err != nil {
			t.Fatalf("asyncapi schema %s: %v", name, err)
		}
		out[name] = s
	}
	for _, name := range schema.Names() {
		if out[name] == nil {
			t.Fatalf("/asyncapi.json has no schema %s", name)
		}
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, what string, doc []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Errorf("%s is not JSON: %v", what, err)
		return
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match its schema in /asyncapi.json (docs/events.md): %v\n%s", what, err, doc)
	}
}

// Every record the server writes matches the schemas in docs/events.md,
// and every event type it emits has a schema there.
func TestEmittedEventsMatchTheirSchemas(t *testing.T) {
	schemas := docSchemas(t)
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir()}, isolate()...)...)
	defer p.stop(t)
	bodies := []string{
		statement(1),
		`[` + statement(2) + `,` + statement(3) + `]`,
		`{"actor":{"objectType":"Group","name":"Team","member":[{"mbox":"mailto:a@example.com"},{"account":{"homePage":"https://hr.example.com","name":"b"}}]},
		  "verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"id":"https://example.com/meetings/1"},
		  "context":{"registration":"6d3f0b8e-1c2a-4b5d-8e9f-0a1b2c3d4e5f","contextActivities":{"parent":{"id":"https://example.com/courses/c1"}}}}`,
		`{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},
		  "object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://example.com/a"}},
		  "result":{"success":true,"duration":"PT1M30S","score":{"raw":7,"min":0,"max":10}}}`,
	}
	for _, b := range bodies {
		if code, _, body := p.do(t, "POST", "/xapi/statements", b); code != http.StatusOK {
			t.Fatalf("POST: %d %s", code, body)
		}
	}
	// An xAPI 2.0 statement with context agents and groups: stored with
	// version 2.0.0, it must match the same schema.
	v2 := `{"actor":{"mbox":"mailto:a@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"id":"https://example.com/games/1"},
	  "context":{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:coach@example.com"},"relevantTypes":["https://example.com/types/coach"]}],
	  "contextGroups":[{"objectType":"contextGroup","group":{"objectType":"Group","member":[{"mbox":"mailto:b@example.com"}]}}]}}`
	req, _ := http.NewRequest("POST", p.url+"/xapi/statements", strings.NewReader(v2))
	req.SetBasicAuth(testKey, testSecret)
	req.Header.Set("X-Experience-API-Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST in xAPI 2.0.0: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := streams.EndOffsets(ctx, []string{p.kafka}, streams.TopicStatements)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for part, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{p.kafka}, Dialer: streams.Dialer([]string{p.kafka}), Topic: streams.TopicStatements, Partition: part, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			headers := map[string]string{}
			for _, h := range m.Headers {
				headers[h.Key] = string(h.Value)
			}
			hj, _ := json.Marshal(headers)
			validate(t, schemas["envelope"], "headers of "+headers["ce_id"], hj)
			s := schemas[headers["ce_type"]]
			if s == nil {
				t.Errorf("event type %q is emitted but has no schema in docs/events.md", headers["ce_type"])
			} else {
				validate(t, s, "data of "+headers["ce_type"]+" "+headers["ce_id"], m.Value)
			}
			seen++
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	if seen < 6 {
		t.Fatalf("read %d records, want at least the 6 statements posted", seen)
	}

	// The adaptive role turns the three scored statements into
	// DifficultyAdjusted events (no MasteryUpdated: the catalog is empty,
	// so their activities have no skills); those match their schemas too.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ends, err := streams.EndOffsets(ctx, []string{p.kafka}, streams.TopicAdaptive)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, end := range ends {
			n += end
		}
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d adaptive records after 30 s, want 3\n%s", n, p.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	topicRecords(t, ctx, p.kafka, streams.TopicAdaptive, schemas)
}

// The event types and topics the code writes are the ones the contract
// (domain/event/schema, hence docs/events.md and /asyncapi.json) lists.
func TestContractListsEveryTypeAndTopicTheCodeWrites(t *testing.T) {
	types := []string{
		event.TypeStatementStored, projections.TypeAttachmentStored, projections.TypeDocument,
		projections.TypeSkillPut, projections.TypeSkillDeleted, projections.TypePrerequisitePut, projections.TypePrerequisiteDeleted,
		projections.TypeActivityPut, projections.TypeActivityDeleted, projections.TypeActivitySeen,
		projections.TypeRolePut, projections.TypeRoleDeleted, projections.TypeLearnerRolePut, projections.TypeLearnerRoleSet,
		projections.TypeRecommendationsUpdated, projections.TypeMasteryUpdated, projections.TypeDifficultyAdjusted,
		projections.TypeCredentialPut, projections.TypeCredentialRevoked, streams.TypeItemFactors,
		privacy.TypeConsentSet, privacy.TypeRetentionSet, privacy.TypeRetentionApplied, privacy.TypeAccessRecorded,
		privacy.TypeErasureRequested, privacy.TypeErasureKeysDestroyed, privacy.TypeLearnerErased, privacy.TypeErasureApplied,
		privacy.TypeErasureCompleted, privacy.TypeStorePurged,
		projections.TypeWebhookPut, projections.TypeWebhookDeleted,
	}
	for _, typ := range types {
		if _, ok := schema.Lookup(typ); !ok {
			t.Errorf("event type %s is written by the code but not in domain/event/schema.Events: add it there with a json/ schema file, show the file in docs/events.md, and list it here", typ)
		}
	}
	if len(types) != len(schema.Events) {
		t.Errorf("the code writes %d event types, the contract lists %d", len(types), len(schema.Events))
	}
	topics := []string{streams.TopicStatements, streams.TopicDocuments, streams.TopicCatalog, streams.TopicRecommendations,
		streams.TopicAdaptive, streams.TopicCredentials, streams.TopicItemFactors, streams.TopicPrivacy, streams.TopicAudit, streams.TopicWebhooks}
	for _, tp := range topics {
		if !slices.ContainsFunc(schema.Topics, func(s schema.Topic) bool { return s.Name == tp }) {
			t.Errorf("topic %s is written by the code but not in domain/event/schema.Topics", tp)
		}
	}
	if len(topics) != len(schema.Topics) {
		t.Errorf("the code writes %d topics, the contract lists %d", len(topics), len(schema.Topics))
	}
}
