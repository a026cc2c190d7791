package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
)

// BenchmarkStatementQuery1M measures GET /statements queries against the
// statements projection holding 1,000,000 statements of one tenant:
// 10,000 agents, 20 verbs, 2,000 activities. The store is filled through
// the model's Apply in large transactions (as a replay would, without the
// per-event offset commit) so the setup takes minutes, not hours. Each
// sub-benchmark reports the p50 and p99 latency of one query.
func BenchmarkStatementQuery1M(b *testing.B) {
	const n = 1_000_000
	store := openStoreB(b)
	p, _ := NewStatements(store, nil)
	sp := p.Space()
	start := time.Now()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	txn := store.db.NewTransaction(true)
	for i := 0; i < n; i++ {
		stored := base.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		data := fmt.Sprintf(`{"id":"%08x-0000-4000-8000-000000000000","actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://example.com/verbs/v%d"},`+
			`"object":{"id":"http://example.com/act/%d"},"stored":%q,"timestamp":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs/","name":"k"}}}`,
			i, i%10_000, i%20, i%2_000, stored, stored)
		e := event.Event{ID: fmt.Sprint(i), Type: event.TypeStatementStored, Tenant: "t1", Data: []byte(data)}
		_, err := statementsModel{}.Apply(txn, sp, e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				b.Fatal(err)
			}
			txn = store.db.NewTransaction(true)
			_, err = statementsModel{}.Apply(txn, sp, e)
		}
		if err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			if err := txn.Commit(); err != nil {
				b.Fatal(err)
			}
			txn = store.db.NewTransaction(true)
		}
	}
	if err := txn.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d statements in %s", n, time.Since(start).Round(time.Second))
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		q    func(i int) StatementQuery
		want int
	}{
		// Agent l<a> only ever does verb a%20 on activity a%2000, 100 times.
		{"agent+verb+activity", func(i int) StatementQuery {
			a := (i * 7919) % 10_000
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", a), Verb: fmt.Sprintf("http://example.com/verbs/v%d", a%20),
				Activity: fmt.Sprintf("http://example.com/act/%d", a%2_000), Limit: 100}
		}, 100},
		{"agent only (baseline: one index, no probes)", func(i int) StatementQuery {
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", (i*7919)%10_000), Limit: 100}
		}, 100},
		{"no filter, newest 100", func(int) StatementQuery { return StatementQuery{Limit: 100} }, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				page, err := p.Query(ctx, "t1", bc.q(i))
				lat = append(lat, time.Since(t0))
				if err != nil || len(page.Statements) != bc.want {
					b.Fatalf("query: %d statements, %v", len(page.Statements), err)
				}
			}
			slices.Sort(lat)
			pct := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(pct(0.5), "p50_ms")
			b.ReportMetric(pct(0.99), "p99_ms")
		})
	}
}
