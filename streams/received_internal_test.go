package streams

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// epochKeys is a MemoryKeys that tells of destroys, as the Vault does.
type epochKeys struct {
	*privacy.MemoryKeys
	epoch atomic.Uint64
}

func (k *epochKeys) DestroyEpoch() uint64 { return k.epoch.Load() }

func (k *epochKeys) DestroyLearner(ctx context.Context, tenant, pseudonym string) ([]string, error) {
	kids, err := k.MemoryKeys.DestroyLearner(ctx, tenant, pseudonym)
	k.epoch.Add(1) // after the keys are gone, as Vault.destroyLocked
	return kids, err
}

var receivedSigning = bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)

// receivedRecordOf is a signed stored statement of learner as the
// subscriber fetches it, sealed when keys is set.
func receivedRecordOf(t testing.TB, keys privacy.Keys, topic string, offset int64, learner string) kafka.Message {
	t.Helper()
	data := fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","actor":{"objectType":"Agent","name":"Name of %s","mbox":"mailto:%s"},`+
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"objectType":"Activity","id":"https://example.com/q/%d"},`+
		`"result":{"score":{"scaled":0.5},"success":true},"stored":"2026-03-14T09:00:00Z","timestamp":"2026-03-14T09:00:00Z"}`,
		offset, learner, learner, offset%7)
	e, err := event.New(fmt.Sprintf("e%d", offset), event.TypeStatementStored, "test", "t1", "mbox:mailto:"+learner,
		time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC), []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if keys != nil {
		if e, err = privacy.SealEvent(t.Context(), e, keys); err != nil {
			t.Fatal(err)
		}
	}
	km := toKafka(topic, NewMessage(event.Sign(e, receivedSigning)))
	km.Partition, km.Offset = 0, offset
	return km
}

// readers registers n subscriptions reading partition 0 of topic.
func readers(t testing.TB, v *verifier, topic string, n int) {
	for range n {
		t.Cleanup(records.reading(v, topic, 0))
	}
}

// receiveStatement is what a role gets for km: the event, and its
// statement as the projections decode it.
func receiveStatement(t testing.TB, km kafka.Message, v *verifier) (event.Event, *xapi.Statement) {
	t.Helper()
	e, err := Event(fromKafka(t.Context(), km, v))
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if e.Erased {
		return e, nil
	}
	st, err := projections.StoredStatement(e)
	if err != nil {
		t.Fatalf("StoredStatement: %v", err)
	}
	return e, st
}

func TestReceivedOncePerProcess(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keys    privacy.Keys
		readers int
		shared  bool
	}{
		{"signed, two roles", nil, 2, true},
		{"sealed, three roles", &epochKeys{MemoryKeys: privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))}, 3, true},
		{"one role: nothing kept", nil, 1, false},
		{"sealed, key store without destroy epochs: opened by each", privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef")), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "once-" + strings.ReplaceAll(tc.name, " ", "")
			v := &verifier{key: receivedSigning, keys: tc.keys}
			readers(t, v, topic, tc.readers)
			km := receivedRecordOf(t, tc.keys, topic, 7, "ada@example.com")
			first, st1 := receiveStatement(t, km, v)
			for r := 1; r < max(tc.readers, 2); r++ {
				// Another fetch of the same record: equal bytes, other
				// slices.
				again := km
				again.Value = bytes.Clone(km.Value)
				e, st := receiveStatement(t, again, v)
				if !e.Verified || e.Key != "mbox:mailto:ada@example.com" || !bytes.Equal(e.Data, first.Data) {
					t.Fatalf("reader %d: verified %v, key %q, data %s", r, e.Verified, e.Key, e.Data)
				}
				if shared := &e.Data[0] == &first.Data[0] && st == st1; shared != tc.shared {
					t.Errorf("reader %d shares the first's event and statement: %v, want %v", r, shared, tc.shared)
				}
				if !reflect.DeepEqual(st, st1) {
					t.Errorf("reader %d: statement %+v, want %+v", r, st, st1)
				}
			}
			if rest := records.slot(topic, 0, 7).Load(); rest != nil {
				t.Errorf("the entry stays after every reader took it (readers %d, reads %d)", rest.readers, rest.reads.Load())
			}
		})
	}
}

// An entry serves only the very record it was made from, under the same
// verifier: anything else at that position is decoded for itself.
func TestReceivedCacheServesOnlyTheSameRecord(t *testing.T) {
	const topic = "same-record"
	v := &verifier{key: receivedSigning}
	readers(t, v, topic, 3)
	orig := receivedRecordOf(t, nil, topic, 11, "ada@example.com")
	other := receivedRecordOf(t, nil, topic, 11, "bob@example.com")
	withHeader := func(k, val string) kafka.Message {
		km := orig
		km.Headers = append([]kafka.Header(nil), orig.Headers...)
		for i, h := range km.Headers {
			if h.Key == k {
				km.Headers[i].Value = []byte(val)
			}
		}
		return km
	}
	tampered := orig
	tampered.Value = bytes.Replace(orig.Value, []byte("0.5"), []byte("0.9"), 1)
	rekeyed := orig
	rekeyed.Key = []byte("mbox:mailto:eve@example.com")
	moved := orig
	moved.Partition = 1
	for _, tc := range []struct {
		name      string
		km        kafka.Message
		v         *verifier
		wantErr   string // a rejected record
		wantActor string
	}{
		{"another record at the same position", other, v, "", "mailto:bob@example.com"},
		{"the value altered under the signature", tampered, v, "ce_signature", ""},
		{"the key altered", rekeyed, v, "ce_signature", ""},
		{"a header altered", withHeader(event.HeaderTenant, "t2"), v, "ce_signature", ""},
		{"another partition", moved, v, "", "mailto:ada@example.com"},
		{"another verifier, no signing key", orig, nil, "", "mailto:ada@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The original is decoded (and kept) first each time.
			if _, st := receiveStatement(t, orig, v); st.Actor.Mbox != "mailto:ada@example.com" {
				t.Fatalf("original: actor %s", st.Actor.Mbox)
			}
			e, err := Event(fromKafka(t.Context(), tc.km, tc.v))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Event: %v, want rejected for %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Verified != (tc.v != nil) {
				t.Errorf("Verified = %v with verifier %v", e.Verified, tc.v)
			}
			st, err := projections.StoredStatement(e)
			if err != nil || st.Actor.Mbox != tc.wantActor {
				t.Errorf("statement actor %v (%v), want %s", st.Actor.Mbox, err, tc.wantActor)
			}
		})
	}
}

// A consumer that has not yet read a record when its learner's key is
// destroyed gets it as erased, as it would have without the cache; one
// that read it before keeps what it has (it passed the record).
func TestReceivedAfterKeyDestroyed(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys interface {
			privacy.Keys
			DestroyLearner(context.Context, string, string) ([]string, error)
			Pseudonym(string, string) string
		}
	}{
		{"key store with destroy epochs (the vault)", &epochKeys{MemoryKeys: privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))}},
		{"key store without", privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "destroyed-" + strings.ReplaceAll(tc.name, " ", "")
			v := &verifier{key: receivedSigning, keys: tc.keys}
			readers(t, v, topic, 3)
			ada := receivedRecordOf(t, tc.keys, topic, 3, "ada@example.com")
			bob := receivedRecordOf(t, tc.keys, topic, 4, "bob@example.com")
			before, st := receiveStatement(t, ada, v)
			if before.Erased || st.Actor.Name != "Name of ada@example.com" {
				t.Fatalf("before the destroy: erased %v, actor %+v", before.Erased, st.Actor)
			}
			receiveStatement(t, bob, v)
			if _, err := tc.keys.DestroyLearner(t.Context(), "t1", tc.keys.Pseudonym("t1", "mbox:mailto:ada@example.com")); err != nil {
				t.Fatal(err)
			}
			for r := 2; r <= 3; r++ {
				after, _ := receiveStatement(t, ada, v)
				if !after.Erased || bytes.Contains(after.Data, []byte("ada@")) || after.Key == "mbox:mailto:ada@example.com" {
					t.Errorf("reader %d after the destroy: erased %v, key %q, data %s", r, after.Erased, after.Key, after.Data)
				}
				// Bob's key stays: his event is served as before.
				if e, st := receiveStatement(t, bob, v); e.Erased || st.Actor.Mbox != "mailto:bob@example.com" {
					t.Errorf("reader %d: bob's event erased %v", r, e.Erased)
				}
			}
			if before.Erased || !bytes.Contains(before.Data, []byte("Name of ada@")) {
				t.Errorf("the event the first reader holds changed: %s", before.Data)
			}
		})
	}
}

// Several roles receiving the same records at once share them, and get
// the statement they would have decoded themselves (run with -race).
func TestReceivedConcurrentRoles(t *testing.T) {
	const topic, roles, n = "concurrent-roles", 6, 300
	keys := &epochKeys{MemoryKeys: privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))}
	v := &verifier{key: receivedSigning, keys: keys}
	readers(t, v, topic, roles)
	kms := make([]kafka.Message, n)
	for i := range kms {
		kms[i] = receivedRecordOf(t, keys, topic, int64(i), fmt.Sprintf("l%d@example.com", i%13))
	}
	got := make([][]*xapi.Statement, roles)
	var wg sync.WaitGroup
	for r := range roles {
		got[r] = make([]*xapi.Statement, n)
		wg.Go(func() {
			for i, km := range kms {
				km.Value = bytes.Clone(km.Value) // each role's own fetch
				e, err := Event(fromKafka(context.Background(), km, v))
				if err != nil {
					t.Error(err)
					return
				}
				st, err := projections.StoredStatement(e)
				if err != nil {
					t.Error(err)
					return
				}
				// What roles read of a statement.
				_ = st.LearnerKey() + st.Object.Activity.ID
				_, _ = st.IsVoiding()
				got[r][i] = st
			}
		})
	}
	wg.Wait()
	shared := 0
	for i := range n {
		want, err := xapi.DecodeStored(mustOpen(t, keys, kms[i]).Data)
		if err != nil {
			t.Fatal(err)
		}
		for r := range roles {
			if !reflect.DeepEqual(got[r][i], want) {
				t.Fatalf("role %d, record %d: %+v, want %+v", r, i, got[r][i], want)
			}
			if r > 0 && got[r][i] == got[0][i] {
				shared++
			}
		}
	}
	// Interleaving decides how many; sharing none would mean no cache.
	if shared == 0 {
		t.Errorf("no statement shared among %d roles over %d records", roles, n)
	}
	t.Logf("%d of %d receptions shared the first role's statement", shared, n*(roles-1))
}

func mustOpen(t testing.TB, keys privacy.Keys, km kafka.Message) event.Event {
	t.Helper()
	e, _, err := decodeRecord(km, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e, err = privacy.OpenEvent(t.Context(), e, keys); err != nil {
		t.Fatal(err)
	}
	return e
}

// A subscription far behind the others (its record takes the same slot)
// does not evict what they have yet to read.
func TestReceivedLaggardKeepsOut(t *testing.T) {
	const topic = "laggard"
	v := &verifier{key: receivedSigning}
	readers(t, v, topic, 3)
	ahead := receivedRecordOf(t, nil, topic, receivedSlots+5, "ada@example.com")
	behind := receivedRecordOf(t, nil, topic, 5, "bob@example.com")
	if records.slot(topic, 0, ahead.Offset) != records.slot(topic, 0, behind.Offset) {
		t.Fatal("the two records should take one slot")
	}
	first, st1 := receiveStatement(t, ahead, v)
	if _, st := receiveStatement(t, behind, v); st.Actor.Mbox != "mailto:bob@example.com" {
		t.Fatalf("the laggard's record: %+v", st.Actor)
	}
	second, st2 := receiveStatement(t, ahead, v)
	if &second.Data[0] != &first.Data[0] || st2 != st1 {
		t.Error("the second reader of the later record decoded it again: the laggard evicted it")
	}
}
