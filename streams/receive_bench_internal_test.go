package streams

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

// BenchmarkReceiveRecord: what the subscriber does per record before a
// handler sees the event: the watermill message (fromKafka), the
// signature check under the cluster's key, and the event the consumer
// hands to the handler (Event). A stored statement of about 1 KB.
func BenchmarkReceiveRecord(b *testing.B) {
	key := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
	data := `{"id":"00000001-0000-4000-8000-000000000001","actor":{"objectType":"Agent","mbox":"mailto:learner1@example.com"},` +
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/answered","display":{"en-US":"answered"}},` +
		`"object":{"objectType":"Activity","id":"https://example.com/activities/1","definition":{"name":{"en-US":"Question 1"}}},` +
		`"result":{"score":{"scaled":0.5},"success":true},"timestamp":"2026-11-29T10:00:00.000Z","stored":"2026-11-29T10:00:00.000Z",` +
		`"context":{"registration":"00000001-1111-4000-8000-000000000000","contextActivities":{"parent":[{"id":"https://example.com/courses/1"}]}},` +
		`"authority":{"objectType":"Agent","account":{"homePage":"http://lrs/","name":"k"}},"x":"` + strings.Repeat("p", 400) + `"}`
	e, err := event.New("00000000-0000-4000-8000-000000000001", event.TypeStatementStored, "bench", "t1",
		"mbox:mailto:learner1@example.com", time.Unix(1, 0), []byte(data))
	if err != nil {
		b.Fatal(err)
	}
	km := toKafka("s", NewMessage(event.Sign(e, key)))
	km.Offset = 42
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v    *verifier
	}{
		{"signed", &verifier{key: key}},
		{"no-key", nil},
	} {
		b.Run(fmt.Sprintf("%s/%dB", tc.name, len(data)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := fromKafka(ctx, km, tc.v)
				got, err := Event(m)
				if err != nil || got.ID != e.ID || got.Verified != (tc.v != nil) {
					b.Fatalf("Event: %v, %+v", err, got)
				}
			}
		})
	}
}

// BenchmarkReceiveRecordRoles: one signed, sealed stored statement
// received by the four roles of serve that decode statements (statements
// and progress projections, recommender, adaptive): each role's
// fromKafka, Event and statement decode. "each" is every role decoding
// for itself (one subscription per partition registered: nothing is
// kept, as before decode-once); "shared" the roles of one process
// sharing the first one's work. One op is the record received by all
// four.
func BenchmarkReceiveRecordRoles(b *testing.B) {
	const roles = 4
	keys := &epochKeys{MemoryKeys: privacy.NewMemoryKeys([]byte("0123456789abcdef0123456789abcdef"))}
	v := &verifier{key: receivedSigning, keys: keys}
	for _, tc := range []struct {
		name    string
		readers int
	}{{"each", 1}, {"shared", roles}} {
		b.Run(tc.name, func(b *testing.B) {
			topic := "bench-roles-" + tc.name
			readers(b, v, topic, tc.readers)
			// Records far enough apart that a slot holds one at a time,
			// as when the roles run close together.
			kms := make([]kafka.Message, 512)
			for i := range kms {
				kms[i] = receivedRecordOf(b, keys, topic, int64(i), fmt.Sprintf("l%d@example.com", i%50))
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				km := kms[i%len(kms)]
				km.Offset = int64(i)
				i++
				for range roles {
					e, err := Event(fromKafka(ctx, km, v))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := projections.StoredStatement(e); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
