package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		sub       Subscription
		allowHTTP bool
		field     string // "" means valid
	}{
		{"https webhook", Subscription{URL: "https://hooks.example.com/in"}, false, ""},
		{"http refused", Subscription{URL: "http://hooks.example.com/in"}, false, "url"},
		{"http with the development flag", Subscription{URL: "http://hooks.example.com/in"}, true, ""},
		{"ftp", Subscription{URL: "ftp://hooks.example.com/in"}, true, "url"},
		{"no host", Subscription{URL: "https:///in"}, false, "url"},
		{"credentials in the URL", Subscription{URL: "https://u:p@hooks.example.com/"}, false, "url"},
		{"fragment", Subscription{URL: "https://hooks.example.com/#x"}, false, "url"},
		{"empty url", Subscription{}, false, "url"},
		{"long url", Subscription{URL: "https://hooks.example.com/" + strings.Repeat("a", MaxURLLength)}, false, "url"},
		{"unknown kind", Subscription{Kind: "email", URL: "https://hooks.example.com/"}, false, "kind"},
		{"known type", Subscription{URL: "https://h.example.com/", Filter: Filter{Types: []string{"learnstream.recommendations.updated.v1"}}}, false, ""},
		{"unknown type", Subscription{URL: "https://h.example.com/", Filter: Filter{Types: []string{"learnstream.nope.v1"}}}, false, "filter.types[0]"},
		{"internal type", Subscription{URL: "https://h.example.com/", Filter: Filter{Types: []string{"learnstream.credential.put.v1"}}}, false, "filter.types[0]"},
		{"verb not an IRI", Subscription{URL: "https://h.example.com/", Filter: Filter{Verbs: []string{"completed"}}}, false, "filter.verbs[0]"},
		{"activity not an IRI", Subscription{URL: "https://h.example.com/", Filter: Filter{Activities: []string{"", "x"}}}, false, "filter.activities[0]"},
		{"too many learners", Subscription{URL: "https://h.example.com/", Filter: Filter{Learners: make([]string, MaxFilterValues+1)}}, false, "filter.learners"},
		{"forward without credentials", Subscription{Kind: KindXAPIForward, URL: "https://lrs.example.com/xapi"}, false, "auth"},
		{"forward", Subscription{Kind: KindXAPIForward, URL: "https://lrs.example.com/xapi", Username: "k", Password: "s"}, false, ""},
		{"forward of decisions", Subscription{Kind: KindXAPIForward, URL: "https://lrs.example.com/xapi", Username: "k", Password: "s",
			Filter: Filter{Types: []string{"learnstream.adaptive.mastery.updated.v1"}}}, false, "filter.types[0]"},
		{"webhook with credentials", Subscription{URL: "https://h.example.com/", Username: "k", Password: "s"}, false, "auth"},
		{"bad secret", Subscription{URL: "https://h.example.com/", Secrets: []Secret{{Value: "whsec_short"}}}, false, "secrets[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sub.Validate(tt.allowHTTP)
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("valid subscription refused: %v", err)
			case tt.field != "" && !errors.As(err, &fe):
				t.Fatalf("got %v, want an error naming %s", err, tt.field)
			case tt.field != "" && fe.Field != tt.field:
				t.Fatalf("error names %s (%v), want %s", fe.Field, err, tt.field)
			case tt.field != "" && fe.Rule == "":
				t.Fatalf("error without a rule: %v", err)
			}
		})
	}
}

func TestSignVerifyAndRotation(t *testing.T) {
	old, cur := NewSecret(), NewSecret()
	now := time.Unix(1_700_000_000, 0)
	s := Subscription{Secrets: []Secret{{Value: old}}}
	s.Rotate(cur, time.Hour, now)
	body := []byte(`{"type":"x"}`)
	sig, err := Sign(s.SigningSecrets(now.Add(time.Minute)), "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("during the overlap %d signatures (%s), want both secrets'", n, sig)
	}
	ts := "1700000000"
	for _, sec := range []string{old, cur} {
		if err := Verify(sec, "msg_1", ts, sig, body, 5*time.Minute, now); err != nil {
			t.Errorf("verify with a secret of the overlap: %v", err)
		}
	}
	if got := s.SigningSecrets(now.Add(2 * time.Hour)); len(got) != 1 || got[0] != cur {
		t.Errorf("after the overlap the secrets are %v, want only the new one", got)
	}
	cases := []struct {
		name          string
		secret, id    string
		ts            string
		body          string
		now           time.Time
		wantSignature bool
	}{
		{"other secret", NewSecret(), "msg_1", ts, string(body), now, true},
		{"other id", cur, "msg_2", ts, string(body), now, true},
		{"changed body", cur, "msg_1", ts, `{"type":"y"}`, now, true},
		{"other timestamp", cur, "msg_1", "1700000001", string(body), now, true},
		{"stale timestamp", cur, "msg_1", ts, string(body), now.Add(10 * time.Minute), false},
		{"not a timestamp", cur, "msg_1", "soon", string(body), now, false},
	}
	for _, c := range cases {
		err := Verify(c.secret, c.id, c.ts, sig, []byte(c.body), 5*time.Minute, c.now)
		if err == nil || errors.Is(err, ErrSignature) != c.wantSignature {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.216.34", true}, {"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.3.4", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"224.0.0.1", false}, {"ff02::1", false},
		{"0.0.0.0", false}, {"::", false}, {"fd00::1", false}, {"100.64.1.1", false}, {"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false}, {"64:ff9b::7f00:1", false},
		{"10.1.2.3", true}, // the operator's allowed range
	} {
		err := CheckAddr(netip.MustParseAddr(c.addr), allow)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want allowed=%v", c.addr, err, c.ok)
		}
	}
}

func TestMatches(t *testing.T) {
	st := event.Event{Type: event.TypeStatementStored, Tenant: "t1", Data: []byte(`{"actor":{"mbox":"mailto:ada@Example.com"},
		"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/c/1"}}`)}
	rec := event.Event{Type: "learnstream.recommendations.updated.v1", Tenant: "t1", Data: []byte(`{"learner":"mbox:mailto:bob@example.com"}`)}
	sub := func(f Filter) *Subscription {
		s := &Subscription{Tenant: "t1", URL: "https://h.example.com/", Filter: f}
		if err := s.Validate(false); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name string
		sub  *Subscription
		ev   event.Event
		want bool
	}{
		{"everything", sub(Filter{}), st, true},
		{"other tenant", &Subscription{Tenant: "t2"}, st, false},
		{"type", sub(Filter{Types: []string{"learnstream.recommendations.updated.v1"}}), st, false},
		{"learner by e-mail", sub(Filter{Learners: []string{"ada@example.com"}}), st, true},
		{"other learner", sub(Filter{Learners: []string{"ada@example.com"}}), rec, false},
		{"verb", sub(Filter{Verbs: []string{"http://adlnet.gov/expapi/verbs/completed"}}), st, true},
		{"verb on a decision", sub(Filter{Verbs: []string{"http://adlnet.gov/expapi/verbs/completed"}}), rec, false},
		{"activity", sub(Filter{Activities: []string{"https://example.com/c/2"}}), st, false},
		{"internal type never", sub(Filter{}), event.Event{Type: "learnstream.credential.put.v1", Tenant: "t1"}, false},
		{"forward takes statements only", &Subscription{Tenant: "t1", Kind: KindXAPIForward}, rec, false},
	} {
		if got := c.sub.Matches(Describe(c.ev)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Stored as pseudonyms, a learner filter matches by the event's
	// learner's pseudonym, which the caller supplies.
	ps := privacy.Secret("pseudonym secret of the install")
	byPseudonym := sub(Filter{Learners: []string{"ada@example.com"}})
	byPseudonym.Filter.Pseudonymize("t1", ps)
	it := Describe(st)
	if byPseudonym.Matches(it) {
		t.Error("a pseudonymised filter matched without the event's pseudonym")
	}
	it.Pseudonym = ps.Pseudonym("t1", it.Learner)
	if !byPseudonym.Matches(it) {
		t.Errorf("a pseudonymised filter %v did not match its learner %s (%s)", byPseudonym.Filter.Learners, it.Learner, it.Pseudonym)
	}
	other := Describe(rec)
	other.Pseudonym = ps.Pseudonym("t1", other.Learner)
	if byPseudonym.Matches(other) {
		t.Error("a pseudonymised filter matched another learner")
	}
	if id := MessageID("a", "e"); len(id) != 36 || id == MessageID("b", "e") || id == MessageID("a", "f") {
		t.Error("message ids are not per subscription and event")
	}
}

func TestPseudonymize(t *testing.T) {
	ps := privacy.Secret("pseudonym secret of the install")
	ada := ps.Pseudonym("t1", "mbox:mailto:ada@example.com")
	bob := ps.Pseudonym("t1", "account:https://hr.example.com|bob")
	for _, c := range []struct {
		name    string
		in      []string
		want    []string
		changed bool
	}{
		{"none", nil, nil, false},
		{"e-mail", []string{"ada@example.com"}, []string{ada}, true},
		{"mailto IRI", []string{"mailto:ada@example.com"}, []string{ada}, true},
		{"learner key", []string{"mbox:mailto:ada@example.com", "account:https://hr.example.com|bob"}, []string{ada, bob}, true},
		{"already pseudonyms", []string{ada, bob}, []string{ada, bob}, false},
		{"one learner twice", []string{"ada@example.com", ada, "mbox:mailto:ada@example.com"}, []string{ada}, true},
		{"pseudonym given twice", []string{bob, bob}, []string{bob}, true},
	} {
		f := Filter{Learners: append([]string(nil), c.in...)}
		changed := f.Pseudonymize("t1", ps)
		if changed != c.changed || strings.Join(f.Learners, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v (changed %v), want %v (changed %v)", c.name, f.Learners, changed, c.want, c.changed)
		}
		if f.ClearLearners() {
			t.Errorf("%s: clear learners left in %v", c.name, f.Learners)
		}
		for _, l := range f.Learners {
			if strings.Contains(l, "@") || strings.Contains(l, "bob") {
				t.Errorf("%s: %q names the learner", c.name, l)
			}
		}
	}
	if ps.Pseudonym("t2", "mbox:mailto:ada@example.com") == ada {
		t.Error("pseudonyms are not per tenant")
	}
	if !(Filter{Learners: []string{ada, "ada@example.com"}}).ClearLearners() {
		t.Error("ClearLearners missed an e-mail")
	}
}

func TestBackoff(t *testing.T) {
	for a := 1; a < 40; a++ {
		d := Backoff(a, time.Second, time.Minute)
		want := min(time.Second<<(a-1), time.Minute)
		if a > 30 {
			want = time.Minute
		}
		if d < want/2 || d > want {
			t.Errorf("attempt %d: %v, want within [%v, %v]", a, d, want/2, want)
		}
	}
}
