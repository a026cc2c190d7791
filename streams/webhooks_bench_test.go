package streams_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// benchSubs is one subscription, as the deliverer reads it.
type benchSubs struct{ sub webhook.Subscription }

func (s benchSubs) List(context.Context, string) ([]webhook.Subscription, error) {
	return []webhook.Subscription{s.sub}, nil
}
func (s benchSubs) Get(context.Context, string, string) (webhook.Subscription, error) {
	return s.sub, nil
}
func (s benchSubs) Changed() <-chan struct{} { return make(chan struct{}) }

// BenchmarkWebhookDelivery measures deliveries per second to a receiver
// on loopback: "raw" is the same HTTP client posting the same bodies from
// as many goroutines as a subscription has lanes (the floor: no queue, no
// signing, no bookkeeping), "webhooks" the whole delivery path: events
// queued in Badger, eight lanes reading their heads, signing, posting and
// removing each delivered message. Run with a fixed count, e.g.
// go test -run '^$' -bench WebhookDelivery -benchtime 20000x ./streams
func BenchmarkWebhookDelivery(b *testing.B) {
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	cfg := streams.WebhookHTTPConfig{Allow: loopback}
	created := time.Now().Add(-time.Hour)
	evs := func(n int) ([]event.Position, []event.Event) {
		pos := make([]event.Position, n)
		out := make([]event.Event, n)
		for i := range n {
			data := fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","actor":{"mbox":"mailto:l%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.com/c/%d"},"result":{"score":{"scaled":0.8},"completion":true}}`, i, i%1000, i%50)
			e, err := event.New(fmt.Sprintf("ev-%d", i), event.TypeStatementStored, "bench", "t1", fmt.Sprintf("mbox:mailto:l%d@example.com", i%1000), created.Add(time.Second), []byte(data))
			if err != nil {
				b.Fatal(err)
			}
			out[i], pos[i] = e, event.Position{Topic: streams.TopicStatements, Offset: int64(i)}
		}
		return pos, out
	}
	report := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	}

	b.Run("raw", func(b *testing.B) {
		_, es := evs(min(b.N, 1000))
		bodies := make([][]byte, len(es))
		for i, e := range es {
			bodies[i], _ = projections.Payload(e)
		}
		client := streams.NewWebhookClient(cfg)
		b.ResetTimer()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range projections.WebhookLanes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
					req, _ := http.NewRequest("POST", recv.URL, bytesReader(bodies[i%int64(len(bodies))]))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		report(b, start)
	})

	b.Run("webhooks", func(b *testing.B) {
		store, err := projections.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		sub := webhook.Subscription{ID: "wh_bench", Tenant: "t1", Kind: webhook.KindWebhook, URL: recv.URL, Created: created,
			Secrets: []webhook.Secret{{Value: webhook.NewSecret()}}}
		q, err := projections.NewWebhookQueue(store, projections.WebhookQueueConfig{
			Subscriptions: func() ([]webhook.Subscription, error) { return []webhook.Subscription{sub}, nil }})
		if err != nil {
			b.Fatal(err)
		}
		pos, es := evs(b.N)
		for i := 0; i < len(es); i += 500 {
			j := min(i+500, len(es))
			if _, err := q.HandleBatch(context.Background(), pos[i:j], es[i:j]); err != nil {
				b.Fatal(err)
			}
		}
		got.Store(0)
		d := streams.NewWebhookDeliverer(streams.WebhookDelivererConfig{Queue: q, Subscriptions: benchSubs{sub},
			Sender: &streams.WebhookSender{Client: streams.NewWebhookClient(cfg), Config: cfg}})
		ctx, cancel := context.WithCancel(context.Background())
		b.ResetTimer()
		start := time.Now()
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		for got.Load() < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		report(b, start)
		b.StopTimer()
		cancel()
		<-done
		if n, _, _ := q.Depth(sub.ID); n != 0 {
			b.Errorf("%d deliveries still queued after the receiver got %d", n, got.Load())
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
