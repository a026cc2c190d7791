package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
)

func TestDeadLettersAnswerErasures(t *testing.T) {
	pa := testSecret.Pseudonym("t1", learnerA)
	tests := []struct {
		name      string
		e         event.Event
		count     int64
		countErr  error
		answer    int64 // -1: no answer
		retryable bool
	}{
		{"an erasure with dead letters", erasedEvent(t, "x", "t1", pa), 3, nil, 3, false},
		{"an erasure without", erasedEvent(t, "x", "t1", pa), 0, nil, 0, false},
		{"the broker fails: retried, nothing recorded", erasedEvent(t, "x", "t1", pa), 0, errors.New("broker down"), -1, true},
		{"a retention is nothing to it", retentionEvent(t, "r", "t1", t0), 0, nil, -1, false},
		{"another event", progressStatement(t, "t1", learnerA, "https://example.com/a", t0), 0, nil, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := openStore(t)
			var asked []string
			p, err := NewDeadLetters(store, func(_ context.Context, tenant, pseudonym string) (int64, error) {
				asked = append(asked, tenant+"/"+pseudonym)
				return tt.count, tt.countErr
			})
			if err != nil {
				t.Fatal(err)
			}
			err = handler(p)(tt.e)
			if tt.retryable != (err != nil && event.Retryable(err)) {
				t.Fatalf("error %v, want retryable %v", err, tt.retryable)
			}
			pending, err := store.PendingErasureAnswers()
			if err != nil {
				t.Fatal(err)
			}
			if tt.answer < 0 {
				if len(pending) != 0 {
					t.Fatalf("answers %+v, want none", pending)
				}
				return
			}
			if len(asked) != 1 || asked[0] != "t1/"+pa {
				t.Errorf("counted %v", asked)
			}
			if len(pending) != 1 || pending[0].Answer.Consumer != DeadLettersName || pending[0].Answer.Removed["dead_letters"] != tt.answer {
				t.Fatalf("answers %+v, want %s with dead_letters=%d", pending, DeadLettersName, tt.answer)
			}
		})
	}
}
