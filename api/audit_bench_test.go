package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/streams"
)

type discardLog struct{}

func (discardLog) PublishEvents(context.Context, string, ...event.Event) error { return nil }

// BenchmarkStatementsReadAudit measures GET /xapi/statements (a page of 50
// statements of 10 learners, each recorded by learner in the audit) with
// the access audit off and on, in one run: what the audit costs a read.
func BenchmarkStatementsReadAudit(b *testing.B) {
	for _, audit := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", audit), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := newFixture(b, func(c *api.Config) {
				if audit {
					a := streams.NewAccessAuditor(streams.AccessAuditConfig{Publisher: discardLog{}})
					go a.Run(ctx)
					c.Audit, c.Pseudonyms = a, testNames
				}
			})
			for i := range 50 {
				body := fmt.Sprintf(`{"actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/a%d"}}`, i%10, i)
				if resp, _ := f.do(b, req{method: "POST", path: "/xapi/statements", body: body}); resp.StatusCode != 200 {
					b.Fatalf("POST: %d", resp.StatusCode)
				}
			}
			<-f.log.applied
			hr, _ := http.NewRequest("GET", f.srv.URL+"/xapi/statements?limit=50", nil)
			hr.SetBasicAuth("admin", "admin-secret")
			hr.Header.Set("X-Experience-API-Version", "1.0.3")
			b.ResetTimer()
			for range b.N {
				resp, err := http.DefaultClient.Do(hr)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET: %d", resp.StatusCode)
				}
			}
		})
	}
}
