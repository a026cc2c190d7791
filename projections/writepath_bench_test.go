package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

// The write path of each read model as the consumers drive it: batches of
// writeBatch events from one partition through HandleBatch (one
// transaction each), over a population shaped like bench ingest's (1,000
// learners, 200 activities with a skewed popularity, scored verbs a third
// of the time). The store holds writePrefill events of the same stream
// first, so that reads go past the memtables into the levels, as in a
// running install. Each reports events per CPU-second of the whole process,
// Badger's background work included, which is what the consumers compete
// for on a loaded machine:
//
//	go test -run '^$' -bench WritePath -benchtime 20000x -count 5 ./projections
const (
	writeBatch   = 100
	writePrefill = 50_000
)

// The population drawn from (a case may change it while it builds its
// events).
var writeLearners, writeActivities = 1000, 200

func openProgress(s *Store) (*Projection, error) {
	p, err := NewProgress(s)
	if err != nil {
		return nil, err
	}
	return p.Projection, nil
}

func BenchmarkWritePath(b *testing.B) {
	cases := []struct {
		name   string
		open   func(*Store) (*Projection, error)
		events func(n int) []event.Event
	}{
		{"statements", func(s *Store) (*Projection, error) {
			p, err := NewStatements(s, nil)
			if err != nil {
				return nil, err
			}
			return p.Projection, nil
		}, func(n int) []event.Event { return writeStatements(b, n) }},
		{"progress", openProgress, func(n int) []event.Event { return writeStatements(b, n) }},
		// Learners coming back to the same activities: 100 learners, 20
		// activities.
		{"progress-returning", openProgress, func(n int) []event.Event {
			defer func(l, a int) { writeLearners, writeActivities = l, a }(writeLearners, writeActivities)
			writeLearners, writeActivities = 100, 20
			return writeStatements(b, n)
		}},
		{"adaptive", func(s *Store) (*Projection, error) {
			p, err := NewAdaptive(s, 0)
			if err != nil {
				return nil, err
			}
			return p.Projection, nil
		}, func(n int) []event.Event { return writeAdaptive(b, n) }},
		{"recommendations", func(s *Store) (*Projection, error) {
			p, err := NewRecommendations(s, nil)
			if err != nil {
				return nil, err
			}
			return p.Projection, nil
		}, func(n int) []event.Event { return writeRecommendations(b, n) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			store := openStore(b)
			p, err := c.open(store)
			if err != nil {
				b.Fatal(err)
			}
			all := c.events(writePrefill + b.N)
			pos := make([]event.Position, len(all))
			for i := range pos {
				pos[i] = event.Position{Topic: "t", Partition: 0, Offset: int64(i)}
			}
			ctx := context.Background()
			for i := 0; i < writePrefill; i += writeBatch {
				if _, err := p.HandleBatch(ctx, pos[i:i+writeBatch], all[i:i+writeBatch]); err != nil {
					b.Fatal(err)
				}
			}
			evs, pos := all[writePrefill:], pos[writePrefill:]
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < len(evs); i += writeBatch {
				j := min(i+writeBatch, len(evs))
				if n, err := p.HandleBatch(ctx, pos[i:j], evs[i:j]); err != nil || n != j-i {
					b.Fatalf("HandleBatch = %d, %v", n, err)
				}
			}
			cpu := processCPU() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e3, "cpu-µs/event")
		})
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type writeDraw struct {
	learner, activity int
	verb              string
	scored            bool
	score             float64
}

func drawWrite(rng *rand.Rand) writeDraw {
	d := writeDraw{learner: rng.IntN(writeLearners), activity: int(float64(writeActivities) * rng.Float64() * rng.Float64())}
	switch n := rng.IntN(100); {
	case n < 40:
		d.verb = "experienced"
	case n < 55:
		d.verb = "attempted"
	case n < 75:
		d.verb, d.scored = "answered", true
	case n < 85:
		d.verb = "completed"
	case n < 93:
		d.verb, d.scored = "passed", true
	default:
		d.verb, d.scored = "failed", true
	}
	d.score = float64(rng.IntN(101)) / 100
	return d
}

// writeStatements returns n statements stored by the LRS (verified
// events), each with a fresh id and registration.
func writeStatements(b *testing.B, n int) []event.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		d := drawWrite(rng)
		stored := at.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		result := ""
		if d.scored {
			result = fmt.Sprintf(`,"result":{"score":{"scaled":%v,"raw":%d,"min":0,"max":100},"success":%v,"completion":true,"duration":"PT%dS"}`,
				d.score, int(d.score*100), d.verb != "failed" && d.score >= 0.5, 30+i%600)
		}
		data := fmt.Sprintf(`{"id":"%s","actor":{"objectType":"Agent","name":"Learner %d","mbox":"mailto:learner%d@example.com"},`+
			`"verb":{"id":"http://adlnet.gov/expapi/verbs/%s","display":{"en-US":"%s"}},`+
			`"object":{"objectType":"Activity","id":"https://example.com/activities/%d","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":"Lesson %d"},"description":{"en-US":"A lesson of the load test catalogue, with a description of typical length."}}}%s,`+
			`"context":{"registration":"%s","platform":"learnstream bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/%d"}],"category":[{"objectType":"Activity","id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}},`+
			`"timestamp":"%s","stored":"%s","authority":{"objectType":"Agent","account":{"homePage":"https://lrs.example.com","name":"bench"}},"version":"1.0.3"}`,
			writeUUID(1, i), d.learner, d.learner, d.verb, d.verb, d.activity, d.activity, result,
			writeUUID(2, i), d.activity/10, stored, stored)
		e, err := event.New("e"+strconv.Itoa(i), event.TypeStatementStored, "bench", "t1",
			fmt.Sprintf("mbox:mailto:learner%d@example.com", d.learner), at, []byte(data))
		if err != nil {
			b.Fatal(err)
		}
		e.Verified = true
		evs[i] = e
	}
	return evs
}

func writeUUID(kind, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i) }

// writeAdaptive returns n events of the adaptive topic as the adaptive
// consumer publishes them for scored statements: a DifficultyAdjusted
// and a MasteryUpdated per attempt.
func writeAdaptive(b *testing.B, n int) []event.Event {
	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	evs := make([]event.Event, 0, n)
	for i := 0; len(evs) < n; i++ {
		d := drawWrite(rng)
		learner := fmt.Sprintf("p%06d", d.learner)
		item := fmt.Sprintf("https://example.com/activities/%d", d.activity)
		skill := fmt.Sprintf("skill-%d", d.activity%20)
		when := at.Add(time.Duration(i) * time.Millisecond)
		correct := d.score >= 0.5
		var data any = DifficultyAdjusted{Item: item, Skill: skill, Difficulty: 0.1, PreviousDifficulty: 0.09, Learner: learner,
			Ability: 0.2, Expected: 0.6, Correct: correct, Statement: writeUUID(1, i), At: when, Skills: []string{skill},
			Score: d.score, ExpectedElo: 0.6, ExpectedBKT: 0.5, ItemAttempts: i, InputOffset: int64(i)}
		typ := TypeDifficultyAdjusted
		if i%2 == 1 {
			data = MasteryUpdated{Learner: learner, Skill: skill, PMastery: 0.7, PPrevious: 0.6, Item: item, Statement: writeUUID(1, i),
				Correct: correct, At: when, Score: d.score, Ability: 0.3, GlobalAbility: 0.2, Attempts: i, RecentSuccess: 0.5,
				RecentAttempts: 3, InputOffset: int64(i)}
			typ = TypeMasteryUpdated
		}
		raw, err := json.Marshal(data)
		if err != nil {
			b.Fatal(err)
		}
		e, err := event.New("a"+strconv.Itoa(i), typ, "bench", "t1", learner, when, raw)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, e)
	}
	return evs
}

// writeRecommendations returns n RecommendationsUpdated events of ten
// items each.
func writeRecommendations(b *testing.B, n int) []event.Event {
	rng := rand.New(rand.NewPCG(5, 6))
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		d := drawWrite(rng)
		r := RecommendationsUpdated{Learner: fmt.Sprintf("p%06d", d.learner), ModelVersion: "als-1", BasedOn: writeUUID(1, i)}
		for k := range 10 {
			r.Items = append(r.Items, Recommendation{Item: fmt.Sprintf("https://example.com/activities/%d", (d.activity+k*7)%writeActivities),
				Score: 1 - float64(k)/10, Rank: k + 1, Reasons: []string{"similar_learners"}})
		}
		raw, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		e, err := event.New("r"+strconv.Itoa(i), TypeRecommendationsUpdated, "bench", "t1", r.Learner, at.Add(time.Duration(i)*time.Millisecond), raw)
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = e
	}
	return evs
}
