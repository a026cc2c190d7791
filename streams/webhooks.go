package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
)

// WebhookHTTPConfig bounds what a delivery may cost and where it may go.
type WebhookHTTPConfig struct {
	// Allow are address ranges deliveries may reach although they are
	// loopback, private, link-local... (the operator's --webhooks-allow-cidr).
	Allow []netip.Prefix
	// ConnectTimeout bounds the TCP and TLS handshakes; Timeout the whole
	// attempt, answer included.
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// MaxResponse is how much of an answer is read (the rest is dropped).
	MaxResponse int64
	// MaxBody bounds a request body.
	MaxBody int
}

func (c *WebhookHTTPConfig) defaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxResponse <= 0 {
		c.MaxResponse = 64 << 10
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
}

// ErrRedirect is a delivery answered with a redirect: it is not followed
// (the target could be anywhere) and counts as a failure.
var ErrRedirect = errors.New("the receiver answered with a redirect, which is not followed")

// NewWebhookClient returns the HTTP client of deliveries: every connection
// is checked against the address rules when it is made, after name
// resolution (so a name that resolves to a public address at registration
// and to a private one later is still refused), redirects are not
// followed, no proxy from the environment is used, and every attempt is
// bounded in time.
func NewWebhookClient(cfg WebhookHTTPConfig) *http.Client {
	cfg.defaults()
	dialer := &net.Dialer{
		Timeout: cfg.ConnectTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook connection to %s: %w", address, err)
			}
			return webhook.CheckAddr(ap.Addr(), cfg.Allow)
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// WebhookSender sends deliveries.
type WebhookSender struct {
	Client *http.Client
	Config WebhookHTTPConfig
	// UserAgent names the sender to receivers.
	UserAgent string
	Now       func() time.Time
}

// Attempt is the outcome of one request.
type Attempt struct {
	Status   int           `json:"status,omitempty"`
	Duration time.Duration `json:"-"`
	Err      error         `json:"-"`
}

// OK reports whether the attempt delivered.
func (a Attempt) OK() bool { return a.Err == nil }

func (s *WebhookSender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Send delivers ds (one webhook message, or a batch of statements for an
// xapi-forward subscription) to sub.
func (s *WebhookSender) Send(ctx context.Context, sub *webhook.Subscription, ds []projections.Delivery) Attempt {
	if sub.Kind == webhook.KindXAPIForward {
		return s.forward(ctx, sub, ds)
	}
	if len(ds) != 1 {
		return Attempt{Err: fmt.Errorf("a webhook delivery is one message, got %d", len(ds))}
	}
	return s.post(ctx, sub, ds[0].Message, ds[0].Body)
}

// post sends one signed webhook request.
func (s *WebhookSender) post(ctx context.Context, sub *webhook.Subscription, id string, body []byte) Attempt {
	now := s.now()
	sig, err := webhook.Sign(sub.SigningSecrets(now), id, now, body)
	if err != nil {
		return Attempt{Err: fmt.Errorf("sign: %w", err)}
	}
	return s.do(ctx, sub.URL, body, func(h http.Header) {
		h.Set("Content-Type", "application/json")
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(webhook.HeaderSignature, sig)
	}, nil, nil)
}

// forward posts statements to the target LRS. A 409 (an id the target
// holds already) of one statement counts as delivered; a batch answered
// 409 is sent again statement by statement, so that the new ones in it
// are not lost with the duplicate.
func (s *WebhookSender) forward(ctx context.Context, sub *webhook.Subscription, ds []projections.Delivery) Attempt {
	stmts := make([]json.RawMessage, len(ds))
	for i, d := range ds {
		stmts[i] = d.Body
	}
	body, err := json.Marshal(stmts)
	if err != nil {
		return Attempt{Err: err}
	}
	u := strings.TrimRight(sub.URL, "/") + "/statements"
	xapi := func(h http.Header) {
		h.Set("Content-Type", "application/json")
		h.Set("X-Experience-API-Version", "1.0.3")
	}
	conflict := func(status int) bool { return status == http.StatusConflict }
	a := s.do(ctx, u, body, xapi, sub, conflict)
	if a.Status != http.StatusConflict || len(ds) == 1 {
		return a
	}
	for _, d := range ds {
		body, _ := json.Marshal([]json.RawMessage{d.Body})
		if one := s.do(ctx, u, body, xapi, sub, conflict); !one.OK() {
			return one
		}
	}
	return Attempt{Status: http.StatusOK, Duration: a.Duration}
}

// do sends one POST; okStatus, when set, accepts statuses beyond 2xx.
// basic, when set, is the subscription whose credentials authenticate it.
func (s *WebhookSender) do(ctx context.Context, u string, body []byte, headers func(http.Header), basic *webhook.Subscription, okStatus func(int) bool) Attempt {
	cfg := s.Config
	cfg.defaults()
	if len(body) > cfg.MaxBody {
		return Attempt{Err: fmt.Errorf("request body of %d bytes is larger than --webhooks-max-body (%d)", len(body), cfg.MaxBody)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: err}
	}
	headers(req.Header)
	ua := s.UserAgent
	if ua == "" {
		ua = "learnstream-webhooks/1"
	}
	req.Header.Set("User-Agent", ua)
	if basic != nil {
		req.SetBasicAuth(basic.Username, basic.Password)
	}
	start := time.Now()
	resp, err := s.Client.Do(req)
	a := Attempt{Duration: time.Since(start)}
	if err != nil {
		a.Err = redactURL(err)
		return a
	}
	// Only a bounded part of the answer is read, so a receiver cannot make
	// a delivery hold memory; the rest is dropped with the connection.
	io.Copy(io.Discard, io.LimitReader(resp.Body, cfg.MaxResponse))
	resp.Body.Close()
	a.Status = resp.StatusCode
	a.Duration = time.Since(start)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Err = fmt.Errorf("%w (%d to %q)", ErrRedirect, resp.StatusCode, resp.Header.Get("Location"))
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case okStatus != nil && okStatus(resp.StatusCode):
	default:
		a.Err = fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return a
}

// redactURL keeps an error's reason without the URL's query, which may
// carry a receiver's token.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// PingType is the type of the test event POST /v1/webhooks/{id}/ping sends.
const PingType = "learnstream.webhook.ping.v1"

// Ping sends a signed test event to a webhook subscription (no retries),
// or for an xapi-forward subscription reads the target LRS's About
// resource with its credentials.
func (s *WebhookSender) Ping(ctx context.Context, sub *webhook.Subscription) Attempt {
	now := s.now().UTC()
	if sub.Kind == webhook.KindXAPIForward {
		return s.aboutLRS(ctx, sub)
	}
	id := "msg_ping_" + strconv.FormatInt(now.UnixNano(), 36)
	body, _ := json.Marshal(map[string]any{"type": PingType, "timestamp": now, "id": id, "tenant": sub.Tenant,
		"data": map[string]string{"subscription": sub.ID}})
	return s.post(ctx, sub, id, body)
}

func (s *WebhookSender) aboutLRS(ctx context.Context, sub *webhook.Subscription) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(sub.URL, "/")+"/about", nil)
	if err != nil {
		return Attempt{Err: err}
	}
	req.Header.Set("X-Experience-API-Version", "1.0.3")
	req.SetBasicAuth(sub.Username, sub.Password)
	start := time.Now()
	resp, err := s.Client.Do(req)
	a := Attempt{Duration: time.Since(start)}
	if err != nil {
		a.Err = redactURL(err)
		return a
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		a.Err = fmt.Errorf("the LRS answered %d to GET /about", resp.StatusCode)
	}
	return a
}

var (
	webhookDeliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_webhook_deliveries_total",
		Help: "Webhook and forwarding attempts per subscription, by outcome (delivered, failed).",
	}, []string{"subscription", "outcome"})
	webhookRetries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_webhook_retries_total",
		Help: "Failed attempts that will be tried again, per subscription.",
	}, []string{"subscription"})
	webhookDeadTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_webhook_dead_letters_total",
		Help: "Messages moved to a subscription's dead-letter list after their last attempt.",
	}, []string{"subscription"})
	webhookLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "learnstream_webhook_request_seconds",
		Help:    "Duration of delivery requests per subscription.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"subscription"})
	webhookLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "learnstream_webhook_delivery_lag_seconds",
		Help:    "Time from an event to its successful delivery, per subscription.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
	}, []string{"subscription"})
	webhookQueued = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "learnstream_webhook_queue_depth",
		Help: "Messages waiting for delivery per subscription (this process).",
	}, []string{"subscription"})
	webhookDead = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "learnstream_webhook_dead_letters",
		Help: "Messages in a subscription's dead-letter list (this process).",
	}, []string{"subscription"})
)

// WebhookSubscriptions is what the deliverer reads of the subscriptions
// projection.
type WebhookSubscriptions interface {
	List(ctx context.Context, tenant string) ([]webhook.Subscription, error)
	Get(ctx context.Context, tenant, id string) (webhook.Subscription, error)
	Changed() <-chan struct{}
}

// WebhookDelivererConfig configures the delivery of queued messages.
type WebhookDelivererConfig struct {
	Queue         *projections.WebhookQueue
	Subscriptions WebhookSubscriptions
	Sender        *WebhookSender
	// MaxAttempts is how many times a message is tried before it becomes
	// a dead letter (default 16).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff between
	// attempts (defaults 1 s and 30 min).
	BackoffBase, BackoffMax time.Duration
	// ForwardBatch bounds the statements of one forwarding request.
	ForwardBatch int
	// Replay queues the events of sub's replay that this process reads
	// and answers how many (nil: replays are not run here).
	Replay func(ctx context.Context, sub webhook.Subscription) (int, error)
	// CatchUp queues what this process read of a new subscription's
	// events before it knew of it (nil: not done here).
	CatchUp func(ctx context.Context, sub webhook.Subscription, c projections.CatchUp) (int, error)
	Logger  *slog.Logger
}

// WebhookDeliverer runs one delivery loop per lane of every subscription:
// each lane delivers its messages in order, one at a time, and waits out
// its own retries, so a slow or failing receiver holds back only its own
// lanes, never another subscription or the consumers that fill the
// queues.
type WebhookDeliverer struct {
	cfg WebhookDelivererConfig
	log *slog.Logger

	mu     sync.Mutex
	groups map[string]*laneGroup
}

type laneGroup struct {
	mu     sync.Mutex
	sub    webhook.Subscription
	cancel context.CancelFunc
	wake   [projections.WebhookLanes]chan struct{}
	done   sync.WaitGroup
}

func (g *laneGroup) current() webhook.Subscription {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sub
}

func (g *laneGroup) poke() {
	for _, w := range g.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// NewWebhookDeliverer returns a deliverer; Run runs it.
func NewWebhookDeliverer(cfg WebhookDelivererConfig) *WebhookDeliverer {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 16
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Minute
	}
	if cfg.ForwardBatch <= 0 {
		cfg.ForwardBatch = 50
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &WebhookDeliverer{cfg: cfg, log: log, groups: map[string]*laneGroup{}}
	cfg.Queue.OnEnqueue(d.wake)
	return d
}

func (d *WebhookDeliverer) wake(sub string) {
	d.mu.Lock()
	g := d.groups[sub]
	d.mu.Unlock()
	if g != nil {
		g.poke()
	}
}

// Run follows the subscriptions and delivers until ctx ends; it returns
// after every lane stopped.
func (d *WebhookDeliverer) Run(ctx context.Context) {
	changed := d.cfg.Subscriptions.Changed()
	metrics := time.NewTicker(5 * time.Second)
	defer metrics.Stop()
	resync := time.NewTicker(2 * time.Second)
	defer resync.Stop()
	var replays sync.WaitGroup
	defer func() {
		d.mu.Lock()
		groups := d.groups
		d.groups = map[string]*laneGroup{}
		d.mu.Unlock()
		for _, g := range groups {
			g.cancel()
			g.done.Wait()
		}
		replays.Wait()
	}()
	running := map[string]bool{} // replays under way, by subscription and replay id
	var runMu sync.Mutex
	for {
		d.sync(ctx)
		d.startReplays(ctx, &replays, running, &runMu)
		d.startCatchUps(ctx, &replays, running, &runMu)
		select {
		case <-ctx.Done():
			return
		case <-changed:
			// The change is applied in the projection's transaction, which
			// commits right after it tells.
			if !sleep(ctx, 20*time.Millisecond) {
				return
			}
		case <-resync.C:
		case <-metrics.C:
			d.measure()
		}
	}
}

// sync starts lanes for new subscriptions, tells running lanes of changed
// ones, and stops and forgets deleted ones.
func (d *WebhookDeliverer) sync(ctx context.Context) {
	subs, err := d.cfg.Subscriptions.List(ctx, "")
	if err != nil {
		d.log.Error("webhooks: read subscriptions", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, s := range subs {
		seen[s.ID] = true
		d.mu.Lock()
		g := d.groups[s.ID]
		if g == nil {
			gctx, cancel := context.WithCancel(ctx)
			g = &laneGroup{sub: s, cancel: cancel}
			for i := range g.wake {
				g.wake[i] = make(chan struct{}, 1)
			}
			d.groups[s.ID] = g
			for lane := range projections.WebhookLanes {
				g.done.Add(1)
				go func() {
					defer g.done.Done()
					d.runLane(gctx, g, lane)
				}()
			}
		}
		d.mu.Unlock()
		g.mu.Lock()
		g.sub = s
		g.mu.Unlock()
		g.poke()
	}
	d.mu.Lock()
	var gone []string
	for id, g := range d.groups {
		if !seen[id] {
			g.cancel()
			gone = append(gone, id)
		}
	}
	groups := make(map[string]*laneGroup, len(gone))
	for _, id := range gone {
		groups[id] = d.groups[id]
		delete(d.groups, id)
	}
	d.mu.Unlock()
	for id, g := range groups {
		g.done.Wait()
		if err := d.cfg.Queue.Drop(id); err != nil {
			d.log.Error("webhooks: drop the queues of a deleted subscription", "subscription", id, "err", err)
		}
		for _, v := range []*prometheus.GaugeVec{webhookQueued, webhookDead} {
			v.DeleteLabelValues(id)
		}
	}
}

func (d *WebhookDeliverer) startReplays(ctx context.Context, wg *sync.WaitGroup, running map[string]bool, mu *sync.Mutex) {
	if d.cfg.Replay == nil {
		return
	}
	d.mu.Lock()
	var subs []webhook.Subscription
	for _, g := range d.groups {
		subs = append(subs, g.current())
	}
	d.mu.Unlock()
	for _, s := range subs {
		if s.ReplayID == "" {
			continue
		}
		key := s.ID + "/" + s.ReplayID
		mu.Lock()
		busy := running[key]
		mu.Unlock()
		if busy {
			continue
		}
		done, err := d.cfg.Queue.ReplayDone(s.ID, s.ReplayID)
		if err != nil || done {
			continue
		}
		mu.Lock()
		running[key] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(running, key); mu.Unlock() }()
			n, err := d.cfg.Replay(ctx, s)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, errNoPartitions) {
					d.log.Warn("webhooks: replay failed; it runs again", "subscription", s.ID, "replay", s.ReplayID, "err", err)
				}
				return
			}
			if err := d.cfg.Queue.MarkReplayDone(s.ID, s.ReplayID); err != nil {
				d.log.Error("webhooks: record replay done", "subscription", s.ID, "err", err)
				return
			}
			d.log.Info("webhooks: replay queued", "subscription", s.ID, "replay", s.ReplayID, "since", s.ReplaySince, "messages", n)
		}()
	}
}

// startCatchUps reads again, for new subscriptions, what the consumers
// read before this process knew of them (WebhookQueue.CatchUps).
func (d *WebhookDeliverer) startCatchUps(ctx context.Context, wg *sync.WaitGroup, running map[string]bool, mu *sync.Mutex) {
	if d.cfg.CatchUp == nil {
		return
	}
	cs, err := d.cfg.Queue.CatchUps()
	if err != nil {
		d.log.Error("webhooks: read catch-ups", "err", err)
		return
	}
	for _, c := range cs {
		d.mu.Lock()
		g := d.groups[c.Subscription]
		d.mu.Unlock()
		if g == nil {
			continue // not synced yet, or deleted (its catch-ups go with it)
		}
		key := fmt.Sprintf("catch-up %s %s %d", c.Subscription, c.Topic, c.Partition)
		mu.Lock()
		busy := running[key]
		if !busy {
			running[key] = true
		}
		mu.Unlock()
		if busy {
			continue
		}
		sub := g.current()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(running, key); mu.Unlock() }()
			n, err := d.cfg.CatchUp(ctx, sub, c)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("webhooks: catch-up failed; it runs again", "subscription", sub.ID, "topic", c.Topic, "partition", c.Partition, "err", err)
				}
				return
			}
			if err := d.cfg.Queue.CatchUpDone(c); err != nil {
				d.log.Error("webhooks: record catch-up done", "subscription", sub.ID, "err", err)
				return
			}
			if n > 0 {
				d.log.Info("webhooks: events read before the subscription was known here queued", "subscription", sub.ID,
					"topic", c.Topic, "partition", c.Partition, "messages", n)
			}
		}()
	}
}

func (d *WebhookDeliverer) measure() {
	d.mu.Lock()
	ids := make([]string, 0, len(d.groups))
	for id := range d.groups {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	for _, id := range ids {
		q, dead, err := d.cfg.Queue.Depth(id)
		if err != nil {
			continue
		}
		webhookQueued.WithLabelValues(id).Set(float64(q))
		webhookDead.WithLabelValues(id).Set(float64(dead))
	}
}

// runLane delivers one lane of one subscription in order.
func (d *WebhookDeliverer) runLane(ctx context.Context, g *laneGroup, lane int) {
	idle := 2 * time.Second
	for ctx.Err() == nil {
		// The subscription as stored now, not as last synced: a pause, a
		// new URL or a rotated secret the API answered for applies to the
		// very next attempt.
		cur := g.current()
		sub, err := d.cfg.Subscriptions.Get(ctx, cur.Tenant, cur.ID)
		if err != nil {
			// Deleted (its lanes stop at the next sync) or unreadable.
			d.wait(ctx, nil, time.Second)
			continue
		}
		if sub.Paused {
			d.wait(ctx, g.wake[lane], idle)
			continue
		}
		// A webhook lane takes several messages at once and sends them one
		// by one, recording those delivered in one transaction: a crash
		// in between sends them again, with the same webhook-ids.
		n, units := webhookHead, func(ds []projections.Delivery) [][]projections.Delivery {
			out := make([][]projections.Delivery, len(ds))
			for i := range ds {
				out[i] = ds[i : i+1]
			}
			return out
		}
		if sub.Kind == webhook.KindXAPIForward {
			n = d.cfg.ForwardBatch
			units = func(ds []projections.Delivery) [][]projections.Delivery { return [][]projections.Delivery{ds} }
		}
		ds, err := d.cfg.Queue.Head(sub.ID, lane, n)
		if err != nil {
			d.log.Error("webhooks: read queue", "subscription", sub.ID, "lane", lane, "err", err)
			d.wait(ctx, nil, time.Second)
			continue
		}
		if len(ds) == 0 {
			d.wait(ctx, g.wake[lane], idle)
			continue
		}
		var delivered []projections.Delivery
		var failed []projections.Delivery
		var last Attempt
		for _, u := range units(ds) {
			// A pause stops the batch between two messages (the rest waits
			// in the queue), not after it.
			if g.current().Paused {
				break
			}
			last = d.cfg.Sender.Send(ctx, &sub, u)
			if ctx.Err() != nil {
				break
			}
			webhookLatency.WithLabelValues(sub.ID).Observe(last.Duration.Seconds())
			if !last.OK() {
				failed = u
				break
			}
			delivered = append(delivered, u...)
		}
		if len(delivered) > 0 {
			if err := d.cfg.Queue.Delivered(delivered); err != nil {
				// Delivered but still queued: sent again later, with the
				// same webhook-id (at least once).
				d.log.Error("webhooks: record delivery", "subscription", sub.ID, "err", err)
				d.wait(ctx, nil, time.Second)
				continue
			}
			webhookDeliveries.WithLabelValues(sub.ID, "delivered").Add(float64(len(delivered)))
			lag := webhookLag.WithLabelValues(sub.ID)
			for _, x := range delivered {
				lag.Observe(time.Since(x.Time).Seconds())
			}
		}
		if ctx.Err() != nil {
			return // shutting down: what was not recorded is sent again after a restart
		}
		if failed == nil {
			continue
		}
		if !d.failed(ctx, &sub, failed, last) {
			return
		}
	}
}

// webhookHead is how many messages a webhook lane takes from its queue at
// once.
const webhookHead = 16

// failed records a failed attempt of ds: a dead letter after the last
// attempt, else a backoff. It answers false when ctx ended.
func (d *WebhookDeliverer) failed(ctx context.Context, sub *webhook.Subscription, ds []projections.Delivery, a Attempt) bool {
	webhookDeliveries.WithLabelValues(sub.ID, "failed").Add(float64(len(ds)))
	present, err := d.cfg.Queue.Failed(ds, a.Status, a.Err.Error())
	if err != nil {
		d.log.Error("webhooks: record failed attempt", "subscription", sub.ID, "err", err)
		d.wait(ctx, nil, time.Second)
		return ctx.Err() == nil
	}
	if !present {
		return true
	}
	attempts := ds[0].Attempts
	if attempts >= d.cfg.MaxAttempts {
		if err := d.cfg.Queue.Kill(ds); err != nil {
			d.log.Error("webhooks: move to dead letters", "subscription", sub.ID, "err", err)
			d.wait(ctx, nil, time.Second)
			return ctx.Err() == nil
		}
		webhookDeadTotal.WithLabelValues(sub.ID).Add(float64(len(ds)))
		d.log.Warn("webhooks: message moved to the dead-letter list", "subscription", sub.ID, "message", ds[0].Message,
			"attempts", attempts, "status", a.Status, "err", a.Err)
		return true
	}
	webhookRetries.WithLabelValues(sub.ID).Inc()
	wait := webhook.Backoff(attempts, d.cfg.BackoffBase, d.cfg.BackoffMax)
	d.log.Debug("webhooks: delivery failed, will retry", "subscription", sub.ID, "message", ds[0].Message,
		"attempt", attempts, "status", a.Status, "err", a.Err, "retry_in", wait)
	// A retry waits its backoff whatever wakes the lane: new messages
	// queue behind this one.
	return sleep(ctx, wait)
}

func (d *WebhookDeliverer) wait(ctx context.Context, wake <-chan struct{}, max time.Duration) {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// WebhookReplayer reads a replay's events from the log: every partition
// of the subscription's topics that this process consumes, from the first
// offset at or after the replay's time up to the end offsets taken when it
// starts, so that it always ends.
type WebhookReplayer struct {
	Brokers []string
	Queue   *projections.WebhookQueue
	// Partitions returns the partitions of topic this process consumes
	// (nil: all of them).
	Partitions func(topic string) []int
}

var errNoPartitions = errors.New("no partitions of the subscription's topics are assigned to this process")

// Replay queues the matching events of sub since sub.ReplaySince.
func (r *WebhookReplayer) Replay(ctx context.Context, sub webhook.Subscription) (int, error) {
	total, owned := 0, false
	verify := verifierFor(r.Brokers)
	for _, topic := range webhook.TopicsFor(sub.Filter) {
		ends, err := EndOffsets(ctx, r.Brokers, topic)
		if err != nil {
			return total, err
		}
		var parts []int
		if r.Partitions != nil {
			if parts = r.Partitions(topic); len(parts) == 0 {
				continue
			}
		} else {
			for p := range ends {
				parts = append(parts, p)
			}
		}
		owned = true
		for _, p := range parts {
			n, err := r.replayPartition(ctx, sub, topic, p, ends[p], verify)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	if !owned {
		// Not assigned yet (the group is joining), or more members than
		// partitions: looked at again at the next resync.
		return 0, errNoPartitions
	}
	return total, nil
}

func (r *WebhookReplayer) replayPartition(ctx context.Context, sub webhook.Subscription, topic string, partition int, end int64, verify *verifier) (int, error) {
	return r.read(ctx, sub, sub.ReplaySince, topic, partition, end, verify)
}

// CatchUp queues the events of sub in one partition from its creation up
// to c.End, which this process read before it knew of sub.
func (r *WebhookReplayer) CatchUp(ctx context.Context, sub webhook.Subscription, c projections.CatchUp) (int, error) {
	return r.read(ctx, sub, sub.Since(), c.Topic, c.Partition, c.End, verifierFor(r.Brokers))
}

// read queues the events of sub at or after since in one partition, up
// to end (exclusive).
func (r *WebhookReplayer) read(ctx context.Context, sub webhook.Subscription, since time.Time, topic string, partition int, end int64, verify *verifier) (int, error) {
	if end <= 0 {
		return 0, nil
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: r.Brokers, Dialer: Dialer(r.Brokers), Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: FetchMaxBytes, MaxWait: 200 * time.Millisecond})
	defer rd.Close()
	if err := rd.SetOffsetAt(ctx, since); err != nil {
		return 0, fmt.Errorf("replay %s/%d from %s: %w", topic, partition, since, err)
	}
	total := 0
	var batch []event.Event
	flush := func() error {
		n, err := r.Queue.EnqueueReplay(&sub, since, batch)
		total += n
		batch = batch[:0]
		return err
	}
	for {
		if rd.Offset() >= end {
			break
		}
		km, err := rd.ReadMessage(ctx)
		if err != nil {
			return total, fmt.Errorf("replay %s/%d: %w", topic, partition, err)
		}
		if e, err := Event(fromKafka(ctx, km, verify)); err == nil {
			batch = append(batch, e)
		}
		if len(batch) >= 200 {
			if err := flush(); err != nil {
				return total, err
			}
		}
		if km.Offset+1 >= end {
			break
		}
	}
	return total, flush()
}
