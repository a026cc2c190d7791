package streams

import (
	"context"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// The key store holds one entry per data key. The process that created a
// key reads its record back when it follows the topic; that is the same
// key, and the entry it has stays the one served (a second would be a
// second copy of the key for as long as the month is retained), with
// the offset the topic gave it. An entry's names are parts of its record
// key, not strings of their own or of the caller.
func TestVaultKeepsOneEntryPerKey(t *testing.T) {
	dir := t.TempDir()
	b, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	spec := KeysTopic(1)
	if err := EnsureTopics(ctx, []string{b.Addr()}, []TopicSpec{spec}); err != nil {
		t.Fatal(err)
	}
	m, err := ParseMasterKeys("m1:" + strings.Repeat("A", 43) + "=")
	if err != nil {
		t.Fatal(err)
	}
	v, err := OpenVault(ctx, VaultConfig{Brokers: []string{b.Addr()}, Topic: spec.Name, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	tenant := strings.Repeat("t", 3) // not a constant's string
	k, err := v.For(ctx, tenant, "mbox:mailto:ada@example.com", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	created := v.byKid[kidKey{"ttt", k.ID}]
	v.mu.Unlock()
	if created == nil {
		t.Fatal("the created key is not in the store")
	}
	if err := v.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.live) != 1 {
		t.Fatalf("%d live entries, want 1", len(v.live))
	}
	for _, e := range []*vaultEntry{v.live[created.recordKey], v.byKid[created.kidKey()], v.current[created.monthKey()]} {
		if e != created {
			t.Errorf("after the record was read back: entry %p, want the created one %p", e, created)
		}
	}
	if created.offset != v.offsets[len(v.offsets)-1] {
		t.Errorf("offset %d, want the record's %d", created.offset, v.offsets[len(v.offsets)-1])
	}
	within := func(s string) bool {
		start := uintptr(unsafe.Pointer(unsafe.StringData(created.recordKey)))
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(created.recordKey))
	}
	for name, s := range map[string]string{"tenant": created.tenant, "pseudonym": created.pseudonym, "month": created.month, "kid": created.kid} {
		if !within(s) {
			t.Errorf("the entry's %s %q is a string of its own, not part of its record key", name, s)
		}
	}
}
