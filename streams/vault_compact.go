package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// compactMu keeps one compaction or rotation per process at a time.
var compactMu sync.Mutex

// requestCompact asks the maintenance goroutine to look at the store.
func (v *Vault) requestCompact() { v.signalMaintain() }

func (v *Vault) signalMaintain() {
	select {
	case v.compactReq <- struct{}{}:
	default:
	}
}

// dirtyLocked reports whether the topic holds records that are not the
// latest record of a live key: tombstones, destroyed keys, superseded
// wraps, pads.
func (v *Vault) dirtyLocked() bool {
	n := len(v.live) + v.keptTombstonesLocked(-1)
	if v.secret != nil {
		n++
	}
	return len(v.offsets) > n
}

// keptTombstonesLocked counts the tombstones compaction keeps (destroyed
// within TombstoneRetention); with before >= 0, those of them that sit
// before that offset.
func (v *Vault) keptTombstonesLocked(before int64) int {
	n := 0
	cut := time.Now().Add(-TombstoneRetention)
	for _, t := range v.dead {
		if t.at.After(cut) && (before < 0 || t.offset < before) {
			n++
		}
	}
	return n
}

// maintain writes the tombstones of revived keys and, with Compact,
// compacts the topic after destroys; it runs until ctx ends.
func (v *Vault) maintain(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.compactReq:
		}
		if err := v.retombstone(ctx); err != nil && ctx.Err() == nil {
			v.log.Warn("key store: write tombstones again", "err", err)
		}
		if !v.cfg.Compact {
			continue
		}
		if !sleep(ctx, v.cfg.CompactDelay) {
			return
		}
		if err := v.Compact(ctx); err != nil && ctx.Err() == nil {
			v.log.Warn("key store: compaction failed; the next destroy or restart tries again", "err", err)
		}
	}
}

// retombstone writes again the tombstone of every destroyed key a later
// record revived in the log.
func (v *Vault) retombstone(ctx context.Context) error {
	v.mu.Lock()
	var recs []kafka.Record
	for k := range v.retomb {
		recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(k))})
	}
	clear(v.retomb)
	v.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	_, err := v.produce(ctx, recs...)
	return err
}

// Compact removes from the topic, physically, every record that is not
// the latest record of a live key: destroyed keys (and their tombstones),
// wraps under retired master keys. This is what makes a destroyed key
// gone from the broker's disks, not only from the vault's memory.
//
// It is crash-safe by construction: it writes pads of one segment (so
// that what follows starts a new segment), copies every live record after
// it (acks=all), reads to the end to check that every live key has a
// record at or after the first copy (copying stragglers another process
// wrote meanwhile, and writing again the tombstone of a key another
// process destroyed meanwhile), and only then deletes the records before
// the first copy (DeleteRecords), which removes whole segment files. At
// every moment every live key is on disk at least once; a crash leaves at
// worst duplicates, which the next compaction removes. The broker's own
// cleaner is not used: the embedded broker's rewrites a partition in
// place, and a crash in the middle would lose the store.
func (v *Vault) Compact(ctx context.Context) error {
	compactMu.Lock()
	defer compactMu.Unlock()
	if err := v.catchUp(ctx); err != nil {
		return err
	}
	if err := v.retombstone(ctx); err != nil {
		return err
	}
	v.mu.Lock()
	dirty := v.dirtyLocked()
	v.mu.Unlock()
	if !dirty {
		return nil
	}
	// Two pads of almost a segment each: a batch may not exceed a
	// segment, and together they fill the current one whatever it held,
	// so that the copies start a segment of their own (Apache Kafka rolls
	// before a batch that would overflow, the embedded broker after one
	// that did).
	pad := make([]byte, max(v.cfg.SegmentBytes-4096, 1))
	for range 2 {
		if _, err := v.produce(ctx, kafka.Record{Key: kafka.NewBytes([]byte(keyPad)), Value: kafka.NewBytes(pad)}); err != nil {
			return fmt.Errorf("key store: compact: pad: %w", err)
		}
	}
	copyStart := int64(-1)
	for round := 0; ; round++ {
		if round == 10 {
			return errors.New("key store: compact: the store keeps changing under the copy; try again")
		}
		if err := v.catchUp(ctx); err != nil {
			return err
		}
		before := func(off int64) bool { return copyStart < 0 || off < copyStart }
		v.mu.Lock()
		var stale []*vaultEntry
		for _, e := range v.live {
			if before(e.offset) {
				stale = append(stale, e)
			}
		}
		if v.secret != nil && before(v.secret.offset) {
			stale = append(stale, v.secret)
		}
		// Recent tombstones move with the live records, so that a process
		// lagging behind this compaction still meets them.
		var tombs []kafka.Record
		cut := time.Now().Add(-TombstoneRetention)
		for k, d := range v.dead {
			if d.at.After(cut) && before(d.offset) {
				tombs = append(tombs, kafka.Record{Key: kafka.NewBytes([]byte(k))})
			}
		}
		retomb := len(v.retomb) > 0
		v.mu.Unlock()
		if retomb {
			if err := v.retombstone(ctx); err != nil {
				return err
			}
			continue
		}
		if len(stale) == 0 && len(tombs) == 0 {
			break
		}
		sort.Slice(stale, func(i, j int) bool { return stale[i].offset < stale[j].offset })
		recs := make([]kafka.Record, 0, len(stale)+len(tombs))
		for _, e := range stale {
			recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(e.recordKey)), Value: kafka.NewBytes(e.raw)})
		}
		recs = append(recs, tombs...)
		for len(recs) > 0 {
			n := min(len(recs), 500)
			base, err := v.produce(ctx, recs[:n]...)
			if err != nil {
				return fmt.Errorf("key store: compact: copy: %w", err)
			}
			if copyStart < 0 {
				copyStart = base
			}
			recs = recs[n:]
		}
	}
	if copyStart < 0 {
		return nil
	}
	if err := deleteRecords(ctx, v.cfg.Brokers, v.cfg.Topic, copyStart); err != nil {
		return fmt.Errorf("key store: compact: %w", err)
	}
	v.mu.Lock()
	i := sort.Search(len(v.offsets), func(i int) bool { return v.offsets[i] >= copyStart })
	v.offsets = append(v.offsets[:0], v.offsets[i:]...)
	v.metrics.Compactions++
	v.mu.Unlock()
	v.log.Info("key store compacted", "from", copyStart)
	return nil
}

// Rotate rewraps every live record under the current master key, so that
// the others can be retired, then compacts the old wraps away. progress
// is called after each batch. Idempotent: records under the current key
// are left alone.
func (v *Vault) Rotate(ctx context.Context, progress func(done, total int)) (int, error) {
	if err := v.catchUp(ctx); err != nil {
		return 0, err
	}
	cur := v.cfg.Master.Current().ID
	v.mu.Lock()
	var todo []*vaultEntry
	var bad error
	for _, e := range v.live {
		if e.err != nil {
			bad = errors.Join(bad, fmt.Errorf("record %q: %w", e.recordKey, e.err))
			continue
		}
		if e.master != cur {
			todo = append(todo, e)
		}
	}
	if v.secret != nil && v.secret.master != cur {
		todo = append(todo, v.secret)
	}
	v.mu.Unlock()
	if bad != nil {
		return 0, fmt.Errorf("key store: rotate: some keys do not unwrap with the given master keys: %w", bad)
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].offset < todo[j].offset })
	total, done := len(todo), 0
	if progress != nil {
		progress(0, total)
	}
	for len(todo) > 0 {
		n := min(len(todo), 500)
		recs := make([]kafka.Record, n)
		for i, e := range todo[:n] {
			value, err := json.Marshal(v.cfg.Master.wrap(e.recordKey, e.key))
			if err != nil {
				return done, err
			}
			recs[i] = kafka.Record{Key: kafka.NewBytes([]byte(e.recordKey)), Value: kafka.NewBytes(value)}
		}
		if _, err := v.produce(ctx, recs...); err != nil {
			return done, fmt.Errorf("key store: rotate: %w", err)
		}
		todo = todo[n:]
		done += n
		v.mu.Lock()
		v.metrics.Rewrapped += int64(n)
		v.mu.Unlock()
		if progress != nil {
			progress(done, total)
		}
	}
	if err := v.catchUp(ctx); err != nil {
		return done, err
	}
	if err := v.Compact(ctx); err != nil {
		return done, err
	}
	return done, nil
}

// deleteRecords moves the start of partition 0 of topic to offset
// (Kafka's DeleteRecords, which kafka-go does not speak), through a
// franz-go client with the cluster's registered security.
func deleteRecords(ctx context.Context, brokers []string, topic string, offset int64) error {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	if c := lookup(brokers); c != nil {
		if c.sec.TLS != nil {
			opts = append(opts, kgo.DialTLSConfig(c.sec.TLS))
		}
		switch c.sec.Mechanism {
		case SASLPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: c.sec.User, Pass: c.sec.Password}.AsMechanism()))
		case SASLScramSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.sec.User, Pass: c.sec.Password}.AsSha256Mechanism()))
		case SASLScramSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: c.sec.User, Pass: c.sec.Password}.AsSha512Mechanism()))
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("delete records of %s: %w", topic, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition = 0
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return fmt.Errorf("delete records of %s before %d: %w", topic, offset, shard.Err)
		}
		resp, ok := shard.Resp.(*kmsg.DeleteRecordsResponse)
		if !ok {
			return fmt.Errorf("delete records of %s: unexpected response %T", topic, shard.Resp)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				// Out of range: another compaction moved the start past
				// offset already.
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.OffsetOutOfRange) {
					return fmt.Errorf("delete records of %s/%d before %d: %w", topic, p.Partition, offset, err)
				}
			}
		}
	}
	return nil
}
