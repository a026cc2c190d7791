package streams

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/learnstream/learnstream/domain/privacy"
)

// The key store holds one entry per data key. The process that created a
// key reads its record back when it follows the topic; that is the same
// key, and the entry it has stays the one served (a second would be a
// second copy of the key for as long as the month is retained), with
// the offset the topic gave it. An entry's names are parts of its record
// key, not strings of their own or of the caller.
func TestVaultKeepsOneEntryPerKey(t *testing.T) {
	v := openTestVault(t)
	ctx := t.Context()
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

// Sealing a batch makes its learners' new keys ready together: they share
// the key store's writes instead of waiting for one each, in turn.
func TestVaultPreparesKeysTogether(t *testing.T) {
	v := openTestVault(t)
	ctx := t.Context()
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var reqs []privacy.KeyRequest
	for i := range 50 {
		l := fmt.Sprintf("mbox:mailto:learner%d@example.com", i)
		reqs = append(reqs, privacy.KeyRequest{Tenant: "t1", Learner: l, At: march}, privacy.KeyRequest{Tenant: "t1", Learner: l, At: march.Add(time.Hour)})
	}
	before := v.Metrics().KeyWrites
	if err := v.Prepare(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	// One write each, as keys were made before Prepare, is 50. How many
	// share a write depends on how fast the creations queue while one is
	// produced: 1-5 writes on an idle machine, 6 beside CI's race tests,
	// 11-12 with two copies of this test running at once. Fewer than half
	// means most keys shared a write.
	if w := v.Metrics().KeyWrites - before; w >= 25 {
		t.Errorf("50 new learner months took %d writes of the key store", w)
	}
	v.mu.Lock()
	created := len(v.live)
	v.mu.Unlock()
	if created != 50 {
		t.Errorf("%d keys created for 50 learner months", created)
	}
	before = v.Metrics().KeyWrites
	for _, r := range reqs {
		if _, err := v.For(ctx, r.Tenant, r.Learner, r.At); err != nil {
			t.Fatal(err)
		}
	}
	if w := v.Metrics().KeyWrites - before; w != 0 {
		t.Errorf("For after Prepare wrote %d times", w)
	}
	v.Close()
	if err := v.Prepare(ctx, reqs[:4:4]); err != nil {
		t.Errorf("keys known, a closed store: %v", err)
	}
	more := []privacy.KeyRequest{{Tenant: "t1", Learner: "mbox:mailto:x@example.com", At: march}, {Tenant: "t1", Learner: "mbox:mailto:y@example.com", At: march}}
	if err := v.Prepare(ctx, more); err == nil {
		t.Error("new keys in a closed store: no error")
	}
}

// openTestVault opens a key store on an embedded broker of its own.
func openTestVault(t *testing.T) *Vault {
	t.Helper()
	b, err := StartEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Partitions: 1})
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
	return v
}
