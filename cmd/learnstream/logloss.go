package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// What to do when the event log holds less than the consumers have read:
// an embedded broker's segment was damaged (the broker truncates it at the
// damage), or an Apache Kafka partition lost its tail (unclean leader
// election, a restored older disk). A consumer whose offset is beyond the
// log end would wait there silently while new events land below it.
const (
	onLogLossRefuse  = "refuse"
	onLogLossRebuild = "rebuild"
)

// offsetLoss is one consumer partition whose stored offset is beyond the
// log end.
type offsetLoss struct {
	Projection string `json:"projection"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	Next       int64  `json:"next_offset"`
	End        int64  `json:"log_end_offset"`
}

func (l offsetLoss) String() string {
	return fmt.Sprintf("%s partition %d: %s had read up to offset %d, the log now ends at %d (%d events lost)",
		l.Topic, l.Partition, l.Projection, l.Next, l.End, l.Next-l.End)
}

// offsetsBeyondEnd compares every stored offset with the log ends. ends
// answers a topic's end offsets; a topic it does not know (ok false) is
// skipped.
func offsetsBeyondEnd(store *projections.Store, ends func(topic string) (map[int]int64, bool, error)) ([]offsetLoss, error) {
	offs, err := store.StoredOffsets()
	if err != nil {
		return nil, err
	}
	return lossesBeyondEnd(offs, ends)
}

// lossesBeyondEnd is offsetsBeyondEnd over offsets already read, ordered
// by topic, partition and projection.
func lossesBeyondEnd(offs []projections.StoredOffset, ends func(topic string) (map[int]int64, bool, error)) ([]offsetLoss, error) {
	cache := map[string]map[int]int64{}
	var out []offsetLoss
	for _, o := range offs {
		e, seen := cache[o.Topic]
		if !seen {
			var ok bool
			var err error
			e, ok, err = ends(o.Topic)
			if err != nil {
				return nil, err
			}
			if !ok {
				e = nil
			}
			cache[o.Topic] = e
		}
		if e == nil {
			continue
		}
		if end := e[o.Partition]; o.Next > end {
			out = append(out, offsetLoss{Projection: o.Projection, Topic: o.Topic, Partition: o.Partition, Next: o.Next, End: end})
		}
	}
	slices.SortFunc(out, func(a, b offsetLoss) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), strings.Compare(a.Projection, b.Projection))
	})
	return out, nil
}

// logHealth is what start-up found about the log, for /readyz: damage not
// yet acknowledged and projections being rebuilt after a loss.
type logHealth struct {
	dataDir string
	store   *projections.Store
	// served names the projections whose rebuild readiness waits for (read
	// models the API serves); model checkpoints catch up on their own
	// schedule. Set once the roles are wired; nil waits for none.
	served func(name string) bool
	// rebuilding are the projections reset at start, with the log ends
	// they must reach before the process is ready.
	rebuilding map[string]map[string]map[int]int64

	mu      sync.Mutex
	checked time.Time
	last    error
}

// scanProgressEvery spaces the log check's progress lines: the check reads
// the whole log before the server answers (8–17 s over 10M statements
// with a cold page cache, docs/operations.md), and an operator watching
// the log should see it move.
const scanProgressEvery = 10 * time.Second

// quarantineDir is where damaged log data is copied.
func quarantineDir(dataDir string) string { return filepath.Join(dataDir, "quarantine") }

// checkLog scans the embedded broker's log in kafkaDir (every batch's
// length and CRC), logging its progress and what it took.
func checkLog(log *slog.Logger, kafkaDir string) (streams.LogScan, error) {
	start, last := time.Now(), time.Now()
	scan, err := streams.ScanLogProgress(kafkaDir, func(scanned, total int64) {
		if time.Since(last) >= scanProgressEvery {
			last = time.Now()
			log.Info("checking the event log", "scanned_bytes", scanned, "total_bytes", total,
				"percent", 100*scanned/max(total, 1))
		}
	})
	if err != nil {
		return scan, err
	}
	log.Info("event log checked", "segments", scan.Segments, "bytes", scan.Bytes, "damaged_segments", len(scan.Damage),
		"took", time.Since(start).Round(time.Millisecond))
	return scan, nil
}

// prepareLog runs before the embedded broker starts (it truncates damaged
// segments as it loads them) and before any consumer: it copies the
// damage a scan found aside, compares stored offsets with what the log
// still holds and applies the operator's --on-log-loss choice. ends, for
// an external Kafka, answers end offsets; nil uses scan, checkLog's scan
// of the embedded broker's log.
func prepareLog(ctx context.Context, cfg serveConfig, log *slog.Logger, store *projections.Store, scan streams.LogScan,
	ends func(topic string) (map[int]int64, bool, error)) (*logHealth, error) {
	h := &logHealth{dataDir: cfg.dataDir, store: store}
	var qdir string
	if ends == nil {
		var err error
		streams.ReportDamage(scan)
		if len(scan.Damage) > 0 {
			if qdir, err = streams.Quarantine(quarantineDir(cfg.dataDir), &scan, time.Now()); err != nil {
				return nil, fmt.Errorf("broker log damaged and it could not be copied aside, so the broker was not started (it would discard the damaged data): %w", err)
			}
			for _, d := range scan.Damage {
				log.Error("broker log damaged", "damage", d.String(), "quarantined", d.Quarantined)
			}
		}
		ends = scanEnds(scan)
	}
	losses, err := offsetsBeyondEnd(store, ends)
	if err != nil {
		return nil, err
	}
	for _, l := range losses {
		log.Error("consumer offset beyond the log end", "loss", l.String())
	}
	if len(losses) > 0 && cfg.onLogLoss != onLogLossRebuild {
		return nil, refuseMessage(cfg, scan, qdir, losses)
	}
	if err := streams.ForgetSnapshots(scan); err != nil {
		return nil, err
	}
	if cfg.onLogLoss == onLogLossRebuild {
		if _, err := streams.AcknowledgeQuarantine(quarantineDir(cfg.dataDir)); err != nil {
			return nil, fmt.Errorf("acknowledge quarantined log damage: %w", err)
		}
		h.rebuilding = map[string]map[string]map[int]int64{}
		for _, l := range losses {
			if h.rebuilding[l.Projection] == nil {
				h.rebuilding[l.Projection] = map[string]map[int]int64{}
			}
			// The rebuild must read everything the log still holds.
			all, _, err := ends(l.Topic)
			if err != nil {
				return nil, err
			}
			h.rebuilding[l.Projection][l.Topic] = all
		}
		for name := range h.rebuilding {
			if err := store.ResetProjection(name); err != nil {
				return nil, err
			}
			log.Error("rebuilding projection from what the log still holds (--on-log-loss=rebuild); events the log lost are gone from it",
				"projection", name)
		}
	}
	return h, nil
}

// scanEnds answers end offsets from a scan of the embedded broker's log.
func scanEnds(scan streams.LogScan) func(topic string) (map[int]int64, bool, error) {
	return func(topic string) (map[int]int64, bool, error) {
		e, ok := scan.Ends[topic]
		if !ok {
			// The partition dirs are gone: the log holds nothing.
			return map[int]int64{}, true, nil
		}
		return e, true, nil
	}
}

func refuseMessage(cfg serveConfig, scan streams.LogScan, qdir string, losses []offsetLoss) error {
	var b strings.Builder
	b.WriteString("the event log holds less than the consumers have read; refusing to start (--on-log-loss=refuse):\n")
	for _, l := range losses {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if len(scan.Damage) > 0 {
		fmt.Fprintf(&b, "damaged segments of the embedded broker's log, copied to %s before anything was changed:\n", qdir)
		for _, d := range scan.Damage {
			fmt.Fprintf(&b, "  %s\n", d)
		}
	}
	fmt.Fprintf(&b, "nothing was changed. Either restore %s from a backup (docs/operations.md), or accept the loss and rebuild the\n", cfg.dataDir)
	b.WriteString("projections above from what the log still holds (acknowledged events in the lost offsets are gone for good):\n")
	fmt.Fprintf(&b, "  learnstream serve --on-log-loss=rebuild --data-dir %s ...\n", cfg.dataDir)
	fmt.Fprintf(&b, "see what is affected first with: learnstream doctor --data-dir %s", cfg.dataDir)
	return errors.New(b.String())
}

// check is the readiness part of the log's health: unacknowledged damage,
// projections still rebuilding, partitions whose consumers wait beyond the
// log end.
func (h *logHealth) check(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.checked) < 2*time.Second {
		return h.last
	}
	h.checked = time.Now()
	h.last = h.compute()
	return h.last
}

func (h *logHealth) compute() error {
	var reasons []string
	reports, err := streams.QuarantineReports(quarantineDir(h.dataDir))
	if err != nil {
		return fmt.Errorf("read quarantine reports: %w", err)
	}
	for dir, r := range reports {
		if r.Acknowledged {
			continue
		}
		var lost int64
		for _, d := range r.Damage {
			lost += d.Lost()
		}
		reasons = append(reasons, fmt.Sprintf("broker log damage found at %s: %d segment(s), %d event(s) lost, data copied to %s; "+
			"check with learnstream doctor, then acknowledge with learnstream doctor --ack", r.Found.Format(time.RFC3339), len(r.Damage), lost, dir))
	}
	if len(h.rebuilding) > 0 {
		offs, err := h.store.StoredOffsets()
		if err != nil {
			return err
		}
		type part struct {
			projection, topic string
			partition         int
		}
		have := map[part]int64{}
		for _, o := range offs {
			have[part{o.Projection, o.Topic, o.Partition}] = o.Next
		}
		for name, topics := range h.rebuilding {
			if h.served == nil || !h.served(name) {
				continue
			}
			var behind int64
			for topic, ends := range topics {
				for p, end := range ends {
					behind += max(end-have[part{name, topic, p}], 0)
				}
			}
			if behind > 0 {
				reasons = append(reasons, fmt.Sprintf("projection %s is rebuilding after a log loss: %d event(s) to go", name, behind))
			} else {
				delete(h.rebuilding, name)
			}
		}
	}
	reasons = append(reasons, streams.StalledPartitions()...)
	if len(reasons) == 0 {
		return nil
	}
	slices.Sort(reasons)
	return errors.New(strings.Join(reasons, "; "))
}
