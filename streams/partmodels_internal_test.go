package streams

import (
	"testing"
	"time"

	"github.com/learnstream/learnstream/projections"
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
		want, stopped   bool // stopped: the checkpoint writes every partition
	}{
		{"idle, cheap checkpoints", ago(6 * time.Second), ago(5 * time.Second), time.Millisecond, true, true},
		{"idle, a 1 s checkpoint 5 s ago waits", ago(6 * time.Second), ago(5 * time.Second), time.Second, false, true},
		{"idle, a 1 s checkpoint 9 s ago", ago(6 * time.Second), ago(9 * time.Second), time.Second, true, true},
		{"batches coming, cheap checkpoints: the interval", ago(time.Millisecond), ago(5 * time.Second), time.Millisecond, true, false},
		{"batches coming, within the interval", ago(time.Millisecond), ago(4 * time.Second), time.Millisecond, false, false},
		{"batches coming, a 1 s checkpoint 30 s ago waits", ago(time.Millisecond), ago(30 * time.Second), time.Second, false, false},
		{"batches coming, a 1 s checkpoint 36 s ago", ago(time.Millisecond), ago(36 * time.Second), time.Second, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, stopped := idleCkptDue(tc.lastBatch, tc.last, 5*time.Second, tc.cost, now); got != tc.want || stopped != tc.stopped {
				t.Errorf("idleCkptDue = %v, stopped %v; want %v, %v", got, stopped, tc.want, tc.stopped)
			}
		})
	}
}

// savedCheckpoints records what each Save wrote.
type savedCheckpoints struct{ saves []map[int]int64 }

func (s *savedCheckpoints) Load(string, int) (projections.PartitionCheckpoint, bool, error) {
	return projections.PartitionCheckpoint{}, false, nil
}

func (s *savedCheckpoints) Save(_ string, cps map[int]projections.PartitionCheckpoint, _ ...projections.PendingAnswer) error {
	w := map[int]int64{}
	for part, cp := range cps {
		w[part] = cp.Next
	}
	s.saves = append(s.saves, w)
	return nil
}

// A periodic checkpoint writes one partition with its own offset: of the
// partitions that applied events since their checkpoint, the one written
// longest ago, round robin. A checkpoint of every partition (an erasure's,
// Close's) and one with erasure answers write them all.
func TestPeriodicCheckpointsWriteOnePartition(t *testing.T) {
	ck := &savedCheckpoints{}
	p := &partModels[int]{name: "test", consumer: "test", topic: "s", ckpts: ck,
		fresh: func() int { return 0 }, snapshot: func(int) ([]byte, error) { return []byte("m"), nil }}
	for part := range 4 {
		ps, err := p.part(part)
		if err != nil {
			t.Fatal(err)
		}
		p.tenant(ps, "t1")
		ps.next = int64(10 * (part + 1))
	}
	save := func(all bool, answers ...projections.PendingAnswer) map[int]int64 {
		t.Helper()
		if _, err := p.save(p.toWrite(all, len(answers)), answers...); err != nil {
			t.Fatal(err)
		}
		return ck.saves[len(ck.saves)-1]
	}
	for want := range 4 {
		if got := save(false); len(got) != 1 || got[want] != int64(10*(want+1)) {
			t.Fatalf("periodic checkpoint %d wrote %v, want partition %d at %d", want, got, want, 10*(want+1))
		}
	}
	if p.dirty() {
		t.Error("every partition written, still dirty")
	}
	p.parts[2].next = 35
	if !p.dirty() {
		t.Error("partition 2 applied events, not dirty")
	}
	if got := save(false); len(got) != 1 || got[2] != 35 {
		t.Errorf("only partition 2 applied events: wrote %v, want partition 2 at 35", got)
	}
	if got := save(false); len(got) != 1 || got[0] != 10 {
		t.Errorf("nothing new: wrote %v, want the oldest, partition 0", got)
	}
	if got := save(true); len(got) != 4 {
		t.Errorf("a checkpoint of every partition wrote %v", got)
	}
	if got := save(false, projections.PendingAnswer{}); len(got) != 4 {
		t.Errorf("a checkpoint with erasure answers wrote %v, want every partition", got)
	}
}
