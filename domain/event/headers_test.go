package event

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fromHeadersRef is FromHeaders as it was before its attributes shared
// one string: a string per header value. The shared form must decode
// every header set to the same event and the same error.
func fromHeadersRef(hs []Header, key, value []byte) (Event, error) {
	var e Event
	var spec, ts string
	for _, h := range hs {
		v := string(h.Value)
		switch h.Key {
		case HeaderSpecVersion:
			spec = v
		case HeaderID:
			e.ID = v
		case HeaderType:
			e.Type = v
		case HeaderSource:
			e.Source = v
		case HeaderTime:
			ts = v
		case HeaderContentType:
			e.ContentType = v
		case HeaderTenant:
			e.Tenant = v
		case HeaderSignature:
			e.Signature = v
		default:
			if n, ok := strings.CutPrefix(h.Key, extensionPrefix); ok {
				if e.Extensions == nil {
					e.Extensions = map[string]string{}
				}
				e.Extensions[n] = v
			}
		}
	}
	if spec == "" {
		return Event{}, ErrNotCloudEvent
	}
	if spec != SpecVersion {
		return Event{}, &FieldError{HeaderSpecVersion, fmt.Sprintf("%q is not supported (want %s)", spec, SpecVersion)}
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, &FieldError{HeaderTime, "must be an RFC 3339 timestamp"}
		}
		e.Time = t.UTC()
	}
	e.Key = string(key)
	e.Data = value
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

func TestFromHeadersAsBefore(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 5, time.UTC)
	base, err := New("e1", TypeStatementStored, "learnstream/api", "t1", "mbox:mailto:a@b.c", at, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	h := func(k, v string) Header { return Header{k, []byte(v)} }
	many := base
	many.Extensions = map[string]string{}
	for i := range 11 {
		many.Extensions[fmt.Sprintf("x%d", i)] = strings.Repeat("v", i)
	}
	signed := base
	signed.Extensions = map[string]string{"xapidefine": "false", "rights": "statements/write"}
	signed.Signature = "v1=abc"
	for _, tc := range []struct {
		name string
		hs   []Header
		key  string
	}{
		{"plain", base.Headers(), base.Key},
		{"extensions and signature", signed.Headers(), signed.Key},
		{"more extensions than the stack holds", many.Headers(), many.Key},
		{"no key", base.Headers(), ""},
		{"no headers", nil, ""},
		{"empty spec version", append(base.Headers(), h(HeaderSpecVersion, "")), "k"},
		{"spec version twice, last wrong", append(base.Headers(), h(HeaderSpecVersion, "0.3")), "k"},
		{"spec version twice, last right", append([]Header{h(HeaderSpecVersion, "0.3")}, base.Headers()...), "k"},
		{"other content type", append(base.Headers(), h(HeaderContentType, "text/plain")), "k"},
		{"empty content type", append(base.Headers(), h(HeaderContentType, "")), "k"},
		{"no content type", []Header{h(HeaderSpecVersion, "1.0"), h(HeaderID, "i"), h(HeaderType, "a.v1"),
			h(HeaderSource, "s"), h(HeaderTime, "2026-01-02T03:04:05Z"), h(HeaderTenant, "t")}, "k"},
		{"id twice", append(base.Headers(), h(HeaderID, "second")), "k"},
		{"extension twice", append(signed.Headers(), h("ce_rights", "other")), "k"},
		{"bad extension name", append(base.Headers(), h("ce_Bad", "v")), "k"},
		{"empty extension name", append(base.Headers(), h("ce_", "v")), "k"},
		{"headers not ours", append(base.Headers(), h("traceparent", "00-ab"), h("dlq_reason", "x")), "k"},
		{"empty time", append(base.Headers(), h(HeaderTime, "")), "k"},
		{"bad time", append(base.Headers(), h(HeaderTime, "yesterday")), "k"},
		{"zoned time", append(base.Headers(), h(HeaderTime, "2026-12-07T10:30:00.5+01:00")), "k"},
		{"empty id", append(base.Headers(), h(HeaderID, "")), "k"},
		{"bad type", append(base.Headers(), h(HeaderType, "statement")), "k"},
		{"non-ASCII values", append(base.Headers(), h(HeaderTenant, "tënant"), h(HeaderSource, "é\x00")), "k\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(`{"a":1}`)
			got, err := FromHeaders(tc.hs, []byte(tc.key), data)
			want, wantErr := fromHeadersRef(tc.hs, []byte(tc.key), data)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || reflect.TypeOf(err) != reflect.TypeOf(wantErr) {
				t.Fatalf("error %v (%T), want %v (%T)", err, err, wantErr, wantErr)
			}
			if err != nil {
				return
			}
			if got.ID != want.ID || got.Type != want.Type || got.Source != want.Source || got.Tenant != want.Tenant ||
				got.ContentType != want.ContentType || got.Key != want.Key || got.Signature != want.Signature ||
				!got.Time.Equal(want.Time) || got.Time.Location() != want.Time.Location() ||
				string(got.Data) != string(want.Data) || !maps.Equal(got.Extensions, want.Extensions) ||
				(got.Extensions == nil) != (want.Extensions == nil) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// The header values share a buffer; each is capped, so that appending to
// one (a caller's own copy) never writes into the next.
func TestHeaderValuesAreSeparate(t *testing.T) {
	e, err := New("e1", TypeStatementStored, "s", "t1", "k", time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Extensions = map[string]string{"b": "2", "a": "1"}
	e.Signature = "v1=sig"
	hs := e.Headers()
	want := make([]string, len(hs))
	for i, h := range hs {
		want[i] = string(h.Value)
	}
	for i := range hs {
		_ = append(hs[i].Value, "-appended past the value, as a caller extending its copy would"...)
	}
	for i, h := range hs {
		if string(h.Value) != want[i] {
			t.Errorf("header %s = %q after appending to the others, want %q", h.Key, h.Value, want[i])
		}
	}
	back, err := FromHeaders(hs, []byte(e.Key), e.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(e.Time) || back.Signature != e.Signature || !maps.Equal(back.Extensions, e.Extensions) {
		t.Errorf("round trip gave %+v", back)
	}
}

func BenchmarkHeaders(b *testing.B) {
	e, _ := New("7f3c2a9e-4b1d-4e8a-9c3f-2d1e0b9a8c7d", TypeStatementStored, "learnstream/api", "default",
		"mbox:mailto:learner42@example.com", time.Now(), []byte(`{}`))
	e.Extensions = map[string]string{"xapidefine": "false", "sealed": "1"}
	e.Signature = "v1=" + strings.Repeat("a", 43)
	hs := e.Headers()
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = e.Headers()
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := FromHeaders(hs, []byte(e.Key), e.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
