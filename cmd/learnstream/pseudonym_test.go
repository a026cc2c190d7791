package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/projections"
)

// TestPseudonymSecretOutlivesTheProjections: the pseudonym secret is never
// lost with the projections directory, so a learner keeps one pseudonym:
// derived from the signing key, or, for an install that generated one into
// the store before, moved to the data dir.
func TestPseudonymSecretOutlivesTheProjections(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	secretOf := func(t *testing.T, dataDir string, signingKey []byte, legacy []byte) []byte {
		t.Helper()
		store, err := projections.Open(filepath.Join(dataDir, "projections"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if legacy != nil {
			if err := store.DB().Update(func(txn *badger.Txn) error {
				return txn.Set(append([]byte{'s', 0}, pseudonymSecretName...), legacy)
			}); err != nil {
				t.Fatal(err)
			}
		}
		rt := &runtime{cfg: serveConfig{dataDir: dataDir}, store: store, signingKey: signingKey, log: slog.Default()}
		s, err := pseudonymSecret(rt)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rebuild := func(t *testing.T, dataDir string) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(dataDir, "projections")); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("derived from the signing key", func(t *testing.T) {
		dir := t.TempDir()
		first := secretOf(t, dir, key, nil)
		rebuild(t, dir)
		if again := secretOf(t, dir, key, nil); !bytes.Equal(first, again) {
			t.Error("the secret changed with the projections directory")
		}
		if other := secretOf(t, t.TempDir(), key, nil); !bytes.Equal(first, other) {
			t.Error("two instances with one signing key disagree on the secret")
		}
		if bytes.Equal(first, key) || bytes.Equal(first, secretOf(t, t.TempDir(), bytes.Repeat([]byte{8}, 32), nil)) {
			t.Error("the secret is the key itself, or does not depend on it")
		}
	})
	t.Run("an earlier release's secret moves out of the store", func(t *testing.T) {
		dir := t.TempDir()
		legacy := bytes.Repeat([]byte{4}, 32)
		if got := secretOf(t, dir, key, legacy); !bytes.Equal(got, legacy) {
			t.Fatalf("secret %x, want the one the store held", got)
		}
		st, err := os.Stat(filepath.Join(dir, pseudonymFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want it written with mode 0600", pseudonymFile, err, st)
		}
		rebuild(t, dir)
		if got := secretOf(t, dir, key, nil); !bytes.Equal(got, legacy) {
			t.Errorf("after the projections were rebuilt: secret %x, want the earlier release's", got)
		}
	})
}
