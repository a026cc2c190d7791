package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
)

// hookLog applies published subscription events to the projection at
// once and keeps them.
type hookLog struct {
	mu   sync.Mutex
	subs *Webhooks
	base int64 // the offset of the first record
	evs  []event.Event
}

func (l *hookLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		if err := l.subs.Handle(ctx, event.Position{Topic: topic, Offset: l.base + int64(len(l.evs))}, e); err != nil {
			return err
		}
		l.evs = append(l.evs, e)
	}
	return nil
}

func (l *hookLog) published() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.evs...)
}

// Learner filters are stored and published as pseudonyms; those kept with
// learner keys (written before, or with privacy off) are converted when
// read and published again.
func TestWebhooksKeepLearnersAsPseudonyms(t *testing.T) {
	dir := t.TempDir()
	ps := privacy.Secret("pseudonym secret of the install")
	ctx := context.Background()
	open := func(names privacy.Pseudonyms) (*Store, *Webhooks, *hookLog) {
		t.Helper()
		store, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, l := openHooks(t, store, names)
		return store, w, l
	}
	sub := func(id string, learners ...string) webhook.Subscription {
		return hookSub(t, "t1", id, "https://hooks.example.com/in", learners...)
	}
	names := func(evs []event.Event) string {
		var b strings.Builder
		for _, e := range evs {
			b.Write(e.Data)
		}
		return b.String()
	}

	// Privacy off: learner keys, as sent (normalised).
	store, w, _ := open(nil)
	if err := w.Put(ctx, sub("wh_carol", "carol@example.com")); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Get(ctx, "t1", "wh_carol"); strings.Join(got.Filter.Learners, ",") != "mbox:mailto:carol@example.com" {
		t.Fatalf("privacy off: stored learners %v, want the learner key", got.Filter.Learners)
	}
	if w.HasLegacy() {
		t.Error("privacy off: a subscription waits to be pseudonymised")
	}
	store.Close()

	// Privacy on: what the store kept with learner keys is converted when
	// the projection opens, and waits to be published again.
	store, w, l := open(ps)
	defer store.Close()
	carol := ps.Pseudonym("t1", "mbox:mailto:carol@example.com")
	if got, _ := w.Get(ctx, "t1", "wh_carol"); strings.Join(got.Filter.Learners, ",") != carol {
		t.Errorf("a stored learner key was not converted: %v, want %s", got.Filter.Learners, carol)
	}
	if !w.HasLegacy() {
		t.Error("the converted subscription does not wait to be published again")
	}
	if n, err := w.RepublishLegacy(ctx); err != nil || n != 1 {
		t.Fatalf("RepublishLegacy: %d %v, want 1", n, err)
	}
	if n, err := w.RepublishLegacy(ctx); err != nil || n != 0 || w.HasLegacy() {
		t.Errorf("a second RepublishLegacy published %d (%v): the first did not take it off the list", n, err)
	}

	// A new subscription: its e-mail never reaches the log or the store.
	if err := w.Put(ctx, sub("wh_ada", "Ada@example.com", "mailto:bob@example.com")); err != nil {
		t.Fatal(err)
	}
	ada, bob := ps.Pseudonym("t1", "mbox:mailto:Ada@example.com"), ps.Pseudonym("t1", "mbox:mailto:bob@example.com")
	if got, _ := w.Get(ctx, "t1", "wh_ada"); strings.Join(got.Filter.Learners, ",") != ada+","+bob {
		t.Errorf("stored learners %v, want [%s %s]", got.Filter.Learners, ada, bob)
	}
	published := names(l.published())
	for _, clear := range []string{"carol@", "Ada@", "bob@"} {
		if strings.Contains(published, clear) {
			t.Errorf("a published record names %s: %s", clear, published)
		}
	}
	for _, p := range []string{carol, ada, bob} {
		if !strings.Contains(published, p) {
			t.Errorf("no published record holds the pseudonym %s", p)
		}
	}

	// A record of the log with learner keys (written by an earlier
	// release) is stored converted; a later record of the same
	// subscription (a change, or another process's republication) takes
	// it off the list.
	legacy := func(id, learner string) event.Event {
		s := sub(id, learner)
		b, err := json.Marshal(w.sealed(s))
		if err != nil {
			t.Fatal(err)
		}
		e, err := event.New("ev-"+id+learner, TypeWebhookPut, "test", "t1", id, time.Now(), b)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for i, c := range []struct {
		name    string
		evs     []event.Event
		pending bool
	}{
		{"legacy record last", []event.Event{legacy("wh_dan", "dan@example.com")}, true},
		{"pseudonymised record after it", []event.Event{legacy("wh_eve", "eve@example.com"), legacy("wh_eve", ps.Pseudonym("t1", "mbox:mailto:eve@example.com"))}, false},
	} {
		for j, e := range c.evs {
			if err := w.Handle(ctx, event.Position{Topic: "legacy", Offset: int64(10*i + j)}, e); err != nil {
				t.Fatal(err)
			}
		}
		id := c.evs[0].Key
		got, err := w.Get(ctx, "t1", id)
		if err != nil || got.Filter.ClearLearners() {
			t.Errorf("%s: stored learners %v (%v), want pseudonyms", c.name, got.Filter.Learners, err)
		}
		w.mu.Lock()
		pending := w.legacy["t1\x00"+id]
		w.mu.Unlock()
		if pending != c.pending {
			t.Errorf("%s: waits to be published again %v, want %v", c.name, pending, c.pending)
		}
	}
	before := len(l.published())
	if n, err := w.RepublishLegacy(ctx); err != nil || n != 1 {
		t.Fatalf("RepublishLegacy: %d %v, want 1 (wh_dan)", n, err)
	}
	if last := l.published()[before]; last.Key != "wh_dan" || strings.Contains(string(last.Data), "dan@") ||
		!strings.Contains(string(last.Data), ps.Pseudonym("t1", "mbox:mailto:dan@example.com")) {
		t.Errorf("republished %s: %s", last.Key, last.Data)
	}
}

// openHooks opens the subscriptions projection in store, its published
// events applied at once (names: the install's pseudonyms, nil for
// privacy off).
func openHooks(t testing.TB, store *Store, names privacy.Pseudonyms) (*Webhooks, *hookLog) {
	t.Helper()
	l := &hookLog{}
	w, err := NewWebhooks(store, NewWaiters(), WebhooksConfig{Publisher: l, SealKey: []byte("0123456789abcdef0123456789abcdef"), Pseudonyms: names})
	if err != nil {
		t.Fatal(err)
	}
	l.subs = w
	l.base, _, _ = w.NextOffset(context.Background(), DefaultWebhooksTopic, 0)
	return w, l
}

// hookSub is a valid subscription, with a learner filter when learners
// are given.
func hookSub(t testing.TB, tenant, id, url string, learners ...string) webhook.Subscription {
	t.Helper()
	s := webhook.Subscription{ID: id, Tenant: tenant, Kind: webhook.KindWebhook, URL: url,
		Filter: webhook.Filter{Learners: learners}, Created: time.Now().UTC(), Secrets: []webhook.Secret{{Value: webhook.NewSecret()}}}
	if err := s.Validate(false); err != nil {
		t.Fatal(err)
	}
	return s
}

// The delivery queue matches every batch against Filters, which keeps
// what it read between changes: each applied change shows in the next
// call, and without one the list is not read again.
func TestWebhookFiltersFollowEveryChange(t *testing.T) {
	ctx := context.Background()
	w, _ := openHooks(t, openStore(t), nil)
	urls := func() string {
		t.Helper()
		subs, err := w.Filters()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range subs {
			out = append(out, s.Tenant+"/"+s.ID+"="+s.URL)
		}
		return strings.Join(out, " ")
	}
	steps := []struct {
		name   string
		change func() error
		want   string
	}{
		{"none yet", func() error { return nil }, ""},
		{"one put", func() error { return w.Put(ctx, hookSub(t, "t1", "wh_a", "https://a.example.com/in")) }, "t1/wh_a=https://a.example.com/in"},
		{"another tenant's", func() error { return w.Put(ctx, hookSub(t, "t2", "wh_b", "https://b.example.com/in")) },
			"t1/wh_a=https://a.example.com/in t2/wh_b=https://b.example.com/in"},
		{"the first changed", func() error { return w.Put(ctx, hookSub(t, "t1", "wh_a", "https://a2.example.com/in")) },
			"t1/wh_a=https://a2.example.com/in t2/wh_b=https://b.example.com/in"},
		{"the second deleted", func() error { return w.Delete(ctx, "t2", "wh_b") }, "t1/wh_a=https://a2.example.com/in"},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := urls(); got != s.want {
			t.Fatalf("%s: Filters gave %q, want %q", s.name, got, s.want)
		}
	}
	a, _ := w.Filters()
	b, _ := w.Filters()
	if len(a) != 1 || &a[0] != &b[0] {
		t.Error("Filters read the subscriptions again with nothing changed")
	}
}

// BenchmarkWebhookFilters is the delivery queue's read of the
// subscriptions before each batch, with 0 and 50 of them: kept between
// changes (Filters), and read from the store each time as before
// (sealedList, the baseline).
func BenchmarkWebhookFilters(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{0, 50} {
		w, _ := openHooks(b, openStore(b), nil)
		for i := range n {
			if err := w.Put(ctx, hookSub(b, "t1", fmt.Sprintf("wh_%02d", i), "https://hooks.example.com/in")); err != nil {
				b.Fatal(err)
			}
		}
		for _, read := range []struct {
			name string
			fn   func() ([]webhook.Subscription, error)
		}{{"kept", w.Filters}, {"read", func() ([]webhook.Subscription, error) { return w.sealedList("") }}} {
			b.Run(fmt.Sprintf("subscriptions=%d/%s", n, read.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if subs, err := read.fn(); err != nil || len(subs) != n {
						b.Fatalf("%d subscriptions, %v", len(subs), err)
					}
				}
			})
		}
	}
}
