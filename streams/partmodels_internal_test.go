package streams

import (
	"testing"
	"time"
)

func TestCkptDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cases := []struct {
		name  string
		since int
		last  time.Time
		cost  time.Duration
		busy  time.Duration
		size  int // bytes of the last checkpoint
		want  bool
	}{
		{"nothing yet", 10, ago(time.Second), 0, time.Second, 0, false},
		{"enough events, cheap checkpoints", 5000, ago(100 * time.Millisecond), time.Millisecond, 90 * time.Millisecond, 0, true},
		{"interval passed", 1, ago(6 * time.Second), time.Millisecond, 10 * time.Millisecond, 0, true},
		{"enough events but the last cost is not paid back", 5000, ago(time.Second), 500 * time.Millisecond, time.Second, 0, false},
		{"enough events and nine times the cost spent learning", 5000, ago(4500 * time.Millisecond), 500 * time.Millisecond, 4500 * time.Millisecond, 0, true},
		{"interval passed but a 2 s checkpoint waits 18 s of work", 100, ago(10 * time.Second), 2 * time.Second, 10 * time.Second, 0, false},
		{"a starved consumer: 18 s of wall time but 4 s of work", 100, ago(18 * time.Second), 2 * time.Second, 4 * time.Second, 0, false},
		{"after 18 s of work a 2 s checkpoint is due", 100, ago(40 * time.Second), 2 * time.Second, 18 * time.Second, 0, true},
		{"a 2.5 MB checkpoint waits for 10,000 events", 5000, ago(time.Minute), time.Millisecond, time.Second, 2500 << 10, false},
		{"a 2.5 MB checkpoint after 10,000 events", 10000, ago(time.Minute), time.Millisecond, time.Second, 2500 << 10, true},
		{"a small checkpoint: the event count", 5000, ago(time.Second), time.Millisecond, time.Second, 100 << 10, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ckptDue(tc.since, 5000, tc.last, 5*time.Second, tc.cost, tc.busy, tc.size, now); got != tc.want {
				t.Errorf("ckptDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIdleCkptDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cases := []struct {
		name            string
		lastBatch, last time.Time
		cost            time.Duration
		want            bool
	}{
		{"idle, cheap checkpoints", ago(6 * time.Second), ago(5 * time.Second), time.Millisecond, true},
		{"idle, a 1 s checkpoint 5 s ago waits", ago(6 * time.Second), ago(5 * time.Second), time.Second, false},
		{"idle, a 1 s checkpoint 9 s ago", ago(6 * time.Second), ago(9 * time.Second), time.Second, true},
		{"batches coming, cheap checkpoints: the interval", ago(time.Millisecond), ago(5 * time.Second), time.Millisecond, true},
		{"batches coming, within the interval", ago(time.Millisecond), ago(4 * time.Second), time.Millisecond, false},
		{"batches coming, a 1 s checkpoint 30 s ago waits", ago(time.Millisecond), ago(30 * time.Second), time.Second, false},
		{"batches coming, a 1 s checkpoint 36 s ago", ago(time.Millisecond), ago(36 * time.Second), time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := idleCkptDue(tc.lastBatch, tc.last, 5*time.Second, tc.cost, now); got != tc.want {
				t.Errorf("idleCkptDue = %v, want %v", got, tc.want)
			}
		})
	}
}
