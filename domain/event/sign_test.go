package event

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSignatureCoversIdentityAndData(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyBytes)
	e, err := New("id-1", TypeStatementStored, "https://lrs.example/", "acme", "mbox:mailto:ada@example.com",
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), []byte(`{"authority":{"name":"admin"}}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Extensions = map[string]string{"xapidefine": "false"}
	signed := Sign(e, key)

	// Through the transport and back, the signature holds.
	back, err := FromHeaders(signed.Headers(), []byte(signed.Key), signed.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(back, key); err != nil {
		t.Fatalf("round trip: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(*Event)
		rule   string
	}{
		{"unsigned", func(e *Event) { e.Signature = "" }, "missing"},
		{"other scheme", func(e *Event) { e.Signature = "v0=abc" }, "unknown scheme"},
		{"forged tenant", func(e *Event) { e.Tenant = "globex" }, "does not match"},
		{"forged data (authority)", func(e *Event) { e.Data = []byte(`{"authority":{"name":"root"}}`) }, "does not match"},
		{"forged id", func(e *Event) { e.ID = "id-2" }, "does not match"},
		{"forged type", func(e *Event) { e.Type = "learnstream.xapi.statement.stored.v2" }, "does not match"},
		{"forged source", func(e *Event) { e.Source = "kcat" }, "does not match"},
		{"forged time", func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) }, "does not match"},
		{"forged key", func(e *Event) { e.Key = "mbox:mailto:eve@example.com" }, "does not match"},
		{"dropped extension", func(e *Event) { e.Extensions = nil }, "does not match"},
		{"added extension", func(e *Event) { e.Extensions = map[string]string{"xapidefine": "false", "x": "1"} }, "does not match"},
		{"other install's key", func(e *Event) { *e = Sign(*e, bytes.Repeat([]byte{8}, MinKeyBytes)) }, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := back
			f.Extensions = map[string]string{"xapidefine": "false"}
			tc.change(&f)
			err := Verify(f, key)
			if err == nil || !strings.Contains(err.Error(), tc.rule) || !strings.Contains(err.Error(), HeaderSignature) {
				t.Fatalf("Verify = %v, want an error on %s saying %q", err, HeaderSignature, tc.rule)
			}
			if !IsRejected(err) {
				t.Errorf("%v is not a rejection: consumers would retry it forever", err)
			}
		})
	}
	if err := (Event{ID: "x", Type: "a.v1", Source: "s", Tenant: "t", Time: time.Now(),
		Extensions: map[string]string{"signature": "x"}}).Validate(); err == nil {
		t.Error("an extension named signature is accepted; it would shadow the signature header")
	}
}

// The signing input is a stored format: every signed event in the log was
// signed over it, so the same event must keep the same signature.
func TestSignatureOfAKnownEventIsStable(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyBytes)
	e, err := New("id-1", TypeStatementStored, "https://lrs.example/", "acme", "mbox:mailto:ada@example.com",
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), []byte(`{"authority":{"name":"admin"}}`))
	if err != nil {
		t.Fatal(err)
	}
	withExt := e
	withExt.Extensions = map[string]string{"xapidefine": "false", "rights": "all"}
	noCT := e
	noCT.ContentType = ""
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"extensions", withExt, "v1=yE60UWZmP7P3LnmreZ4djikjc3LcqExhfGKnpWUfI7o"},
		{"no extensions, default content type", noCT, "v1=EHNKmM6AEShaTGbR7oygUYqqNAgOqb3gjibzC9esZCc"},
	} {
		if got := Sign(tc.e, key).Signature; got != tc.want {
			t.Errorf("%s: signature %s, want %s (the signing input changed: stored events would no longer verify)", tc.name, got, tc.want)
		}
	}
}

// Signatures are a stored format: records signed before any change to
// how they are computed must still verify, so these are pinned.
func TestSignatureBytesArePinned(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyBytes)
	base := func() Event {
		e, err := New("id-1", TypeStatementStored, "https://lrs.example/", "acme", "mbox:mailto:ada@example.com",
			time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), []byte(`{"authority":{"name":"admin"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name   string
		change func(*Event)
		want   string
	}{
		{"plain", func(*Event) {}, "v1=EHNKmM6AEShaTGbR7oygUYqqNAgOqb3gjibzC9esZCc"},
		{"extensions", func(e *Event) { e.Extensions = map[string]string{"xapidefine": "false", "a": "1"} }, "v1=-axc9tFerOYHNKLPvoxkBcUBwUzy_eSqGZ5hi_U2Dqo"},
		{"no key, other content type", func(e *Event) { e.Key = ""; e.ContentType = "application/octet-stream" }, "v1=kbilyl30F-Z78axve9IJqagny4d3S8FU0mOFAgK4piY"},
		{"empty data", func(e *Event) { e.Data = nil; e.Time = time.Unix(0, 0) }, "v1=mz7HCQmNnpMablzS33ZoNVQxChBA69hZJ0iwP45GXBY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.change(&e)
			got := Sign(e, key).Signature
			if got != tc.want {
				t.Errorf("signature %s, want %s (signed records would stop verifying)", got, tc.want)
			}
			if err := Verify(Sign(e, key), key); err != nil {
				t.Error(err)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	key := bytes.Repeat([]byte{7}, MinKeyBytes)
	e, err := New("6f1c3f0e-2b1d-4d8e-9a3b-0c5e7d9f1a2b", TypeStatementStored, "https://lrs.example/", "acme", "mbox:mailto:learner417@example.com",
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), bytes.Repeat([]byte("x"), 1200))
	if err != nil {
		b.Fatal(err)
	}
	e.Extensions = map[string]string{"xapidefine": "false"}
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e = Sign(e, key)
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Verify(e, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
