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
		want  bool
	}{
		{"nothing yet", 10, ago(time.Second), 0, time.Second, false},
		{"enough events, cheap checkpoints", 5000, ago(100 * time.Millisecond), time.Millisecond, 90 * time.Millisecond, true},
		{"interval passed", 1, ago(6 * time.Second), time.Millisecond, 10 * time.Millisecond, true},
		{"enough events but the last cost is not paid back", 5000, ago(time.Second), 500 * time.Millisecond, time.Second, false},
		{"enough events and nine times the cost spent learning", 5000, ago(4500 * time.Millisecond), 500 * time.Millisecond, 4500 * time.Millisecond, true},
		{"interval passed but a 2 s checkpoint waits 18 s of work", 100, ago(10 * time.Second), 2 * time.Second, 10 * time.Second, false},
		{"a starved consumer: 18 s of wall time but 4 s of work", 100, ago(18 * time.Second), 2 * time.Second, 4 * time.Second, false},
		{"after 18 s of work a 2 s checkpoint is due", 100, ago(40 * time.Second), 2 * time.Second, 18 * time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ckptDue(tc.since, 5000, tc.last, 5*time.Second, tc.cost, tc.busy, now); got != tc.want {
				t.Errorf("ckptDue = %v, want %v", got, tc.want)
			}
		})
	}
}
