package analytics

import "time"

// Batcher accumulates rows for one insert round, bounded by row count, by
// estimated bytes, and by the age of its oldest row. It does no IO and starts
// no goroutines: the sink consumer adds rows, asks Full or Due, and Takes
// the batch to write it. Not safe for concurrent use.
type Batcher struct {
	maxRows  int
	maxBytes int
	maxWait  time.Duration
	now      func() time.Time

	rows  []Row
	bytes int
	since time.Time // when the oldest row in the batch was added
}

// BatcherConfig bounds a batch. Zero fields take the defaults.
type BatcherConfig struct {
	MaxRows  int           // default 10000
	MaxBytes int           // default 16 MiB (estimated with Row.Size)
	MaxWait  time.Duration // default 1s
	// Now is the clock; default time.Now. Tests pin it.
	Now func() time.Time
}

// NewBatcher returns an empty batcher.
func NewBatcher(c BatcherConfig) *Batcher {
	if c.MaxRows <= 0 {
		c.MaxRows = 10000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	if c.MaxWait <= 0 {
		c.MaxWait = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Batcher{maxRows: c.MaxRows, maxBytes: c.MaxBytes, maxWait: c.MaxWait, now: c.Now,
		rows: make([]Row, 0, c.MaxRows)}
}

// Add appends rows. The first row of an empty batch starts its age.
func (b *Batcher) Add(rows ...Row) {
	if len(rows) == 0 {
		return
	}
	if len(b.rows) == 0 {
		b.since = b.now()
	}
	for _, r := range rows {
		b.rows = append(b.rows, r)
		b.bytes += r.Size()
	}
}

// Len is the number of rows waiting.
func (b *Batcher) Len() int { return len(b.rows) }

// Full reports whether the batch reached its row or byte bound.
func (b *Batcher) Full() bool { return len(b.rows) >= b.maxRows || b.bytes >= b.maxBytes }

// Due reports whether the batch is non-empty and its oldest row has waited
// MaxWait by now, or the batch is Full.
func (b *Batcher) Due(now time.Time) bool {
	if len(b.rows) == 0 {
		return false
	}
	return b.Full() || !now.Before(b.since.Add(b.maxWait))
}

// Deadline is when the current batch becomes Due by age; zero when empty.
// The consumer can use it to arm a timer while it waits for records.
func (b *Batcher) Deadline() time.Time {
	if len(b.rows) == 0 {
		return time.Time{}
	}
	return b.since.Add(b.maxWait)
}

// Rows returns the pending rows in the order added without removing them,
// so a write that fails leaves them for the next attempt. The slice is the
// batcher's: do not modify it, and do not keep it past the next Add or Take.
func (b *Batcher) Rows() []Row { return b.rows }

// Take returns the rows in the order added and empties the batcher.
func (b *Batcher) Take() []Row {
	rows := b.rows
	b.rows = make([]Row, 0, b.maxRows)
	b.bytes = 0
	b.since = time.Time{}
	return rows
}
