package streams

import (
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/projections"
)

func TestSecondsBehind(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// Partition 0 grows by 1000 a second from 0; partition 1 is idle at 50.
	hist := []endSample{
		{at(0), map[int]int64{0: 0, 1: 50}},
		{at(1), map[int]int64{0: 1000, 1: 50}},
		{at(2), map[int]int64{0: 2000, 1: 50}},
		{at(3), map[int]int64{0: 3000, 1: 50}},
	}
	now := at(3)
	cases := []struct {
		name      string
		hist      []endSample
		partition int
		next      int64
		want      float64
	}{
		{"caught up", hist, 0, 3000, 0},
		{"beyond the end (a stale measurement)", hist, 0, 3500, 0},
		{"idle partition caught up", hist, 1, 50, 0},
		{"half a second of input behind", hist, 0, 2500, 0.4995},
		{"two seconds behind", hist, 0, 1000, 1.9995},
		{"the first event of the history", hist, 0, 0, 2.9995},
		{"older than the history", hist[2:], 0, 500, 1},
		{"no history", nil, 0, 10, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := secondsBehind(tc.hist, tc.partition, tc.next, now); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("secondsBehind = %.6f, want %.6f", got, tc.want)
			}
		})
	}
}

func TestKeepEnds(t *testing.T) {
	mk := func(ends ...int64) []endSample {
		var h []endSample
		for i, e := range ends {
			h = append(h, endSample{at: time.Unix(int64(i), 0), ends: map[int]int64{0: e, 1: 2 * e}})
		}
		return h
	}
	cases := []struct {
		name  string
		hist  []endSample
		next  map[int]int64
		first int64 // partition 0's end in the first sample kept
		n     int
	}{
		{"caught up keeps the last", mk(0, 10, 20, 30), map[int]int64{0: 30, 1: 60}, 30, 1},
		{"keeps the sample at or below next", mk(0, 10, 20, 30), map[int]int64{0: 15, 1: 60}, 10, 3},
		{"the slowest partition decides", mk(0, 10, 20, 30), map[int]int64{0: 25, 1: 5}, 0, 4},
		{"exactly at a sample", mk(0, 10, 20, 30), map[int]int64{0: 20, 1: 40}, 20, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := keepEnds(tc.hist, tc.next)
			if len(got) != tc.n || got[0].ends[0] != tc.first {
				t.Errorf("kept %d samples from end %d, want %d from %d", len(got), got[0].ends[0], tc.n, tc.first)
			}
			// What is kept still answers as the whole history did.
			full := mk(0, 10, 20, 30)
			now := time.Unix(3, 0)
			for p, n := range tc.next {
				if a, b := secondsBehind(got, p, n, now), secondsBehind(full, p, n, now); a != b {
					t.Errorf("partition %d at %d: %.3fs behind after pruning, %.3fs before", p, n, a, b)
				}
			}
		})
	}
	long := make([]endSample, maxEndSamples+10)
	for i := range long {
		long[i] = endSample{at: time.Unix(int64(i), 0), ends: map[int]int64{0: int64(i)}}
	}
	if got := keepEnds(long, map[int]int64{0: 0}); len(got) != maxEndSamples {
		t.Errorf("kept %d samples of a lag older than the bound, want %d", len(got), maxEndSamples)
	}
}

// The delay runs from the statement's write to the log when that is known
// (a stored time may lead the clock under many writes a second: measured
// from it, the delay would read as nothing), from the event's time
// otherwise, and only events derived from statements count.
func TestObserveDerivedCountsOnlyStatementEvents(t *testing.T) {
	count := func(name string) (uint64, float64) {
		var m dto.Metric
		if err := derivedDelay.WithLabelValues(name).(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}
	now := time.Now()
	mk := func(typ string, stored time.Time) event.Event {
		e, err := event.New("id", typ, "test", "t1", "k", stored, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	evs := []event.Event{
		mk(projections.TypeRecommendationsUpdated, now.Add(-300*time.Millisecond)), // logged time unknown
		mk(projections.TypeMasteryUpdated, now.Add(80*time.Millisecond)),           // stored ahead of the clock
		mk(projections.TypeDifficultyAdjusted, now.Add(-time.Second)),
		mk(projections.TypeMasteryUpdated, now.Add(-time.Second)),
	}
	logged := []time.Time{{}, now.Add(-20 * time.Millisecond), now.Add(-time.Second), now.Add(-40 * time.Millisecond)}
	recN, recSum := count("recommendations_updated")
	masN, masSum := count("mastery_updated")
	observeDerived(evs, func(i int) time.Time { return logged[i] }, now)
	n, sum := count("recommendations_updated")
	if n-recN != 1 || math.Abs(sum-recSum-0.3) > 1e-6 {
		t.Errorf("recommendations_updated: %d more observations summing %.3fs, want 1 of 0.3s (from the event's time)", n-recN, sum-recSum)
	}
	if n, sum := count("mastery_updated"); n-masN != 2 || math.Abs(sum-masSum-0.06) > 1e-6 {
		t.Errorf("mastery_updated: %d more observations summing %.3fs, want 2 summing 0.06s (from the log times)", n-masN, sum-masSum)
	}
}
