package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func sender(allow []netip.Prefix, timeout time.Duration) *streams.WebhookSender {
	cfg := streams.WebhookHTTPConfig{Allow: allow, Timeout: timeout, MaxBody: 1 << 10}
	return &streams.WebhookSender{Client: streams.NewWebhookClient(cfg), Config: cfg}
}

func delivery(body string) []projections.Delivery {
	return []projections.Delivery{{Message: "msg_1", Body: json.RawMessage(body)}}
}

// What a receiver does to a delivery, and what the sender makes of it:
// never a connection to a refused address, whatever the name resolves to
// when connecting; never a redirect followed; never more than a bounded
// time or answer.
func TestWebhookSenderBounds(t *testing.T) {
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer target.Close()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, target.URL, http.StatusFound)
		case "/huge":
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 1<<16))
			for range 1 << 14 { // 1 GiB
				select {
				case <-done:
					return
				default:
				}
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/never":
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}
	}))
	defer srv.Close()
	defer close(done)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	secret := webhook.NewSecret()
	tests := []struct {
		name    string
		s       *streams.WebhookSender
		url     string
		body    string
		wantErr string // "" means delivered
		within  time.Duration
	}{
		{"allowed loopback", sender(loopback, 2*time.Second), srv.URL + "/ok", `{}`, "", time.Second},
		{"loopback refused at connect time", sender(nil, 2*time.Second), srv.URL + "/ok", `{}`, "loopback", time.Second},
		{"a name resolving to loopback is refused when connecting", sender(nil, 2*time.Second), "http://localhost" + port + "/ok", `{}`, "loopback", time.Second},
		{"500", sender(loopback, 2*time.Second), srv.URL + "/fail", `{}`, "answered 500", time.Second},
		{"redirect not followed", sender(loopback, 2*time.Second), srv.URL + "/redirect", `{}`, "redirect", time.Second},
		{"endless answer read only in part", sender(loopback, 5*time.Second), srv.URL + "/huge", `{}`, "", 3 * time.Second},
		{"no answer", sender(loopback, 300*time.Millisecond), srv.URL + "/never", `{}`, "timeout", time.Second},
		{"body too large", sender(loopback, 2*time.Second), srv.URL + "/ok", `"` + strings.Repeat("x", 2<<10) + `"`, "larger than", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &webhook.Subscription{ID: "wh_1", Kind: webhook.KindWebhook, URL: tt.url, Secrets: []webhook.Secret{{Value: secret}}}
			start := time.Now()
			a := tt.s.Send(context.Background(), sub, delivery(tt.body))
			took := time.Since(start)
			switch {
			case tt.wantErr == "" && a.Err != nil:
				t.Fatalf("not delivered: %v", a.Err)
			case tt.wantErr != "" && (a.Err == nil || !strings.Contains(strings.ToLower(a.Err.Error()), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", a.Err, tt.wantErr)
			case took > tt.within:
				t.Fatalf("took %s, want at most %s", took, tt.within)
			}
		})
	}
	if n := redirected.Load(); n != 0 {
		t.Errorf("the redirect target was reached %d times", n)
	}
}

// A forwarded batch answered 409 is sent again statement by statement: the
// duplicate counts as delivered, the new ones are stored.
func TestWebhookForwardConflict(t *testing.T) {
	var stored, requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		user, pass, _ := r.BasicAuth()
		if r.URL.Path != "/xapi/statements" || r.Header.Get("X-Experience-API-Version") != "1.0.3" || user != "k" || pass != "s" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var sts []struct{ ID string }
		json.NewDecoder(r.Body).Decode(&sts)
		for _, st := range sts {
			if st.ID == "dup" {
				w.WriteHeader(http.StatusConflict)
				return
			}
		}
		stored.Add(int32(len(sts)))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	sub := &webhook.Subscription{ID: "wh_f", Kind: webhook.KindXAPIForward, URL: srv.URL + "/xapi/", Username: "k", Password: "s"}
	ds := []projections.Delivery{{Body: json.RawMessage(`{"id":"a"}`)}, {Body: json.RawMessage(`{"id":"dup"}`)}, {Body: json.RawMessage(`{"id":"b"}`)}}
	a := sender(loopback, 2*time.Second).Send(context.Background(), sub, ds)
	if a.Err != nil || stored.Load() != 2 || requests.Load() != 4 {
		t.Fatalf("attempt %+v; %d stored in %d requests, want both new ones stored in 1+3 requests", a, stored.Load(), requests.Load())
	}
	sub.Password = "wrong"
	if a := sender(loopback, 2*time.Second).Send(context.Background(), sub, ds[:1]); a.Err == nil || errors.Is(a.Err, streams.ErrRedirect) {
		t.Errorf("a refused credential counts as delivered: %+v", a)
	}
}
