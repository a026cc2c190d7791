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

// Get answers from what it read before only while no credential event was
// applied since: a replaced credential, a revocation and a credential
// created again are each seen by the very next request.
func TestCredentialReadsFollowChanges(t *testing.T) {
	ctx := context.Background()
	l := &applyingLog{}
	c, err := NewCredentials(openStore(t), NewWaiters(), CredentialsConfig{Publisher: l, Iterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l.creds = c
	auth := func(secret string) error {
		_, err := c.Authenticate(ctx, "k", secret)
		return err
	}
	if _, err := c.Put(ctx, "k", "first-secret", "k", "t1", []string{"statements/write"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // read, then kept
		if err := auth("first-secret"); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
	}
	got, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got.Scopes[0] = "all" // the caller's copy
	if got, _ := c.Get(ctx, "k"); !got.Has("statements/write") || got.Has("all") {
		t.Errorf("after a caller changed its copy: scopes %v", got.Scopes)
	}
	// Another credential's change moves the version too; this one stays.
	if _, err := c.Put(ctx, "other", "other-secret", "other", "t1", []string{"all"}); err != nil {
		t.Fatal(err)
	}
	if err := auth("first-secret"); err != nil {
		t.Errorf("after another credential was put: %v", err)
	}

	if _, err := c.Put(ctx, "k", "second-secret", "k", "t1", []string{"statements/read"}); err != nil {
		t.Fatal(err)
	}
	if err := auth("first-secret"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the replaced secret: %v, want ErrBadCredentials", err)
	}
	if got, err := c.Authenticate(ctx, "k", "second-secret"); err != nil || !got.Has("statements/read") || got.Has("statements/write") {
		t.Errorf("the new secret: scopes %v, %v; want statements/read only", got.Scopes, err)
	}

	if err := c.Revoke(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := auth("second-secret"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("after the revocation: %v, want ErrBadCredentials", err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("Get after the revocation: %v, want ErrUnknownCredential", err)
	}
	if _, err := c.Put(ctx, "k", "third-secret", "k", "t1", []string{"all"}); err != nil {
		t.Fatal(err)
	}
	if err := auth("third-secret"); err != nil {
		t.Errorf("created again: %v", err)
	}
}
