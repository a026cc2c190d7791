package streams_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

var _ privacy.Keys = (*streams.Vault)(nil)

func masterKeys(t testing.TB, lines ...string) streams.MasterKeys {
	t.Helper()
	m, err := streams.ParseMasterKeys(strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func keyLine(id string, fill byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))
}

// keysTopic creates a key store topic of its own for one test.
func keysTopic(t testing.TB, ctx context.Context, c kafkatest.Cluster) string {
	t.Helper()
	spec := streams.KeysTopic(1)
	spec.Name = kafkatest.Unique("keys")
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{spec}); err != nil {
		t.Fatal(err)
	}
	return spec.Name
}

func openVault(t testing.TB, ctx context.Context, c kafkatest.Cluster, topic string, m streams.MasterKeys) *streams.Vault {
	t.Helper()
	v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Topic: topic, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

var march = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func TestVaultKeysAcrossProcesses(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		topic := keysTopic(t, ctx, c)
		m := masterKeys(t, keyLine("m1", 1))
		a := openVault(t, ctx, c, topic, m)
		b := openVault(t, ctx, c, topic, m)

		if a.Pseudonym("t1", "mbox:mailto:ada@example.com") != b.Pseudonym("t1", "mbox:mailto:ada@example.com") {
			t.Fatal("two processes disagree on a pseudonym")
		}
		ka, err := a.For(ctx, "t1", "mbox:mailto:ada@example.com", march)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := a.For(ctx, "t1", "mbox:mailto:ada@example.com", march.Add(24*time.Hour)); again.ID != ka.ID {
			t.Errorf("same learner, same month: key %s then %s", ka.ID, again.ID)
		}
		if apr, _ := a.For(ctx, "t1", "mbox:mailto:ada@example.com", march.AddDate(0, 1, 0)); apr.ID == ka.ID {
			t.Error("another month shares the key")
		}
		if other, _ := a.For(ctx, "t2", "mbox:mailto:ada@example.com", march); other.ID == ka.ID {
			t.Error("another tenant shares the key")
		}
		// The other process finds the key at once: Lookup reads to the end.
		kb, ok, err := b.Lookup(ctx, "t1", ka.ID)
		if err != nil || !ok || !bytes.Equal(kb.Key, ka.Key) {
			t.Fatalf("other process: Lookup = %v, %v, %v", kb, ok, err)
		}
		if _, ok, _ := b.Lookup(ctx, "t2", ka.ID); ok {
			t.Error("a key is found under another tenant")
		}
		if _, ok, err := b.Lookup(ctx, "t1", "nosuchkid"); ok || err != nil {
			t.Errorf("unknown kid: ok=%v err=%v", ok, err)
		}

		// Destroying in one process makes the key gone in the other.
		p := a.Pseudonym("t1", "mbox:mailto:ada@example.com")
		kids, err := b.DestroyLearner(ctx, "t1", p)
		if err != nil || len(kids) != 2 {
			t.Fatalf("DestroyLearner = %v, %v; want both months' keys", kids, err)
		}
		if err := a.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := a.Lookup(ctx, "t1", ka.ID); ok || err != nil {
			t.Errorf("after destroy: ok=%v err=%v", ok, err)
		}
		if _, ok, _ := a.Lookup(ctx, "t2", mustFor(t, a, "t2", "mbox:mailto:ada@example.com").ID); !ok {
			t.Error("the destroy reached another tenant's key")
		}
		// A write after the erasure gets a new key.
		if k, _ := a.For(ctx, "t1", "mbox:mailto:ada@example.com", march); k.ID == ka.ID {
			t.Error("a destroyed key came back")
		}
		if again, err := a.DestroyLearner(ctx, "t1", p); err != nil || len(again) != 1 {
			t.Errorf("second destroy: %v, %v; want the one new key", again, err)
		}

		// A restarted process has every key.
		a.Close()
		c2 := openVault(t, ctx, c, topic, m)
		if c2.Pseudonym("t1", "x") != b.Pseudonym("t1", "x") {
			t.Error("the pseudonym secret changed on restart")
		}
		k2 := mustFor(t, c2, "t2", "mbox:mailto:ada@example.com")
		if k2.ID != mustFor(t, b, "t2", "mbox:mailto:ada@example.com").ID {
			t.Error("restart made a new key for a learner month that had one")
		}
		if _, ok, _ := c2.Lookup(ctx, "t1", ka.ID); ok {
			t.Error("a destroyed key is back after restart")
		}
	})
}

func mustFor(t testing.TB, v *streams.Vault, tenant, learner string) privacy.DataKey {
	t.Helper()
	k, err := v.For(t.Context(), tenant, learner, march)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultConcurrentCreation(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	topic := keysTopic(t, ctx, c)
	v := openVault(t, ctx, c, topic, masterKeys(t, keyLine("m1", 1)))
	var wg sync.WaitGroup
	ids := make([]string, 200)
	for i := range ids {
		wg.Go(func() {
			// Half the callers ask for the same learner.
			learner := fmt.Sprintf("mbox:mailto:l%d@example.com", i%2*i)
			k, err := v.For(ctx, "t", learner, march)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID
		})
	}
	wg.Wait()
	for i := 0; i < len(ids); i += 2 {
		if ids[i] != ids[0] {
			t.Fatalf("concurrent creations for one learner made keys %s and %s", ids[0], ids[i])
		}
	}
	if got := v.State().DataKeys; got != 101 {
		t.Errorf("%d data keys, want 101", got)
	}
	// Nothing written twice: one record per key and the secret.
	end, err := streams.EndOffsets(ctx, c.Brokers, topic)
	if err != nil || end[0] != 102 {
		t.Errorf("topic end %v, %v; want 101 keys and the secret", end, err)
	}
}

func TestVaultRefusesToStart(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	topic := keysTopic(t, ctx, c)
	v := openVault(t, ctx, c, topic, masterKeys(t, keyLine("m1", 1)))
	mustFor(t, v, "t", "mbox:mailto:ada@example.com")
	v.Close()

	open := func(m streams.MasterKeys) error {
		v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Topic: topic, Master: m})
		if err == nil {
			v.Close()
		}
		return err
	}
	if err := open(masterKeys(t, keyLine("m2", 2))); err == nil || !strings.Contains(err.Error(), `master key "m1", which is not given`) {
		t.Errorf("unknown master key: %v", err)
	}
	if err := open(masterKeys(t, keyLine("m1", 2))); err == nil || !strings.Contains(err.Error(), "does not open under master key") {
		t.Errorf("wrong key under the right id: %v", err)
	}
	if err := open(nil); err == nil || !strings.Contains(err.Error(), "no master key") {
		t.Errorf("no master key: %v", err)
	}
	// A corrupt record: the start names it.
	w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: topic, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	bad := "dk/t/" + privacy.Secret("x").Pseudonym("t", "l") + "/2026-03/abc"
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(bad), Value: []byte(`{"master":"m1","sealed":"AAAA"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := open(masterKeys(t, keyLine("m1", 1))); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("corrupt record: %v", err)
	}
}

func TestParseMasterKeys(t *testing.T) {
	good := keyLine("m1", 1)
	for _, tc := range []struct {
		name, text, err string
	}{
		{"one key", good, ""},
		{"bare base64", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)), ""},
		{"two keys and a comment", "# current first\n" + keyLine("new", 2) + "\n\n" + good, ""},
		{"short key", "m:" + base64.StdEncoding.EncodeToString([]byte("short")), "must be 32 bytes, got 5"},
		{"not base64", "m:!!!", "line 1: the key is not base64"},
		{"bad id", "m/1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)), `master key id "m/1"`},
		{"duplicate id", good + "\n" + keyLine("m1", 2), `line 2: master key id "m1" is listed twice`},
		{"empty", "\n# nothing\n", "no master key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := streams.ParseMasterKeys(tc.text)
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
	// A key given bare keeps its id whichever way it is given.
	raw := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	bare, _, err := streams.LoadMasterKeys("", raw)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := streams.LoadMasterKeys("", " "+raw+"\n"); again.Current().ID != bare.Current().ID {
		t.Error("the derived id of a bare key is not stable")
	}
	if none, _, err := streams.LoadMasterKeys("", ""); none != nil || err != nil {
		t.Errorf("nothing given: %v, %v", none, err)
	}
	dir := t.TempDir()
	gen, err := streams.GenerateMasterKeyFile(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "k"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("generated key file mode %v, want 0600", st.Mode().Perm())
	}
	loaded, _, err := streams.LoadMasterKeys(filepath.Join(dir, "k"), "")
	if err != nil || loaded.Current().ID != gen.Current().ID {
		t.Errorf("generated key does not load back: %v", err)
	}
	if _, err := streams.GenerateMasterKeyFile(filepath.Join(dir, "k")); err == nil {
		t.Error("an existing key file was replaced")
	}
}

func TestVaultRotateAndCompact(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		topic := keysTopic(t, ctx, c)
		old := keyLine("m1", 1)
		v := openVault(t, ctx, c, topic, masterKeys(t, old))
		keep := mustFor(t, v, "t", "mbox:mailto:keep@example.com")
		gone := mustFor(t, v, "t", "mbox:mailto:gone@example.com")
		secret := v.Pseudonym("t", "x")
		v.Close()

		// Rotation: the new key first, the old one still listed.
		both := masterKeys(t, keyLine("m2", 2), old)
		v = openVault(t, ctx, c, topic, both)
		var seen []string
		n, err := v.Rotate(ctx, func(done, total int) { seen = append(seen, fmt.Sprintf("%d/%d", done, total)) })
		if err != nil || n != 3 {
			t.Fatalf("Rotate = %d, %v; want 2 data keys and the secret", n, err)
		}
		if fmt.Sprint(seen) != "[0/3 3/3]" {
			t.Errorf("progress %v", seen)
		}
		if n, err := v.Rotate(ctx, nil); err != nil || n != 0 {
			t.Errorf("second Rotate = %d, %v; want nothing to do", n, err)
		}
		// The wrapped value of the key about to be destroyed, as the log
		// holds it.
		var goneValue []byte
		for _, m := range readLive(t, ctx, c.Brokers, topic) {
			if strings.HasSuffix(string(m.Key), "/"+gone.ID) {
				goneValue = m.Value
			}
		}
		if goneValue == nil {
			t.Fatal("the key to destroy is not on the topic")
		}
		p := v.Pseudonym("t", "mbox:mailto:gone@example.com")
		if _, err := v.DestroyLearner(ctx, "t", p); err != nil {
			t.Fatal(err)
		}
		if err := v.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		v.Close()

		// The old master key retired: everything opens with the new one.
		v = openVault(t, ctx, c, topic, masterKeys(t, keyLine("m2", 2)))
		if v.Pseudonym("t", "x") != secret {
			t.Error("the pseudonym secret changed with the master key")
		}
		if k, ok, err := v.Lookup(ctx, "t", keep.ID); !ok || err != nil || !bytes.Equal(k.Key, keep.Key) {
			t.Errorf("kept key after rotation and compaction: %v %v", ok, err)
		}
		if _, ok, _ := v.Lookup(ctx, "t", gone.ID); ok {
			t.Error("destroyed key is back after compaction")
		}
		if st := v.State(); st.Records != 3 || st.DataKeys != 1 {
			t.Errorf("after compaction the topic holds %+v; want the kept key, the secret and the destroyed key's tombstone", st)
		}
		if c.DataDir == "" {
			return
		}
		// The destroyed key's wrapped value is gone from the broker's disk
		// (its tombstone, which holds no key, stays for a day).
		var hits []string
		filepath.WalkDir(c.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, goneValue) {
				hits = append(hits, path)
			}
			return nil
		})
		if len(hits) > 0 {
			t.Errorf("the destroyed key's record is still on disk in %v", hits)
		}
	})
}

// TestVaultSurvivesCrashesAndBrokerRestarts: the key store on the embedded
// broker keeps every live key across broker restarts while the broker's
// cleaner runs (it never rewrites the key store), and a compaction that
// crashed after copying the live records and before deleting the old ones
// leaves only duplicates, which the next compaction removes.
func TestVaultSurvivesCrashesAndBrokerRestarts(t *testing.T) {
	dir := t.TempDir()
	start := func() *streams.Embedded {
		b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1,
			CompactEvery: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := start()
	c := kafkatest.Cluster{Brokers: []string{b.Addr()}}
	if err := streams.EnsureTopics(ctx, c.Brokers, streams.DefaultTopics(1, 1)); err != nil {
		t.Fatal(err)
	}
	m := masterKeys(t, keyLine("m1", 9))
	v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, l := range []string{"a", "b", "c"} {
		k, err := v.For(ctx, "t", "mbox:mailto:"+l+"@example.com", march)
		if err != nil {
			t.Fatal(err)
		}
		want[k.ID] = k.Key
	}
	gone, _ := v.DestroyLearner(ctx, "t", v.Pseudonym("t", "mbox:mailto:c@example.com"))
	delete(want, gone[0])
	secret := v.Pseudonym("t", "x")
	v.Close()

	// A compaction that wrote its pads and copies, then crashed.
	raw := readAll(t, ctx, c.Brokers, privacy.TopicKeys, 5) // the secret, 3 keys, 1 tombstone
	w := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: privacy.TopicKeys, RequiredAcks: kafka.RequireAll}
	for _, m := range raw {
		if len(m.Value) > 0 {
			if err := w.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: m.Value}); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Close()
	time.Sleep(300 * time.Millisecond) // the cleaner runs
	b.Close()

	check := func(v *streams.Vault) {
		t.Helper()
		for id, key := range want {
			if k, ok, err := v.Lookup(ctx, "t", id); !ok || err != nil || !bytes.Equal(k.Key, key) {
				t.Errorf("key %s after restart: ok=%v err=%v", id, ok, err)
			}
		}
		if _, ok, _ := v.Lookup(ctx, "t", gone[0]); ok {
			t.Error("the destroyed key is back")
		}
		if v.Pseudonym("t", "x") != secret {
			t.Error("the pseudonym secret changed")
		}
	}
	b = start()
	c.Brokers = []string{b.Addr()}
	v, err = streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	check(v)
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if st := v.State(); st.Records != 4 {
		t.Errorf("after compaction %d records, want 2 keys, the secret and the destroyed key's tombstone", st.Records)
	}
	v.Close()
	time.Sleep(300 * time.Millisecond)
	b.Close()
	b = start()
	defer b.Close()
	c.Brokers = []string{b.Addr()}
	v, err = streams.OpenVault(ctx, streams.VaultConfig{Brokers: c.Brokers, Master: m})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	check(v)
}

// readLive reads partition 0 of topic from its start (which compaction
// moves) to its end.
func readLive(t testing.TB, ctx context.Context, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ends, err := streams.EndOffsets(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
	defer r.Close()
	r.SetOffset(kafka.FirstOffset)
	var out []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		if m.Offset+1 >= ends[0] {
			return out
		}
	}
}

// TestVaultTwoProcessesCreateAtOnce: two processes creating a key for the
// same learner month at once may make one each; both open what they
// sealed everywhere, and an erasure destroys both.
func TestVaultTwoProcessesCreateAtOnce(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	topic := keysTopic(t, ctx, c)
	m := masterKeys(t, keyLine("m1", 3))
	a, b := openVault(t, ctx, c, topic, m), openVault(t, ctx, c, topic, m)
	var ka, kb privacy.DataKey
	var wg sync.WaitGroup
	wg.Go(func() { ka = mustFor(t, a, "t", "mbox:mailto:dup@example.com") })
	wg.Go(func() { kb = mustFor(t, b, "t", "mbox:mailto:dup@example.com") })
	wg.Wait()
	for _, v := range []*streams.Vault{a, b} {
		for _, k := range []privacy.DataKey{ka, kb} {
			if got, ok, err := v.Lookup(ctx, "t", k.ID); !ok || err != nil || !bytes.Equal(got.Key, k.Key) {
				t.Errorf("key %s: ok=%v err=%v", k.ID, ok, err)
			}
		}
	}
	kids, err := a.DestroyLearner(ctx, "t", a.Pseudonym("t", "mbox:mailto:dup@example.com"))
	// Each process may have made a key, even when both answered with the
	// one that landed first: every key made is destroyed, and at least
	// the ones handed out.
	if err != nil || len(kids) < 1 || len(kids) > 2 || !slices.Contains(kids, ka.ID) || !slices.Contains(kids, kb.ID) {
		t.Fatalf("DestroyLearner = %v, %v; want the keys handed out (%s, %s) and at most one more", kids, err, ka.ID, kb.ID)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []privacy.DataKey{ka, kb} {
		if _, ok, _ := b.Lookup(ctx, "t", k.ID); ok {
			t.Errorf("key %s survived the erasure", k.ID)
		}
	}
}
