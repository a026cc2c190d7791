package xapi

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeStoredRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not JSON", `{"actor":`, "stored statement"},
		{"anonymous agent", `{"actor":{"name":"x"},"verb":{"id":"a:b"},"object":{"id":"a:b"}}`, "actor"},
		{"empty group", `{"actor":{"objectType":"Group"},"verb":{"id":"a:b"},"object":{"id":"a:b"}}`, "actor"},
		{"no verb id", `{"actor":{"mbox":"mailto:a@b"},"verb":{},"object":{"id":"a:b"}}`, "verb.id"},
		{"no object", `{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"}}`, "object.id"},
		{"unknown objectType", `{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"objectType":"Thing","id":"a:b"}}`, "object.objectType"},
		{"substatement without verb", `{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:a@b"},"object":{"id":"a:b"}}}`, "object"},
		{"substatement with a bad object", `{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:a@b"},"verb":{"id":"a:b"},"object":{"objectType":"StatementRef"}}}`, "object.object.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeStored([]byte(tc.in))
			if err == nil || s != nil {
				t.Fatalf("DecodeStored = %v, %v; want an error", s, err)
			}
			var ve *ValidationError
			if errors.As(err, &ve) && ve.Field != tc.want || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
