package projections

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestModelCheckpointsRoundTrip(t *testing.T) {
	store := openStore(t)
	c, err := NewModelCheckpoints(store, "model-x")
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("factor "), int(valueThreshold)) // in the value log
	cps := map[int]PartitionCheckpoint{
		0: {Next: 10, Tenants: map[string][]byte{"t1": []byte("small"), "t2": big}},
		1: {Next: 7, Tenants: map[string][]byte{"t1": []byte("other")}},
	}
	if err := c.Save("s", cps); err != nil {
		t.Fatal(err)
	}
	// The next save leaves tenant t2 out of partition 0: its snapshot goes.
	cps[0] = PartitionCheckpoint{Next: 12, Tenants: map[string][]byte{"t1": []byte("small2")}}
	if err := c.Save("s", map[int]PartitionCheckpoint{0: cps[0]}); err != nil {
		t.Fatal(err)
	}
	for part, want := range cps {
		got, ok, err := c.Load("s", part)
		if err != nil || !ok {
			t.Fatalf("partition %d: %v %v", part, ok, err)
		}
		if got.Next != want.Next || len(got.Tenants) != len(want.Tenants) {
			t.Errorf("partition %d: next %d, %d tenants; want %d, %d", part, got.Next, len(got.Tenants), want.Next, len(want.Tenants))
		}
		for tenant, snap := range want.Tenants {
			if !bytes.Equal(got.Tenants[tenant], snap) {
				t.Errorf("partition %d tenant %s: %q, want %q", part, tenant, got.Tenants[tenant], snap)
			}
		}
	}
	if _, ok, err := c.Load("s", 2); ok || err != nil {
		t.Errorf("partition never saved: ok %v, err %v", ok, err)
	}
}

// A checkpoint written before checkpoints were sealed (no data key)
// still loads.
func TestModelCheckpointsLoadUnsealed(t *testing.T) {
	store := openStore(t)
	c, err := NewModelCheckpoints(store, "model-x")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.update(func(txn *badger.Txn) error {
		if err := txn.Set(c.sp.Key("m", "t1", "s", "3"), []byte("old snapshot")); err != nil {
			return err
		}
		return setNextOffset(txn, c.sp, "s", 3, 42)
	}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Load("s", 3)
	if err != nil || !ok || got.Next != 42 || string(got.Tenants["t1"]) != "old snapshot" {
		t.Fatalf("Load = %+v, %v, %v", got, ok, err)
	}
}

// A damaged snapshot, or one moved under another key, is refused with a
// reason rather than handed to the model's decoder.
func TestModelCheckpointsRefuseDamage(t *testing.T) {
	for name, damage := range map[string]func(txn *badger.Txn, c *RecommenderCheckpoints) error{
		"flipped byte": func(txn *badger.Txn, c *RecommenderCheckpoints) error {
			k := c.sp.Key("m", "t1", "s", "0")
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			v, _ := item.ValueCopy(nil)
			v[len(v)-1] ^= 1
			return txn.Set(k, v)
		},
		"other tenant's snapshot": func(txn *badger.Txn, c *RecommenderCheckpoints) error {
			item, err := txn.Get(c.sp.Key("m", "t2", "s", "0"))
			if err != nil {
				return err
			}
			v, _ := item.ValueCopy(nil)
			return txn.Set(c.sp.Key("m", "t1", "s", "0"), v)
		},
		"truncated": func(txn *badger.Txn, c *RecommenderCheckpoints) error {
			return txn.Set(c.sp.Key("m", "t1", "s", "0"), []byte("short"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			store := openStore(t)
			c, err := NewModelCheckpoints(store, "model-x")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Save("s", map[int]PartitionCheckpoint{0: {Next: 1, Tenants: map[string][]byte{"t1": []byte("a"), "t2": []byte("b")}}}); err != nil {
				t.Fatal(err)
			}
			if err := store.update(func(txn *badger.Txn) error { return damage(txn, c) }); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Load("s", 0); err == nil || !strings.Contains(err.Error(), `tenant "t1"`) {
				t.Errorf("Load of a damaged checkpoint: %v, want an error naming tenant t1", err)
			}
		})
	}
}

// A checkpoint large enough for the value log, taken before an erasure,
// leaves nothing readable of the erased learner in any file of the store
// once a later checkpoint without them is saved and the store purged:
// the value-log file being written cannot be collected, but the data key
// of what it holds is gone.
func TestModelCheckpointsLeaveNoTraceAfterPurge(t *testing.T) {
	dir := t.TempDir()
	store, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := NewModelCheckpoints(store, RecommenderName)
	if err != nil {
		t.Fatal(err)
	}
	const erased = "mbox:mailto:erased-learner@example.com"
	snapshot := func(learners ...string) []byte {
		var b bytes.Buffer
		for i := 0; b.Len() < 2*int(valueThreshold); i++ {
			for _, l := range learners {
				b.WriteString(l + "/" + strconv.Itoa(i) + ";")
			}
		}
		return b.Bytes()
	}
	before := snapshot("mbox:mailto:kept@example.com", erased)
	if err := c.Save("s", map[int]PartitionCheckpoint{0: {Next: 5, Tenants: map[string][]byte{"t1": before}}}); err != nil {
		t.Fatal(err)
	}
	after := snapshot("mbox:mailto:kept@example.com")
	if err := c.Save("s", map[int]PartitionCheckpoint{0: {Next: 6, Tenants: map[string][]byte{"t1": after}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("erased-learner")) {
			t.Errorf("%s holds the erased learner", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Load("s", 0)
	if err != nil || !ok || !bytes.Equal(got.Tenants["t1"], after) {
		t.Errorf("the checkpoint after the purge does not load: %v %v", ok, err)
	}
}
