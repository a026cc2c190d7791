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
func BenchmarkStatementQuery1M(b *testing.B) { benchStatementQuery(b, 1_000_000) }

// BenchmarkStatementQuery10M is the same over 10,000,000 statements
// (100,000 agents, 20,000 activities: each agent and activity has as many
// statements as at 1M), the scale for filtered reads. The fill
// takes tens of minutes and about 10 GB of disk.
func BenchmarkStatementQuery10M(b *testing.B) { benchStatementQuery(b, 10_000_000) }

// benchStatementQuery fills a store with n statements, n/100 agents (100
// statements each, one verb and one activity each) and n/500 activities
// (500 statements each), then measures queries.
func benchStatementQuery(b *testing.B, n int) {
	agents, acts := n/100, n/500
	store := openStore(b)
	p, _ := NewStatements(store, nil)
	sp := p.Space()
	start := time.Now()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	txn := store.db.NewTransaction(true)
	for i := 0; i < n; i++ {
		stored := base.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		data := fmt.Sprintf(`{"id":"%08x-0000-4000-8000-000000000000","actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://example.com/verbs/v%d"},`+
			`"object":{"id":"http://example.com/act/%d"},"stored":%q,"timestamp":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs/","name":"k"}}}`,
			i, i%agents, (i%agents)%20, (i%agents)%acts, stored, stored)
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
		if (i+1)%1_000_000 == 0 && n > 1_000_000 {
			b.Logf("stored %d statements in %s", i+1, time.Since(start).Round(time.Second))
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
		// Agent l<a> only ever does verb a%20 on activity a%acts, 100
		// times; activity x has 500 statements.
		{"agent+verb+activity", func(i int) StatementQuery {
			a := (i * 7919) % agents
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", a), Verb: fmt.Sprintf("http://example.com/verbs/v%d", a%20),
				Activity: fmt.Sprintf("http://example.com/act/%d", a%acts), Limit: 100}
		}, 100},
		{"agent+verb", func(i int) StatementQuery {
			a := (i * 7919) % agents
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", a), Verb: fmt.Sprintf("http://example.com/verbs/v%d", a%20), Limit: 10}
		}, 10},
		{"activity+related_activities", func(i int) StatementQuery {
			return StatementQuery{Activity: fmt.Sprintf("http://example.com/act/%d", (i*7919)%acts), RelatedActivities: true, Limit: 10}
		}, 10},
		{"agent+related_agents", func(i int) StatementQuery {
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", (i*7919)%agents), RelatedAgents: true, Limit: 10}
		}, 10},
		{"agent only (baseline: one index, no probes)", func(i int) StatementQuery {
			return StatementQuery{Agent: fmt.Sprintf("mbox:mailto:l%d@example.com", (i*7919)%agents), Limit: 100}
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
