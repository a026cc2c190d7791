package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"
)

func TestRetryable(t *testing.T) {
	syntaxErr := json.Unmarshal([]byte("{"), &map[string]any{})
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"marked transient", Transient(errors.New("badger: writes are blocked")), true},
		{"transient, wrapped further", fmt.Errorf("projection x: %w", Transient(errors.New("conflict"))), true},
		{"context cancelled", fmt.Errorf("publish: %w", context.Canceled), true},
		{"deadline", context.DeadlineExceeded, true},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"file system", fmt.Errorf("read value: %w", &fs.PathError{Op: "read", Path: "/d/000001.vlog", Err: syscall.EIO}), true},
		{"errno", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		// What wedged a partition (issue 17): a validation error nobody
		// marked. Not retryable: it goes to the DLQ at once.
		{"unmarked validation error", errors.New(`activity.definition.scale: is not a component list of a "matching" interaction`), false},
		{"json", fmt.Errorf("data: %w", syntaxErr), false},
		{"rejected", Reject(errors.New("data: bad")), false},
		{"rejected wins over a transient cause", Reject(Transient(errors.New("x"))), false},
		{"envelope field error", &FieldError{HeaderType, "missing"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.want {
				t.Fatalf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if Transient(nil) != nil {
		t.Fatal("Transient(nil) is not nil")
	}
}
