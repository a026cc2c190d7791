package streams

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

type fakeMonthKeys struct {
	months map[string][]time.Time // tenant -> months holding a key
	calls  []string
}

func (k *fakeMonthKeys) DestroyBefore(_ context.Context, tenant string, before time.Time) ([]string, error) {
	k.calls = append(k.calls, tenant+" "+before.Format("2006-01"))
	var kept []time.Time
	var kids []string
	for _, m := range k.months[tenant] {
		if m.Before(before) {
			kids = append(kids, m.Format("2006-01"))
		} else {
			kept = append(kept, m)
		}
	}
	k.months[tenant] = kept
	return kids, nil
}

type retentionSettings []privacy.RetentionSet

func (s retentionSettings) All(context.Context) ([]privacy.RetentionSet, error) { return s, nil }

type topicLog struct {
	mu     sync.Mutex
	failOn string // topic that refuses writes
	evs    map[string][]event.Event
}

func (l *topicLog) PublishEvents(_ context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if topic == l.failOn {
		return errors.New("broker down")
	}
	if l.evs == nil {
		l.evs = map[string][]event.Event{}
	}
	l.evs[topic] = append(l.evs[topic], evs...)
	return nil
}

func TestRetention(t *testing.T) {
	month := func(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }
	keys := &fakeMonthKeys{months: map[string][]time.Time{
		"t1": {month(2025, 10), month(2025, 11), month(2025, 12), month(2026, 1)},
		"t2": {month(2025, 1), month(2026, 11)},
	}}
	settings := retentionSettings{{Tenant: "t1", Days: 365}, {Tenant: "t2", Days: 0}}
	log := &topicLog{failOn: TopicRecommendations}
	state := filepath.Join(t.TempDir(), "retention.json")
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	newR := func() *Retention {
		r, err := NewRetention(RetentionConfig{Keys: keys, Settings: settings, Publisher: log, StateFile: state, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	steps := []struct {
		name      string
		fix       func()
		wantErr   bool
		wantCalls int
		wantKept  int // t1's months left
		wantOn    int // RetentionApplied records on the statements topic
	}{
		// now-365d is 2025-12-04: the months wholly before it are 2025-10 and -11.
		{"a topic refuses: keys destroyed, pass fails", nil, true, 1, 2, 1},
		{"retried after a restart: same ids again, completes", func() { log.failOn = "" }, false, 2, 2, 2},
		{"nothing new this month", nil, false, 2, 2, 2},
		{"next month: one more month destroyed", func() { now = now.AddDate(0, 1, 0) }, false, 3, 1, 3},
	}
	for _, s := range steps {
		if s.fix != nil {
			s.fix()
		}
		err := newR().RunOnce(context.Background())
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: err %v", s.name, err)
		}
		if len(keys.calls) != s.wantCalls || len(keys.months["t1"]) != s.wantKept || len(log.evs[TopicStatements]) != s.wantOn {
			t.Fatalf("%s: calls %v, t1 months %v, %d on statements", s.name, keys.calls, keys.months["t1"], len(log.evs[TopicStatements]))
		}
	}
	if len(keys.months["t2"]) != 2 {
		t.Errorf("t2 has no period, yet lost keys: %v", keys.months["t2"])
	}
	// Every learner topic got it, keyed by the tenant, with the same id
	// for the same cutoff.
	for _, topic := range RetentionTopics {
		evs := log.evs[topic]
		if len(evs) == 0 {
			t.Errorf("no RetentionApplied on %s", topic)
			continue
		}
		var ra privacy.RetentionApplied
		json.Unmarshal(evs[0].Data, &ra)
		if evs[0].Key != "t1" || evs[0].Tenant != "t1" || ra.Before != month(2025, 12) {
			t.Errorf("%s: %+v %+v", topic, evs[0], ra)
		}
	}
	st := log.evs[TopicStatements]
	if st[0].ID != st[1].ID || st[1].ID == st[2].ID {
		t.Errorf("ids %s %s %s: want the retry's equal, the next month's new", st[0].ID, st[1].ID, st[2].ID)
	}
	if st[0].ID == log.evs[TopicDocuments][0].ID {
		t.Error("one id on two topics")
	}
}

type fakeConsents []projections.ConsentState

func (f fakeConsents) SetBefore(_ context.Context, tenant string, t time.Time) ([]projections.ConsentState, error) {
	var out []projections.ConsentState
	for _, c := range f {
		if c.Set.Before(t) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Consent settings sealed under a month about to be destroyed are set
// again first, so a rebuild after retention still honours them.
func TestRetentionKeepsConsents(t *testing.T) {
	month := func(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }
	keys := &fakeMonthKeys{months: map[string][]time.Time{"t1": {month(2025, 1)}}}
	consents := fakeConsents{
		{Consent: privacy.Consent{Personalisation: false, Analytics: true}, Learner: "mbox:mailto:old@example.com", Set: month(2025, 1), By: "k"},
		{Consent: privacy.Consent{Personalisation: true, Analytics: false}, Learner: "mbox:mailto:new@example.com", Set: month(2026, 11), By: "k"},
	}
	log := &topicLog{}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var ids []string
	for run := range 2 {
		r, err := NewRetention(RetentionConfig{Keys: keys, Settings: retentionSettings{{Tenant: "t1", Days: 365}}, Consents: consents,
			Publisher: log, StateFile: filepath.Join(t.TempDir(), "state.json"), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		var kept []event.Event
		for _, e := range log.evs[TopicStatements] {
			if e.Type == privacy.TypeConsentSet {
				kept = append(kept, e)
			}
		}
		if len(kept) != run+1 {
			t.Fatalf("run %d: %d consents set again, want only the old learner's, once per run", run, len(kept))
		}
		last := kept[len(kept)-1]
		c, err := privacy.DecodeConsentSet(last.Data)
		if err != nil || c.Learner != "mbox:mailto:old@example.com" || c.Personalisation || !c.Analytics || last.Key != c.Learner || !c.At.Equal(now) {
			t.Errorf("run %d: %+v %v", run, c, err)
		}
		// Set again before the keys go: the consent comes first on the topic.
		if log.evs[TopicStatements][0].Type != privacy.TypeConsentSet {
			t.Error("RetentionApplied before the consent was set again")
		}
		ids = append(ids, last.ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("a repeated pass wrote new ids: %v", ids)
	}
}
