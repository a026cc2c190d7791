package event

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"syscall"
)

// How a consumer treats an event it failed to apply is decided here, once,
// for every consumer (projections, model consumers, the batch consumer):
//
//   - Retryable errors are failures of the infrastructure the event is
//     applied with: a store, the broker, the network, a context that ended.
//     They may pass, so the consumer tries the same event again and the
//     partition waits (visible as a stuck consumer if it lasts).
//   - Every other error fails the same way each time it is tried: invalid
//     data, a rule of the domain, a bug. The consumer parks the event in
//     its topic's DLQ at once, with the error as the reason, and moves on.
//
// Retrying is the marked exception, not the default, so an error nobody
// foresaw can delay one event, never stop a partition. A store error
// mistaken for the event's fault costs a spurious DLQ copy and nothing
// more: stepping past the event (Handler.Skip) writes to the same store,
// so while that store fails the consumer still retries.

// TransientError marks a failure of infrastructure, worth retrying.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as a failure of infrastructure (store, broker,
// network) that may pass; nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// Retryable reports whether applying an event may succeed if tried again:
// err is not a rejection, and it is marked Transient, or is a context's
// end, a network error or an operating system error (a file, a socket),
// which say nothing about the event itself.
func Retryable(err error) bool {
	if err == nil || IsRejected(err) {
		return false
	}
	var t *TransientError
	var ne net.Error
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &t) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || errors.As(err, &pe) || errors.As(err, &errno)
}
