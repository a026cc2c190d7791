package projections

import (
	"bytes"
	"testing"
)

func TestSecretIsGeneratedOnceAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Secret("analytics-pseudonym", 32)
	if err != nil || len(a) != 32 {
		t.Fatalf("%x %v", a, err)
	}
	b, _ := s.Secret("analytics-pseudonym", 32)
	other, _ := s.Secret("other", 32)
	if !bytes.Equal(a, b) || bytes.Equal(a, other) {
		t.Fatalf("same name gave %x then %x; another name %x", a, b, other)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Secret("analytics-pseudonym", 32)
	if err != nil || !bytes.Equal(a, c) {
		t.Fatalf("after reopen got %x (%v), want %x", c, err, a)
	}
}
