package event

import "sync"

// A Decoder turns an event's Data into a value of type T, such as a
// statement. Decode runs it at most once for all the consumers that hold
// copies of one Shared event, so that a record every role of a process
// reads is decoded once, not once per role.
//
// The value is then shared by those consumers, which may run
// concurrently: they must treat it as read-only (copy before changing
// anything reachable from it), as they must Data.
type Decoder[T any] struct {
	decode func([]byte) (T, error)
}

// NewDecoder returns a Decoder that decodes with f. f must be a pure
// function of its input: its result (value or error) is handed to every
// consumer of the event. Decoders are compared by identity: make each
// once, as a package variable.
func NewDecoder[T any](f func([]byte) (T, error)) *Decoder[T] {
	return &Decoder[T]{decode: f}
}

// memo is the decoded form of one Data, shared by the copies of a Shared
// event. It serves one Decoder, the first that asks; others decode on
// their own.
type memo struct {
	data []byte // the Data it was made for

	mu  sync.Mutex
	dec any // the Decoder whose result v, err hold; nil: none yet
	v   any
	err error
}

// Shared returns e ready to be handed to several consumers: the first
// Decode of its Data is remembered for every copy. A copy whose Data is
// replaced decodes its own Data again.
func Shared(e Event) Event {
	e.memo = &memo{data: e.Data}
	return e
}

// Decode returns d's decoding of e.Data, computed once per Shared event.
func (d *Decoder[T]) Decode(e Event) (T, error) {
	m := e.memo
	if m == nil || len(e.Data) == 0 || len(m.data) != len(e.Data) || &m.data[0] != &e.Data[0] {
		return d.decode(e.Data)
	}
	m.mu.Lock()
	if m.dec == nil {
		// Decoded under the lock: consumers asking at the same moment
		// wait for this one rather than decode it too.
		m.dec = d
		m.v, m.err = d.decode(m.data)
	}
	mine, v, err := m.dec == any(d), m.v, m.err
	m.mu.Unlock()
	if !mine {
		return d.decode(e.Data)
	}
	t, _ := v.(T)
	return t, err
}
