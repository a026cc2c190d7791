package projections

import (
	"encoding/binary"
	"fmt"
)

// Packed stored values (a mastery record's trajectory, a learner's
// recommendations) are written with binary's varints, fixed-size
// little-endian numbers and appendStr, and read back with packedReader.

// appendStr appends s as a uvarint length and its bytes.
func appendStr[S string | []byte](b []byte, s S) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// packedReader reads a packed value. Its first error sticks, wrapping
// damaged and naming the field, and makes every later read return zero,
// so a decoder checks err once after the reads it needs.
type packedReader struct {
	b       []byte
	damaged error // what the value's errors wrap (errTrajectory, errRecValue)
	err     error
}

func (r *packedReader) fail(field string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", r.damaged, field)
	}
}

func (r *packedReader) byte(field string) byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(field)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *packedReader) uvarint(field string) uint64 { return readVar(r, field, binary.Uvarint) }

func (r *packedReader) varint(field string) int64 { return readVar(r, field, binary.Varint) }

func readVar[T int64 | uint64](r *packedReader, field string, read func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := read(r.b)
	if n <= 0 {
		r.fail(field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *packedReader) uint64(field string) uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(field)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// bytes reads what appendStr wrote, without copying it.
func (r *packedReader) bytes(field string) []byte {
	l := r.uvarint(field)
	if r.err != nil || l > uint64(len(r.b)) {
		r.fail(field)
		return nil
	}
	v := r.b[:l]
	r.b = r.b[l:]
	return v
}

func (r *packedReader) str(field string) string { return string(r.bytes(field)) }

// count reads a list's length, refusing one that the rest of the value
// cannot hold at per bytes an entry.
func (r *packedReader) count(field string, per int) int {
	n := r.uvarint(field)
	if r.err == nil && n > uint64(len(r.b)/per) {
		r.fail(field)
		return 0
	}
	return int(n)
}

// done is the reader's error, or one for bytes left after the last field.
func (r *packedReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes after the last field", r.damaged, len(r.b))
	}
	return r.err
}

// flags reads a flags byte, refusing bits outside known.
func (r *packedReader) flags(field string, known byte) byte {
	f := r.byte(field)
	if f&^known != 0 {
		r.fail(fmt.Sprintf("%s: unknown bits %#x", field, f&^known))
		return 0
	}
	return f
}
