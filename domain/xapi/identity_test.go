package xapi

import (
	"reflect"
	"strings"
	"testing"
)

func TestActorKey(t *testing.T) {
	a := Agent{Mbox: "mailto:a@example.com"}
	b := Agent{Account: &Account{HomePage: "https://lms.example.com", Name: "u-17"}}
	tests := []struct {
		name  string
		agent Agent
		want  string
	}{
		{"mbox", Agent{Mbox: "mailto:a@b.c"}, "mbox:mailto:a@b.c"},
		{"mbox domain lower-cased, local part kept", Agent{Mbox: "mailto:Ana.Lima@Example.COM"}, "mbox:mailto:Ana.Lima@example.com"},
		{"mbox_sha1sum lower-cased", Agent{MboxSHA1Sum: "EBD31E95054C018B10727CCFFD2EF2EC3A016EE9"}, "mbox_sha1sum:ebd31e95054c018b10727ccffd2ef2ec3a016ee9"},
		{"openid", Agent{OpenID: "https://id.example.org/ana"}, "openid:https://id.example.org/ana"},
		{"account", b, "account:https://lms.example.com|u-17"},
		{"name does not matter", Agent{Name: "Ana", ObjectType: "Agent", Mbox: "mailto:a@b.c"}, "mbox:mailto:a@b.c"},
		{"identified group", Agent{ObjectType: "Group", OpenID: "https://id.example.org/team", Member: []Agent{a}}, "openid:https://id.example.org/team"},
		{"no identifier", Agent{Name: "nobody"}, ""},
	}
	for _, tc := range tests {
		if got := ActorKey(tc.agent); got != tc.want {
			t.Errorf("%s: ActorKey = %q, want %q", tc.name, got, tc.want)
		}
	}
	// The mbox key is "mbox:" and normalizeMbox's form, whatever the IRI.
	for _, mbox := range []string{"mailto:a@b.c", "mailto:nobody", "mailto:a@b@C.d", "mailto:a@ÉXAMPLE.Com", "mailto:@X", "mailto:A@"} {
		if got, want := ActorKey(Agent{Mbox: mbox}), "mbox:"+normalizeMbox(mbox); got != want {
			t.Errorf("ActorKey of mbox %q = %q, want %q", mbox, got, want)
		}
	}

	g1 := ActorKey(Agent{ObjectType: "Group", Member: []Agent{a, b}})
	g2 := ActorKey(Agent{ObjectType: "Group", Name: "Other name", Member: []Agent{b, {Mbox: "mailto:a@EXAMPLE.com"}}})
	g3 := ActorKey(Agent{ObjectType: "Group", Member: []Agent{a}})
	if !strings.HasPrefix(g1, "group:") || len(g1) != len("group:")+64 {
		t.Errorf("anonymous group key = %q", g1)
	}
	if g1 != g2 {
		t.Errorf("same members in another order give %q and %q", g1, g2)
	}
	if g1 == g3 {
		t.Errorf("different members give the same key %q", g1)
	}
}

func TestLearnerKey(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{baseStatement, "mbox:mailto:ana@example.com"},
		{edit(t, baseStatement, "actor", groupIdent), "account:https://lms.example.com|team-pb"},
		{edit(t, baseStatement, "actor", `{"objectType": "Group", "member": [{"mbox": "mailto:ana@example.com"}]}`),
			ActorKey(Agent{ObjectType: "Group", Member: []Agent{{Mbox: "mailto:ana@example.com"}}})},
	}
	for _, tc := range tests {
		if got := mustParse(t, tc.body).LearnerKey(); got != tc.want {
			t.Errorf("LearnerKey = %q, want %q", got, tc.want)
		}
	}
}

func TestAgentKeysAndActivityIDs(t *testing.T) {
	body := edit(t, baseStatement,
		"actor", groupAnon,
		"object", subStatement,
		"object.context", `{"instructor": {"mbox": "mailto:sub-teacher@example.com"}, "contextActivities": {"parent": [{"id": "http://example.com/sub-parent"}]}}`,
		"object.object", `{"objectType": "Agent", "mbox": "mailto:sub-object@example.com"}`,
		"context", `{"instructor": {"mbox": "mailto:teacher@example.com"}, "team": `+groupIdent+`, "contextActivities": {"parent": [{"id": "http://example.com/course"}], "category": [{"id": "http://example.com/cat"}, {"id": "http://example.com/course"}]}}`,
		"authority", `{"mbox": "mailto:lrs@example.com"}`,
	)
	s := mustParse(t, body)
	groupKey := ActorKey(s.Actor)
	direct := []string{"account:https://lms.example.com|u-17", groupKey, "mbox:mailto:a@example.com"}
	if got := s.AgentKeys(false); !reflect.DeepEqual(got, direct) {
		t.Errorf("AgentKeys(false) = %v, want %v", got, direct)
	}
	related := []string{
		"account:https://lms.example.com|team-pb", "account:https://lms.example.com|u-17", groupKey,
		"mbox:mailto:a@example.com", "mbox:mailto:bo@example.com", "mbox:mailto:lrs@example.com",
		"mbox:mailto:sub-object@example.com", "mbox:mailto:sub-teacher@example.com", "mbox:mailto:teacher@example.com",
	}
	if got := s.AgentKeys(true); !reflect.DeepEqual(got, related) {
		t.Errorf("AgentKeys(true) =\n%v\nwant\n%v", got, related)
	}

	if got := s.ActivityIDs(false); len(got) != 0 {
		t.Errorf("ActivityIDs(false) = %v, want none (the object is a SubStatement)", got)
	}
	want := []string{"http://example.com/cat", "http://example.com/course", "http://example.com/sub-parent"}
	if got := s.ActivityIDs(true); !reflect.DeepEqual(got, want) {
		t.Errorf("ActivityIDs(true) = %v, want %v", got, want)
	}
	plain := mustParse(t, baseStatement)
	if got := plain.ActivityIDs(false); !reflect.DeepEqual(got, []string{"http://example.com/activities/algebra-1"}) {
		t.Errorf("ActivityIDs(false) = %v", got)
	}
}
