package api

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/learnstream/learnstream/domain/event/schema"
)

// AsyncAPIOptions say where the document's Kafka server is.
type AsyncAPIOptions struct {
	// Brokers are the bootstrap addresses integrators connect to, comma
	// separated; empty documents a placeholder.
	Brokers string
}

// channelID turns a topic name into an AsyncAPI channel id.
func channelID(topic string) string { return strings.ReplaceAll(topic, ".", "_") }

// AsyncAPI returns the AsyncAPI 3.0 document of every topic and event type
// learnstream writes, built from domain/event/schema.
func AsyncAPI(opt AsyncAPIOptions) ([]byte, error) {
	// One server per bootstrap broker: an AsyncAPI host is one host[:port].
	servers := obj{}
	for i, b := range strings.Split(opt.Brokers, ",") {
		name := "kafka"
		if i > 0 {
			name = fmt.Sprintf("kafka-%d", i+1)
		}
		b = strings.TrimSpace(b)
		desc := "A bootstrap broker of the install's Kafka cluster (or the embedded broker of learnstream serve)."
		if b == "" {
			b, desc = "localhost:9092", "The install's Kafka cluster (this document was built without its address)."
		}
		servers[name] = obj{"host": b, "protocol": "kafka", "description": desc}
	}
	envelope, err := eventSchema(schema.Envelope)
	if err != nil {
		return nil, err
	}
	schemas := obj{"envelope": envelope}
	messages := obj{}
	channels := obj{}
	operations := obj{}
	for _, tp := range schema.Topics {
		id := channelID(tp.Name)
		chMsgs := obj{}
		var opMsgs []any
		for _, ev := range schema.Events {
			if ev.Topic != tp.Name {
				continue
			}
			headers := obj{"allOf": []any{
				obj{"$ref": "#/components/schemas/envelope"},
				obj{"type": "object", "properties": obj{"ce_type": obj{"const": ev.Type}}},
			}}
			msg := obj{
				"name":        ev.Type,
				"title":       ev.Type,
				"summary":     ev.Summary,
				"contentType": "application/json",
				"headers":     headers,
				"bindings": obj{"kafka": obj{
					"key":            obj{"type": "string", "description": tp.Key},
					"bindingVersion": "0.5.0",
				}},
			}
			if ev.Tombstone {
				msg["payload"] = obj{"type": "null", "description": "no value: a tombstone"}
			} else {
				data, err := eventSchema(ev.Type)
				if err != nil {
					return nil, err
				}
				schemas[ev.Type] = data
				msg["payload"] = obj{"$ref": "#/components/schemas/" + ev.Type}
			}
			messages[ev.Type] = msg
			chMsgs[ev.Type] = obj{"$ref": "#/components/messages/" + ev.Type}
			opMsgs = append(opMsgs, obj{"$ref": "#/channels/" + id + "/messages/" + ev.Type})
		}
		desc := tp.Summary + " Key: " + tp.Key + "."
		if tp.Internal {
			desc += " Internal to learnstream: integrators should not depend on it."
		}
		cfg := obj{"cleanup.policy": []string{"delete"}}
		if tp.Compacted {
			cfg["cleanup.policy"] = []string{"compact"}
		}
		channels[id] = obj{
			"address":     tp.Name,
			"title":       tp.Name,
			"description": desc,
			"messages":    chMsgs,
			"bindings":    obj{"kafka": obj{"topic": tp.Name, "topicConfiguration": cfg, "bindingVersion": "0.5.0"}},
		}
		operations["receive_"+id] = obj{
			"action":   "receive",
			"channel":  obj{"$ref": "#/channels/" + id},
			"summary":  "Consume " + tp.Name + ".",
			"messages": opMsgs,
		}

		// Every topic has a dead-letter topic holding what a consumer
		// rejected, unchanged, with the reason in headers.
		dlq := tp.Name + ".dlq"
		dlqID := channelID(dlq)
		msgID := "deadletter_" + id
		dlqHeaders := obj{"type": "object", "required": []string{"dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_consumer"}, "properties": obj{}}
		for h, d := range schema.DLQHeaders {
			dlqHeaders["properties"].(obj)[h] = obj{"type": "string", "description": d}
		}
		messages[msgID] = obj{
			"name":    "deadletter",
			"title":   "A rejected record of " + tp.Name,
			"summary": "The record as it was on " + tp.Name + " (any of its types, or something that is none), with the reason.",
			"headers": dlqHeaders,
			"payload": obj{"description": "the rejected record's value, unchanged"},
		}
		channels[dlqID] = obj{
			"address":     dlq,
			"title":       dlq,
			"description": "Dead-letter topic of " + tp.Name + ": records a consumer rejected.",
			"messages":    obj{msgID: obj{"$ref": "#/components/messages/" + msgID}},
		}
		operations["receive_"+dlqID] = obj{
			"action":   "receive",
			"channel":  obj{"$ref": "#/channels/" + dlqID},
			"summary":  "Consume the dead letters of " + tp.Name + ".",
			"messages": []any{obj{"$ref": "#/channels/" + dlqID + "/messages/" + msgID}},
		}
	}
	doc := obj{
		"asyncapi": "3.0.0",
		"id":       "urn:learnstream:events",
		"info": obj{
			"title":   "learnstream events",
			"version": "1",
			"description": "Every record learnstream writes to Kafka is a CloudEvents 1.0 event in binary mode: the attributes are " +
				"Kafka headers (ce_id, ce_type, ce_source, ce_time, ce_specversion, content-type, tenant, ce_signature), the value is " +
				"the event data (JSON), the key is the partition key. Types are versioned by their last segment. The schemas are those " +
				"of docs/events.md; the same feed of recommendations is served over HTTP by GET /v1/streams/recommendations (see /openapi.json).",
		},
		"defaultContentType": "application/json",
		"servers":            servers,
		"channels":           channels,
		"operations":         operations,
		"components":         obj{"schemas": schemas, "messages": messages},
	}
	return json.MarshalIndent(doc, "", "  ")
}
