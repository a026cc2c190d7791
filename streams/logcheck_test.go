package streams_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// segmentOf10Batches writes 10 batches of 5 records to a one-partition
// topic of an embedded broker, stops it and returns its data dir and the
// partition's segment file.
func segmentOf10Batches(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, []string{b.Addr()}, []streams.TopicSpec{{Name: "ls.scan", Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: "ls.scan", BatchSize: 5, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	for i := range 10 {
		var msgs []kafka.Message
		for j := range 5 {
			msgs = append(msgs, kafka.Message{Value: fmt.Appendf(nil, "event %d", i*5+j)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "partitions", "ls.scan-0", "*.dat"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	return dir, segs[0]
}

// The check of a large log reports how far it is, and ends at the log's
// size: the server logs it while it does not answer yet.
func TestScanLogReportsProgress(t *testing.T) {
	dir, seg := segmentOf10Batches(t)
	// A second partition of two segments, copies of the first (only
	// their sizes matter here).
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "partitions", "ls.other-0")
	if err := os.MkdirAll(other, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0.dat", "50.dat"} {
		if err := os.WriteFile(filepath.Join(other, name), raw, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var calls [][2]int64
	scan, err := streams.ScanLogProgress(dir, func(scanned, total int64) { calls = append(calls, [2]int64{scanned, total}) })
	if err != nil {
		t.Fatal(err)
	}
	size := 3 * int64(len(raw))
	if scan.Segments != 3 || scan.Bytes != size || len(scan.Damage) != 0 {
		t.Fatalf("scan: %d segments, %d bytes, damage %v; want 3 segments of %d bytes in all, no damage", scan.Segments, scan.Bytes, scan.Damage, size)
	}
	if len(calls) != 3 {
		t.Fatalf("progress called %d times, want once a segment: %v", len(calls), calls)
	}
	for i, c := range calls {
		if c[1] != size || c[0] != int64(i+1)*int64(len(raw)) {
			t.Errorf("progress %d: %d of %d bytes, want %d of %d", i, c[0], c[1], int64(i+1)*int64(len(raw)), size)
		}
	}
}

// Partitions are scanned side by side, each reader reusing its buffer: a
// short segment read after a longer one is judged on its own bytes, and
// every partition's end and damage come out as when scanned alone.
func TestScanLogPartitionsSideBySide(t *testing.T) {
	dir, seg := segmentOf10Batches(t)
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(part, name string, b []byte) {
		t.Helper()
		pdir := filepath.Join(dir, "partitions", part)
		if err := os.MkdirAll(pdir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pdir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	half := raw[:len(raw)/2]
	// ls.a: an intact segment, then one cut in half (read into the
	// first one's buffer). ls.b: the half alone. ls.c: intact.
	write("ls.a-0", "0.dat", raw)
	write("ls.a-0", "50.dat", half)
	write("ls.b-0", "0.dat", half)
	write("ls.c-3", "0.dat", raw)
	scan, err := streams.ScanLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if scan.Segments != 5 || scan.Bytes != 3*int64(len(raw))+2*int64(len(half)) {
		t.Fatalf("scan: %d segments, %d bytes", scan.Segments, scan.Bytes)
	}
	if len(scan.Damage) != 2 || scan.Damage[0].Topic != "ls.a" || scan.Damage[1].Topic != "ls.b" {
		t.Fatalf("damage %+v, want ls.a's second segment and ls.b's", scan.Damage)
	}
	a, b := scan.Damage[0], scan.Damage[1]
	if filepath.Base(a.Segment) != "50.dat" || a.Size != int64(len(half)) || a.Valid != b.Valid || a.Reason != b.Reason || a.Valid >= a.Size {
		t.Errorf("the short segment after a long one: %+v; alone: %+v", a, b)
	}
	for _, want := range []struct {
		topic string
		part  int
		end   int64
	}{{"ls.scan", 0, 50}, {"ls.c", 3, 50}} {
		if got := scan.Ends[want.topic][want.part]; got != want.end {
			t.Errorf("%s-%d end = %d, want %d", want.topic, want.part, got, want.end)
		}
	}
}

func TestScanLogFindsDamageTheBrokerWouldDrop(t *testing.T) {
	for _, tc := range []struct {
		name      string
		damage    func(b []byte) []byte
		damaged   bool
		end       int64 // what the broker keeps
		lostUntil int64
	}{
		{"intact", func(b []byte) []byte { return b }, false, 50, 0},
		{"torn last batch", func(b []byte) []byte { return b[:len(b)-7] }, true, 45, 50},
		// A cut in the middle of batch 5: from there on the broker drops
		// all; the scan cannot see past the cut either, so the lost range
		// comes from the broker's snapshot (its high-water mark at stop).
		{"half", func(b []byte) []byte { return b[:len(b)/2] }, true, -1, 50},
		// A flip in one batch: the batches after it are intact, the broker
		// drops them all the same.
		{"flip", func(b []byte) []byte {
			for i := len(b) / 2; i < len(b)/2+4; i++ {
				b[i] ^= 0xff
			}
			return b
		}, true, -1, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, seg := segmentOf10Batches(t)
			raw, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, tc.damage(raw), 0o640); err != nil {
				t.Fatal(err)
			}
			scan, err := streams.ScanLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			if scan.Segments != 1 {
				t.Errorf("segments = %d", scan.Segments)
			}
			if got := len(scan.Damage) > 0; got != tc.damaged {
				t.Fatalf("damage = %+v, want damaged %v", scan.Damage, tc.damaged)
			}
			end := scan.Ends["ls.scan"][0]
			if tc.end >= 0 && end != tc.end {
				t.Errorf("end = %d, want %d", end, tc.end)
			}
			if !tc.damaged {
				return
			}
			d := scan.Damage[0]
			if d.FirstLost != end || d.LostUntil != tc.lostUntil || d.Topic != "ls.scan" || d.Partition != 0 {
				t.Errorf("damage %+v: want lost %d..%d", d, end, tc.lostUntil)
			}
			// The broker agrees: it keeps exactly the intact prefix.
			q := filepath.Join(t.TempDir(), "q")
			qdir, err := streams.Quarantine(q, &scan, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			kept, _ := os.ReadFile(scan.Damage[0].Quarantined)
			if len(kept) != int(d.Size) {
				t.Errorf("quarantined %d bytes, the damaged segment had %d", len(kept), d.Size)
			}
			if again, _ := streams.Quarantine(q, &scan, time.Now().Add(time.Second)); again != qdir {
				t.Errorf("the same damage quarantined twice: %s and %s", qdir, again)
			}
			if err := streams.ForgetSnapshots(scan); err != nil {
				t.Fatal(err)
			}
			// Unchecked, the broker is not started on it, so it truncates
			// nothing.
			if b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1}); err == nil {
				b.Close()
				t.Fatal("embedded broker started on a damaged log without a check")
			}
			if fi, _ := os.Stat(seg); fi.Size() != d.Size {
				t.Fatalf("refused start changed the segment: %d bytes, was %d", fi.Size(), d.Size)
			}
			b, err := streams.StartEmbedded(streams.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Partitions: 1, Checked: true})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ends, err := streams.EndOffsets(context.Background(), []string{b.Addr()}, "ls.scan")
			if err != nil {
				t.Fatal(err)
			}
			if ends[0] != end {
				t.Errorf("broker's end offset %d, scan said %d", ends[0], end)
			}
		})
	}
}

// A consumer whose stored offset is beyond the log end (the log lost its
// tail) neither skips what lands below it nor waits in silence: it reports
// the partition (readiness) and resumes once the log reaches its offset.
func TestSubscriberBeyondLogEndReportsAndWaits(t *testing.T) {
	c := kafkatest.Embedded(t)
	topic := kafkatest.Unique("ls.beyond")
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
		{Name: topic, Partitions: 1, Replication: 1}, {Name: streams.DLQ(topic), Partitions: 1, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, newEvent(t, fmt.Sprintf("a%d", i), "k", `{}`))
	}
	publish(t, c.Brokers, topic, evs)

	rec := newRecorder()
	rec.next[0] = 8 // it had read 8 events; the log holds 5
	stop := runConsumer(t, c, topic, "", rec, rec)
	defer stop()
	waitFor(t, "the partition reported as beyond the log end", 10*time.Second, func() bool {
		for _, s := range streams.StalledPartitions() {
			if strings.Contains(s, topic+" partition 0") && strings.Contains(s, "offset 8 but the log ends at 5") &&
				strings.Contains(s, "--on-log-loss=rebuild") {
				return true
			}
		}
		return false
	})
	if n := rec.count(); n != 0 {
		t.Fatalf("consumed %d events below its offset", n)
	}

	evs = evs[:0]
	for i := range 5 {
		evs = append(evs, newEvent(t, fmt.Sprintf("b%d", i), "k", `{}`))
	}
	publish(t, c.Brokers, topic, evs) // offsets 5..9: the log reaches 8 again
	waitFor(t, "events from offset 8 on", 15*time.Second, func() bool { return rec.count() == 2 })
	for _, s := range streams.StalledPartitions() {
		if strings.Contains(s, topic) {
			t.Errorf("still reported after the log reached the offset: %s", s)
		}
	}
}
