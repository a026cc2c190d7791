package projections

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/xapi"
)

// The statements projection's key format has generations of its own,
// recorded in each space (fmt key). A space of another format is not read:
// on start it is replaced by an empty space that the consumer fills from
// offset 0 of the statements topic, as for a fresh data dir
// (docs/architecture.md, "Statements projection: key format").
//
// Format 2 (this one) keeps index keys short: the filter's value is a
// 16-byte digest and the statement id 16 bytes of its UUID, and the index
// entries of a statement are recorded (m) only when they are not those its
// own content gives, that is when it inherited entries through a
// StatementRef. Format 1 (no fmt key) held the values and the id as text
// and an m record of every statement.
const statementsFormat = 2

func formatKey(sp Space) []byte { return sp.Key("fmt") }

// spaceFormat reads the format of a space: 0 when it records none.
func spaceFormat(txn *badger.Txn, sp Space) (uint32, bool, error) {
	item, err := txn.Get(formatKey(sp))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var f uint32
	err = item.Value(func(v []byte) error {
		if len(v) != 4 {
			return fmt.Errorf("format of %s: %d bytes", sp.projection, len(v))
		}
		f = binary.BigEndian.Uint32(v)
		return nil
	})
	return f, true, err
}

// initSpace records the format in a new, empty space (the live one of a
// new store, or a rebuild's).
func (m statementsModel) initSpace(s *Store, sp Space) error {
	return s.update(func(txn *badger.Txn) error {
		return txn.Set(formatKey(sp), binary.BigEndian.AppendUint32(nil, statementsFormat))
	})
}

// upgradeFormat makes the live space one of this format: an empty space
// gets the format recorded; a space of an older format is replaced by an
// empty one of the next generation, which the consumer rebuilds from the
// log; a newer format is an error (a downgrade, which cannot read it).
func upgradeFormat(s *Store, p *Projection, log *slog.Logger) error {
	sp := p.Space()
	var (
		f     uint32
		known bool
		empty bool
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if f, known, err = spaceFormat(txn, sp); err != nil || known {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sp.prefix})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	switch {
	case err != nil:
		return err
	case known && f == statementsFormat:
		return nil
	case known && f > statementsFormat:
		return fmt.Errorf("generation %d is of key format %d, written by a newer release; this release reads format %d (run the newer release, or move the data dir's projections aside to rebuild them from the log)",
			sp.gen, f, statementsFormat)
	case empty:
		return statementsModel{}.initSpace(s, sp)
	}
	old := f
	if !known {
		old = 1
	}
	next := newSpace(sp.projection, sp.gen+1)
	if err := s.dropSpace(next); err != nil {
		return fmt.Errorf("clear generation %d: %w", next.gen, err)
	}
	if err := (statementsModel{}).initSpace(s, next); err != nil {
		return err
	}
	if err := s.swapSpace(sp, next); err != nil {
		return fmt.Errorf("swap to generation %d: %w", next.gen, err)
	}
	p.mu.Lock()
	p.live = next
	p.mu.Unlock()
	log.Warn("statements projection: stored in an older key format; rebuilding it from the statements topic (queries answer from what is applied so far until it has caught up)",
		"old_format", old, "format", statementsFormat, "generation", next.gen)
	return nil
}

// digestLen is the size of an index value's digest: 128 bits of SHA-256,
// so that two values sharing one is not to be expected (about 2^64 values
// for an even chance), even from values chosen to collide.
const digestLen = 16

// valueDigest is the form of a filter value (agent key, IRI, registration)
// in index keys.
func valueDigest(v string) string {
	s := sha256.Sum256([]byte(v))
	return string(s[:digestLen])
}

// indexSet is a statement's index entries: kind -> sorted value digests.
type indexSet map[string][]string

// encodeIndexSet is the m record: kind byte and digest per entry, kinds
// in order.
func encodeIndexSet(keys indexSet) []byte {
	kinds := make([]string, 0, len(keys))
	n := 0
	for k, vs := range keys {
		kinds = append(kinds, k)
		n += len(vs) * (1 + digestLen)
	}
	slices.Sort(kinds)
	out := make([]byte, 0, n)
	for _, k := range kinds {
		for _, v := range keys[k] {
			out = append(out, k[0])
			out = append(out, v...)
		}
	}
	return out
}

func decodeIndexSet(b []byte) (indexSet, error) {
	if len(b)%(1+digestLen) != 0 {
		return nil, fmt.Errorf("index record of %d bytes is not whole entries of %d", len(b), 1+digestLen)
	}
	keys := indexSet{}
	for ; len(b) > 0; b = b[1+digestLen:] {
		k := string(b[:1])
		keys[k] = append(keys[k], string(b[1:1+digestLen]))
	}
	return keys, nil
}

// sameIndexSet reports whether a and b hold the same entries (each kind's
// digests sorted and unique, as indexKeys and mergeSorted leave them).
func sameIndexSet(a, b indexSet) bool {
	count := func(s indexSet) int {
		n := 0
		for _, vs := range s {
			n += len(vs)
		}
		return n
	}
	if count(a) != count(b) {
		return false
	}
	for k, vs := range a {
		if !slices.Equal(vs, b[k]) {
			return false
		}
	}
	return true
}

// uuidBytes is the 16 bytes of a UUID in its text form, ok=false for
// anything else.
func uuidBytes(dst []byte, id string) ([]byte, bool) {
	if !xapi.IsUUID(id) {
		return dst, false
	}
	for i := 0; i < len(id); i += 2 {
		if id[i] == '-' {
			i-- // the next pair starts after the dash
			continue
		}
		dst = append(dst, unhex(id[i])<<4|unhex(id[i+1]))
	}
	return dst, true
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
