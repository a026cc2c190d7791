package projections

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
)

// applyingLog applies each credential event to the projection at once.
type applyingLog struct {
	next  int64
	creds *Credentials
}

func (l *applyingLog) PublishEvents(ctx context.Context, topic string, evs ...event.Event) error {
	for _, e := range evs {
		if err := l.creds.Handle(ctx, event.Position{Topic: topic, Offset: l.next}, e); err != nil {
			return err
		}
		l.next++
	}
	return nil
}

// The PBKDF2 cost of new secrets is the production default unless the
// configuration lowers it, never below what the projection accepts; each
// credential keeps its own count, so it authenticates whatever the
// configuration says later.
func TestCredentialsHashingCost(t *testing.T) {
	for _, tc := range []struct {
		name       string
		iterations int
		want       int
		wantErr    string
	}{
		{"default", 0, pbkdf2Iterations, ""},
		{"lowered for tests", 1000, 1000, ""},
		{"below the minimum", 999, 0, "Iterations must be at least 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			l := &applyingLog{}
			c, err := NewCredentials(store, NewWaiters(), CredentialsConfig{Publisher: l, Iterations: tc.iterations})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewCredentials: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.creds = c
			ctx := context.Background()
			cred, err := c.Put(ctx, "k", "a-secret-1", "k", "t1", []string{"all"})
			if err != nil {
				t.Fatal(err)
			}
			if cred.Iterations != tc.want {
				t.Errorf("Iterations = %d, want %d", cred.Iterations, tc.want)
			}
			if _, err := c.Authenticate(ctx, "k", "a-secret-1"); err != nil {
				t.Errorf("Authenticate with the secret: %v", err)
			}
			if _, err := c.Authenticate(ctx, "k", "another-secret"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Authenticate with another secret: %v, want ErrBadCredentials", err)
			}
		})
	}
}
