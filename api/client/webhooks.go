package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/webhook"
)

// Subscription kinds.
const (
	KindWebhook     = webhook.KindWebhook
	KindXAPIForward = webhook.KindXAPIForward
)

// WebhookFilter selects what a subscription receives; empty lists match
// everything.
type WebhookFilter struct {
	Types []string `json:"types,omitempty"`
	// Learners are sent as learner keys, e-mail addresses, mailto: IRIs
	// or pseudonyms, and answered as the learners' privacy pseudonyms
	// (learner keys when the server runs with privacy off).
	Learners   []string `json:"learners,omitempty"`
	Activities []string `json:"activities,omitempty"`
	Verbs      []string `json:"verbs,omitempty"`
}

// WebhookAuth are a target LRS's Basic credentials (xapi-forward).
type WebhookAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// WebhookRequest creates (POST) or changes (PATCH: nil fields stay) a
// subscription.
type WebhookRequest struct {
	Kind        string         `json:"kind,omitempty"`
	URL         string         `json:"url,omitempty"`
	Description *string        `json:"description,omitempty"`
	Filter      *WebhookFilter `json:"filter,omitempty"`
	Paused      *bool          `json:"paused,omitempty"`
	Secret      string         `json:"secret,omitempty"`
	Auth        *WebhookAuth   `json:"auth,omitempty"`
}

// Webhook is a subscription as the server answers it.
type Webhook struct {
	ID          string        `json:"id"`
	Kind        string        `json:"kind"`
	URL         string        `json:"url"`
	Description string        `json:"description,omitempty"`
	Filter      WebhookFilter `json:"filter"`
	Paused      bool          `json:"paused"`
	Created     time.Time     `json:"created"`
	Updated     time.Time     `json:"updated"`
	// Secret is set in the answers of CreateWebhook and
	// RotateWebhookSecret only.
	Secret                string     `json:"secret,omitempty"`
	PreviousSecretExpires *time.Time `json:"previous_secret_expires,omitempty"`
	Username              string     `json:"username,omitempty"`
	Replay                *struct {
		ID    string    `json:"id"`
		Since time.Time `json:"since"`
	} `json:"replay,omitempty"`
	Queued      *int `json:"queued,omitempty"`
	DeadLetters *int `json:"dead_letters,omitempty"`
}

// WebhookPing is how a receiver answered a test message.
type WebhookPing struct {
	Delivered  bool   `json:"delivered"`
	Status     int    `json:"status"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// DeadLetter is a message that used up its attempts.
type DeadLetter struct {
	ID         string          `json:"id"`
	Message    string          `json:"message"`
	Event      string          `json:"event"`
	Type       string          `json:"type"`
	Time       time.Time       `json:"time"`
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	Dead       time.Time       `json:"dead"`
	Body       json.RawMessage `json:"body"`
}

func webhookPath(id string) string { return "/v1/webhooks/" + url.PathEscape(id) }

// CreateWebhook registers a subscription; the answer holds its signing
// secret, shown this once.
func (c *Client) CreateWebhook(ctx context.Context, r WebhookRequest) (Webhook, error) {
	var out Webhook
	return out, c.do(ctx, "POST", "/v1/webhooks", nil, r, "", &out)
}

// Webhooks lists the tenant's subscriptions.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	return out.Webhooks, c.do(ctx, "GET", "/v1/webhooks", nil, nil, "", &out)
}

// Webhook reads one subscription.
func (c *Client) Webhook(ctx context.Context, id string) (Webhook, error) {
	var out Webhook
	return out, c.do(ctx, "GET", webhookPath(id), nil, nil, "", &out)
}

// UpdateWebhook changes the fields r sets (pause and resume with Paused).
func (c *Client) UpdateWebhook(ctx context.Context, id string, r WebhookRequest) (Webhook, error) {
	var out Webhook
	return out, c.do(ctx, "PATCH", webhookPath(id), nil, r, "", &out)
}

// DeleteWebhook deletes a subscription, its queue and its dead letters.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", webhookPath(id), nil, nil, "", nil)
}

// PingWebhook sends a signed test message once.
func (c *Client) PingWebhook(ctx context.Context, id string) (WebhookPing, error) {
	var out WebhookPing
	return out, c.do(ctx, "POST", webhookPath(id)+"/ping", nil, nil, "", &out)
}

// RotateWebhookSecret makes a new signing secret current; the previous
// one keeps signing for overlap (0: the server's default, 24h).
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, overlap time.Duration) (Webhook, error) {
	body := map[string]string{}
	if overlap > 0 {
		body["overlap"] = overlap.String()
	}
	var out Webhook
	return out, c.do(ctx, "POST", webhookPath(id)+"/secret/rotate", nil, body, "", &out)
}

// ReplayWebhook delivers again every matching event since a time.
func (c *Client) ReplayWebhook(ctx context.Context, id string, since time.Time) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	return out.ID, c.do(ctx, "POST", webhookPath(id)+"/replay", nil, map[string]time.Time{"since": since}, "", &out)
}

// DeadLetters lists a subscription's dead letters, oldest first, after
// the id after ("" from the first), at most limit (0: the server's 100).
func (c *Client) DeadLetters(ctx context.Context, id, after string, limit int) ([]DeadLetter, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	return out.DeadLetters, c.do(ctx, "GET", webhookPath(id)+"/dead-letters", q, nil, "", &out)
}

// RedeliverDeadLetters queues dead letters again (ids nil: all of them)
// and answers how many.
func (c *Client) RedeliverDeadLetters(ctx context.Context, id string, ids []string) (int, error) {
	var out struct {
		N int `json:"redelivering"`
	}
	var body any
	if ids != nil {
		body = map[string][]string{"ids": ids}
	}
	return out.N, c.do(ctx, "POST", webhookPath(id)+"/dead-letters/redeliver", nil, body, "", &out)
}

// DeleteDeadLetters deletes dead letters (ids nil: all of them) and
// answers how many.
func (c *Client) DeleteDeadLetters(ctx context.Context, id string, ids []string) (int, error) {
	var out struct {
		N int `json:"deleted"`
	}
	var body any
	if ids != nil {
		body = map[string][]string{"ids": ids}
	}
	return out.N, c.do(ctx, "DELETE", webhookPath(id)+"/dead-letters", nil, body, "", &out)
}

// WebhookTolerance is how far a delivery's webhook-timestamp may be from
// the receiver's clock (replayed or delayed deliveries beyond it are
// refused).
const WebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a delivery's Standard Webhooks signature under the
// subscription's secret (whsec_...): nil means learnstream sent this body
// with these webhook-id and webhook-timestamp headers, within
// WebhookTolerance of now. During a secret rotation a delivery carries a
// signature per secret; either secret verifies it.
func VerifyWebhook(secret string, h http.Header, body []byte) error {
	return webhook.Verify(secret, h.Get(webhook.HeaderID), h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature),
		body, WebhookTolerance, time.Now())
}
