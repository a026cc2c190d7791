package analytics

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// memForgetter is a memWriter that also records the deletes it is asked.
type memForgetter struct {
	memWriter
	execs []string
}

func (m *memForgetter) Exec(_ context.Context, q string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.execs = append(m.execs, q)
	return nil
}

func (m *memForgetter) Count(context.Context, string) (int64, error) { return 1, nil }

type memOptOuts struct {
	mu  sync.Mutex
	set map[string]bool
}

func (o *memOptOuts) All() (map[string]bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]bool{}
	for k := range o.set {
		out[k] = true
	}
	return out, nil
}

func (o *memOptOuts) Set(tenant, p string, out bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set == nil {
		o.set = map[string]bool{}
	}
	if out {
		o.set[tenant+"\x00"+p] = true
	} else {
		delete(o.set, tenant+"\x00"+p)
	}
	return nil
}

func consentEvent(id, learner string, analytics bool) event.Event {
	b, _ := json.Marshal(privacy.ConsentSet{Learner: learner, Personalisation: true, Analytics: analytics, By: "k", At: producerTime})
	return plainEvent(id, privacy.TypeConsentSet, learner, string(b))
}

func TestSinkHonoursConsentToAnalytics(t *testing.T) {
	ctx := context.Background()
	names := privacy.Secret("0123456789abcdef0123456789abcdef")
	alice := names.Pseudonym("acme", aliceKey)
	world := forgetWorld(t) // Alice's statement, Bob's two naming her, mastery, difficulty, recommendations, role
	store := &memOptOuts{}
	w := &memForgetter{}
	open := func() *Sink {
		s := NewSink(SinkConfig{Encoder: NewEncoder(NewPrivacyPseudonymizer(names)), Writer: w, OptOuts: store})
		if err := s.LoadOptOuts(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	rowsOf := func(rows []Row, pseudo string) int {
		n := 0
		for _, r := range rows {
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), pseudo) {
				n++
			}
		}
		return n
	}
	s := open()
	steps := []struct {
		name        string
		evs         []event.Event
		reopen      bool
		wantAlice   bool // rows of Alice written in this step
		wantDeletes bool // her rows deleted in this step
	}{
		{"consent given: her rows", world[:1], false, true, false},
		{"withdrawn: her rows deleted", []event.Event{consentEvent("c1", aliceKey, false)}, false, false, true},
		{"her events after: left out", world[3:], false, false, false},
		{"after a restart: still left out", world[:1], true, false, false},
		{"given again: her rows", []event.Event{consentEvent("c2", aliceKey, true), world[0]}, false, true, false},
	}
	for _, st := range steps {
		if st.reopen {
			s = open()
		}
		before, execs := len(w.snapshot()), len(w.execs)
		for _, e := range st.evs {
			if err := s.Add(e, event.Position{}); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		written := w.snapshot()[before:]
		if got := rowsOf(written, alice) > 0; got != st.wantAlice {
			t.Errorf("%s: rows of Alice written: %v, want %v", st.name, got, st.wantAlice)
		}
		deleted := false
		for _, q := range w.execs[execs:] {
			if strings.Contains(q, alice) {
				deleted = true
			}
		}
		if deleted != st.wantDeletes {
			t.Errorf("%s: Alice's rows deleted: %v, want %v (%v)", st.name, deleted, st.wantDeletes, w.execs[execs:])
		}
	}
	if s.Stats().OptedOut == 0 {
		t.Error("no event counted as left out")
	}
	// Bob's rows are untouched throughout.
	bob := names.Pseudonym("acme", bobKey)
	s = open()
	before := len(w.snapshot())
	s.Add(world[1], event.Position{})
	s.Flush(ctx)
	if rowsOf(w.snapshot()[before:], bob) == 0 {
		t.Error("Bob's statement left out")
	}
	// Opt-outs lost with the projections directory are seeded from the
	// consent read model: Carol's events are left out.
	carol := "mbox:mailto:carol@example.com"
	s = NewSink(SinkConfig{Encoder: NewEncoder(NewPrivacyPseudonymizer(names)), Writer: w, OptOuts: &memOptOuts{}})
	if err := s.SeedOptOut("acme", carol); err != nil {
		t.Fatal(err)
	}
	before = len(w.snapshot())
	s.Add(plainEvent("ev-carol", event.TypeStatementStored, carol, `{"id":"6f1c9a0e-8c0b-4bb0-9f5e-000000000009","actor":{"mbox":"mailto:carol@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},"object":{"id":"https://x.example/quiz"},"timestamp":"2026-03-02T09:00:00Z","stored":"2026-03-02T09:00:00Z","version":"1.0.0","authority":{"account":{"homePage":"http://lrs.test/","name":"admin"}}}`), event.Position{})
	s.Flush(ctx)
	if n := len(w.snapshot()) - before; n != 0 {
		t.Errorf("a seeded opt-out let %d rows in", n)
	}
	// A malformed consent event is the event's fault.
	bad := plainEvent("bad", privacy.TypeConsentSet, aliceKey, `{"learner":"","at":"2026-01-01T00:00:00Z"}`)
	if err := s.Add(bad, event.Position{}); !event.IsRejected(err) {
		t.Errorf("malformed consent: %v", err)
	}
}
