package streams

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/privacy"
)

// VaultConfig configures a Vault.
type VaultConfig struct {
	Brokers []string
	// Topic is the key store topic (privacy.TopicKeys when empty). It has
	// one partition: the vault reads it whole.
	Topic string
	// Master wraps and unwraps every record; the first key is current.
	Master MasterKeys
	// Compact makes this vault remove destroyed and superseded records
	// from the topic (see Vault.Compact) a little after they appear. One
	// process of an install is enough; several are safe.
	Compact bool
	// CompactDelay gathers the destroys of a burst into one compaction
	// (default 2s).
	CompactDelay time.Duration
	// SegmentBytes is the topic's segment.bytes (KeySegmentBytes when 0):
	// compaction pads the log by this much so that what it removes sits
	// in whole segments.
	SegmentBytes int
	Logger       *slog.Logger
}

// KeySegmentBytes is the key store topic's segment size. Compaction
// deletes whole segments, so it pads the log by one segment; Apache
// Kafka 4 accepts no smaller segment.bytes than 1 MiB.
const KeySegmentBytes = 1 << 20

// KeysTopic is the spec of the key store topic. It is not compacted by
// the broker: the embedded broker's cleaner rewrites a compacted partition
// in place, and a crash during that rewrite would lose every data key and
// so every learner's data. The vault compacts it itself (Vault.Compact),
// crash-safely, and keeps every record otherwise.
func KeysTopic(replication int) TopicSpec {
	return TopicSpec{Name: privacy.TopicKeys, Partitions: 1, Replication: replication, SegmentBytes: KeySegmentBytes}
}

// Record keys of the key store.
const (
	keyPrefixData   = "dk/"
	keyPrefixSecret = "ps/"
	keyPad          = "pad"
)

// dataRecordKey is the record key of data key kid.
func dataRecordKey(tenant, pseudonym, month, kid string) string {
	return keyPrefixData + tenant + "/" + pseudonym + "/" + month + "/" + kid
}

// parseDataRecordKey splits dk/<tenant>/<pseudonym>/<YYYY-MM>/<kid>; the
// tenant may itself hold '/', so the fixed parts are taken from the end.
func parseDataRecordKey(k string) (tenant, pseudonym, month, kid string, ok bool) {
	rest, ok := strings.CutPrefix(k, keyPrefixData)
	if !ok {
		return "", "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 4 {
		return "", "", "", "", false
	}
	n := len(parts)
	tenant = strings.Join(parts[:n-3], "/")
	pseudonym, month, kid = parts[n-3], parts[n-2], parts[n-1]
	if tenant == "" || !privacy.IsPseudonym(pseudonym) || len(month) != 7 || kid == "" {
		return "", "", "", "", false
	}
	return tenant, pseudonym, month, kid, true
}

// kidKey names a data key in a tenant (byKid, deadKid, missKid), and
// monthKey a learner month (current, creating). Their strings are those
// of the entry's record key (parseDataRecordKey returns parts of it), so
// a key costs the maps no string of its own: the store keeps one entry
// per learner and month for as long as the months are retained, and each
// object in it is one more for the collector to walk on every cycle.
type (
	kidKey   struct{ tenant, kid string }
	monthKey struct{ tenant, pseudonym, month string }
)

// vaultEntry is one live record of the key store.
type vaultEntry struct {
	recordKey                     string
	tenant, pseudonym, month, kid string
	key                           []byte // unwrapped; nil until unwrapped or when it fails
	raw                           []byte // the record's value, as stored
	master                        string
	offset                        int64
	err                           error // why the key does not unwrap
}

// Vault is the key store: data keys per (tenant, learner, month) and the
// install's pseudonym secret, wrapped by the master key, on the topic
// learnstream.keys.v1. It implements privacy.Keys.
//
// It reads the topic whole at start and follows it, so every process sees
// the keys every other process creates and destroys. Creating a key is an
// acks=all produce before the key is returned; destroying one is a
// tombstone, and a destroyed key stays destroyed even if a record for it
// shows up again later (a rewrap racing with the destroy): the vault then
// writes the tombstone again.
type Vault struct {
	cfg    VaultConfig
	log    *slog.Logger
	client *kafka.Client

	mu      sync.Mutex
	changed *sync.Cond // broadcast whenever next moves or the follower stops
	next    int64      // the next offset the follower reads
	loading bool       // unwrap only once the whole topic is read
	live    map[string]*vaultEntry
	byKid   map[kidKey]*vaultEntry
	current map[monthKey]*vaultEntry // the newest key of a learner month
	dead    map[string]deadKey       // record keys destroyed (sticky)
	deadKid map[kidKey]bool          // destroyed keys: Lookup answers at once
	// missKid holds kids a read to the end did not find (a tombstone
	// compacted away, another install's key): Lookup answers at once for
	// them too, instead of one round trip to the broker per event of
	// theirs. A key is written before any event sealed with it, so a
	// kid missing after a read to the end stays missing; byKid is
	// consulted first all the same.
	missKid map[kidKey]bool
	retomb  map[string]bool // destroyed keys that a later record revived: tombstone again
	offsets []int64         // offsets of the records read since the log start, in order
	secret  *vaultEntry     // the pseudonym secret: the first ps/ record
	follErr error           // why the follower stopped

	// Caches of the hot path, bounded (cleared when full): a learner's
	// pseudonym (an HMAC), and the current key of a learner month by
	// clear learner key (cleared on every destroy).
	names    map[string]string
	forClear map[string]*vaultEntry

	creating map[monthKey]*creation // learner months being created
	creates  chan *creation

	compactReq chan struct{}
	cancel     context.CancelFunc
	done       chan struct{}
	metrics    VaultMetrics
	// destroys counts destroyLocked calls, raised after the key is gone
	// for Lookup: see DestroyEpoch.
	destroys atomic.Uint64
}

// VaultMetrics count what the vault did, for Prometheus.
type VaultMetrics struct {
	Created, Destroyed, Rewrapped, Compactions int64
	// KeyWrites counts the writes of created keys: each carries every
	// creation waiting, so Created / KeyWrites is how many shared one.
	KeyWrites int64
}

// creation is one data key being created; done closes when it is durable.
type creation struct {
	ctx   context.Context
	entry *vaultEntry
	err   error
	done  chan struct{}
}

// OpenVault reads the key store whole and starts following it. It fails,
// naming the record, when a live record does not unwrap under the given
// master keys: a process that cannot read every key must not start, or it
// would fail to open events, or seal under keys it cannot see. A fresh
// store gets its pseudonym secret here.
func OpenVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("key store: no brokers")
	}
	if len(cfg.Master) == 0 {
		return nil, errors.New("key store: no master key")
	}
	if cfg.Topic == "" {
		cfg.Topic = privacy.TopicKeys
	}
	if cfg.CompactDelay <= 0 {
		cfg.CompactDelay = 2 * time.Second
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = KeySegmentBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &Vault{
		cfg: cfg, log: cfg.Logger.With("topic", cfg.Topic),
		client:  newClient(cfg.Brokers, 30*time.Second),
		loading: true,
		live:    map[string]*vaultEntry{}, byKid: map[kidKey]*vaultEntry{}, current: map[monthKey]*vaultEntry{},
		dead: map[string]deadKey{}, deadKid: map[kidKey]bool{}, missKid: map[kidKey]bool{}, retomb: map[string]bool{},
		names: map[string]string{}, forClear: map[string]*vaultEntry{},
		creating: map[monthKey]*creation{}, creates: make(chan *creation, 256),
		compactReq: make(chan struct{}, 1), done: make(chan struct{}),
	}
	v.changed = sync.NewCond(&v.mu)
	start, err := v.offsetOf(ctx, kafka.FirstOffset)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	v.next = start
	runCtx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); v.follow(runCtx, start) }()
	go func() { defer wg.Done(); v.writeCreations(runCtx) }()
	go func() { defer wg.Done(); v.maintain(runCtx) }()
	go func() { wg.Wait(); close(v.done) }()

	if err := v.catchUp(ctx); err != nil {
		v.Close()
		return nil, fmt.Errorf("key store: read %s: %w", cfg.Topic, err)
	}
	if err := v.unwrapAll(); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.ensureSecret(ctx); err != nil {
		v.Close()
		return nil, err
	}
	v.mu.Lock()
	dirty := v.dirtyLocked()
	v.mu.Unlock()
	if dirty {
		v.requestCompact()
	}
	vaultMetrics.Store(v)
	return v, nil
}

// Close stops following the topic; it waits for the vault's goroutines.
func (v *Vault) Close() {
	v.cancel()
	<-v.done
}

// unwrapAll unwraps every live record read at start; the first that does
// not unwrap fails the start.
func (v *Vault) unwrapAll() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.loading = false
	var ents []*vaultEntry
	for _, e := range v.live {
		ents = append(ents, e)
	}
	if v.secret != nil {
		ents = append(ents, v.secret)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].offset < ents[j].offset })
	for _, e := range ents {
		if err := v.unwrapLocked(e); err != nil {
			return fmt.Errorf("key store: record %q at offset %d of %s: %w; not started, nothing written "+
				"(give the master key that wrapped it: --privacy-master-key-file, docs/privacy.md \"Operator\")",
				e.recordKey, e.offset, v.cfg.Topic, err)
		}
	}
	return nil
}

func (v *Vault) unwrapLocked(e *vaultEntry) error {
	var w wrapped
	if err := json.Unmarshal(e.raw, &w); err != nil {
		e.err = fmt.Errorf("not a wrapped key: %w", err)
		return e.err
	}
	plain, err := v.cfg.Master.unwrap(e.recordKey, w)
	if err == nil && len(plain) != 32 {
		err = fmt.Errorf("the unwrapped key has %d bytes, want 32", len(plain))
	}
	if err != nil {
		e.err = err
		return err
	}
	e.key, e.master, e.err = plain, w.Master, nil
	if k, ok := v.cfg.Master.find(w.Master); ok {
		e.master = k.ID // the master keys' own string, not one per entry
	}
	return nil
}

// offsetOf lists the first (kafka.FirstOffset) or next (LastOffset)
// offset of the topic's partition.
func (v *Vault) offsetOf(ctx context.Context, which int64) (int64, error) {
	// A broker that just created the topic, or moved its leader, answers
	// with a retriable error for a moment.
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		var off int64
		if off, err = v.listOffset(ctx, which); err == nil {
			return off, nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || !ke.Temporary() || !sleep(ctx, 250*time.Millisecond) {
			return 0, err
		}
	}
	return 0, err
}

func (v *Vault) listOffset(ctx context.Context, which int64) (int64, error) {
	req := kafka.LastOffsetOf(0)
	if which == kafka.FirstOffset {
		req = kafka.FirstOffsetOf(0)
	}
	resp, err := v.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{v.cfg.Topic: {req}}})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", v.cfg.Topic, err)
	}
	parts := resp.Topics[v.cfg.Topic]
	if len(parts) == 0 {
		return 0, fmt.Errorf("list offsets of %s: no partition 0", v.cfg.Topic)
	}
	po := parts[0]
	if po.Error != nil {
		return 0, fmt.Errorf("list offsets of %s/%d: %w", v.cfg.Topic, po.Partition, po.Error)
	}
	if which == kafka.FirstOffset {
		return po.FirstOffset, nil
	}
	return po.LastOffset, nil
}

// Sync returns once the vault has read every record the key store held
// when it was called: a consumer that handles a LearnerErased calls it so
// that it cannot open an event of the learner after that.
func (v *Vault) Sync(ctx context.Context) error { return v.catchUp(ctx) }

// catchUp returns once the follower has applied every record the topic
// held when it was called.
func (v *Vault) catchUp(ctx context.Context) error {
	end, err := v.offsetOf(ctx, kafka.LastOffset)
	if err != nil {
		return err
	}
	return v.waitFor(ctx, end)
}

// waitFor returns once the follower's next offset is at least end.
func (v *Vault) waitFor(ctx context.Context, end int64) error {
	stop := context.AfterFunc(ctx, func() {
		v.mu.Lock()
		v.changed.Broadcast()
		v.mu.Unlock()
	})
	defer stop()
	v.mu.Lock()
	defer v.mu.Unlock()
	for v.next < end {
		if v.follErr != nil {
			return v.follErr
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("key store at offset %d of %d: %w", v.next, end, err)
		}
		v.changed.Wait()
	}
	return nil
}

// follow applies every record of the topic from start, until ctx ends.
func (v *Vault) follow(ctx context.Context, start int64) {
	defer func() {
		v.mu.Lock()
		if v.follErr == nil {
			v.follErr = errors.New("key store: closed")
		}
		v.changed.Broadcast()
		v.mu.Unlock()
	}()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: v.cfg.Brokers, Dialer: Dialer(v.cfg.Brokers), Topic: v.cfg.Topic, Partition: 0,
		MinBytes: 1, MaxBytes: 4 * v.cfg.SegmentBytes, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		v.mu.Lock()
		v.follErr = fmt.Errorf("key store: set offset %d: %w", start, err)
		v.mu.Unlock()
		return
	}
	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			v.log.Warn("key store: fetch", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		v.mu.Lock()
		v.applyLocked(km)
		v.next = km.Offset + 1
		v.changed.Broadcast()
		v.mu.Unlock()
	}
}

// applyLocked applies one record.
func (v *Vault) applyLocked(km kafka.Message) {
	k := string(km.Key)
	v.offsets = append(v.offsets, km.Offset)
	tombstone := len(km.Value) == 0
	switch {
	case k == keyPad:
	case strings.HasPrefix(k, keyPrefixSecret):
		if tombstone {
			return
		}
		if v.secret == nil || v.secret.recordKey == k {
			e := &vaultEntry{recordKey: k, raw: km.Value, offset: km.Offset}
			if !v.loading {
				if err := v.unwrapLocked(e); err != nil {
					v.log.Error("key store: the pseudonym secret does not unwrap; keeping the one read before", "record", k, "offset", km.Offset, "err", err)
					return
				}
			}
			v.secret = e
		}
	default:
		tenant, pseudonym, month, kid, ok := parseDataRecordKey(k)
		if !ok {
			v.log.Warn("key store: record with an unknown key skipped", "record", k, "offset", km.Offset)
			return
		}
		if tombstone {
			v.destroyLocked(k)
			// When it was destroyed stays the first tombstone's time:
			// compaction moving it does not extend its retention.
			d := v.dead[k]
			if d.offset < 0 && !km.Time.IsZero() && km.Time.Before(d.at) {
				d.at = km.Time
			}
			d.offset = km.Offset
			v.dead[k] = d
			return
		}
		if _, dead := v.dead[k]; dead {
			// A rewrap or copy racing with the destroy: the key stays
			// destroyed, and its record goes again.
			v.retomb[k] = true
			v.signalMaintain()
			return
		}
		if old := v.live[k]; old != nil && old.key != nil && bytes.Equal(old.raw, km.Value) {
			// The record this process wrote when it created the key (or
			// the same record again): the entry it has is this one. A
			// second entry would be a second copy of the key in memory,
			// and its unwrap a second decryption.
			old.offset = km.Offset
			mk := old.monthKey()
			if c := v.current[mk]; c == nil || c.offset <= old.offset {
				v.current[mk] = old
			}
			return
		}
		e := &vaultEntry{recordKey: k, tenant: tenant, pseudonym: pseudonym, month: month, kid: kid, raw: km.Value, offset: km.Offset}
		if !v.loading {
			if err := v.unwrapLocked(e); err != nil {
				// Kept, so that Lookup answers the error rather than
				// "destroyed": the data under it is not erased.
				v.log.Error("key store: a data key does not unwrap", "record", k, "offset", km.Offset, "err", err)
			}
		}
		v.live[k] = e
		v.byKid[e.kidKey()] = e
		if c := v.current[e.monthKey()]; c == nil || c.offset <= e.offset {
			v.current[e.monthKey()] = e
		}
	}
}

// cacheLimit bounds the hot path's caches.
const cacheLimit = 100_000

// deadKey is when and where a key was destroyed.
type deadKey struct {
	at     time.Time
	offset int64 // -1 until the follower reads it
}

// TombstoneRetention is how long compaction keeps a destroyed key's
// tombstone (Kafka's delete.retention.ms default): a process that lags
// behind a compaction still learns of the destroy.
const TombstoneRetention = 24 * time.Hour

// destroyLocked forgets record key k for good.
func (v *Vault) destroyLocked(k string) {
	if _, ok := v.dead[k]; !ok {
		v.dead[k] = deadKey{at: time.Now(), offset: -1}
	}
	if tenant, _, _, kid, ok := parseDataRecordKey(k); ok {
		v.deadKid[kidKey{tenant, kid}] = true
	}
	clear(v.forClear)
	// After deadKid: whoever reads the new count finds the key gone.
	v.destroys.Add(1)
	e := v.live[k]
	if e == nil {
		return
	}
	delete(v.live, k)
	// The key's bytes are not zeroed: a seal that took the key a moment
	// before may still be using them.
	delete(v.byKid, e.kidKey())
	ck := e.monthKey()
	// The entry the follower read and the one a creation recorded are
	// two objects for one record: compare record keys.
	if cur := v.current[ck]; cur != nil && cur.recordKey == k {
		delete(v.current, ck)
		// Another key of the same learner month, if two processes
		// created one each, becomes current.
		for _, o := range v.live {
			if o.tenant == e.tenant && o.pseudonym == e.pseudonym && o.month == e.month {
				if c := v.current[ck]; c == nil || c.offset < o.offset {
					v.current[ck] = o
				}
			}
		}
	}
}

// ensureSecret creates the pseudonym secret of a fresh store. Two
// processes doing so at once agree: the first ps/ record in the log wins.
func (v *Vault) ensureSecret(ctx context.Context) error {
	v.mu.Lock()
	have := v.secret != nil
	v.mu.Unlock()
	if have {
		return nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("key store: generate the pseudonym secret: %w", err)
	}
	k := keyPrefixSecret + newKid()
	value, err := json.Marshal(v.cfg.Master.wrap(k, secret))
	if err != nil {
		return err
	}
	if _, err := v.produce(ctx, kafka.Record{Key: kafka.NewBytes([]byte(k)), Value: kafka.NewBytes(value)}); err != nil {
		return fmt.Errorf("key store: write the pseudonym secret: %w", err)
	}
	if err := v.catchUp(ctx); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.secret == nil || v.secret.key == nil {
		return errors.New("key store: the pseudonym secret was written but not read back")
	}
	return nil
}

// newKid is a random data key id: 24 hex digits.
func newKid() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// produce writes records to the topic with acks=all and returns the
// offset of the first.
func (v *Vault) produce(ctx context.Context, recs ...kafka.Record) (int64, error) {
	resp, err := v.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: v.cfg.Topic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...),
	})
	if err != nil {
		return 0, fmt.Errorf("produce to %s: %w", v.cfg.Topic, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("produce to %s: %w", v.cfg.Topic, resp.Error)
	}
	return resp.BaseOffset, nil
}

// Pseudonym implements privacy.Pseudonyms with the install's secret.
func (v *Vault) Pseudonym(tenant, learner string) string {
	nk := tenant + "\x00" + learner
	v.mu.Lock()
	p, ok := v.names[nk]
	s := v.secret.key
	v.mu.Unlock()
	if ok {
		return p
	}
	p = privacy.Pseudonym(s, tenant, learner)
	v.mu.Lock()
	if len(v.names) >= cacheLimit {
		clear(v.names)
	}
	v.names[nk] = p
	v.mu.Unlock()
	return p
}

// prepareConcurrency bounds the keys Prepare waits for at once.
const prepareConcurrency = 64

// Prepare implements privacy.KeyPreparer: it makes sure every requested
// learner month has its data key, creating the missing ones together, so
// that they share the key store's writes (writeCreations takes every
// creation waiting). Sealing a batch of 100 statements of learners new
// this month asked For each in turn, and each waited for its own write:
// up to 100 writes one after another, with a population new to the store
// (a first load, the first morning of a month).
func (v *Vault) Prepare(ctx context.Context, reqs []privacy.KeyRequest) error {
	var missing []privacy.KeyRequest
	var seen map[string]bool
	var kb [128]byte
	v.mu.Lock()
	for _, r := range reqs {
		fk := appendClearMonthKey(kb[:0], r.Tenant, r.Learner, r.At)
		if e := v.forClear[string(fk)]; e != nil && e.key != nil || seen[string(fk)] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[string(fk)] = true
		missing = append(missing, r)
	}
	v.mu.Unlock()
	if len(missing) < 2 {
		return nil // For, when sealing, is as fast
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, prepareConcurrency)
	for _, r := range missing {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := v.For(ctx, r.Tenant, r.Learner, r.At); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// appendClearMonthKey appends the name of a learner month in forClear to
// b: by the clear learner key, which the hot path has (the pseudonym
// costs an HMAC). Every statement sealed and every batch prepared looks
// one up: built in the caller's buffer, the lookups allocate nothing.
func appendClearMonthKey(b []byte, tenant, learner string, t time.Time) []byte {
	b = append(append(b, tenant...), 0)
	b = append(append(b, learner...), 0)
	return t.UTC().AppendFormat(b, "2006-01")
}

// Month is the key store's month of t: UTC, YYYY-MM.
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// For implements privacy.Keys: the data key of learner in tenant for the
// month of t, created (durably) if there is none.
func (v *Vault) For(ctx context.Context, tenant, learner string, t time.Time) (privacy.DataKey, error) {
	var kb [128]byte
	fk := appendClearMonthKey(kb[:0], tenant, learner, t)
	v.mu.Lock()
	if e := v.forClear[string(fk)]; e != nil && e.key != nil {
		v.mu.Unlock()
		return privacy.DataKey{ID: e.kid, Key: e.key}, nil
	}
	v.mu.Unlock()
	pseudonym := v.Pseudonym(tenant, learner)
	ms := Month(t)
	ck := monthKey{tenant, pseudonym, ms}
	for {
		v.mu.Lock()
		if e := v.current[ck]; e != nil {
			if e.key != nil {
				if len(v.forClear) >= cacheLimit {
					clear(v.forClear)
				}
				v.forClear[string(fk)] = e
			}
			v.mu.Unlock()
			if e.key == nil {
				return privacy.DataKey{}, fmt.Errorf("key store: data key %s: %w", e.kid, e.err)
			}
			return privacy.DataKey{ID: e.kid, Key: e.key}, nil
		}
		c := v.creating[ck]
		if c == nil {
			kid := newKid()
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				v.mu.Unlock()
				return privacy.DataKey{}, fmt.Errorf("key store: generate a data key: %w", err)
			}
			// The entry's names are parts of its record key, as those of
			// an entry read from the topic: one string, and none of the
			// caller's (which may be parts of an event) kept.
			rk := dataRecordKey(tenant, pseudonym, ms, kid)
			rt, rp, rm, rkid, ok := parseDataRecordKey(rk)
			if !ok {
				v.mu.Unlock()
				return privacy.DataKey{}, fmt.Errorf("key store: tenant %q, learner month %s: not a record key", tenant, ms)
			}
			c = &creation{ctx: ctx, done: make(chan struct{}),
				entry: &vaultEntry{recordKey: rk, tenant: rt, pseudonym: rp, month: rm, kid: rkid, key: key}}
			v.creating[ck] = c
			v.mu.Unlock()
			select {
			case v.creates <- c:
			case <-ctx.Done():
				v.finishCreation(ck, c, ctx.Err())
				return privacy.DataKey{}, ctx.Err()
			case <-v.done:
				v.finishCreation(ck, c, errors.New("key store: closed"))
				return privacy.DataKey{}, errors.New("key store: closed")
			}
		} else {
			v.mu.Unlock()
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return privacy.DataKey{}, ctx.Err()
		case <-v.done:
			// Closed with the creation still queued: no writer is left
			// to finish it.
			return privacy.DataKey{}, errors.New("key store: closed")
		}
		if c.err != nil {
			return privacy.DataKey{}, c.err
		}
		// Loop: the created key is current now (or a destroy came
		// between, and a new one is made).
	}
}

// finishCreation ends creation c of learner month ck: on success its key
// is live before anyone waiting sees it done.
func (v *Vault) finishCreation(ck monthKey, c *creation, err error) {
	v.mu.Lock()
	c.err = err
	if _, dead := v.dead[c.entry.recordKey]; err == nil && !dead {
		e := c.entry
		if old := v.live[e.recordKey]; old == nil {
			v.live[e.recordKey] = e
			v.byKid[e.kidKey()] = e
			if cur := v.current[ck]; cur == nil || cur.offset < e.offset {
				v.current[ck] = e
			}
		}
		v.metrics.Created++
	}
	if v.creating[ck] == c {
		delete(v.creating, ck)
	}
	v.mu.Unlock()
	close(c.done)
}

// writeCreations writes the data keys being created, as many as are
// waiting in one produce: under load, one request serves every learner
// met for the first time in that moment.
func (v *Vault) writeCreations(ctx context.Context) {
	for {
		var batch []*creation
		select {
		case c := <-v.creates:
			batch = append(batch, c)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < 500 {
			select {
			case c := <-v.creates:
				batch = append(batch, c)
			default:
				break more
			}
		}
		recs := make([]kafka.Record, 0, len(batch))
		var live []*creation
		for _, c := range batch {
			if c.ctx.Err() != nil {
				v.finishCreation(creationKey(c), c, c.ctx.Err())
				continue
			}
			w := v.cfg.Master.wrap(c.entry.recordKey, c.entry.key)
			c.entry.master = w.Master
			value, _ := json.Marshal(w)
			c.entry.raw = value
			recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(c.entry.recordKey)), Value: kafka.NewBytes(value)})
			live = append(live, c)
		}
		if len(recs) == 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		base, err := v.produce(wctx, recs...)
		cancel()
		v.mu.Lock()
		v.metrics.KeyWrites++
		v.mu.Unlock()
		for i, c := range live {
			if err == nil {
				c.entry.offset = base + int64(i)
			}
			v.finishCreation(creationKey(c), c, err)
		}
	}
}

func creationKey(c *creation) monthKey { return c.entry.monthKey() }

// kidKey and monthKey are the entry's keys in the maps, made of its
// record key's strings.
func (e *vaultEntry) kidKey() kidKey { return kidKey{e.tenant, e.kid} }

func (e *vaultEntry) monthKey() monthKey { return monthKey{e.tenant, e.pseudonym, e.month} }

// maxMissKids bounds the kids Lookup remembers as missing.
const maxMissKids = 1 << 16

// Lookup implements privacy.Keys: data key kid of tenant; ok=false when
// it was destroyed or never existed. A kid not known yet (created by
// another process a moment ago) is looked for once more after reading the
// topic to its end.
func (v *Vault) Lookup(ctx context.Context, tenant, kid string) (privacy.DataKey, bool, error) {
	for attempt := 0; ; attempt++ {
		v.mu.Lock()
		kk := kidKey{tenant, kid}
		e := v.byKid[kk]
		destroyed := v.deadKid[kk] || v.missKid[kk]
		v.mu.Unlock()
		if destroyed {
			// Every event of an erased learner asks: no read to the end.
			return privacy.DataKey{}, false, nil
		}
		if e != nil {
			if e.key == nil {
				return privacy.DataKey{}, false, fmt.Errorf("key store: data key %s: %w", kid, e.err)
			}
			return privacy.DataKey{ID: e.kid, Key: e.key}, true, nil
		}
		if attempt > 0 {
			v.mu.Lock()
			if len(v.missKid) >= maxMissKids {
				clear(v.missKid) // bounded: forgetting costs one read to the end
			}
			// Cloned: the caller's strings may be parts of an event.
			v.missKid[kidKey{strings.Clone(tenant), strings.Clone(kid)}] = true
			v.mu.Unlock()
			return privacy.DataKey{}, false, nil
		}
		if err := v.catchUp(ctx); err != nil {
			return privacy.DataKey{}, false, fmt.Errorf("key store: look up %s: %w", kid, err)
		}
	}
}

// DestroyLearner destroys every data key of the learner with pseudonym in
// tenant (tombstones, acks=all) and returns their ids. Keys another
// process created for the learner before the tombstones landed are found
// by reading to the end and destroyed too. Idempotent.
func (v *Vault) DestroyLearner(ctx context.Context, tenant, pseudonym string) ([]string, error) {
	return v.destroyWhere(ctx, func(e *vaultEntry) bool { return e.tenant == tenant && e.pseudonym == pseudonym })
}

// DestroyBefore destroys every data key of tenant for the months before
// the month of before (retention) and returns their ids.
func (v *Vault) DestroyBefore(ctx context.Context, tenant string, before time.Time) ([]string, error) {
	m := Month(before)
	return v.destroyWhere(ctx, func(e *vaultEntry) bool { return e.tenant == tenant && e.month < m })
}

func (v *Vault) destroyWhere(ctx context.Context, match func(*vaultEntry) bool) ([]string, error) {
	var kids []string
	for round := 0; round < 10; round++ {
		if err := v.catchUp(ctx); err != nil {
			return kids, fmt.Errorf("key store: destroy: %w", err)
		}
		v.mu.Lock()
		var recs []kafka.Record
		var keys []string
		for k, e := range v.live {
			if match(e) {
				recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(k))})
				keys = append(keys, k)
				kids = append(kids, e.kid)
			}
		}
		v.mu.Unlock()
		if len(recs) == 0 {
			slices.Sort(kids)
			return slices.Compact(kids), nil
		}
		if _, err := v.produce(ctx, recs...); err != nil {
			return kids, fmt.Errorf("key store: destroy: %w", err)
		}
		v.mu.Lock()
		for _, k := range keys {
			v.destroyLocked(k)
		}
		v.metrics.Destroyed += int64(len(keys))
		v.mu.Unlock()
		v.requestCompact()
	}
	return kids, errors.New("key store: destroy: keys keep appearing for the learner; try again")
}

// DestroyEpoch changes whenever a data key is destroyed, here or (as the
// vault follows the key store) in another process. What was opened
// while it read n holds no key destroyed before that read; the record
// cache of the subscribers (see receivedCache) opens again what it
// opened under an older epoch.
func (v *Vault) DestroyEpoch() uint64 { return v.destroys.Load() }

// Metrics returns what the vault did so far.
func (v *Vault) Metrics() VaultMetrics {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.metrics
}

// Lag is how many records of the topic the vault has not read yet.
func (v *Vault) Lag(ctx context.Context) (int64, error) {
	end, err := v.offsetOf(ctx, kafka.LastOffset)
	if err != nil {
		return 0, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return max(0, end-v.next), nil
}

// VaultState describes the key store for operators (learnstream doctor).
type VaultState struct {
	Topic      string
	DataKeys   int
	Destroyed  int
	Records    int // records on the topic since its start: live, destroyed, superseded
	Unreadable int // live keys that do not unwrap
	// Masters counts live records per master key id.
	Masters map[string]int
	Current string
}

// State reports the key store as this vault sees it.
func (v *Vault) State() VaultState {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := VaultState{Topic: v.cfg.Topic, DataKeys: len(v.live), Destroyed: len(v.dead), Records: len(v.offsets),
		Masters: map[string]int{}, Current: v.cfg.Master.Current().ID}
	for _, e := range v.live {
		if e.err != nil {
			s.Unreadable++
			continue
		}
		s.Masters[e.master]++
	}
	if v.secret != nil {
		s.Masters[v.secret.master]++
	}
	return s
}
