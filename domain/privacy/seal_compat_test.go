package privacy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// TestOpenFirstFormat opens a statement sealed by the first release of
// the sealing (the record key sealed in ce_sealed): such records are in
// users' logs and must keep opening, and erasing its learner must still
// mark it Erased.
func TestOpenFirstFormat(t *testing.T) {
	raw, err := os.ReadFile("testdata/sealed_v1_statement.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Keys   []struct{ ID, Key string }
		Sealed struct {
			ID, Type, Source, Tenant, Key string
			Time                          time.Time
			Data                          json.RawMessage
			Extensions                    map[string]string
		}
		Clear struct {
			Key  string
			Data json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	compact := func(b []byte) []byte {
		var out bytes.Buffer
		if err := json.Compact(&out, b); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	s := event.Event{ID: fx.Sealed.ID, Type: fx.Sealed.Type, Source: fx.Sealed.Source, Time: fx.Sealed.Time,
		Tenant: fx.Sealed.Tenant, Key: fx.Sealed.Key, Data: compact(fx.Sealed.Data), Extensions: fx.Sealed.Extensions}
	load := func() *MemoryKeys {
		keys := newKeys()
		for _, k := range fx.Keys {
			b, err := hex.DecodeString(k.Key)
			if err != nil {
				t.Fatal(err)
			}
			keys.byKID[memKID{s.Tenant, k.ID}] = memEntry{memSlot{tenant: s.Tenant}, DataKey{ID: k.ID, Key: b}}
		}
		return keys
	}
	ctx := context.Background()
	o, err := OpenEvent(ctx, s, load())
	if err != nil {
		t.Fatal(err)
	}
	if o.Erased || o.Key != fx.Clear.Key || !bytes.Equal(o.Data, compact(fx.Clear.Data)) {
		t.Fatalf("opened: erased %v key %q\n%s\nwant key %q\n%s", o.Erased, o.Key, o.Data, fx.Clear.Key, compact(fx.Clear.Data))
	}
	if _, ok := o.Extensions[ExtSealed]; ok {
		t.Errorf("opened event still marked sealed: %v", o.Extensions)
	}

	// Its sealed record key stays bound to the event.
	moved := s
	moved.ID = "ev-other"
	var fe *event.FieldError
	if _, err := OpenEvent(ctx, moved, load()); !errors.As(err, &fe) || fe.Field != extField {
		t.Errorf("moved to another event: err = %v, want a FieldError on %s", err, extField)
	}

	// The learner's key gone (the authority's kept): Erased, keyed by the
	// pseudonym, the actor erased, the authority still readable.
	keys := load()
	learnerKID, _, _ := bytes.Cut([]byte(s.Extensions[ExtSealed][len(SealScheme):]), []byte("."))
	delete(keys.byKID, memKID{s.Tenant, string(learnerKID)})
	o, err = OpenEvent(ctx, s, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Erased || o.Key != s.Key {
		t.Fatalf("learner's key gone: erased %v key %q, want erased, key %q", o.Erased, o.Key, s.Key)
	}
	if !bytes.Contains(o.Data, []byte(erasedAgentJSON)) || !bytes.Contains(o.Data, []byte("grace-console-key")) {
		t.Errorf("learner's key gone: data\n%s", o.Data)
	}
}
