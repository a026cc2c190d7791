package streams

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The embedded broker keeps each partition in <data>/partitions/<topic>-<n>/
// as segment files (<base offset>.dat) of Kafka record batches, back to
// back, each with its own CRC-32C. When it loads a segment it stops at the
// first batch that is torn or fails its CRC and truncates the file there,
// with a warning: everything after the damage, intact or not, is gone. The
// scan below reads the same files first, so that damage is found, counted
// and copied aside before the broker discards it.

var (
	logDamageSegments = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "learnstream_broker_log_damaged_segments",
		Help: "Segments of the embedded broker's log found damaged (torn or failing their CRC) at start; their data is copied to the quarantine dir.",
	})
	logDamageLost = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "learnstream_broker_log_lost_events",
		Help: "Offsets the embedded broker's log lost to damage found at start (from the first damaged batch to the end of its segment's data).",
	})
)

// SegmentDamage is one damaged segment file.
type SegmentDamage struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	// Segment is the file; Size its length and Valid the bytes before the
	// first damaged batch (what the broker keeps).
	Segment string `json:"segment"`
	Size    int64  `json:"size"`
	Valid   int64  `json:"valid_bytes"`
	// Reason says what is wrong at byte Valid.
	Reason string `json:"reason"`
	// FirstLost is the first offset the broker will not serve any more;
	// LostUntil the offset after the last one the segment held as far as
	// the scan could tell (batches after a corrupt one are walked by their
	// length fields), or -1 when nothing after the damage could be read.
	FirstLost int64 `json:"first_lost_offset"`
	LostUntil int64 `json:"lost_until_offset"`
	// IntactAfter counts records after the damage whose batches still pass
	// their CRC: the quarantined copy holds them.
	IntactAfter int64 `json:"intact_records_after_damage"`
	// Quarantined is where the damaged file was copied, once it was.
	Quarantined string `json:"quarantined,omitempty"`
}

// Lost is how many offsets the damage costs (0 when unknown).
func (d SegmentDamage) Lost() int64 {
	if d.LostUntil < d.FirstLost {
		return 0
	}
	return d.LostUntil - d.FirstLost
}

func (d SegmentDamage) String() string {
	lost := "an unknown number of events"
	if d.LostUntil >= 0 {
		lost = fmt.Sprintf("offsets %d to %d (%d)", d.FirstLost, d.LostUntil-1, d.Lost())
	}
	return fmt.Sprintf("%s partition %d, segment %s: %s at byte %d of %d; the broker drops %s",
		d.Topic, d.Partition, filepath.Base(d.Segment), d.Reason, d.Valid, d.Size, lost)
}

// LogScan is what ScanLog found in the embedded broker's data dir.
type LogScan struct {
	Segments int `json:"segments"`
	Batches  int `json:"batches"`
	// Bytes is the size of the segments read.
	Bytes  int64           `json:"bytes"`
	Damage []SegmentDamage `json:"damage,omitempty"`
	// Ends is each partition's log end offset as the broker will have it
	// after loading (the offset after its last intact batch).
	Ends map[string]map[int]int64 `json:"ends"`
}

// ScanLog checks every segment of the embedded broker's log under dataDir
// (the broker's own data dir). It reads only. A data dir without
// partitions (a new install) is no damage.
func ScanLog(dataDir string) (LogScan, error) { return ScanLogProgress(dataDir, nil) }

// ScanLogProgress is ScanLog calling progress (when not nil) after each
// segment with the bytes read so far and the log's size: the check reads
// the whole log at the disk's speed, and the server does not answer until
// it is done.
func ScanLogProgress(dataDir string, progress func(scanned, total int64)) (LogScan, error) {
	scan := LogScan{Ends: map[string]map[int]int64{}}
	root := filepath.Join(dataDir, "partitions")
	dirs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return scan, nil
	}
	if err != nil {
		return scan, fmt.Errorf("scan broker log: %w", err)
	}
	type partition struct {
		topic string
		part  int
		dir   string
		bases []int64
	}
	var parts []partition
	var total int64
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		topic, part, ok := parsePartDir(d.Name())
		if !ok {
			continue
		}
		pdir := filepath.Join(root, d.Name())
		bases, size, err := segmentBases(pdir)
		if err != nil {
			return scan, err
		}
		parts = append(parts, partition{topic, part, pdir, bases})
		total += size
	}
	// The partitions are scanned side by side, each worker reading its
	// segments into one buffer it keeps. One reader reading every segment
	// into a new slice took 5.6–13.3 s over an 11.3 GB log in the page
	// cache, with the server not answering meanwhile; this, 2.1–2.4 s
	// (docs/benchmarks.md, "Twenty-second pass").
	results := make([]partScan, len(parts))
	var (
		mu   sync.Mutex // scan's totals and progress
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(len(parts), scanWorkers()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(parts) {
					return
				}
				p := parts[i]
				results[i], buf = scanPartition(p.dir, p.topic, p.part, p.bases, buf, func(n int64, batches int) {
					mu.Lock()
					defer mu.Unlock()
					scan.Segments++
					scan.Bytes += n
					scan.Batches += batches
					if progress != nil {
						progress(scan.Bytes, max(total, scan.Bytes))
					}
				})
				if results[i].err != nil {
					next.Store(int64(len(parts))) // the others stop after their partition
				}
			}
		}()
	}
	wg.Wait()
	for i, p := range parts {
		r := results[i]
		if r.err != nil {
			return scan, r.err
		}
		scan.Damage = append(scan.Damage, r.damage...)
		if scan.Ends[p.topic] == nil {
			scan.Ends[p.topic] = map[int]int64{}
		}
		scan.Ends[p.topic][p.part] = r.end
	}
	slices.SortFunc(scan.Damage, func(a, b SegmentDamage) int { return strings.Compare(a.Segment, b.Segment) })
	return scan, nil
}

// scanWorkers is how many partitions the scan reads at once: one a core,
// at most 4 (the disk, not the CRC, bounds it beyond that).
func scanWorkers() int { return min(runtime.NumCPU(), 4) }

// partScan is what the scan found in one partition: the offset after its
// last intact batch (end), its damaged segments, or the error that
// stopped it.
type partScan struct {
	end    int64
	damage []SegmentDamage
	err    error
}

// scanPartition scans the segments of one partition (bases, ascending),
// reading each into buf (grown as needed and returned for the next), and
// calls segment after each with its size and intact batches.
func scanPartition(pdir, topic string, part int, bases []int64, buf []byte, segment func(n int64, batches int)) (partScan, []byte) {
	res := partScan{end: -1}
	for i, base := range bases {
		path := filepath.Join(pdir, strconv.FormatInt(base, 10)+".dat")
		raw, err := readInto(path, buf)
		if err != nil {
			res.err = fmt.Errorf("scan broker log: %w", err)
			return res, buf
		}
		buf = raw
		sc := scanSegment(raw)
		segment(int64(len(raw)), sc.batches)
		if sc.batches > 0 {
			res.end = sc.next
		}
		if sc.valid < int64(len(raw)) {
			dmg := SegmentDamage{Topic: topic, Partition: part, Segment: path, Size: int64(len(raw)),
				Valid: sc.valid, Reason: sc.reason, FirstLost: base, LostUntil: sc.lostUntil, IntactAfter: sc.intactAfter}
			if sc.batches > 0 {
				dmg.FirstLost = sc.next
			}
			if dmg.LostUntil < 0 && i+1 < len(bases) {
				// The next segment starts where this one's data ended.
				dmg.LostUntil = bases[i+1]
			}
			if dmg.LostUntil < 0 && i+1 == len(bases) {
				if hwm, ok := snapshotHWM(pdir); ok && hwm > dmg.FirstLost {
					dmg.LostUntil = hwm
				}
			}
			res.damage = append(res.damage, dmg)
		}
	}
	if res.end < 0 {
		res.end = 0
		if len(bases) > 0 {
			res.end = bases[0]
		}
	}
	return res, buf
}

// readInto reads the file at path into buf's memory when it is large
// enough (a new slice when not), and returns what it read.
func readInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if size := int(fi.Size()); cap(buf) < size {
		buf = make([]byte, 0, size+size/8)
	}
	buf = buf[:cap(buf)]
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// Shorter than its size said (written to as it was read): what
		// was there.
		return buf[:n], nil
	case err != nil:
		return nil, err
	}
	// As long as the buffer: the file may have grown since; read the rest.
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return append(buf[:n], rest...), nil
}

// parsePartDir splits "<path-escaped topic>-<partition>".
func parsePartDir(name string) (string, int, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	part, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return "", 0, false
	}
	topic, err := url.PathUnescape(name[:i])
	if err != nil {
		return "", 0, false
	}
	return topic, part, true
}

// segmentBases lists a partition's segments by base offset, with their
// size in all.
func segmentBases(pdir string) ([]int64, int64, error) {
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, 0, fmt.Errorf("scan broker log: %w", err)
	}
	var bases []int64
	var size int64
	for _, e := range entries {
		if s, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if b, err := strconv.ParseInt(s, 10, 64); err == nil {
				bases = append(bases, b)
				if fi, err := e.Info(); err == nil {
					size += fi.Size()
				}
			}
		}
	}
	slices.Sort(bases)
	return bases, size, nil
}

// snapshotHWM is the high-water mark the broker saved at its last orderly
// shutdown, a hint of how far the log went.
func snapshotHWM(pdir string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(pdir, "snapshot.json"))
	if err != nil {
		return 0, false
	}
	var snap struct {
		HighWatermark int64 `json:"high_watermark"`
	}
	if json.Unmarshal(b, &snap) != nil {
		return 0, false
	}
	return snap.HighWatermark, true
}

type segmentScan struct {
	batches int
	// valid is the length of the intact prefix; next the offset after its
	// last batch.
	valid int64
	next  int64
	// reason describes the damage at valid ("" when none).
	reason      string
	lostUntil   int64
	intactAfter int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record batch layout (Kafka v2): baseOffset int64, batchLength int32,
// partitionLeaderEpoch int32, magic int8, crc uint32 (CRC-32C of
// everything after it), attributes int16, lastOffsetDelta int32, ...,
// records count int32 at byte 57.
const batchHeader = 61

func scanSegment(raw []byte) segmentScan {
	res := segmentScan{lostUntil: -1}
	pos := 0
	damaged := false
	for pos < len(raw) {
		if len(raw)-pos < 12 {
			res.setDamage(&damaged, pos, "torn batch header (the file ends mid-batch)")
			break
		}
		length := int(int32(binary.BigEndian.Uint32(raw[pos+8 : pos+12])))
		if length < batchHeader-12 || length > 1<<30 {
			res.setDamage(&damaged, pos, fmt.Sprintf("impossible batch length %d", length))
			break
		}
		size := 12 + length
		if pos+size > len(raw) {
			res.setDamage(&damaged, pos, fmt.Sprintf("torn batch (%d of %d bytes; the file ends mid-batch)", len(raw)-pos, size))
			break
		}
		b := raw[pos : pos+size]
		first := int64(binary.BigEndian.Uint64(b[0:8]))
		last := first + int64(int32(binary.BigEndian.Uint32(b[23:27])))
		ok := b[16] == 2 && binary.BigEndian.Uint32(b[17:21]) == crc32.Checksum(b[21:], castagnoli)
		switch {
		case !ok && !damaged:
			res.setDamage(&damaged, pos, "record batch fails its CRC")
			res.lostUntil = -1
		case ok && !damaged:
			res.batches++
			res.next = last + 1
			res.valid = int64(pos + size)
		case ok && damaged:
			res.intactAfter += int64(int32(binary.BigEndian.Uint32(b[57:61])))
		}
		if damaged && ok && last+1 > res.lostUntil {
			res.lostUntil = last + 1
		}
		pos += size
	}
	return res
}

func (s *segmentScan) setDamage(damaged *bool, pos int, reason string) {
	if *damaged {
		return
	}
	*damaged = true
	s.valid = int64(pos)
	s.reason = reason
}

// QuarantineReport is written beside the quarantined copies.
type QuarantineReport struct {
	Found  time.Time       `json:"found"`
	Damage []SegmentDamage `json:"damage"`
	// Acknowledged is set when an operator accepted the loss (learnstream
	// doctor --ack, or a start with --on-log-loss=rebuild).
	Acknowledged bool `json:"acknowledged"`
}

// QuarantineFile is the report's name inside a quarantine dir.
const QuarantineFile = "report.json"

// Quarantine copies every damaged segment (and its index) into a new
// directory under quarantineRoot, named by the time, with a report, before
// the broker truncates them; it fills in each damage's Quarantined path.
// Nothing is copied when there is no damage.
func Quarantine(quarantineRoot string, scan *LogScan, now time.Time) (string, error) {
	if len(scan.Damage) == 0 {
		return "", nil
	}
	// A start refused on this damage already kept it: the same files, the
	// same sizes, are not copied twice.
	reports, err := QuarantineReports(quarantineRoot)
	if err != nil {
		return "", err
	}
	for dir, r := range reports {
		if sameDamage(r.Damage, scan.Damage) {
			for i := range scan.Damage {
				scan.Damage[i].Quarantined = r.Damage[i].Quarantined
			}
			return dir, nil
		}
	}
	dir := filepath.Join(quarantineRoot, now.UTC().Format("20060102T150405.000Z"))
	for i := range scan.Damage {
		d := &scan.Damage[i]
		pdir := filepath.Dir(d.Segment)
		dst := filepath.Join(dir, filepath.Base(pdir))
		if err := os.MkdirAll(dst, 0o750); err != nil {
			return "", fmt.Errorf("quarantine: %w", err)
		}
		for _, name := range []string{filepath.Base(d.Segment), strings.TrimSuffix(filepath.Base(d.Segment), ".dat") + ".idx", "snapshot.json"} {
			err := copyFile(filepath.Join(pdir, name), filepath.Join(dst, name))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("quarantine %s: %w", d.Segment, err)
			}
		}
		d.Quarantined = filepath.Join(dst, filepath.Base(d.Segment))
	}
	b, err := json.MarshalIndent(QuarantineReport{Found: now.UTC(), Damage: scan.Damage}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, QuarantineFile), b, 0o640); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	return dir, nil
}

func sameDamage(a, b []SegmentDamage) bool {
	return slices.EqualFunc(a, b, func(x, y SegmentDamage) bool {
		return x.Segment == y.Segment && x.Size == y.Size && x.Valid == y.Valid && x.Reason == y.Reason
	})
}

// ReportDamage sets the damage metrics from a scan.
func ReportDamage(scan LogScan) {
	var lost int64
	for _, d := range scan.Damage {
		lost += d.Lost()
	}
	logDamageSegments.Set(float64(len(scan.Damage)))
	logDamageLost.Set(float64(lost))
}

// QuarantineReports reads every report under quarantineRoot, keyed by its
// directory.
func QuarantineReports(quarantineRoot string) (map[string]QuarantineReport, error) {
	entries, err := os.ReadDir(quarantineRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]QuarantineReport{}
	for _, e := range entries {
		p := filepath.Join(quarantineRoot, e.Name(), QuarantineFile)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var r QuarantineReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out[filepath.Join(quarantineRoot, e.Name())] = r
	}
	return out, nil
}

// AcknowledgeQuarantine marks every report under quarantineRoot as
// accepted by the operator and returns how many it changed.
func AcknowledgeQuarantine(quarantineRoot string) (int, error) {
	reports, err := QuarantineReports(quarantineRoot)
	if err != nil {
		return 0, err
	}
	n := 0
	for dir, r := range reports {
		if r.Acknowledged {
			continue
		}
		r.Acknowledged = true
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(dir, QuarantineFile), b, 0o640); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ForgetSnapshots removes the broker's snapshot of every damaged partition
// (the quarantine keeps a copy). Loading from a snapshot, the broker keeps
// the segment size the snapshot recorded even after it truncates the
// damaged segment, and appends new batches at positions the file no longer
// has: they could not be read back. Without a snapshot it replays the
// segments and takes the size from the file.
func ForgetSnapshots(scan LogScan) error {
	for _, d := range scan.Damage {
		err := os.Remove(filepath.Join(filepath.Dir(d.Segment), "snapshot.json"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("forget broker snapshot of %s partition %d: %w", d.Topic, d.Partition, err)
		}
	}
	return nil
}
