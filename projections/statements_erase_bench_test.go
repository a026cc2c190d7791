package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// BenchmarkEraseLearnerStatements erases one learner with 200 statements
// of their own from a store of 100 learners' 20 000 statements, the
// learner being instructor in a few (99) or many (9 900) of the others'
// (go test -bench EraseLearnerStatements -benchtime 3x ./projections).
func BenchmarkEraseLearnerStatements(b *testing.B) {
	for _, every := range []int{200, 2} {
		b.Run(fmt.Sprintf("instructor_every_%d", every), func(b *testing.B) { benchEraseLearner(b, every) })
	}
}

func benchEraseLearner(b *testing.B, every int) {
	ctx := context.Background()
	secret := privacy.Secret("s")
	const learners, each = 100, 200
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		s.SetPseudonyms(secret)
		p, err := NewStatements(s, nil)
		if err != nil {
			b.Fatal(err)
		}
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		var pos []event.Position
		var evs []event.Event
		for i := range learners * each {
			l := i % learners
			instructor := ""
			if l != 0 && i%every == every-1 {
				instructor = `,"context":{"instructor":{"mbox":"mailto:l0@example.com"}}`
			}
			st := fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:l%d@example.com","name":"L %d"},"verb":{"id":"http://x/v"},"object":{"id":"https://x/a%d"},"stored":%q,"timestamp":%q,"version":"1.0.0"%s}`,
				uuid(i+1), l, l, i%50, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), instructor)
			e, _ := event.New(fmt.Sprint(i), event.TypeStatementStored, "b", "t1", fmt.Sprintf("mbox:mailto:l%d@example.com", l), at, []byte(st))
			pos = append(pos, event.Position{Topic: "s", Offset: int64(i)})
			evs = append(evs, e)
			if len(evs) == 500 {
				if _, err := p.HandleBatch(ctx, pos, evs); err != nil {
					b.Fatal(err)
				}
				pos, evs = pos[:0], evs[:0]
			}
		}
		ps := secret.Pseudonym("t1", "mbox:mailto:l0@example.com")
		le, _ := json.Marshal(privacy.LearnerErased{Erasure: "e", Pseudonym: ps})
		e, _ := event.New("le", privacy.TypeLearnerErased, "b", "t1", ps, at, le)
		b.StartTimer()
		if err := p.Handle(ctx, event.Position{Topic: "s", Offset: learners * each}, e); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n, _ := p.Count(ctx, "t1"); n != learners*each-each {
			b.Fatalf("%d statements left, want %d", n, learners*each-each)
		}
		s.Close()
		b.StartTimer()
	}
}
