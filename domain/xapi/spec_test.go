package xapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestSpecOf(t *testing.T) {
	tests := []struct {
		header string
		want   Spec
		ok     bool
	}{
		{"1.0.3", Spec1, true},
		{"1.0", Spec1, true},
		{"1.0.0", Spec1, true},
		{"1.0.17", Spec1, true},
		{"2.0.0", Spec2, true},
		{"2.0", Spec2, true},
		{"2.0.5", Spec2, true},
		{"", SpecAny, false},
		{"0.95", SpecAny, false},
		{"1.1.0", SpecAny, false},
		{"2.1.0", SpecAny, false},
		{"2.0.", SpecAny, false},
		{"2.0.x", SpecAny, false},
		{" 2.0.0", SpecAny, false},
	}
	for _, tc := range tests {
		got, ok := SpecOf(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SpecOf(%q) = %v, %v; want %v, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
	for s, want := range map[Spec][2]string{Spec1: {"1.0.3", "1.0.0"}, Spec2: {"2.0.0", "2.0.0"}} {
		if s.Header() != want[0] || s.StatementVersion() != want[1] {
			t.Errorf("%v: Header %q, StatementVersion %q; want %q", s, s.Header(), s.StatementVersion(), want)
		}
	}
}

const (
	contextAgentOK = `{"objectType": "contextAgent", "agent": {"objectType": "Agent", "mbox": "mailto:coach@example.com"}, "relevantTypes": ["https://example.com/types/coach"]}`
	contextGroupOK = `{"objectType": "contextGroup", "group": {"objectType": "Group", "mbox": "mailto:team-1@example.com", "member": [{"mbox": "mailto:p1@example.com"}]}, "relevantTypes": ["https://example.com/types/team-a"]}`
)

// TestParseBySpec runs each body under the three rule sets: a request
// naming xAPI 1.0.3, one naming 2.0.0, and a stored statement (either).
func TestParseBySpec(t *testing.T) {
	e := func(changes ...string) string { return edit(t, baseStatement, changes...) }
	sub := e("object", subStatement)
	const ok = ""
	tests := []struct {
		name string
		body string
		// field of the error under Spec1, Spec2 and SpecAny; ok when accepted.
		v1, v2, any string
		rule        string // what the rejection must mention
	}{
		{"version 2.0.0", e("version", `"2.0.0"`), "version", ok, ok, "1.0"},
		{"version 2.0", e("version", `"2.0"`), "version", ok, ok, "1.0"},
		{"version 2.0.3", e("version", `"2.0.3"`), "version", ok, ok, "1.0"},
		{"version 1.0.3 under 2.0", e("version", `"1.0.3"`), ok, ok, ok, ""},
		{"version 2.1.0", e("version", `"2.1.0"`), "version", "version", "version", "1.0"},
		{"version 3.0.0", e("version", `"3.0.0"`), "version", "version", "version", "1.0"},
		{"version 2.0.", e("version", `"2.0."`), "version", "version", "version", "1.0"},
		{"contextAgents", e("context.contextAgents", "["+contextAgentOK+"]"), "context.contextAgents", ok, ok, "xAPI 2.0"},
		{"contextGroups", e("context.contextGroups", "["+contextGroupOK+"]"), "context.contextGroups", ok, ok, "xAPI 2.0"},
		{"both, in a SubStatement", edit(t, sub, "object.context", `{"contextAgents": [`+contextAgentOK+`], "contextGroups": [`+contextGroupOK+`]}`), "object.context.contextAgents", ok, ok, "xAPI 2.0"},
		{"contextAgent without relevantTypes", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": {"mbox": "mailto:a@example.com"}}]`), "context.contextAgents", ok, ok, "xAPI 2.0"},
		{"contextGroups anonymous group", e("context.contextGroups", `[{"objectType": "contextGroup", "group": `+groupAnon+`}]`), "context.contextGroups", ok, ok, "xAPI 2.0"},
		{"contextAgents empty array", e("context.contextAgents", `[]`), "context.contextAgents", ok, ok, "xAPI 2.0"},
		{"contextAgent objectType wrong", e("context.contextAgents", `[{"objectType": "Should fail", "agent": {"mbox": "mailto:a@example.com"}}]`), "context.contextAgents", "context.contextAgents[0].objectType", "context.contextAgents[0].objectType", `"contextAgent"`},
		{"contextAgent objectType wrong case", e("context.contextAgents", `[{"objectType": "ContextAgent", "agent": {"mbox": "mailto:a@example.com"}}]`), "context.contextAgents", "context.contextAgents[0].objectType", "context.contextAgents[0].objectType", `"contextAgent"`},
		{"contextAgent objectType missing", e("context.contextAgents", `[{"agent": {"mbox": "mailto:a@example.com"}}]`), "context.contextAgents", "context.contextAgents[0].objectType", "context.contextAgents[0].objectType", "is required"},
		{"contextAgent invalid agent", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": {"key": "Should fail"}}]`), "context.contextAgents", "context.contextAgents[0].agent.key", "context.contextAgents[0].agent.key", "not a property"},
		{"contextAgent agent missing", e("context.contextAgents", `[{"objectType": "contextAgent"}]`), "context.contextAgents", "context.contextAgents[0].agent", "context.contextAgents[0].agent", "is required"},
		{"contextAgent agent is a Group", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": `+groupIdent+`}]`), "context.contextAgents", "context.contextAgents[0].agent.objectType", "context.contextAgents[0].agent.objectType", "contextGroups"},
		{"contextAgent relevantTypes empty", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": {"mbox": "mailto:a@example.com"}, "relevantTypes": []}]`), "context.contextAgents", "context.contextAgents[0].relevantTypes", "context.contextAgents[0].relevantTypes", "at least one"},
		{"contextAgent relevantTypes not IRIs", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": {"mbox": "mailto:a@example.com"}, "relevantTypes": ["abc"]}]`), "context.contextAgents", "context.contextAgents[0].relevantTypes[0]", "context.contextAgents[0].relevantTypes[0]", "IRI"},
		{"contextAgent extra property", e("context.contextAgents", `[{"objectType": "contextAgent", "agent": {"mbox": "mailto:a@example.com"}, "role": "coach"}]`), "context.contextAgents", "context.contextAgents[0].role", "context.contextAgents[0].role", "not a property"},
		{"contextAgents not an array", e("context.contextAgents", contextAgentOK), "context.contextAgents", "context.contextAgents", "context.contextAgents", "array"},
		{"contextGroup objectType wrong", e("context.contextGroups", `[{"objectType": "Should fail", "group": `+groupIdent+`}]`), "context.contextGroups", "context.contextGroups[0].objectType", "context.contextGroups[0].objectType", `"contextGroup"`},
		{"contextGroup invalid group", e("context.contextGroups", `[{"objectType": "contextGroup", "group": {"key": "Should fail"}}]`), "context.contextGroups", "context.contextGroups[0].group.objectType", "context.contextGroups[0].group.objectType", "Group"},
		{"contextGroup group is an Agent", e("context.contextGroups", `[{"objectType": "contextGroup", "group": {"objectType": "Agent", "mbox": "mailto:a@example.com"}}]`), "context.contextGroups", "context.contextGroups[0].group.objectType", "context.contextGroups[0].group.objectType", "Group"},
		{"contextGroup relevantTypes empty", e("context.contextGroups", `[{"objectType": "contextGroup", "group": `+groupIdent+`, "relevantTypes": []}]`), "context.contextGroups", "context.contextGroups[0].relevantTypes", "context.contextGroups[0].relevantTypes", "at least one"},
		{"contextGroup relevantTypes not IRIs", e("context.contextGroups", `[{"objectType": "contextGroup", "group": `+groupIdent+`, "relevantTypes": ["abc"]}]`), "context.contextGroups", "context.contextGroups[0].relevantTypes[0]", "context.contextGroups[0].relevantTypes[0]", "IRI"},
		{"single contextActivities object (both versions)", e("context.contextActivities", `{"category": {"id": "http://example.com/c"}}`), ok, ok, ok, ""},
		{"timestamp without zone (both versions)", e("timestamp", `"2023-05-04T12:00:00"`), "timestamp", "timestamp", "timestamp", "time zone"},
	}
	for _, tc := range tests {
		for _, run := range []struct {
			spec  Spec
			field string
		}{{Spec1, tc.v1}, {Spec2, tc.v2}, {SpecAny, tc.any}} {
			t.Run(tc.name+"/"+run.spec.String(), func(t *testing.T) {
				s, err := ParseStatementAs([]byte(tc.body), run.spec)
				if run.field == ok {
					if err != nil {
						t.Fatalf("rejected: %v", err)
					}
					// What was accepted encodes and parses back to the same statement.
					b, err := json.Marshal(s)
					if err != nil {
						t.Fatal(err)
					}
					back, err := ParseStatementAs(b, run.spec)
					if err != nil {
						t.Fatalf("its own encoding is rejected: %v\n%s", err, b)
					}
					if !Equivalent(s, back) {
						t.Errorf("round trip changed it:\n%s", b)
					}
					return
				}
				if s != nil {
					t.Errorf("returned a statement together with an error")
				}
				rule := tc.rule
				// Under 1.0.3 the 2.0 properties are refused as such,
				// before their content is looked at.
				if run.spec == Spec1 && (strings.HasSuffix(run.field, "context.contextAgents") || strings.HasSuffix(run.field, "context.contextGroups")) {
					rule = "xAPI 2.0"
				}
				checkInvalid(t, err, run.field, rule)
			})
		}
	}
}

func TestContextAgentsRoundTrip(t *testing.T) {
	body := edit(t, baseStatement, "context.contextAgents", "["+contextAgentOK+`, {"objectType": "contextAgent", "agent": {"account": {"homePage": "https://lms.example.com", "name": "u-9"}}}]`,
		"context.contextGroups", "["+contextGroupOK+"]")
	s, err := ParseStatementAs([]byte(body), Spec2)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Context
	if len(c.ContextAgents) != 2 || c.ContextAgents[0].Agent.Mbox != "mailto:coach@example.com" ||
		!slices.Equal(c.ContextAgents[0].RelevantTypes, []string{"https://example.com/types/coach"}) ||
		c.ContextAgents[1].RelevantTypes != nil || c.ContextAgents[1].Agent.Account == nil {
		t.Errorf("contextAgents parsed as %+v", c.ContextAgents)
	}
	if len(c.ContextGroups) != 1 || !c.ContextGroups[0].Group.IsGroup() || len(c.ContextGroups[0].Group.Member) != 1 {
		t.Errorf("contextGroups parsed as %+v", c.ContextGroups)
	}
	b, _ := json.Marshal(s)
	for _, want := range []string{`"contextAgents":[{"objectType":"contextAgent","agent":{"objectType":"Agent","mbox":"mailto:coach@example.com"},"relevantTypes":["https://example.com/types/coach"]}`,
		`{"objectType":"contextAgent","agent":{"account":{"homePage":"https://lms.example.com","name":"u-9"}}}]`,
		`"contextGroups":[{"objectType":"contextGroup","group":{"objectType":"Group","mbox":"mailto:team-1@example.com","member":[{"mbox":"mailto:p1@example.com"}]},"relevantTypes":["https://example.com/types/team-a"]}]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoding lacks %s:\n%s", want, b)
		}
	}
	// A copy shares nothing with the original.
	cp := s.Clone()
	cp.Context.ContextAgents[0].RelevantTypes[0] = "https://example.com/changed"
	cp.Context.ContextGroups[0].Group.Member[0].Mbox = "mailto:changed@example.com"
	if c.ContextAgents[0].RelevantTypes[0] != "https://example.com/types/coach" || c.ContextGroups[0].Group.Member[0].Mbox != "mailto:p1@example.com" {
		t.Errorf("Clone shares memory with the original")
	}
}

func TestEquivalentContextAgents(t *testing.T) {
	base := edit(t, baseStatement, "context.contextAgents", "["+contextAgentOK+"]")
	tests := []struct {
		name  string
		other string
		want  bool
	}{
		{"same", base, true},
		{"mbox domain case", edit(t, base, "context.contextAgents[0].agent.mbox", `"mailto:coach@EXAMPLE.com"`), true},
		{"objectType of the agent left out", edit(t, base, "context.contextAgents[0].agent.objectType", "-"), true},
		{"other agent", edit(t, base, "context.contextAgents[0].agent.mbox", `"mailto:other@example.com"`), false},
		{"other relevant type", edit(t, base, "context.contextAgents[0].relevantTypes", `["https://example.com/types/referee"]`), false},
		{"no contextAgents", baseStatement, false},
		{"empty contextAgents", edit(t, baseStatement, "context.contextAgents", `[]`), false},
	}
	a, err := ParseStatementAs([]byte(base), Spec2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseStatementAs([]byte(tc.other), Spec2)
			if err != nil {
				t.Fatal(err)
			}
			if got := Equivalent(a, b); got != tc.want {
				t.Errorf("Equivalent = %v, want %v", got, tc.want)
			}
		})
	}
	none, _ := ParseStatementAs([]byte(baseStatement), Spec2)
	empty, _ := ParseStatementAs([]byte(edit(t, baseStatement, "context.contextAgents", `[]`)), Spec2)
	if !Equivalent(none, empty) {
		t.Errorf("an empty contextAgents array differs from none")
	}
}

func TestAgentKeysContextAgents(t *testing.T) {
	s, err := ParseStatementAs([]byte(edit(t, baseStatement, "context.contextAgents", "["+contextAgentOK+"]", "context.contextGroups", "["+contextGroupOK+"]")), Spec2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		related bool
		key     string
		want    bool
	}{
		{false, "mbox:mailto:coach@example.com", false},
		{true, "mbox:mailto:coach@example.com", true},
		{true, "mbox:mailto:team-1@example.com", true},
		{true, "mbox:mailto:p1@example.com", true},
		{false, "mbox:mailto:ana@example.com", true},
	}
	for _, tc := range tests {
		if got := slices.Contains(s.AgentKeys(tc.related), tc.key); got != tc.want {
			t.Errorf("AgentKeys(%v) has %s = %v, want %v (keys %v)", tc.related, tc.key, got, tc.want, s.AgentKeys(tc.related))
		}
	}
}

func TestFormatIDsContextAgents(t *testing.T) {
	s, err := ParseStatementAs([]byte(edit(t, baseStatement,
		"context.contextAgents", `[{"objectType": "contextAgent", "agent": {"name": "Coach", "mbox": "mailto:coach@example.com"}, "relevantTypes": ["https://example.com/types/coach"]}]`,
		"context.contextGroups", `[{"objectType": "contextGroup", "group": {"objectType": "Group", "name": "Anon", "member": [{"name": "P1", "mbox": "mailto:p1@example.com"}]}}]`)), Spec2)
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, s.Format(FormatIDs, nil).Context)
	want := `{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:coach@example.com"},"relevantTypes":["https://example.com/types/coach"]}],` +
		`"contextGroups":[{"objectType":"contextGroup","group":{"objectType":"Group","member":[{"mbox":"mailto:p1@example.com"}]}}]}`
	if got != want {
		t.Errorf("ids:\n got %s\nwant %s", got, want)
	}
	if s.Context.ContextAgents[0].Agent.Name != "Coach" {
		t.Errorf("Format changed the original")
	}
}
