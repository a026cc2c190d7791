package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

var testNames = privacy.Secret("0123456789abcdef0123456789abcdef")

func settingEvent(t *testing.T, id, typ, tenant, key string, data any) event.Event {
	t.Helper()
	b, _ := json.Marshal(data)
	e, err := event.New(id, typ, "test", tenant, key, t0, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAccessAuditPages(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	a, err := NewAccessAudit(store)
	if err != nil {
		t.Fatal(err)
	}
	ann, bob := testNames.Pseudonym("t1", "mbox:mailto:ann@example.com"), testNames.Pseudonym("t1", "mbox:mailto:bob@example.com")
	off := int64(0)
	apply := func(tenant string, r privacy.AccessRecorded) {
		t.Helper()
		e := settingEvent(t, r.ID, privacy.TypeAccessRecorded, tenant, tenant, r)
		if err := a.Handle(ctx, event.Position{Topic: privacy.TopicAudit, Offset: off}, e); err != nil {
			t.Fatal(err)
		}
		off++
	}
	for i := range 5 {
		apply("t1", privacy.AccessRecorded{ID: fmt.Sprintf("r%d", i), Credential: "k", Route: "GET /v1/learners/{learner}/progress",
			Status: 200, Learners: []string{ann}, At: t0.Add(time.Duration(i) * time.Second)})
	}
	apply("t1", privacy.AccessRecorded{ID: "both", Credential: "k", Route: "GET /xapi/statements", Status: 200,
		Learners: []string{ann, bob}, At: t0.Add(10 * time.Second)})
	// Another tenant's record of the same pseudonym stays in that tenant.
	apply("t2", privacy.AccessRecorded{ID: "other", Credential: "k", Route: "GET /xapi/statements", Status: 200,
		Learners: []string{ann}, At: t0})
	// A redelivered record is not listed twice.
	apply("t1", privacy.AccessRecorded{ID: "r0", Credential: "k", Route: "GET /v1/learners/{learner}/progress",
		Status: 200, Learners: []string{ann}, At: t0})
	apply("t1", privacy.AccessRecorded{ID: "both", Credential: "k", Route: "GET /xapi/statements", Status: 200,
		Learners: []string{ann, bob}, At: t0.Add(10 * time.Second)})
	// A record naming a learner twice has one entry for them.
	apply("t1", privacy.AccessRecorded{ID: "twice", Credential: "k", Route: "GET /xapi/statements", Status: 200,
		Learners: []string{bob, bob}, At: t0.Add(11 * time.Second)})

	// Records as releases before the shared records kept them, the whole
	// record under each learner's key (and counted): older is not
	// counted again when it is applied again; oldest (kept under bob's
	// key alone) is listed as it is.
	sp, err := store.currentSpace(AccessAuditName)
	if err != nil {
		t.Fatal(err)
	}
	older := privacy.AccessRecorded{ID: "older", Credential: "k", Route: "GET /xapi/statements", Status: 200,
		Learners: []string{bob, ann}, At: t0.Add(12 * time.Second)}
	oldest := older
	oldest.ID, oldest.At = "oldest", t0.Add(13*time.Second)
	ob, _ := json.Marshal(older)
	ab, _ := json.Marshal(oldest)
	if err := store.db.Update(func(txn *badger.Txn) error {
		for _, p := range older.Learners {
			if err := txn.Set(sp.Key("a", "t1", p, accessTime(older.At), older.ID), ob); err != nil {
				return err
			}
		}
		if err := txn.Set(sp.Key("a", "t1", bob, accessTime(oldest.At), oldest.ID), ab); err != nil {
			return err
		}
		return addCount(txn, countKey(sp, "t1", countedAccess), 3)
	}); err != nil {
		t.Fatal(err)
	}
	apply("t1", older)

	// A record of several learners is kept once ("twice" names one).
	if n, _ := a.CountKeys("ar", "t1"); n != 2 {
		t.Errorf("%d shared records in t1, want 2 (both, older applied again)", n)
	}

	// Counted by entry (one a learner a record names), the redelivered
	// records once.
	for tenant, want := range map[string]int64{"t1": 11, "t2": 1, "t3": 0} {
		c, err := a.Count(ctx, tenant)
		if n, _ := a.CountKeys("a", tenant); err != nil || c["entries"] != want || int64(n) != want {
			t.Errorf("tenant %s: counted %v (%v), %d keys, want %d", tenant, c, err, n, want)
		}
	}

	var got []string
	cursor, pages := "", 0
	for {
		p, err := a.Access(ctx, "t1", ann, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range p.Records {
			got = append(got, r.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if strings.Join(got, ",") != "r0,r1,r2,r3,r4,both,older" || pages != 4 {
		t.Errorf("ann's records %v in %d pages, want r0..r4,both,older in 4", got, pages)
	}
	p, _ := a.Access(ctx, "t1", bob, "", 10)
	if len(p.Records) != 4 || p.Records[0].ID != "both" || p.Records[1].ID != "twice" || p.Records[2].ID != "older" || p.Records[3].ID != "oldest" || p.Next != "" ||
		!slices.Equal(p.Records[0].Learners, []string{ann, bob}) || !slices.Equal(p.Records[2].Learners, []string{bob, ann}) ||
		!slices.Equal(p.Records[3].Learners, []string{bob, ann}) {
		t.Errorf("bob's records %+v", p)
	}
	if _, err := a.Access(ctx, "t1", ann, "nonsense", 2); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	// A record naming a learner key instead of a pseudonym is the event's
	// fault: rejected, never stored.
	bad := settingEvent(t, "bad", privacy.TypeAccessRecorded, "t1", "t1", privacy.AccessRecorded{ID: "bad", Credential: "k",
		Route: "GET /x", Status: 200, Learners: []string{"mbox:mailto:ann@example.com"}, At: t0})
	if err := a.Handle(ctx, event.Position{Topic: privacy.TopicAudit, Offset: off}, bad); err == nil || !strings.Contains(err.Error(), "pseudonym") {
		t.Errorf("record with a learner key: %v", err)
	}
}

func TestConsentReadModel(t *testing.T) {
	ctx := context.Background()
	c, err := NewConsents(openStore(t), testNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	ann := "mbox:mailto:ann@example.com"
	steps := []struct {
		name    string
		e       event.Event
		tenant  string
		want    privacy.Consent
		wantErr string
	}{
		{"never set: both on", event.Event{}, "t1", privacy.DefaultConsent, ""},
		{"withdraw personalisation", settingEvent(t, "c1", privacy.TypeConsentSet, "t1", ann,
			privacy.ConsentSet{Learner: ann, Personalisation: false, Analytics: true, By: "k", At: t0}), "t1",
			privacy.Consent{Personalisation: false, Analytics: true}, ""},
		{"other tenant unaffected", event.Event{}, "t2", privacy.DefaultConsent, ""},
		{"withdraw both", settingEvent(t, "c2", privacy.TypeConsentSet, "t1", ann,
			privacy.ConsentSet{Learner: ann, By: "k", At: t0}), "t1", privacy.Consent{}, ""},
		{"unknown major version rejected", settingEvent(t, "c3", "learnstream.privacy.consent.set.v2", "t1", ann,
			privacy.ConsentSet{Learner: ann, Personalisation: true, Analytics: true, By: "k", At: t0}), "t1", privacy.Consent{}, "major version 2"},
		{"no learner rejected", settingEvent(t, "c4", privacy.TypeConsentSet, "t1", ann,
			privacy.ConsentSet{Personalisation: true, By: "k", At: t0}), "t1", privacy.Consent{}, "data.learner"},
		{"statements pass by", stmtEvent(t, "s1", uuid(1), "https://example.com/a"), "t1", privacy.Consent{}, ""},
		{"erased: back to defaults (nothing kept)", settingEvent(t, "e1", privacy.TypeLearnerErased, "t1", testNames.Pseudonym("t1", ann),
			privacy.LearnerErased{Erasure: "x", Pseudonym: testNames.Pseudonym("t1", ann), At: t0}), "t1", privacy.DefaultConsent, ""},
	}
	for i, s := range steps {
		if s.e.ID != "" {
			err := c.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy, Offset: int64(i)}, s.e)
			if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
				t.Fatalf("%s: err %v, want %q", s.name, err, s.wantErr)
			}
		}
		got, err := c.Consent(ctx, s.tenant, ann)
		if err != nil {
			t.Fatal(err)
		}
		if got.Consent != s.want {
			t.Errorf("%s: %+v, want %+v", s.name, got.Consent, s.want)
		}
	}
}

func TestRetentionReadModel(t *testing.T) {
	ctx := context.Background()
	r, err := NewRetention(openStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		e       event.Event
		wantErr string
	}{
		{"t1 a year", settingEvent(t, "r1", privacy.TypeRetentionSet, "t1", "t1", privacy.RetentionSet{Tenant: "t1", Days: 365, By: "k", At: t0}), ""},
		{"t2 two years", settingEvent(t, "r2", privacy.TypeRetentionSet, "t2", "t2", privacy.RetentionSet{Tenant: "t2", Days: 730, By: "k", At: t0}), ""},
		{"t3 set then off", settingEvent(t, "r3", privacy.TypeRetentionSet, "t3", "t3", privacy.RetentionSet{Tenant: "t3", Days: 100, By: "k", At: t0}), ""},
		{"t3 off", settingEvent(t, "r4", privacy.TypeRetentionSet, "t3", "t3", privacy.RetentionSet{Tenant: "t3", By: "k", At: t0}), ""},
		{"tenant mismatch", settingEvent(t, "r5", privacy.TypeRetentionSet, "t1", "t1", privacy.RetentionSet{Tenant: "t2", Days: 40, By: "k", At: t0}), "data.tenant"},
		{"too short", settingEvent(t, "r6", privacy.TypeRetentionSet, "t1", "t1", privacy.RetentionSet{Tenant: "t1", Days: 3, By: "k", At: t0}), "days"},
	}
	for i, s := range steps {
		err := r.Handle(ctx, event.Position{Topic: privacy.TopicPrivacy, Offset: int64(i)}, s.e)
		if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("%s: err %v, want %q", s.name, err, s.wantErr)
		}
	}
	all, err := r.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, rs := range all {
		got[rs.Tenant] = rs.Days
	}
	if len(got) != 2 || got["t1"] != 365 || got["t2"] != 730 {
		t.Errorf("tenants with a period: %v, want t1 365, t2 730", got)
	}
	if rs, _ := r.Tenant(ctx, "t3"); rs.Days != 0 {
		t.Errorf("t3: %d days, want 0 (off)", rs.Days)
	}
	if rs, _ := r.Tenant(ctx, "nobody"); rs.Days != 0 || rs.Tenant != "nobody" {
		t.Errorf("unset tenant: %+v", rs)
	}
}

func TestConsentsSetBefore(t *testing.T) {
	ctx := context.Background()
	c, err := NewConsents(openStore(t), testNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []privacy.ConsentSet{
		{Learner: "mbox:mailto:a@example.com", Personalisation: false, Analytics: true, By: "k", At: t0.AddDate(0, -2, 0)},
		{Learner: "mbox:mailto:b@example.com", Personalisation: true, Analytics: true, By: "k", At: t0.AddDate(0, -2, 0)}, // the defaults: nothing to keep
		{Learner: "mbox:mailto:c@example.com", Personalisation: true, Analytics: false, By: "k", At: t0},                  // recent
	} {
		if err := c.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, settingEvent(t, fmt.Sprintf("c%d", i), privacy.TypeConsentSet, "t1", s.Learner, s)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.SetBefore(ctx, "t1", t0.AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Learner != "mbox:mailto:a@example.com" || got[0].Personalisation {
		t.Errorf("SetBefore: %+v, want a's withdrawal only", got)
	}
	if other, _ := c.SetBefore(ctx, "t2", t0); len(other) != 0 {
		t.Errorf("another tenant: %+v", other)
	}
	w, err := c.AnalyticsWithdrawn(ctx)
	if err != nil || len(w) != 1 || w[0] != (TenantLearner{"t1", "mbox:mailto:c@example.com"}) {
		t.Errorf("AnalyticsWithdrawn: %+v %v, want c of t1", w, err)
	}
}
