package event

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestSplitType(t *testing.T) {
	for _, tc := range []struct {
		in    string
		name  string
		major int
		ok    bool
	}{
		{"learnstream.xapi.statement.stored.v1", "learnstream.xapi.statement.stored", 1, true},
		{"a.v12", "a", 12, true},
		{"learnstream.thing", "", 0, false},
		{"learnstream.thing.v0", "", 0, false},
		{"learnstream.thing.vx", "", 0, false},
		{".v1", "", 0, false},
		{"", "", 0, false},
	} {
		name, major, err := SplitType(tc.in)
		if (err == nil) != tc.ok || name != tc.name || major != tc.major {
			t.Errorf("SplitType(%q) = %q, %d, %v", tc.in, name, major, err)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != HeaderType {
				t.Errorf("SplitType(%q) error %v does not name %s", tc.in, err, HeaderType)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name                         string
		id, typ, source, tenant, key string
		at                           time.Time
		field                        string
	}{
		{"ok", "e1", TypeStatementStored, "src", "t", "k", now, ""},
		{"no id", "", TypeStatementStored, "src", "t", "k", now, HeaderID},
		{"no source", "e1", TypeStatementStored, "", "t", "k", now, HeaderSource},
		{"no tenant", "e1", TypeStatementStored, "src", "", "k", now, HeaderTenant},
		{"no time", "e1", TypeStatementStored, "src", "t", "k", time.Time{}, HeaderTime},
		{"unversioned type", "e1", "learnstream.thing", "src", "t", "k", now, HeaderType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.id, tc.typ, tc.source, tc.tenant, tc.key, tc.at, []byte(`{}`))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	e, err := New("e1", TypeStatementStored, "http://lrs/", "t1", "mbox:mailto:a@b.c", at, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	e.Extensions = map[string]string{"xapidefine": "false", "b2": "x"}
	got, err := FromHeaders(e.Headers(), []byte(e.Key), e.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Type != e.Type || got.Source != e.Source || got.Tenant != e.Tenant ||
		got.Key != e.Key || string(got.Data) != string(e.Data) || !got.Time.Equal(at) || got.ContentType != ContentTypeJSON ||
		!maps.Equal(got.Extensions, e.Extensions) {
		t.Errorf("round trip changed the event:\n%+v\n%+v", e, got)
	}
	if hs := e.Headers(); hs[len(hs)-2].Key != "ce_b2" || hs[len(hs)-1].Key != "ce_xapidefine" {
		t.Errorf("extension headers not in name order: %v", hs)
	}
}

func TestExtensionNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"xapidefine", true}, {"a1", true}, {"", false}, {"Define", false}, {"x_y", false},
		{"abcdefghijklmnopqrstu", false}, {"id", false}, {"time", false},
	} {
		e, _ := New("e1", TypeStatementStored, "s", "t", "k", time.Now(), nil)
		e.Extensions = map[string]string{tc.name: "v"}
		if err := e.Validate(); (err == nil) != tc.ok {
			t.Errorf("extension %q: Validate = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestFromHeadersRejects(t *testing.T) {
	good := func() []Header {
		e, _ := New("e1", TypeStatementStored, "s", "t", "k", time.Now(), nil)
		return e.Headers()
	}
	set := func(hs []Header, k, v string) []Header {
		for i := range hs {
			if hs[i].Key == k {
				hs[i].Value = []byte(v)
			}
		}
		return hs
	}
	drop := func(hs []Header, k string) []Header {
		var out []Header
		for _, h := range hs {
			if h.Key != k {
				out = append(out, h)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		hs   []Header
		want string
	}{
		{"no headers", nil, "ce_specversion"},
		{"other spec version", set(good(), HeaderSpecVersion, "0.3"), HeaderSpecVersion},
		{"bad time", set(good(), HeaderTime, "yesterday"), HeaderTime},
		{"no tenant", drop(good(), HeaderTenant), HeaderTenant},
		{"no type", drop(good(), HeaderType), HeaderType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromHeaders(tc.hs, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
			if !IsRejected(err) {
				t.Errorf("error %v is not a rejection: a consumer would retry it forever", err)
			}
		})
	}
}
