package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
)

// whLog applies published subscription events to the projection at once.
type whLog struct {
	mu   sync.Mutex
	next int64
	subs *projections.Webhooks
}

func (l *whLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		if err := l.subs.Handle(ctx, event.Position{Topic: topic, Offset: l.next}, e); err != nil {
			return err
		}
		l.next++
	}
	return nil
}

// resolver answers fixed addresses, as DNS would.
func resolver(_ context.Context, host string) ([]netip.Addr, error) {
	m := map[string]string{"hooks.example.com": "93.184.216.34", "rebind.example.com": "127.0.0.1",
		"internal.example.com": "10.0.0.5", "mixed.example.com": "93.184.216.35,192.168.0.1"}
	v, ok := m[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range strings.Split(v, ",") {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// whPseudonyms are the fixture install's learner pseudonyms.
var whPseudonyms = privacy.Secret("pseudonym secret of the webhooks fixture")

func newWebhooksFixture(t *testing.T) (*fixture, *projections.Webhooks) {
	t.Helper()
	store, err := projections.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	l := &whLog{}
	subs, err := projections.NewWebhooks(store, projections.NewWaiters(), projections.WebhooksConfig{Publisher: l, SealKey: []byte("0123456789abcdef0123456789abcdef"),
		Pseudonyms: whPseudonyms})
	if err != nil {
		t.Fatal(err)
	}
	l.subs = subs
	f := newFixture(t, func(c *api.Config) {
		c.Modules = append(c.Modules, &api.WebhooksModule{Store: subs, Resolve: resolver, Pseudonyms: whPseudonyms,
			Ping: func(context.Context, *webhook.Subscription) (int, time.Duration, error) {
				return 204, time.Millisecond, nil
			}})
	})
	if _, err := f.creds.Put(context.Background(), "hooks", "hooks-secret", "hooks", "t1", []string{projections.ScopeWebhooks}); err != nil {
		t.Fatal(err)
	}
	return f, subs
}

func TestWebhookBadInputChangesNothing(t *testing.T) {
	f, subs := newWebhooksFixture(t)
	tests := []struct {
		name, body string
		field      string
	}{
		{"http", `{"url":"http://hooks.example.com/in"}`, "url"},
		{"no url", `{}`, "url"},
		{"loopback literal", `{"url":"https://127.0.0.1/in"}`, "url"},
		{"IPv6 loopback", `{"url":"https://[::1]/in"}`, "url"},
		{"metadata service", `{"url":"https://169.254.169.254/latest"}`, "url"},
		{"private literal", `{"url":"https://192.168.1.20/in"}`, "url"},
		{"name resolving to loopback", `{"url":"https://rebind.example.com/in"}`, "url"},
		{"name resolving to a private address", `{"url":"https://internal.example.com/in"}`, "url"},
		{"one private address among public ones", `{"url":"https://mixed.example.com/in"}`, "url"},
		{"name that does not resolve", `{"url":"https://nowhere.example.com/in"}`, "url"},
		{"credentials in the URL", `{"url":"https://u:p@hooks.example.com/in"}`, "url"},
		{"unknown field", `{"url":"https://hooks.example.com/in","colour":"red"}`, "colour"},
		{"unknown filter field", `{"url":"https://hooks.example.com/in","filter":{"tenant":"t2"}}`, "filter.tenant"},
		{"unknown event type", `{"url":"https://hooks.example.com/in","filter":{"types":["learnstream.nope.v1"]}}`, "filter.types[0]"},
		{"internal event type", `{"url":"https://hooks.example.com/in","filter":{"types":["learnstream.credential.put.v1"]}}`, "filter.types[0]"},
		{"verb that is not an IRI", `{"url":"https://hooks.example.com/in","filter":{"verbs":["completed"]}}`, "filter.verbs[0]"},
		{"wrong type", `{"url":"https://hooks.example.com/in","paused":"yes"}`, "paused"},
		{"unknown kind", `{"kind":"email","url":"https://hooks.example.com/in"}`, "kind"},
		{"forward without credentials", `{"kind":"xapi-forward","url":"https://hooks.example.com/xapi"}`, "auth"},
		{"secret of the wrong form", `{"url":"https://hooks.example.com/in","secret":"hunter2"}`, "secrets[0]"},
		{"not an object", `[1]`, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := f.do(t, req{method: "POST", path: "/v1/webhooks", body: tt.body})
			var e struct{ Error, Field, Rule string }
			json.Unmarshal(b, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Field != tt.field || e.Rule == "" {
				t.Fatalf("%d %s, want 400 naming %s and a rule", resp.StatusCode, b, tt.field)
			}
		})
	}
	huge := `{"url":"https://hooks.example.com/in","description":"` + strings.Repeat("x", 70<<10) + `"}`
	if resp, b := f.do(t, req{method: "POST", path: "/v1/webhooks", body: huge}); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body beyond the limit: %d %s, want 413", resp.StatusCode, b)
	}
	if l, _ := subs.List(context.Background(), ""); len(l) != 0 {
		t.Errorf("bad requests stored %d subscriptions", len(l))
	}
}

func TestWebhookLifecycleAndTenants(t *testing.T) {
	f, subs := newWebhooksFixture(t)
	resp, b := f.do(t, req{method: "POST", path: "/v1/webhooks", user: "hooks", pass: "hooks-secret",
		body: `{"url":"https://hooks.example.com/in","filter":{"types":["learnstream.recommendations.updated.v1"],"learners":["Ada@example.com"]}}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var made struct {
		ID, Secret, Location string
		Filter               webhook.Filter
	}
	json.Unmarshal(b, &made)
	if !strings.HasPrefix(made.Secret, "whsec_") || resp.Header.Get("Location") != "/v1/webhooks/"+made.ID {
		t.Fatalf("create answered %s (Location %q)", b, resp.Header.Get("Location"))
	}
	// The learner is kept, and answered, as their pseudonym: never the
	// e-mail.
	ada := whPseudonyms.Pseudonym("t1", "mbox:mailto:Ada@example.com")
	if len(made.Filter.Learners) != 1 || made.Filter.Learners[0] != ada || strings.Contains(string(b), "Ada@") {
		t.Errorf("learner filter %v, want the pseudonym %s of the e-mail's learner key: %s", made.Filter.Learners, ada, b)
	}
	path := "/v1/webhooks/" + made.ID
	_, b = f.do(t, req{method: "GET", path: path})
	if strings.Contains(string(b), made.Secret) || strings.Contains(string(b), "sealed:") {
		t.Errorf("GET shows the secret: %s", b)
	}
	if !strings.Contains(string(b), ada) || strings.Contains(string(b), "Ada@") {
		t.Errorf("GET shows the learner filter other than as the pseudonym %s: %s", ada, b)
	}
	// The same identifier sent again, or the pseudonym GET showed, name
	// the same learner: a PATCH adding Bob keeps Ada once.
	for _, learners := range []string{`["mailto:Ada@example.com","bob@example.com"]`, `["` + ada + `","bob@example.com"]`} {
		resp, b := f.do(t, req{method: "PATCH", path: path, body: `{"filter":{"types":["learnstream.recommendations.updated.v1"],"learners":` + learners + `}}`})
		var got struct{ Filter webhook.Filter }
		json.Unmarshal(b, &got)
		bob := whPseudonyms.Pseudonym("t1", "mbox:mailto:bob@example.com")
		if resp.StatusCode != http.StatusOK || strings.Join(got.Filter.Learners, ",") != ada+","+bob {
			t.Errorf("PATCH learners %s: %d %s, want [%s %s]", learners, resp.StatusCode, b, ada, bob)
		}
	}
	if stored, err := subs.Get(context.Background(), "t1", made.ID); err != nil || stored.Filter.ClearLearners() {
		t.Errorf("stored learner filter %v (%v): not all pseudonyms", stored.Filter.Learners, err)
	}
	// Another tenant's credential does not see it, nor change it.
	for _, r := range []req{{method: "GET", path: path}, {method: "PATCH", path: path, body: `{"paused":true}`},
		{method: "DELETE", path: path}, {method: "POST", path: path + "/ping"}, {method: "POST", path: path + "/replay", body: `{"since":"2020-01-01T00:00:00Z"}`}} {
		r.user, r.pass = "other", "other-secret"
		if resp, b := f.do(t, r); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s by another tenant: %d %s, want 404", r.method, r.path, resp.StatusCode, b)
		}
	}
	if resp, _ := f.do(t, req{method: "GET", path: "/v1/webhooks", user: "reader", pass: "reader-secret"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a credential without the webhooks scope lists webhooks: %d", resp.StatusCode)
	}
	_, b = f.do(t, req{method: "GET", path: "/v1/webhooks", user: "other", pass: "other-secret"})
	if strings.Contains(string(b), made.ID) {
		t.Errorf("another tenant lists %s: %s", made.ID, b)
	}

	resp, b = f.do(t, req{method: "PATCH", path: path, body: `{"paused":true,"description":"HR sync"}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"paused":true`) {
		t.Errorf("pause: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []struct{ body, field string }{{`{"kind":"xapi-forward"}`, "kind"}, {`{"secret":"whsec_x"}`, "secret"}, {`{"url":"https://10.1.1.1/"}`, "url"}} {
		resp, b := f.do(t, req{method: "PATCH", path: path, body: bad.body})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"field":"`+bad.field+`"`) {
			t.Errorf("PATCH %s: %d %s", bad.body, resp.StatusCode, b)
		}
	}
	_, b = f.do(t, req{method: "GET", path: path})
	if !strings.Contains(string(b), "https://hooks.example.com/in") {
		t.Errorf("a refused PATCH changed the subscription: %s", b)
	}

	resp, b = f.do(t, req{method: "POST", path: path + "/secret/rotate", body: `{"overlap":"1h"}`})
	var rot struct {
		Secret                string
		PreviousSecretExpires *time.Time `json:"previous_secret_expires"`
	}
	json.Unmarshal(b, &rot)
	if resp.StatusCode != http.StatusOK || rot.Secret == made.Secret || !strings.HasPrefix(rot.Secret, "whsec_") || rot.PreviousSecretExpires == nil {
		t.Errorf("rotate: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, req{method: "POST", path: path + "/secret/rotate", body: `{"overlap":"30d"}`}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("rotate with a bad overlap: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, req{method: "POST", path: path + "/replay", body: `{"since":"2999-01-01T00:00:00Z"}`}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replay from the future: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, req{method: "POST", path: path + "/replay", body: `{"since":"2020-01-01T00:00:00Z"}`}); resp.StatusCode != http.StatusAccepted {
		t.Errorf("replay: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, req{method: "POST", path: path + "/ping"}); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"delivered":true`) {
		t.Errorf("ping: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, req{method: "GET", path: path + "/dead-letters"}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dead letters without the webhooks role here: %d, want 503", resp.StatusCode)
	}
	if resp, _ := f.do(t, req{method: "DELETE", path: path}); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, req{method: "GET", path: path}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted subscription: %d, want 404", resp.StatusCode)
	}
}
