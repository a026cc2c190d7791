package streams

import (
	"context"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// preparingKeys records what sealing asks to prepare.
type preparingKeys struct {
	*privacy.MemoryKeys
	prepared [][]privacy.KeyRequest
}

func (k *preparingKeys) Prepare(_ context.Context, reqs []privacy.KeyRequest) error {
	k.prepared = append(k.prepared, reqs)
	return nil
}

// Sealing a batch asks a key store that can prepare keys for the owners of
// its personal events at once, before it seals them one by one.
func TestSealingPreparesTheBatchsKeys(t *testing.T) {
	keys := &preparingKeys{MemoryKeys: privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))}
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	stmt := func(id, learner string) event.Event {
		e, err := event.New(id, event.TypeStatementStored, "test", "t1", learner, at,
			[]byte(`{"actor":{"mbox":"mailto:x@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	skill, err := event.New("s", "learnstream.catalog.skill.put.v1", "test", "t1", "s1", at, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{stmt("e1", "mbox:mailto:x@example.com"), skill, stmt("e2", "mbox:mailto:y@example.com")}
	if err := sealEvents(context.Background(), keys, evs); err != nil {
		t.Fatal(err)
	}
	if len(keys.prepared) != 1 {
		t.Fatalf("Prepare called %d times for one batch, want 1", len(keys.prepared))
	}
	want := []string{"mbox:mailto:x@example.com", "mbox:mailto:y@example.com"}
	got := keys.prepared[0]
	if len(got) != len(want) {
		t.Fatalf("prepared %+v, want the two statements' learners", got)
	}
	for i, r := range got {
		if r.Learner != want[i] || r.Tenant != "t1" || !r.At.Equal(at) {
			t.Errorf("prepared[%d] = %+v, want %s of t1 at %v", i, r, want[i], at)
		}
	}
	if !privacy.Sealed(evs[0]) || !privacy.Sealed(evs[2]) || privacy.Sealed(evs[1]) {
		t.Error("the batch was not sealed as without preparation")
	}
}
