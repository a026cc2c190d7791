package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams/kafkatest"
)

// The record cache of the subscribers opens a sealed event again when
// DestroyEpoch moved since it was opened: it must move on a destroy in
// this process and on one this process follows from another, and not on
// a key's creation.
func TestVaultDestroyEpoch(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		topic := keysTopic(t, ctx, c)
		m := masterKeys(t, keyLine("m1", 1))
		a := openVault(t, ctx, c, topic, m)
		b := openVault(t, ctx, c, topic, m)
		ea, eb := a.DestroyEpoch(), b.DestroyEpoch()
		mustFor(t, a, "t1", "mbox:mailto:ada@example.com")
		mustFor(t, a, "t1", "mbox:mailto:bob@example.com")
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if a.DestroyEpoch() != ea || b.DestroyEpoch() != eb {
			t.Fatal("creating keys moved the destroy epoch")
		}
		if _, err := b.DestroyLearner(ctx, "t1", b.Pseudonym("t1", "mbox:mailto:ada@example.com")); err != nil {
			t.Fatal(err)
		}
		if b.DestroyEpoch() == eb {
			t.Error("the destroying process's epoch did not move")
		}
		if err := a.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if a.DestroyEpoch() == ea {
			t.Error("the epoch of a process that followed the destroy did not move")
		}
	})
}
