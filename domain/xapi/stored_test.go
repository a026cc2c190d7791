package xapi

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/xapi/xapitest"
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

// TestDecodeStoredFastPath checks that what the LRS stores takes the
// direct walk rather than encoding/json: the walk is why DecodeStored is
// cheap, and a statement that falls back would only be slower, which no
// other test would notice.
func TestDecodeStoredFastPath(t *testing.T) {
	inputs := []string{cmi5Session, cmi5Failed, authoringToolAnswered}
	for i := range 50 {
		inputs = append(inputs, string(xapitest.Statement(xapitest.Rand(uint64(i)))))
	}
	for _, in := range inputs {
		list, err := ParseStatements([]byte(in), Spec2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			s.Prepare("2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a07", time.Unix(1764835200, 0), Agent{Mbox: "mailto:lrs@example.com"})
			data, err := s.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !decodeStoredFast(data, new(storedBlock)) {
				t.Errorf("stored statement decoded through encoding/json:\n%s", data)
			}
		}
	}
}

// TestStoredActorKey checks that the actor's key read from a stored
// statement is its LearnerKey, for what the LRS stores (walked) and for
// JSON it does not write (decoded whole, or none when it cannot be).
func TestStoredActorKey(t *testing.T) {
	const id = `"2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a07"`
	rest := `"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://example.com/a"}`
	for _, tc := range []struct {
		name, in, want string
		fast           bool
	}{
		{"as stored", `{"id":` + id + `,"actor":{"objectType":"Agent","name":"Bo","mbox":"mailto:Bo@Example.COM"},` + rest + `}`, "mbox:mailto:Bo@example.com", true},
		{"account", `{"id":` + id + `,"actor":{"account":{"homePage":"http://lms.example.com","name":"42"}},` + rest + `}`, "account:http://lms.example.com|42", true},
		{"escaped value", `{"id":` + id + `,"actor":{"name":"Zo\u00eb","openid":"http://example.com/\u007ezoe"},` + rest + `}`, "openid:http://example.com/~zoe", true},
		{"escaped name", `{"id":` + id + `,"actor":{"mb\u006fx":"mailto:a@example.com"},` + rest + `}`, "mbox:mailto:a@example.com", false},
		{"id after actor", `{"actor":{"mbox":"mailto:a@example.com"},"id":` + id + `,` + rest + `}`, "mbox:mailto:a@example.com", false},
		{"unknown property", `{"id":` + id + `,"actor":{"mbox":"mailto:a@example.com","extra":1},` + rest + `}`, "mbox:mailto:a@example.com", false},
		{"actor twice", `{"id":` + id + `,"actor":{"mbox":"mailto:a@example.com","mbox":"mailto:b@example.com"},` + rest + `}`, "mbox:mailto:b@example.com", false},
		{"cut short", `{"id":` + id + `,"actor":{"mbox":"mailto:a@exam`, "", false},
		{"anonymous", `{"id":` + id + `,"actor":{"name":"nobody"},` + rest + `}`, "", true},
		{"not JSON", `{"id":` + id + `,"actor":}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StoredActorKey([]byte(tc.in)); got != tc.want {
				t.Errorf("StoredActorKey = %q, want %q", got, tc.want)
			}
			if _, fast := storedActorFast([]byte(tc.in)); fast != tc.fast {
				t.Errorf("walked = %v, want %v", fast, tc.fast)
			}
		})
	}
}

// TestDecodedStatementsOwnTheirMemory overwrites the input after parsing
// and decoding: callers hand in buffers they reuse (Badger values are
// valid only inside their transaction), so no string, key or extension
// value may share the input's memory.
func TestDecodedStatementsOwnTheirMemory(t *testing.T) {
	body := []byte(`[` + cmi5Session[1:len(cmi5Session)-1] + `,` + edit(t, baseStatement,
		"result", `{"extensions": {"https://example.com/x": {"a": [1, "b"]}}, "response": "r"}`,
		"object.definition", `{"name": {"x-custom": "n"}, "extensions": {"https://example.com/y": "z"}}`) + `]`)
	in := bytes.Clone(body)
	list, err := ParseStatements(in, Spec2)
	if err != nil {
		t.Fatal(err)
	}
	var before [][]byte
	for _, s := range list {
		b, _ := s.MarshalJSON()
		before = append(before, b)
	}
	for i := range in {
		in[i] = 'x'
	}
	for i, s := range list {
		if after, _ := s.MarshalJSON(); !bytes.Equal(after, before[i]) {
			t.Fatalf("overwriting the body changed a parsed statement:\n%s\n%s", after, before[i])
		}
	}
	for _, decode := range []func([]byte) (*Statement, error){
		func(b []byte) (*Statement, error) { return ParseStatement(b) },
		DecodeStored,
	} {
		for _, s := range list {
			want, _ := s.MarshalJSON()
			in := bytes.Clone(want)
			got, err := decode(in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				in[i] = 'x'
			}
			if after, _ := got.MarshalJSON(); !bytes.Equal(after, want) {
				t.Fatalf("overwriting the input changed the statement:\n%s\n%s", after, want)
			}
		}
	}
}
