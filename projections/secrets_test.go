package projections

import (
	"bytes"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestLegacySecretIsReadNeverMade(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := s.LegacySecret("analytics-pseudonym-secret"); ok || err != nil {
		t.Fatalf("a store that never held a secret answers ok=%v err=%v", ok, err)
	}
	want := bytes.Repeat([]byte{3}, 32)
	if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Set(secretKey("analytics-pseudonym-secret"), want) }); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LegacySecret("analytics-pseudonym-secret")
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Fatalf("LegacySecret = %x, %v, %v; want the stored secret", got, ok, err)
	}
}
