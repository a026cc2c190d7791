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

// BenchmarkReadModelWrites: what the read models of the derived topics
// commit to the store per event, in fetched batches of 500, once every
// learner has a long history (the adaptive records' trajectories full):
// store-B/event is Badger's count of committed bytes over the timed
// events. 1,000 learners; 5 skills and 200 items for the adaptive model;
// access records of 10 learners each (a read of 10 statements) over a
// store of a million entries.
func BenchmarkReadModelWrites(b *testing.B) {
	const learners, skills, items, batch = 1000, 5, 200, 500
	pseudonyms := make([]string, learners)
	for i := range pseudonyms {
		pseudonyms[i] = testNames.Pseudonym("t1", fmt.Sprintf("mbox:mailto:learner%d@example.com", i))
	}
	kinds := []struct {
		name string
		open func(*Store) (*Projection, error)
		make func(i int) event.Event
		fill int // events applied before the timer, when not the adaptive histories
	}{
		{"recommendations", func(s *Store) (*Projection, error) {
			p, err := NewRecommendations(s, nil)
			if err != nil {
				return nil, err
			}
			return p.Projection, nil
		}, func(i int) event.Event {
			learner := fmt.Sprintf("mbox:mailto:learner%d@example.com", i%learners)
			d := RecommendationsUpdated{Learner: learner, ModelVersion: fmt.Sprintf("mf-k16/p%d/%d", i%4, i), BasedOn: uuid(i)}
			for r := range 10 {
				reasons := []string{"mf"}
				if r%3 == 0 {
					reasons = append(reasons, fmt.Sprintf("often_with:https://example.com/activities/%d", (i+r)%items))
				}
				d.Items = append(d.Items, Recommendation{Item: fmt.Sprintf("https://example.com/activities/%d", (i*7+r*13)%items),
					Score: 1 / float64(r+2), Rank: r + 1, Reasons: reasons})
			}
			data, _ := json.Marshal(d)
			e, err := event.New(fmt.Sprintf("r-%d", i), TypeRecommendationsUpdated, "bench", "t1", learner, t0, data)
			if err != nil {
				b.Fatal(err)
			}
			return e
		}, 0},
		{"adaptive/mastery", adaptiveProjection, func(i int) event.Event {
			pair := i % (learners * skills)
			e := masteryEvent(b, int64(i), fmt.Sprintf("learner%d", pair/skills), fmt.Sprintf("skill%d", pair%skills), 0.3+float64(i%7)/10, 0.3, i%3 != 0)
			e.ID = fmt.Sprintf("m-%d", i)
			return e
		}, 0},
		{"adaptive/difficulty", adaptiveProjection, func(i int) event.Event {
			e := difficultyEvent(b, i%4, int64(i), fmt.Sprintf("learner%d", i%learners), fmt.Sprintf("https://example.com/activities/%d", (i*31)%items), 0.1, i/items+1, i%3 != 0)
			e.ID = fmt.Sprintf("d-%d", i)
			return e
		}, 0},
		{"access-audit", func(s *Store) (*Projection, error) {
			a, err := NewAccessAudit(s)
			if err != nil {
				return nil, err
			}
			return a.Projection, nil
		}, func(i int) event.Event {
			r := privacy.AccessRecorded{ID: fmt.Sprintf("a-%d", i), Credential: "k", Route: "GET /xapi/statements", Status: 200,
				At: t0.Add(time.Duration(i) * time.Millisecond)}
			for j := range 10 {
				r.Learners = append(r.Learners, pseudonyms[(i*7+j*101)%learners])
			}
			data, _ := json.Marshal(r)
			e, err := event.New(r.ID, privacy.TypeAccessRecorded, "bench", "t1", "t1", t0, data)
			if err != nil {
				b.Fatal(err)
			}
			return e
		}, 100_000},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			p, err := k.open(openStore(b))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			next := 0
			apply := func(n int) {
				for n > 0 {
					m := min(n, batch)
					pos := make([]event.Position, m)
					evs := make([]event.Event, m)
					for j := range m {
						pos[j] = event.Position{Topic: "bench", Partition: 0, Offset: int64(next)}
						evs[j] = k.make(next)
						next++
					}
					if got, err := p.HandleBatch(ctx, pos, evs); err != nil || got != m {
						b.Fatalf("applied %d of %d: %v", got, m, err)
					}
					n -= m
				}
			}
			// Long histories first: every learner-skill pair past
			// TrajectoryLen attempts.
			if k.fill > 0 {
				apply(k.fill)
			} else {
				apply(learners * skills * TrajectoryLen)
			}
			written := WrittenBytes()["commit"]
			b.ResetTimer()
			apply(b.N)
			b.StopTimer()
			b.ReportMetric((WrittenBytes()["commit"]-written)/float64(b.N), "store-B/event")
		})
	}
}

func adaptiveProjection(s *Store) (*Projection, error) {
	a, err := NewAdaptive(s, 0.9)
	if err != nil {
		return nil, err
	}
	return a.Projection, nil
}
