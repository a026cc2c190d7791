package schema

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/events.md shows the schemas; it must show exactly these, unchanged,
// so a reader of the docs and a validator see the same contract.
func TestEventsDocShowsEverySchema(t *testing.T) {
	md, err := os.ReadFile("../../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```json schema ([^\\n]+)\\n(.*?)```")
	shown := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(md), -1) {
		name := strings.TrimSpace(m[1])
		if shown[name] {
			t.Errorf("docs/events.md shows schema %s twice", name)
		}
		shown[name] = true
		src, err := JSON(name)
		if err != nil {
			t.Errorf("docs/events.md shows schema %s, which domain/event/schema does not have", name)
			continue
		}
		var doc, want any
		if err := json.Unmarshal([]byte(m[2]), &doc); err != nil {
			t.Errorf("docs/events.md: schema %s is not JSON: %v", name, err)
			continue
		}
		if err := json.Unmarshal(src, &want); err != nil {
			t.Fatalf("json/%s.json: %v", name, err)
		}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("docs/events.md: schema %s differs from domain/event/schema/json/%s.json; copy the file into the doc", name, name)
		}
	}
	for _, n := range Names() {
		if !shown[n] {
			t.Errorf("schema %s is not shown in docs/events.md", n)
		}
	}
}

func TestEveryEventHasASchemaAndATopic(t *testing.T) {
	names := Names()
	if !slices.Contains(names, Envelope) {
		t.Fatal("no envelope schema")
	}
	topics := map[string]bool{}
	for _, tp := range Topics {
		topics[tp.Name] = true
	}
	types := map[string]bool{Envelope: true}
	for _, e := range Events {
		if types[e.Type] {
			t.Errorf("event type %s listed twice", e.Type)
		}
		types[e.Type] = true
		if !topics[e.Topic] {
			t.Errorf("event %s: topic %s is not in Topics", e.Type, e.Topic)
		}
		if !strings.HasSuffix(e.Type, ".v1") || !strings.HasPrefix(e.Type, "learnstream.") {
			t.Errorf("event %s: types are learnstream.<name>.v<major>", e.Type)
		}
		_, err := JSON(e.Type)
		if e.Tombstone && err == nil {
			t.Errorf("event %s is a tombstone (no data) but has a data schema", e.Type)
		}
		if !e.Tombstone && err != nil {
			t.Errorf("event %s has no data schema: %v", e.Type, err)
		}
	}
	for _, n := range names {
		if !types[n] {
			t.Errorf("schema %s belongs to no event type in Events", n)
		}
		var v map[string]any
		b, _ := JSON(n)
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", n, err)
		} else if v["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %v, want draft 2020-12", n, v["$schema"])
		}
	}
	if _, err := JSON("learnstream.nope.v1"); err == nil || !strings.Contains(err.Error(), "learnstream.nope.v1") {
		t.Errorf("unknown schema: err %v, want one naming it", err)
	}
	for _, tp := range Topics {
		if !slices.ContainsFunc(Events, func(e Event) bool { return e.Topic == tp.Name }) {
			t.Errorf("topic %s carries no event type", tp.Name)
		}
	}
}
