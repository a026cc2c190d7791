package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Privacy (docs/privacy.md): consent, the access audit, the export and the
// retention period.

// Consent is a learner's consent settings; Set is when they were last set
// (nil: never, the defaults).
type Consent struct {
	Learner         string     `json:"learner"`
	Personalisation bool       `json:"personalisation"`
	Analytics       bool       `json:"analytics"`
	Set             *time.Time `json:"set,omitempty"`
}

// Consent returns learner's consent settings (scope privacy or all).
func (c *Client) Consent(ctx context.Context, learner string) (Consent, error) {
	var out Consent
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/consent", nil, nil, "", &out)
}

// SetConsent records learner's consent to personalisation and analytics
// (scope privacy or all); the answer is read back.
func (c *Client) SetConsent(ctx context.Context, learner string, personalisation, analytics bool) (Consent, error) {
	var out Consent
	body := map[string]bool{"personalisation": personalisation, "analytics": analytics}
	return out, c.do(ctx, "PUT", "/v1/learners/"+learnerPath(learner)+"/consent", nil, body, "", &out)
}

// AccessRecord is one read of learners' data through the API: the data of
// a learnstream.audit.access.recorded.v1 event.
type AccessRecord struct {
	ID         string    `json:"id"`
	Credential string    `json:"credential"`
	Route      string    `json:"route"`
	Status     int       `json:"status"`
	Learners   []string  `json:"learners"`
	Truncated  bool      `json:"truncated,omitempty"`
	At         time.Time `json:"at"`
}

// AccessPage is one page of a learner's access records, oldest first;
// Next is the cursor of the following page ("" on the last).
type AccessPage struct {
	Learner   string         `json:"learner"`
	Pseudonym string         `json:"pseudonym"`
	Records   []AccessRecord `json:"records"`
	Next      string         `json:"next,omitempty"`
}

// Access returns a page of the access records about learner (scope
// privacy): limit records (0: the server's default) from cursor ("" for
// the first page).
func (c *Client) Access(ctx context.Context, learner, cursor string, limit int) (AccessPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out AccessPage
	return out, c.do(ctx, "GET", "/v1/learners/"+learnerPath(learner)+"/access", q, nil, "", &out)
}

// Export writes the zip archive of everything learnstream holds of
// learner to w (scope privacy) and returns its size. The archive is
// streamed; an error after some bytes were written means w holds a broken
// archive.
func (c *Client) Export(ctx context.Context, learner string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/learners/"+learnerPath(learner)+"/export", nil)
	if err != nil {
		return 0, fmt.Errorf("learnstream: export: %w", err)
	}
	req.SetBasicAuth(c.key, c.secret)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, fmt.Errorf("learnstream: export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, c.errorOf(resp)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("learnstream: export: the archive broke off after %d bytes: %w", n, err)
	}
	return n, nil
}

// Retention is a tenant's retention period.
type Retention struct {
	Tenant string `json:"tenant"`
	Days   int    `json:"days"`
	// Before is the start of the month before which the tenant's data is
	// destroyed once the retention role ran (nil when Days is 0).
	Before *time.Time `json:"before,omitempty"`
	Set    *time.Time `json:"set,omitempty"`
	By     string     `json:"by,omitempty"`
}

// Retention returns the credential's tenant's retention period.
func (c *Client) Retention(ctx context.Context) (Retention, error) {
	var out Retention
	return out, c.do(ctx, "GET", "/v1/admin/retention", nil, nil, "", &out)
}

// SetRetention sets the credential's tenant's retention period in days (0:
// keep until erased; scope privacy).
func (c *Client) SetRetention(ctx context.Context, days int) (Retention, error) {
	var out Retention
	return out, c.do(ctx, "PUT", "/v1/admin/retention", nil, map[string]int{"days": days}, "", &out)
}
