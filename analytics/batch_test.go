package analytics

import (
	"testing"
	"time"
)

func TestBatcherBounds(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBatcher(BatcherConfig{MaxRows: 3, MaxBytes: 1 << 20, MaxWait: time.Second, Now: func() time.Time { return now }})
	if b.Full() || b.Due(now.Add(time.Hour)) || !b.Deadline().IsZero() {
		t.Fatal("an empty batch is never full or due")
	}
	b.Add(Statement{StatementID: "1"})
	now = now.Add(500 * time.Millisecond) // the age counts from the first row
	b.Add(Statement{StatementID: "2"})
	if b.Full() || b.Due(now) || b.Due(now.Add(499*time.Millisecond)) || !b.Due(now.Add(500*time.Millisecond)) {
		t.Fatal("age bound")
	}
	if want := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC); !b.Deadline().Equal(want) {
		t.Fatalf("deadline %v", b.Deadline())
	}
	b.Add(Statement{StatementID: "3"})
	if !b.Full() || !b.Due(now) {
		t.Fatal("row bound")
	}
	rows := b.Take()
	if len(rows) != 3 || rows[0].(Statement).StatementID != "1" || rows[2].(Statement).StatementID != "3" || b.Len() != 0 || b.Full() {
		t.Fatalf("take: %v", rows)
	}
	b.Add(Statement{Raw: string(make([]byte, 1<<20))})
	if !b.Full() {
		t.Fatal("byte bound")
	}
}
