package analytics

import (
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
)

func statementEvents(b *testing.B) []event.Event {
	w := newWorld(worldConfig{tenants: 2, learners: 20, courses: 3, aus: 3, questions: 2, days: 70, seed: 7})
	var evs []event.Event
	for _, e := range w.events {
		if e.Type == event.TypeStatementStored {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		b.Fatal("no statements")
	}
	return evs
}

func benchmarkStatementRow(b *testing.B, enc *Encoder) {
	evs := statementEvents(b)
	var bytes int64
	for _, e := range evs {
		bytes += int64(len(e.Data))
	}
	b.SetBytes(bytes / int64(len(evs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := enc.StatementRow(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Row encoding with pseudonymisation (the default: HMAC + raw JSON rewrite).
func BenchmarkStatementRowPseudonymised(b *testing.B) {
	benchmarkStatementRow(b, NewEncoder(NewPseudonymizer(testSecret)))
}

// Row encoding with pseudonymisation off.
func BenchmarkStatementRowPlain(b *testing.B) {
	benchmarkStatementRow(b, NewEncoder(NoPseudonymization()))
}

// Encoding a row to a JSONEachRow line (the chDB / HTTP insert form).
func BenchmarkStatementAppendJSON(b *testing.B) {
	evs := statementEvents(b)
	r, err := NewEncoder(NewPseudonymizer(testSecret)).StatementRow(evs[len(evs)/2])
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = r.AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Batch building: Add rows, check the bounds, Take every 10k rows.
func BenchmarkBatcher(b *testing.B) {
	evs := statementEvents(b)
	r, err := NewEncoder(NewPseudonymizer(testSecret)).StatementRow(evs[0])
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	bt := NewBatcher(BatcherConfig{MaxRows: 10000, MaxWait: time.Second, Now: func() time.Time { return now }})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bt.Add(r)
		if bt.Full() || bt.Due(now) {
			bt.Take()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestCookbookLatency loads LEARNSTREAM_ANALYTICS_SCALE generated statements
// (plus their recommendation, mastery, difficulty and catalog events) into
// chDB through the Go encoder and reports each cookbook query's latency for
// one tenant (median of 3 runs). Opt-in: it takes a long time at 10M.
func TestCookbookLatency(t *testing.T) {
	scale, _ := strconv.Atoi(os.Getenv("LEARNSTREAM_ANALYTICS_SCALE"))
	if scale <= 0 {
		t.Skip("set LEARNSTREAM_ANALYTICS_SCALE=<statements> (e.g. 10000000) to measure cookbook latency on chDB")
	}
	s := startChDB(t)
	if err := Migrate(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	const perLearner = 58 // statements one generated learner produces on average
	tenants := 20
	learners := scale/perLearner/tenants + 1
	enc := NewEncoder(NewPseudonymizer(testSecret))
	var pending []Row
	var stmts, events, logged int
	var encodeTime time.Duration
	start := time.Now()
	flush := func() {
		if err := s.Insert(pending); err != nil {
			t.Fatal(err)
		}
		pending = pending[:0]
	}
	w := newWorld(worldConfig{tenants: tenants, learners: learners, courses: 3, aus: 3, questions: 2, days: 70, seed: 11,
		drain: func(evs []event.Event) {
			t0 := time.Now()
			for _, e := range evs {
				rs, err := enc.Rows(e)
				if err != nil {
					t.Fatal(err)
				}
				if e.Type == event.TypeStatementStored {
					stmts++
				}
				pending = append(pending, rs...)
			}
			encodeTime += time.Since(t0)
			events += len(evs)
			if len(pending) >= 50000 {
				flush()
				if stmts/1000000 > logged {
					logged = stmts / 1000000
					t.Logf("%s: %d statements loaded", time.Since(start).Round(time.Second), stmts)
				}
			}
		}})
	flush()
	load := time.Since(start)
	t.Logf("loaded %d statements (%d events) in %v; Go generation+encoding share %v", stmts, events, load.Round(time.Second), encodeTime.Round(time.Second))
	for _, q := range []string{"statements", "daily_activity", "course_progress", "recommendation_uptake"} {
		rows, _, err := s.Query("SELECT count() AS n, formatReadableSize(sum(bytes_on_disk)) AS size FROM system.parts WHERE active AND database = currentDatabase() AND table = {t:String}", map[string]string{"t": q})
		if err == nil {
			t.Logf("table %s: %v parts, %v on disk", q, rows[0]["n"], rows[0]["size"])
		}
	}
	params := w.params(w.tenants[0].name)
	for _, q := range loadCookbook(t) {
		var runs []float64
		var n int
		for i := 0; i < 3; i++ {
			rows, el, err := s.Query(q.sql, params)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			runs = append(runs, el)
			n = len(rows)
		}
		sort.Float64s(runs)
		t.Logf("%-32s %8.1f ms  (%d rows)", q.name, runs[1]*1000, n)
	}
}
