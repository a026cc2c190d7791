package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/webhook"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// Webhooks and statement forwarding ([integrations.md]):
//
//   - every process running api or webhooks keeps the subscriptions
//     projection (learnstream.webhooks.v1, compacted, every partition);
//   - api: /v1/webhooks (the webhooks scope), pings sent from this
//     process, dead letters when it also runs the webhooks role;
//   - webhooks: the delivery role. It consumes the topics subscriptions
//     can receive in the consumer group <prefix>-webhooks, queues each
//     matching event per subscription in Badger with its input offsets
//     (one transaction), and delivers every subscription's lanes
//     independently.
func init() { roleStarters = append(roleStarters, startWebhooks) }

// webhooksConfig are the webhook flags.
type webhooksConfig struct {
	allowHTTP    bool
	allowCIDR    string
	maxAttempts  int
	backoffBase  time.Duration
	backoffMax   time.Duration
	timeout      time.Duration
	maxBody      int
	forwardBatch int
}

func (c *webhooksConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.allowHTTP, "webhooks-allow-http", false, "webhooks: accept http:// receivers (development only; deliveries are otherwise https)")
	fs.StringVar(&c.allowCIDR, "webhooks-allow-cidr", "", "webhooks: comma-separated address ranges receivers may resolve to although they are loopback, private or link-local (e.g. 10.20.0.0/16)")
	fs.IntVar(&c.maxAttempts, "webhooks-max-attempts", 16, "webhooks: attempts of a message before it goes to the subscription's dead-letter list")
	fs.DurationVar(&c.backoffBase, "webhooks-backoff", time.Second, "webhooks: wait before the first retry; each further retry waits twice as long (with jitter)")
	fs.DurationVar(&c.backoffMax, "webhooks-backoff-max", 30*time.Minute, "webhooks: longest wait between two attempts")
	fs.DurationVar(&c.timeout, "webhooks-timeout", 10*time.Second, "webhooks: longest a delivery request may take, answer included")
	fs.IntVar(&c.maxBody, "webhooks-max-body", 1<<20, "webhooks: largest request body sent; larger events go to the dead-letter list with the reason")
	fs.IntVar(&c.forwardBatch, "webhooks-forward-batch", 50, "webhooks: most statements in one forwarding request")
}

func (c *webhooksConfig) allowed() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(c.allowCIDR, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--webhooks-allow-cidr: %q is not a CIDR range (e.g. 10.20.0.0/16)", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c *webhooksConfig) validate() []error {
	var errs []error
	if _, err := c.allowed(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, atLeast("webhooks-max-attempts", c.maxAttempts, 1), atLeast("webhooks-max-body", c.maxBody, 1024),
		atLeast("webhooks-forward-batch", c.forwardBatch, 1))
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"webhooks-backoff", c.backoffBase}, {"webhooks-backoff-max", c.backoffMax}, {"webhooks-timeout", c.timeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s: must be positive, got %s", d.name, d.v))
		}
	}
	return errs
}

func (c *webhooksConfig) sender(allow []netip.Prefix) *streams.WebhookSender {
	hc := streams.WebhookHTTPConfig{Allow: allow, Timeout: c.timeout, MaxBody: c.maxBody}
	return &streams.WebhookSender{Client: streams.NewWebhookClient(hc), Config: hc, UserAgent: "learnstream-webhooks/" + binaryVersion()}
}

func startWebhooks(rt *runtime, roles map[string]bool) error {
	if !roles["api"] && !roles["webhooks"] {
		return nil
	}
	cfg := rt.cfg.webhooksConfig
	allow, _ := cfg.allowed()
	if cfg.allowHTTP {
		rt.log.Warn("webhooks: http:// receivers are accepted (--webhooks-allow-http): deliveries may travel unencrypted")
	}
	// Learner filters are kept as the key store's pseudonyms, so that an
	// erased learner's key survives in no subscription; with
	// --privacy=off there is no key store and they stay learner keys.
	var names privacy.Pseudonyms
	if rt.vault != nil {
		names = rt.vault
	}
	subs, err := projections.NewWebhooks(rt.store, projections.NewWaiters(), projections.WebhooksConfig{
		Publisher: streams.EventPublisher{Publisher: rt.pub}, Topic: streams.TopicWebhooks, Source: "learnstream", SealKey: rt.signingKey,
		Pseudonyms: names})
	if err != nil {
		return err
	}
	lag, err := rt.project(subs.Projection, streams.TopicWebhooks, "", subs.Counts)
	if err != nil {
		return err
	}
	if names != nil {
		rt.goRun(func(ctx context.Context) { republishLegacyWebhooks(ctx, rt, subs, lag) })
	}
	sender := cfg.sender(allow)
	var queue *projections.WebhookQueue
	if roles["webhooks"] {
		if queue, err = startDelivery(rt, subs, sender); err != nil {
			return err
		}
	}
	if roles["api"] {
		mod := &api.WebhooksModule{Store: subs, AllowHTTP: cfg.allowHTTP, Allow: allow, Pseudonyms: names, Logger: rt.log,
			Ping: func(ctx context.Context, sub *webhook.Subscription) (int, time.Duration, error) {
				a := sender.Ping(ctx, sub)
				return a.Status, a.Duration, a.Err
			}}
		if queue != nil {
			mod.Deliveries = queue
		}
		rt.apiConfig = append(rt.apiConfig, func(c *api.Config) { c.Modules = append(c.Modules, mod) })
	}
	return nil
}

// republishLegacyWebhooks publishes again, pseudonymised, the
// subscriptions whose latest record names learners by key (written before
// learner filters were pseudonymised, or with --privacy=off), so that the
// compacted topic drops those records. It waits until the projection has
// read the topic to its end: a newer record of the subscription then
// already took it off the list. Every process keeping the projection does
// it; two doing it at once publish the same subscription twice, harmlessly.
func republishLegacyWebhooks(ctx context.Context, rt *runtime, subs *projections.Webhooks, lag *streams.LagMonitor) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !subs.HasLegacy() {
			continue
		}
		if err := lag.Measure(ctx); err != nil {
			continue
		}
		if behind, _, _ := lag.Lag(); behind > 0 {
			continue
		}
		n, err := subs.RepublishLegacy(ctx)
		if err != nil && ctx.Err() == nil {
			rt.log.Warn("webhooks: publish subscriptions with pseudonymised learner filters", "err", err)
		}
		if n > 0 {
			rt.log.Info("webhooks: subscriptions published again with their learner filters as pseudonyms", "subscriptions", n)
		}
	}
}

// startDelivery runs the delivery role: a consumer per input topic
// filling the queues, the deliverer emptying them, and replays.
func startDelivery(rt *runtime, subs *projections.Webhooks, sender *streams.WebhookSender) (*projections.WebhookQueue, error) {
	cfg := rt.cfg.webhooksConfig
	queue, err := projections.NewWebhookQueue(rt.store, projections.WebhookQueueConfig{MaxBody: cfg.maxBody, Subscriptions: subs.Filters,
		Erased: func(erasure string, removed map[string]int64) {
			rt.log.Info("webhooks: erased learner's deliveries removed", "erasure", erasure, "removed", removed)
		}})
	if err != nil {
		return nil, err
	}
	// Erasures wait for this role's answer: it removes the learner's
	// queued deliveries and dead letters.
	rt.expectErasureAnswer(projections.WebhooksConsumer)
	group := rt.group("webhooks")
	readers := map[string]*streams.Subscriber{}
	for _, topic := range webhook.Topics() {
		sub, err := streams.NewSubscriber(streams.SubscriberConfig{Brokers: rt.brokers, Group: group, Offsets: queue,
			ResumeFromGroup: true, Logger: rt.log, MaxMessageBytes: rt.maxMessageBytes})
		if err != nil {
			return nil, err
		}
		readers[topic] = sub
		rt.cleanups = append(rt.cleanups, func() { sub.Close() })
		c := &streams.Consumer{Name: projections.WebhookDeliveriesName, Subscriber: sub, Topic: topic, Handler: queue, DLQ: rt.pub, Logger: rt.log}
		lag := &streams.LagMonitor{Consumer: projections.WebhookDeliveriesName, Brokers: rt.brokers, Topic: topic, Offsets: queue,
			Interval: time.Second, Logger: rt.log}
		if group != "" {
			lag.Owned = func() []int { return sub.Assigned(topic) }
		}
		rt.goRun(func(ctx context.Context) { c.Run(ctx) })
		rt.goRun(lag.Run)
	}
	replayer := &streams.WebhookReplayer{Brokers: rt.brokers, Queue: queue}
	if group != "" {
		replayer.Partitions = func(topic string) []int { return readers[topic].Assigned(topic) }
	}
	d := streams.NewWebhookDeliverer(streams.WebhookDelivererConfig{Queue: queue, Subscriptions: subs, Sender: sender,
		MaxAttempts: cfg.maxAttempts, BackoffBase: cfg.backoffBase, BackoffMax: cfg.backoffMax, ForwardBatch: cfg.forwardBatch,
		Replay: replayer.Replay, CatchUp: replayer.CatchUp, Logger: rt.log})
	rt.goRun(d.Run)
	return queue, nil
}
