package projections

import (
	"context"
	"time"
)

// ConsistentThrough returns the latest time that
// X-Experience-API-Consistent-Through may name: every statement stored at
// or before it that this process can know of is readable. It is the
// minimum over the partitions of topic of what each holds:
//
//   - a write of this process still in flight (published, neither applied
//     nor parked) holds every partition back to just before its stored
//     time, whether or not its writer stopped waiting;
//   - a partition whose applied offset is short of its end offset in ends
//     (as last measured; other processes' writes, or a restart's backlog)
//     holds back to just before the last event this process applied from
//     it, or to the zero time when it applied none yet;
//   - any other partition holds everything up to now.
//
// ends == nil means no measurement is wired (a single process whose every
// write is held): only the holds count. ok == false means the end offsets
// are not known yet (before the first measurement): nothing is claimed.
func (p *Statements) ConsistentThrough(ctx context.Context, now time.Time, topic string, ends map[int]int64, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	through := now
	if held, ok := p.waiters.OldestHeld(); ok && !held.After(through) {
		through = held.Add(-time.Nanosecond)
	}
	for part, end := range ends {
		next, _, err := p.NextOffset(ctx, topic, part)
		if err != nil {
			return time.Time{} // the store cannot say: claim nothing
		}
		if next >= end {
			continue
		}
		at, ok := p.AppliedTime(topic, part)
		if !ok {
			return time.Time{}
		}
		if at = at.Add(-time.Nanosecond); at.Before(through) {
			through = at
		}
	}
	return through
}
