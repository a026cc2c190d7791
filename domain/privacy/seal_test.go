package privacy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/event/schema"
	"github.com/learnstream/learnstream/domain/xapi"
)

const (
	tenant = "acme"
	source = "https://lrs.example.com"
)

var (
	stored    = time.Date(2026, 11, 14, 9, 30, 0, 0, time.UTC)
	authority = xapi.Agent{ObjectType: "Agent", Name: "Grace Hopper Console",
		Account: &xapi.Account{HomePage: "https://lrs.example.com/credentials", Name: "grace-console-key"}}
)

func newKeys() *MemoryKeys { return NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef")) }

// storedStatement returns the event the LRS publishes for the statement
// in js: validated, prepared and marshalled as the API does.
func storedStatement(t testing.TB, js string) event.Event {
	t.Helper()
	st, err := xapi.ParseStatement([]byte(js))
	if err != nil {
		t.Fatalf("statement: %v\n%s", err, js)
	}
	st.Prepare("3b7e1c5a-2f1d-4c2b-9f8e-7a6d5c4b3a21", stored, authority)
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New("ev-"+st.ID, event.TypeStatementStored, source, tenant, st.LearnerKey(), stored, data)
	if err != nil {
		t.Fatal(err)
	}
	e.Extensions = map[string]string{"xapidefine": "false"}
	return e
}

func newEvent(t testing.TB, typ, key string, data any) event.Event {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New("ev-"+typ, typ, source, tenant, key, stored, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Identities of the people in the test statements; none may appear in a
// sealed event.
const (
	adaMbox    = "mailto:ada.lovelace@example.org"
	adaName    = "Ada Lovelace"
	alanSHA1   = "b4f8ec08df1e8ad0cb5c5a6b1b4be4b5b1fdc0a9"
	alanName   = "Alan Turing"
	ednaOpenID = "https://openid.example.org/edna-krabappel"
	ednaName   = "Edna Krabappel"
	teamName   = "Analytical Engine Team"
	linusAcct  = "linus-torvalds-42"
	response   = "my secret answer about Babbage"
)

var identities = []string{adaMbox, "ada.lovelace", adaName, alanSHA1, alanName, ednaOpenID, "edna-krabappel", ednaName,
	teamName, linusAcct, "Grace Hopper Console", "grace-console-key", response}

const (
	ada  = `{"objectType":"Agent","name":"Ada Lovelace","mbox":"mailto:ada.lovelace@example.org"}`
	alan = `{"name":"Alan Turing","mbox_sha1sum":"b4f8ec08df1e8ad0cb5c5a6b1b4be4b5b1fdc0a9"}`
	// alanAgent is Alan where an object must say it is an Agent.
	alanAgent = `{"objectType":"Agent","name":"Alan Turing","mbox_sha1sum":"b4f8ec08df1e8ad0cb5c5a6b1b4be4b5b1fdc0a9"}`
	edna      = `{"objectType":"Agent","name":"Edna Krabappel","openid":"https://openid.example.org/edna-krabappel"}`
	linus     = `{"objectType":"Agent","account":{"homePage":"https://git.example.org","name":"linus-torvalds-42"}}`
	verb      = `{"id":"http://adlnet.gov/expapi/verbs/answered","display":{"en-US":"answered"}}`
	act       = `{"objectType":"Activity","id":"https://example.com/act/q1","definition":{"name":{"en-US":"Question 1"}}}`
)

var statementCases = []struct {
	name string
	js   string
}{
	{"agent actor, activity, response", `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act +
		`,"result":{"score":{"scaled":0.8},"success":true,"response":"` + response + `"}}`},
	{"mbox_sha1sum actor", `{"actor":` + alan + `,"verb":` + verb + `,"object":` + act + `}`},
	{"agent object", `{"actor":` + ada + `,"verb":{"id":"http://example.com/verbs/mentored"},"object":` + edna + `}`},
	{"anonymous group actor", `{"actor":{"objectType":"Group","name":"` + teamName + `","member":[` + ada + `,` + alan + `]},"verb":` + verb + `,"object":` + act + `}`},
	{"anonymous group without name", `{"actor":{"objectType":"Group","member":[` + ada + `,` + edna + `]},"verb":` + verb + `,"object":` + act + `}`},
	{"identified group object with members", `{"actor":` + ada + `,"verb":{"id":"http://example.com/verbs/joined"},"object":{"objectType":"Group","name":"` + teamName +
		`","account":{"homePage":"https://teams.example.org","name":"engine"},"member":[` + alan + `,` + linus + `]}}`},
	{"instructor and team", `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act +
		`,"context":{"instructor":` + edna + `,"team":{"objectType":"Group","name":"` + teamName + `","member":[` + alan + `]},"contextActivities":{"parent":[{"id":"https://example.com/course"}]},"platform":"web"}}`},
	{"group instructor", `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act +
		`,"context":{"instructor":{"objectType":"Group","member":[` + edna + `,` + linus + `]}}}`},
	{"xAPI 2.0 context agents and groups", `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act + `,"version":"2.0.0"` +
		`,"context":{"contextAgents":[{"objectType":"contextAgent","agent":` + edna + `,"relevantTypes":["https://example.com/types/grader"]}],` +
		`"contextGroups":[{"objectType":"contextGroup","group":{"objectType":"Group","name":"` + teamName + `","member":[` + alan + `]}}]}}`},
	{"substatement with agents", `{"actor":` + ada + `,"verb":{"id":"http://example.com/verbs/planned"},"object":{"objectType":"SubStatement","actor":` + linus +
		`,"verb":{"id":"http://example.com/verbs/teach"},"object":` + alanAgent + `,"context":{"instructor":` + edna + `},"result":{"response":"` + response + `"}}}`},
	{"substatement with group object", `{"actor":` + alan + `,"verb":{"id":"http://example.com/verbs/planned"},"object":{"objectType":"SubStatement","actor":` + ada +
		`,"verb":{"id":"http://example.com/verbs/meet"},"object":{"objectType":"Group","member":[` + edna + `]}}}`},
	{"empty response", `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act + `,"result":{"response":""}}`},
	{"escapes in names", `{"actor":{"name":"Ada \"the Countess\" Lovelace \u00e9\\/","mbox":"mailto:ada.lovelace@example.org"},"verb":` + verb + `,"object":` + act + `}`},
}

// leakForms returns the forms a value could leak in: raw, JSON-escaped,
// and the stable middle of its base64 (standard and URL alphabets) at
// each alignment.
func leakForms(v string) []string {
	forms := []string{v}
	if b, _ := json.Marshal(v); string(b[1:len(b)-1]) != v {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	for shift := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), v...))
		skip := 0
		if shift > 0 {
			skip = 4
		}
		if len(enc)-4-skip < 8 {
			continue
		}
		mid := enc[skip : len(enc)-4]
		forms = append(forms, mid, strings.NewReplacer("+", "-", "/", "_").Replace(mid))
	}
	return forms
}

// assertNoLeak fails when any identity occurs in b in any of its forms.
func assertNoLeak(t *testing.T, what string, b []byte, ids ...string) {
	t.Helper()
	for _, id := range ids {
		for _, f := range leakForms(id) {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("%s contains %q (a form of %q)", what, f, id)
			}
		}
	}
}

// sealedBytes is everything of a sealed event a reader of the log sees.
func sealedBytes(e event.Event) []byte {
	var b bytes.Buffer
	b.WriteString(e.Key)
	b.Write(e.Data)
	for _, h := range e.Headers() {
		b.WriteString(h.Key)
		b.Write(h.Value)
	}
	return b.Bytes()
}

// sealedHeader is the pattern the envelope schema gives ce_sealed.
func sealedHeader(t testing.TB) *regexp.Regexp {
	t.Helper()
	b, err := schema.JSON(schema.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Properties map[string]struct{ Pattern string } `json:"properties"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(env.Properties["ce_sealed"].Pattern)
}

func jsonEqual(t testing.TB, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("data differs\n got %s\nwant %s", got, want)
	}
}

func TestSealOpenStatements(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	for _, tc := range statementCases {
		t.Run(tc.name, func(t *testing.T) {
			e := storedStatement(t, tc.js)
			orig := e
			orig.Data = bytes.Clone(e.Data)
			s, err := SealEvent(ctx, e, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Data, orig.Data) || e.Key != orig.Key || len(e.Extensions) != 1 {
				t.Fatal("SealEvent changed its input")
			}
			if want := keys.Pseudonym(tenant, orig.Key); s.Key != want {
				t.Errorf("sealed key %q, want the pseudonym %q", s.Key, want)
			}
			if !json.Valid(s.Data) {
				t.Fatalf("sealed data is not JSON: %s", s.Data)
			}
			if !sealedHeader(t).MatchString(s.Extensions[ExtSealed]) {
				t.Errorf("ce_sealed %q does not match the envelope schema", s.Extensions[ExtSealed])
			}
			assertNoLeak(t, "sealed event", sealedBytes(s), identities...)
			// What is not personal stays readable.
			for _, clear := range []string{`"verb":{"id":"http://`, `"stored":"2026-11-14T09:30:00.000Z"`} {
				if !bytes.Contains(s.Data, []byte(clear)) {
					t.Errorf("sealed data lost clear %s: %s", clear, s.Data)
				}
			}
			if !Sealed(s) || Sealed(orig) {
				t.Errorf("Sealed: %v for the sealed event, %v for the original", Sealed(s), Sealed(orig))
			}
			// Signed after sealing: the signature covers the ciphertext
			// and the pseudonym.
			signing := []byte("0123456789abcdef0123456789abcdef")
			s = event.Sign(s, signing)
			if err := event.Verify(s, signing); err != nil {
				t.Fatal(err)
			}
			o, err := OpenEvent(ctx, s, keys)
			if err != nil {
				t.Fatal(err)
			}
			o.Signature = ""
			if !bytes.Equal(o.Data, orig.Data) {
				t.Errorf("opened data differs\n got %s\nwant %s", o.Data, orig.Data)
			}
			if !reflect.DeepEqual(o, orig) {
				t.Errorf("opened event differs:\n got %+v\nwant %+v", o, orig)
			}
			got, err := xapi.DecodeStored(o.Data)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := xapi.DecodeStored(orig.Data)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("consumers decode another statement")
			}
		})
	}
}

func TestSealOpenWholeData(t *testing.T) {
	ctx := context.Background()
	learner := "mbox:" + adaMbox
	cases := []struct {
		name   string
		e      event.Event
		sealed bool
		key    string // the sealed record key, given the pseudonym p
	}{
		{"attachment", newEvent(t, typeAttachmentStored, learner, map[string]any{"sha2": strings.Repeat("ab", 32),
			"contentType": "text/plain", "content": []byte("diary of " + adaName)}), true, "%s"},
		{"state", newEvent(t, typeDocument, learner, map[string]any{"resource": "state", "op": "put", "activityId": "https://example.com/act/q1",
			"agent": learner, "id": "bookmark", "contentType": "application/json", "content": []byte(`{"note":"` + response + `"}`), "updated": stored}), true, "%s"},
		{"agent profile", newEvent(t, typeDocument, learner, map[string]any{"resource": "agentProfile", "op": "deleteAll",
			"agent": learner, "updated": stored}), true, "%s"},
		{"recommendations", newEvent(t, typeRecommendations, learner, map[string]any{"learner": learner, "items": []any{}, "model_version": "als-k8/p0/1",
			"based_on": "x", "cold_start": true}), true, "%s"},
		{"mastery", newEvent(t, typeMasteryUpdated, learner, map[string]any{"learner": learner, "skill": "algebra", "p_mastery": 0.7}), true, "%s"},
		{"difficulty", newEvent(t, typeDifficultyAdjusted, learner, map[string]any{"learner": learner, "item": "https://example.com/act/q1"}), true, "%s"},
		{"learner role", newEvent(t, typeLearnerRolePut, "learner_role:"+learner, map[string]any{"learner": learner, "role": "analyst"}), true, "learner_role:%s"},
		{"consent", newEvent(t, TypeConsentSet, learner, map[string]any{"learner": learner, "personalisation": false}), true, "%s"},
		{"activity profile", newEvent(t, typeDocument, "https://example.com/act/q1", map[string]any{"resource": "activityProfile", "op": "put",
			"activityId": "https://example.com/act/q1", "id": "p", "content": []byte("x"), "updated": stored}), false, ""},
		{"catalog skill", newEvent(t, "learnstream.catalog.skill.put.v1", "skill:algebra", map[string]any{"id": "algebra"}), false, ""},
		{"learner erased", newEvent(t, TypeLearnerErased, "p0123", LearnerErased{Erasure: "e1", Pseudonym: "p0123"}), false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := newKeys()
			s, err := SealEvent(ctx, tc.e, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.sealed {
				if !reflect.DeepEqual(s, tc.e) {
					t.Errorf("not personal, but changed: %+v", s)
				}
				return
			}
			if want := fmt.Sprintf(tc.key, keys.Pseudonym(tenant, learner)); s.Key != want {
				t.Errorf("sealed key %q, want %q", s.Key, want)
			}
			assertNoLeak(t, "sealed event", sealedBytes(s), adaMbox, "ada.lovelace", adaName, response, "analyst", "algebra")
			o, err := OpenEvent(ctx, s, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o, tc.e) {
				t.Errorf("opened event differs:\n got %+v\nwant %+v", o, tc.e)
			}
			// A key destroyed: the event is erased, with nothing of its data.
			if _, err := keys.DestroyLearner(ctx, tenant, keys.Pseudonym(tenant, learner)); err != nil {
				t.Fatal(err)
			}
			o, err = OpenEvent(ctx, s, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !o.Erased || o.Data != nil || o.Key != s.Key {
				t.Errorf("after erasure: Erased=%v data %q key %q", o.Erased, o.Data, o.Key)
			}
		})
	}
}

// TestEveryEventTypeIsClassified keeps the policy complete: a new event
// type must be declared personal or not here before it ships.
func TestEveryEventTypeIsClassified(t *testing.T) {
	notPersonalTypes := map[string]bool{
		"learnstream.catalog.skill.put.v1": true, "learnstream.catalog.skill.deleted.v1": true,
		"learnstream.catalog.prerequisite.put.v1": true, "learnstream.catalog.prerequisite.deleted.v1": true,
		"learnstream.catalog.activity.put.v1": true, "learnstream.catalog.activity.deleted.v1": true,
		"learnstream.catalog.activity.seen.v1": true, "learnstream.catalog.role.put.v1": true,
		"learnstream.catalog.role.deleted.v1": true, "learnstream.credential.put.v1": true,
		"learnstream.credential.revoked.v1": true, "learnstream.recommender.item_factors.v1": true,
		TypeErasureRequested: true, TypeLearnerErased: true, TypeErasureApplied: true, TypeRetentionSet: true,
		TypeRetentionApplied: true, TypeAccessRecorded: true,
		TypeErasureKeysDestroyed: true, TypeErasureCompleted: true, TypeStorePurged: true,
		// A tenant's integration settings, keyed by subscription: no
		// learner owns them (a learner filter may name learner keys; it
		// is the tenant's setting, not a learner's event).
		"learnstream.webhook.subscription.put.v1": true, "learnstream.webhook.subscription.deleted.v1": true,
	}
	types := []string{TypeConsentSet}
	for _, e := range schema.Events {
		types = append(types, e.Type)
	}
	for typ := range notPersonalTypes {
		types = append(types, typ)
	}
	for _, typ := range types {
		if Personal(typ) == notPersonalTypes[typ] {
			t.Errorf("%s: Personal = %v, but the table says personal = %v", typ, Personal(typ), !notPersonalTypes[typ])
		}
		if _, known := policy[typ]; !known && !notPersonalTypes[typ] {
			t.Errorf("%s is not classified", typ)
		}
	}
}

// agentsIn decodes the statement and returns its agents by path.
func agentsIn(t *testing.T, data []byte) map[string]xapi.Agent {
	t.Helper()
	st, err := xapi.DecodeStored(data)
	if err != nil {
		t.Fatalf("consumers cannot decode: %v\n%s", err, data)
	}
	out := map[string]xapi.Agent{"actor": st.Actor}
	if st.Object.Agent != nil {
		out["object"] = *st.Object.Agent
	}
	if st.Context != nil && st.Context.Instructor != nil {
		out["instructor"] = *st.Context.Instructor
	}
	if st.Context != nil && st.Context.Team != nil {
		out["team"] = *st.Context.Team
	}
	return out
}

func TestOpenErasedAgents(t *testing.T) {
	ctx := context.Background()
	erasedJSON, _ := json.Marshal(ErasedAgent)
	if string(erasedJSON) != erasedAgentJSON {
		t.Fatalf("ErasedAgent marshals to %s, want %s", erasedJSON, erasedAgentJSON)
	}
	if _, err := xapi.ParseAgent(erasedJSON); err != nil {
		t.Fatalf("ErasedAgent is not a valid xAPI agent: %v", err)
	}
	instructorAndTeam := `{"actor":` + ada + `,"verb":` + verb + `,"object":` + act +
		`,"context":{"instructor":` + edna + `,"team":{"objectType":"Group","name":"` + teamName + `","member":[` + alan + `,` + linus + `]}},"result":{"response":"` + response + `","success":true}}`
	groupObject := `{"actor":` + ada + `,"verb":{"id":"http://example.com/verbs/joined"},"object":{"objectType":"Group","name":"` + teamName +
		`","account":{"homePage":"https://teams.example.org","name":"engine"},"member":[` + alan + `]}}`
	cases := []struct {
		name    string
		js      string
		erase   string // learner key erased
		erased  bool   // the event's owner is gone
		gone    []string
		changed map[string]func(xapi.Agent) bool
	}{
		{"instructor erased, statement of another", instructorAndTeam, "openid:" + ednaOpenID, false,
			[]string{ednaOpenID, ednaName}, map[string]func(xapi.Agent) bool{
				"instructor": func(a xapi.Agent) bool { return reflect.DeepEqual(a, ErasedAgent) },
				"actor":      func(a xapi.Agent) bool { return a.Mbox == adaMbox && a.Name == adaName },
			}},
		{"team member erased", instructorAndTeam, "mbox_sha1sum:" + alanSHA1, false,
			[]string{alanSHA1, alanName}, map[string]func(xapi.Agent) bool{
				"team": func(a xapi.Agent) bool {
					return a.Name == teamName && len(a.Member) == 2 && reflect.DeepEqual(a.Member[0], ErasedAgent) && a.Member[1].Account.Name == linusAcct
				},
			}},
		{"actor erased", instructorAndTeam, "mbox:" + adaMbox, true,
			[]string{adaMbox, adaName, response}, map[string]func(xapi.Agent) bool{
				"actor":      func(a xapi.Agent) bool { return reflect.DeepEqual(a, ErasedAgent) },
				"instructor": func(a xapi.Agent) bool { return a.OpenID == ednaOpenID },
			}},
		{"escaped account name erased", `{"actor":{"account":{"homePage":"https://x.example/?a=1&b=2","name":"o'brien&<co>"}},"verb":` + verb + `,"object":` + act + `}`,
			"account:https://x.example/?a=1&b=2|o'brien&<co>", true, []string{"o'brien", "brien&"}, map[string]func(xapi.Agent) bool{
				"actor": func(a xapi.Agent) bool { return reflect.DeepEqual(a, ErasedAgent) },
			}},
		{"identified group erased keeps its members", groupObject, "account:https://teams.example.org|engine", false,
			[]string{teamName, "https://teams.example.org"}, map[string]func(xapi.Agent) bool{
				"object": func(a xapi.Agent) bool {
					return a.IsGroup() && a.Account.Name == "erased" && a.Name == "" && len(a.Member) == 1 && a.Member[0].Name == alanName
				},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := newKeys()
			s, err := SealEvent(ctx, storedStatement(t, tc.js), keys)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.DestroyLearner(ctx, tenant, keys.Pseudonym(tenant, tc.erase)); err != nil {
				t.Fatal(err)
			}
			o, err := OpenEvent(ctx, s, keys)
			if err != nil {
				t.Fatal(err)
			}
			if o.Erased != tc.erased {
				t.Errorf("Erased = %v, want %v", o.Erased, tc.erased)
			}
			if tc.erased && o.Key != s.Key {
				t.Errorf("erased event's key %q, want the pseudonym %q", o.Key, s.Key)
			}
			assertNoLeak(t, "opened data", o.Data, tc.gone...)
			ags := agentsIn(t, o.Data)
			for path, ok := range tc.changed {
				if !ok(ags[path]) {
					t.Errorf("%s is %+v", path, ags[path])
				}
			}
		})
	}
}

func TestRetentionErasesTheMonth(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	old := storedStatement(t, statementCases[0].js)
	recent := old
	recent.ID, recent.Time = "ev-recent", stored.AddDate(0, 1, 0)
	so, err := SealEvent(ctx, old, keys)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := SealEvent(ctx, recent, keys)
	if err != nil {
		t.Fatal(err)
	}
	if so.Key != sr.Key {
		t.Errorf("the pseudonym changed with the month: %q, %q", so.Key, sr.Key)
	}
	kids, _ := keys.DestroyBefore(ctx, tenant, recent.Time)
	if len(kids) != 2 { // Ada and the authority, for November
		t.Errorf("destroyed %v, want the two keys of November", kids)
	}
	if o, err := OpenEvent(ctx, so, keys); err != nil || !o.Erased {
		t.Errorf("November after retention: erased %v, err %v", o.Erased, err)
	}
	if o, err := OpenEvent(ctx, sr, keys); err != nil || o.Erased || !bytes.Equal(o.Data, recent.Data) {
		t.Errorf("December after retention: erased %v, err %v", o.Erased, err)
	}
}

// tenantBlind finds keys in any tenant, so that only the additional data
// can tell an event moved between tenants.
type tenantBlind struct{ *MemoryKeys }

func (k tenantBlind) Lookup(ctx context.Context, _, kid string) (DataKey, bool, error) {
	return k.MemoryKeys.Lookup(ctx, tenant, kid)
}

func TestOpenRefusesAlteredEvents(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	e := storedStatement(t, `{"actor":`+ada+`,"verb":`+verb+`,"object":`+act+`,"context":{"instructor":`+edna+`},"result":{"response":"`+response+`"}}`)
	s, err := SealEvent(ctx, e, keys)
	if err != nil {
		t.Fatal(err)
	}
	actor := sealedField(t, s.Data, "actor")
	instructor := sealedField(t, s.Data, "instructor")
	flip := func(v string) string {
		b := []byte(v)
		i := len(b) - 5
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	whole, err := SealEvent(ctx, newEvent(t, typeMasteryUpdated, "mbox:"+adaMbox, map[string]any{"learner": "x"}), keys)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		alter func(e event.Event) event.Event
		keys  Keys
		field string
	}{
		{"ciphertext altered", func(e event.Event) event.Event {
			e.Data = bytes.Replace(e.Data, []byte(actor), []byte(flip(actor)), 1)
			return e
		}, keys, "data.actor.sealed"},
		{"values swapped between fields", func(e event.Event) event.Event {
			e.Data = bytes.Replace(e.Data, []byte(actor), []byte("@@"), 1)
			e.Data = bytes.Replace(e.Data, []byte(instructor), []byte(actor), 1)
			e.Data = bytes.Replace(e.Data, []byte("@@"), []byte(instructor), 1)
			return e
		}, keys, "data.actor.sealed"},
		// A statement's record key is its actor's: the actor is the
		// first sealed value to open.
		{"moved to another event", func(e event.Event) event.Event { e.ID = "ev-other"; return e }, keys, "data.actor.sealed"},
		{"moved to another tenant", func(e event.Event) event.Event { e.Tenant = "globex"; return e }, tenantBlind{keys}, "data.actor.sealed"},
		{"whole data moved to another event", func(event.Event) event.Event { w := whole; w.ID = "ev-other"; return w }, keys, "ce_sealed"},
		{"whole data moved to another tenant", func(event.Event) event.Event { w := whole; w.Tenant = "globex"; return w }, tenantBlind{keys}, "ce_sealed"},
		{"record key from the actor, whole data", func(event.Event) event.Event {
			w := whole
			w.Extensions = map[string]string{ExtSealed: SealScheme + keyFromActor}
			return w
		}, keys, "ce_sealed"},
		{"record key from the actor, actor removed", func(e event.Event) event.Event {
			e.Data = bytes.Replace(e.Data, []byte(`"actor":{"objectType":"Agent","sealed":"`+actor+`"},`), nil, 1)
			return e
		}, keys, "ce_sealed"},
		{"unknown scheme", func(e event.Event) event.Event {
			e.Extensions = map[string]string{ExtSealed: "v9:" + e.Extensions[ExtSealed][3:]}
			return e
		}, keys, "ce_sealed"},
		{"sealed key not a sealed value", func(e event.Event) event.Event {
			e.Extensions = map[string]string{ExtSealed: "v1:nodot"}
			return e
		}, keys, "ce_sealed"},
		{"not personal, marked sealed", func(e event.Event) event.Event { e.Type = "learnstream.catalog.skill.put.v1"; return e }, keys, "ce_sealed"},
		{"agent left clear", func(e event.Event) event.Event {
			e.Data = bytes.Replace(e.Data, []byte(`{"objectType":"Agent","sealed":"`+actor+`"}`), []byte(ada), 1)
			return e
		}, keys, "data.actor"},
		{"truncated", func(e event.Event) event.Event { e.Data = e.Data[:len(e.Data)/2]; return e }, keys, "data"},
		{"response altered", func(e event.Event) event.Event {
			r := sealedField(t, e.Data, "response")
			e.Data = bytes.Replace(e.Data, []byte(r), []byte(flip(r)), 1)
			return e
		}, keys, "data.result.response"},
		{"whole data altered", func(event.Event) event.Event {
			w := whole
			w.Data = bytes.Replace(w.Data, []byte(`"}`), []byte(`A"}`), 1)
			return w
		}, keys, "data.sealed"},
		{"whole data not sealed", func(event.Event) event.Event {
			w := whole
			w.Data = []byte(`{"learner":"x"}`)
			return w
		}, keys, "data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenEvent(ctx, tc.alter(s), tc.keys)
			var fe *event.FieldError
			if !errors.As(err, &fe) || !event.IsRejected(err) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if fe.Field != tc.field || fe.Rule == "" {
				t.Errorf("field %q (%s), want %q", fe.Field, fe.Rule, tc.field)
			}
		})
	}
	if _, err := OpenEvent(ctx, s, keys); err != nil {
		t.Errorf("the original no longer opens: %v", err)
	}
}

// sealedField returns the sealed value that follows the first
// occurrence of "name": in data.
func sealedField(t *testing.T, data []byte, name string) string {
	t.Helper()
	i := bytes.Index(data, []byte(`"`+name+`":`))
	if i < 0 {
		t.Fatalf("no %s in %s", name, data)
	}
	rest := data[i+len(name)+3:]
	if j := bytes.Index(rest, []byte(`"sealed":"`)); j >= 0 && (name != "response") {
		rest = rest[j+len(`"sealed":"`):]
	} else {
		rest = rest[1:]
	}
	return string(rest[:bytes.IndexByte(rest, '"')])
}

func TestSealRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	cases := []struct {
		name  string
		e     event.Event
		field string
	}{
		{"no learner key", newEvent(t, typeMasteryUpdated, "", map[string]any{}), "key"},
		{"learner role without prefix", newEvent(t, typeLearnerRolePut, "mbox:"+adaMbox, map[string]any{}), "key"},
		{"document without resource", newEvent(t, typeDocument, "mbox:"+adaMbox, map[string]any{"op": "put"}), "data.resource"},
		{"statement not an object", newEvent(t, event.TypeStatementStored, "mbox:"+adaMbox, []int{1}), "data"},
		{"agent without identifier", newEvent(t, event.TypeStatementStored, "mbox:"+adaMbox,
			map[string]any{"actor": map[string]any{"name": "x"}}), "data.actor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SealEvent(ctx, tc.e, keys)
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}

func TestSealIsIdempotentAndFresh(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	e := storedStatement(t, statementCases[0].js)
	a, err := SealEvent(ctx, e, keys)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SealEvent(ctx, e, keys)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Data, b.Data) {
		t.Error("two seals of one event are equal: nonces are not fresh")
	}
	again, err := SealEvent(ctx, a, keys)
	if err != nil || !reflect.DeepEqual(again, a) {
		t.Errorf("sealing a sealed event changed it (err %v)", err)
	}
}

// benchStatement is a statement as bench ingest posts it (a scored
// lesson with context activities), stored by the LRS.
const benchStatement = `{"id":"6f1c3f0e-2b1d-4d8e-9a3b-0c5e7d9f1a2b","actor":{"objectType":"Agent","name":"Learner 417","mbox":"mailto:learner417@example.com"},` +
	`"verb":{"id":"http://adlnet.gov/expapi/verbs/passed","display":{"en-US":"passed"}},` +
	`"object":{"objectType":"Activity","id":"https://example.com/activities/42","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":"Lesson 42"},"description":{"en-US":"A lesson of the load test catalogue, with a description of typical length."}}},` +
	`"result":{"score":{"scaled":0.83,"raw":83,"min":0,"max":100},"success":true,"completion":true,"duration":"PT312S"},` +
	`"context":{"registration":"9b2d7c1e-4f3a-4e5b-8c6d-1a2b3c4d5e6f","platform":"learnstream bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/4"}],"category":[{"objectType":"Activity","id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}},` +
	`"timestamp":"2026-11-14T09:29:58.123Z"}`

func BenchmarkSealEvent(b *testing.B) {
	ctx := context.Background()
	keys := newKeys()
	e := storedStatement(b, benchStatement)
	b.SetBytes(int64(len(e.Data)))
	b.ReportAllocs()
	var s event.Event
	for b.Loop() {
		var err error
		if s, err = SealEvent(ctx, e, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(e.Data)), "clear-B")
	b.ReportMetric(float64(len(s.Data)+len(s.Extensions[ExtSealed])+len(s.Key)), "sealed-B")
}

func BenchmarkOpenEvent(b *testing.B) {
	ctx := context.Background()
	keys := newKeys()
	s, err := SealEvent(ctx, storedStatement(b, benchStatement), keys)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(s.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenEvent(ctx, s, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStored is what every consumer already spends on the
// same statement, for scale.
func BenchmarkDecodeStored(b *testing.B) {
	e := storedStatement(b, benchStatement)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xapi.DecodeStored(e.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSealNonCanonicalJSON: the LRS writes compact canonical JSON, but
// sealing must not depend on it: spacing, escaped keys and brackets
// inside strings are found all the same.
func TestSealNonCanonicalJSON(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	data := " {\n \"id\" : \"3b7e1c5a-2f1d-4c2b-9f8e-7a6d5c4b3a21\" ,\n" +
		" \"verb\" : {\"id\":\"http://example.com/verbs/x\", \"display\": {\"en\": \"a } ] \\\" { [\"}},\n" +
		" \"\\u0061ctor\" :\t" + ada + " ,\n" +
		" \"object\" : { \"objectType\" : \"Agent\" , \"name\" : \"" + ednaName + "\" , \"openid\" : \"" + ednaOpenID + "\" } ,\n" +
		" \"context\" : { \"extensions\" : {\"https://example.com/x\": {\"instructor\": \"not an agent\"}}, \"instructor\" : " + alan + " },\n" +
		" \"result\" : { \"response\" : \"" + response + "\" } }\r\n"
	e, err := event.New("ev-1", event.TypeStatementStored, source, tenant, "mbox:"+adaMbox, stored, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	s, err := SealEvent(ctx, e, keys)
	if err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "sealed", s.Data, adaMbox, adaName, ednaName, ednaOpenID, alanName, alanSHA1, response)
	if !bytes.Contains(s.Data, []byte(`"not an agent"`)) {
		t.Errorf("an extension was touched: %s", s.Data)
	}
	o, err := OpenEvent(ctx, s, keys)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, o.Data, e.Data)
}

func TestScannerRefusesMalformedJSON(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x}`, `{"a":[1,2}`, `[1]`, `{"a":1 "b":2}`, `{"a\":1}`} {
		if _, err := members(nil, []byte(in), 0, len(in)); err == nil {
			t.Errorf("members(%q) accepted it", in)
		}
	}
	for _, in := range []string{`{}`, ` { } `, `{"a":{"b":[1,{"c":"]}"}]}}`, `{"a\"b":"\\"}`} {
		if _, err := members(nil, []byte(in), 0, len(in)); err != nil {
			t.Errorf("members(%q): %v", in, err)
		}
	}
}

// TestSealOpenConcurrently runs sealing, opening and erasure at once
// (run with -race): MemoryKeys and the cipher cache are shared.
func TestSealOpenConcurrently(t *testing.T) {
	ctx := context.Background()
	keys := newKeys()
	e := storedStatement(t, statementCases[6].js) // instructor and team
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				s, err := SealEvent(ctx, e, keys)
				if err != nil {
					errs <- err
					return
				}
				if w == 0 && i == 25 {
					if _, err := keys.DestroyLearner(ctx, tenant, keys.Pseudonym(tenant, "openid:"+ednaOpenID)); err != nil {
						errs <- err
						return
					}
				}
				o, err := OpenEvent(ctx, s, keys)
				if err != nil {
					errs <- err
					return
				}
				if o.Erased || !json.Valid(o.Data) {
					errs <- fmt.Errorf("opened %v %s", o.Erased, o.Data)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// OwnerKey names the key SealEvent seals an event with first, and nothing
// for an event SealEvent leaves as it is or refuses.
func TestOwnerKey(t *testing.T) {
	sealed, err := SealEvent(context.Background(), newEvent(t, typeMasteryUpdated, "mbox:"+adaMbox, map[string]any{}), newKeys())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		e       event.Event
		learner string // "": none
	}{
		{"statement", newEvent(t, event.TypeStatementStored, "mbox:"+adaMbox, map[string]any{}), "mbox:" + adaMbox},
		{"learner role", newEvent(t, typeLearnerRolePut, learnerRolePrefix+"mbox:"+adaMbox, map[string]any{}), "mbox:" + adaMbox},
		{"agent profile document", newEvent(t, typeDocument, "mbox:"+adaMbox, map[string]any{"resource": "agentProfile"}), "mbox:" + adaMbox},
		{"activity profile document", newEvent(t, typeDocument, "mbox:"+adaMbox, map[string]any{"resource": "activityProfile"}), ""},
		{"not personal", newEvent(t, "learnstream.catalog.skill.put.v1", "s1", map[string]any{}), ""},
		{"sealed already", sealed, ""},
		{"no learner key", newEvent(t, typeMasteryUpdated, "", map[string]any{}), ""},
		{"learner role without prefix", newEvent(t, typeLearnerRolePut, "mbox:"+adaMbox, map[string]any{}), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := OwnerKey(tc.e)
			if ok != (tc.learner != "") || r.Learner != tc.learner {
				t.Fatalf("OwnerKey = %+v, %v; want learner %q", r, ok, tc.learner)
			}
			if ok && (r.Tenant != tc.e.Tenant || !r.At.Equal(tc.e.Time)) {
				t.Errorf("OwnerKey = %+v; want tenant %q at %v", r, tc.e.Tenant, tc.e.Time)
			}
		})
	}
}
