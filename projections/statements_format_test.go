package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// liveKeys lists every key of the statements projection's live space.
func liveKeys(t *testing.T, store *Store, sp Space) [][]byte {
	t.Helper()
	var keys [][]byte
	err := store.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sp.prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil)[len(sp.prefix):])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestStatementIndexFormat pins what makes the format compact: index keys
// hold neither the filter's value nor the id as text, and an m record is
// written only for a statement whose entries are not its content's own.
func TestStatementIndexFormat(t *testing.T) {
	store := openStore(t)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, body := range []string{
		actVerb("ada@x.org", "did", "a"),
		`"actor":{"mbox":"mailto:cy@x.org"},"verb":{"id":"http://example.com/v/liked"},"object":{"objectType":"StatementRef","id":"` + uuid(1) + `"}`,
	} {
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, lrsStatement(t, "t1", i+1, body)); err != nil {
			t.Fatal(err)
		}
	}
	var index, meta int
	for _, k := range liveKeys(t, store, p.Space()) {
		switch {
		case bytes.HasPrefix(k, []byte("x\x00")):
			index++
			for _, text := range []string{"example.com", "ada@x.org", uuid(1), uuid(2)} {
				if bytes.Contains(k, []byte(text)) {
					t.Errorf("index key %q holds %q as text", k, text)
				}
			}
			// x, tenant, kind, digest, 8 bytes of time, 16 of id.
			if max := len("x\x00t1\x00a\x00\x00") + digestLen + 8 + 16; len(k) > max {
				t.Errorf("index key %q: %d bytes, want at most %d", k, len(k), max)
			}
		case bytes.HasPrefix(k, []byte("m\x00")):
			meta++
			if want := "m\x00t1\x00" + uuid(2); string(k) != want {
				t.Errorf("m record %q, want only %q (the statement that inherited entries)", k, want)
			}
		}
	}
	if index == 0 || meta != 1 {
		t.Errorf("%d index keys, %d m records; want some and 1", index, meta)
	}
	// The referrer still matches its target's filters (read from the
	// target's content, there being no m record of it).
	page, err := p.Query(ctx, "t1", StatementQuery{Agent: "mbox:mailto:ada@x.org"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, page); len(got) != 2 || got[0] != uuid(2) || got[1] != uuid(1) {
		t.Errorf("agent ada: %v, want [%s %s]", got, uuid(2), uuid(1))
	}
}

// TestStatementsFormatUpgrade: a data dir written in an older key format is
// replaced on start by an empty generation of this format, which the
// consumer fills from offset 0; a rebuild's generation carries the format,
// so the next start keeps it; a newer format is refused with the reason.
func TestStatementsFormatUpgrade(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	// Format 1: no fmt key, text index keys and an offset.
	old := newSpace(StatementsName, 0)
	err := store.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(old.Key("s", "t1", uuid(1)), []byte(`{}`)); err != nil {
			return err
		}
		if err := txn.Set(indexKey(old, "t1", idxVerb, "http://example.com/v/did", []byte("pos")), nil); err != nil {
			return err
		}
		return txn.Set(old.offsetKey("s", 0), binary.BigEndian.AppendUint64(nil, 7))
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := p.Space()
	if sp.Generation() != 1 {
		t.Fatalf("generation %d after start on format 1, want 1", sp.Generation())
	}
	if keys := liveKeys(t, store, sp); len(keys) != 4 || string(keys[0]) != "cntv" || string(keys[1]) != "fmt" || string(keys[2]) != "rmv" || string(keys[3]) != "rmvp" {
		t.Errorf("new generation holds %q, want only the counted mark, the format, rmv and rmvp keys", keys)
	}
	if next, ok, err := p.NextOffset(ctx, "s", 0); err != nil || ok || next != 0 {
		t.Errorf("next offset %d, %v, %v: want the log from its start", next, ok, err)
	}
	if keys := liveKeys(t, store, old); len(keys) != 0 {
		t.Errorf("format 1 generation left %d keys", len(keys))
	}
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: 0}, lrsStatement(t, "t1", 1, actVerb("ada@x.org", "did", "a"))); err != nil {
		t.Fatal(err)
	}

	// A second start keeps the generation; so does one after a replay.
	for _, replay := range []bool{false, true} {
		if replay {
			rb, err := p.StartRebuild()
			if err != nil {
				t.Fatal(err)
			}
			if err := rb.Handle(ctx, event.Position{Topic: "s", Offset: 0}, lrsStatement(t, "t1", 1, actVerb("ada@x.org", "did", "a"))); err != nil {
				t.Fatal(err)
			}
			if err := rb.Finish(ctx, "s", []int{0}); err != nil {
				t.Fatal(err)
			}
		}
		want := p.Space().Generation()
		again, err := NewStatements(store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := again.Space().Generation(); got != want {
			t.Errorf("replay %v: restart moved generation %d to %d", replay, want, got)
		}
		if n, err := again.Count(ctx, "t1"); err != nil || n != 1 {
			t.Errorf("replay %v: restart counts %d statements (%v), want 1", replay, n, err)
		}
	}

	// A newer format: refused, and left as it is.
	err = store.db.Update(func(txn *badger.Txn) error {
		return txn.Set(formatKey(p.Space()), binary.BigEndian.AppendUint32(nil, statementsFormat+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStatements(store, nil); err == nil || !strings.Contains(err.Error(), "newer release") {
		t.Errorf("start on a newer format: %v, want an error saying a newer release wrote it", err)
	}
}

func TestPositionBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Position
		n    int
	}{
		{"uuid", Position{Stored: 42, ID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}, 24},
		{"upper-case uuid reads back lower", Position{Stored: 1, ID: "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"}, 24},
		{"not a uuid: kept as text", Position{Stored: -5, ID: "legacy"}, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.p.bytes()
			if len(b) != tc.n {
				t.Errorf("%d bytes, want %d", len(b), tc.n)
			}
			if got := positionFrom(b); got.Stored != tc.p.Stored || got.ID != strings.ToLower(tc.p.ID) {
				t.Errorf("round trip %+v, want %+v", got, tc.p)
			}
		})
	}
	// Stored order first, then id order.
	a := Position{Stored: 1, ID: "ffffffff-ffff-4fff-bfff-ffffffffffff"}.bytes()
	b := Position{Stored: 2, ID: "00000000-0000-4000-8000-000000000000"}.bytes()
	if bytes.Compare(a, b) >= 0 {
		t.Error("a later stored time sorts first")
	}
}

func TestIndexSetRecord(t *testing.T) {
	keys := indexSet{idxVerb: {valueDigest("v")}, idxAgent: {valueDigest("a1"), valueDigest("a2")}}
	b := encodeIndexSet(keys)
	if len(b) != 3*(1+digestLen) {
		t.Errorf("record of %d bytes, want %d", len(b), 3*(1+digestLen))
	}
	got, err := decodeIndexSet(b)
	if err != nil || !sameIndexSet(got, keys) {
		t.Errorf("round trip %v, %v", got, err)
	}
	if _, err := decodeIndexSet(b[:5]); err == nil || !strings.Contains(err.Error(), "whole entries") {
		t.Errorf("a cut record: %v, want an error", err)
	}
}
