package streams

import (
	"bytes"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
)

// Only the transport marks an event Verified, after its signature checked
// out under the cluster's key: a header claiming it proves nothing.
func TestOnlyAVerifiedSignatureMarksAnEventVerified(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, event.MinKeyBytes)
	e, err := event.New("e1", event.TypeStatementStored, "test", "t1", "ada", time.Unix(1, 0), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	record := func(e event.Event, extra ...kafka.Header) kafka.Message {
		km := toKafka("s", NewMessage(e))
		km.Headers = append(km.Headers, extra...)
		return km
	}
	spoof := kafka.Header{Key: MetaVerified, Value: []byte("true")}
	signed := event.Sign(e, key)
	for _, tc := range []struct {
		name         string
		km           kafka.Message
		v            *verifier
		wantVerified bool
		wantRejected bool
	}{
		{"signed, checked under the key", record(signed), &verifier{key: key}, true, false},
		{"signed, no key to check with", record(signed), nil, false, false},
		{"signed, no key, header claims verified", record(signed, spoof), nil, false, false},
		{"unsigned older than signing, header claims verified", record(e, spoof),
			&verifier{key: key, below: map[string]map[int]int64{"s": {0: 1}}}, false, false},
		{"signed with another key", record(event.Sign(e, bytes.Repeat([]byte{1}, event.MinKeyBytes)), spoof),
			&verifier{key: key}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Event(fromKafka(t.Context(), tc.km, tc.v))
			if tc.wantRejected != (err != nil) {
				t.Fatalf("Event: %v, want rejected %v", err, tc.wantRejected)
			}
			if got.Verified != tc.wantVerified {
				t.Errorf("Verified = %v, want %v", got.Verified, tc.wantVerified)
			}
		})
	}
}
