package client

import (
	"context"
	"net/url"
	"time"
)

// Erasure (docs/privacy.md "Erasure"): a learner's keys are destroyed and
// every consumer deletes what it holds; the receipt says what went where.

// ErasureReceipt is the receipt of an erasure. It carries no personal
// data: no learner key, no name, no pseudonym.
type ErasureReceipt struct {
	ID                   string          `json:"id"`
	Tenant               string          `json:"tenant"`
	Status               string          `json:"status"` // requested, keys_destroyed, published, complete
	Reason               string          `json:"reason"`
	RequestedBy          string          `json:"requested_by,omitempty"`
	RequestedAt          time.Time       `json:"requested_at"`
	KeysDestroyedAt      *time.Time      `json:"keys_destroyed_at,omitempty"`
	KeysDestroyed        int             `json:"keys_destroyed"`
	FinalKeysDestroyedAt *time.Time      `json:"final_keys_destroyed_at,omitempty"`
	PublishedAt          *time.Time      `json:"published_at,omitempty"`
	Topics               []string        `json:"topics,omitempty"`
	Expected             []string        `json:"expected"`
	Pending              []string        `json:"pending"`
	Consumers            []ErasureAnswer `json:"consumers"`
	CompletedAt          *time.Time      `json:"completed_at,omitempty"`
	Purges               []ErasurePurge  `json:"purges,omitempty"`
	// Receipt is the receipt's path while the erasure runs (the answer
	// of EraseLearner before every consumer answered).
	Receipt string `json:"receipt,omitempty"`
}

// Complete reports whether every expected consumer answered.
func (r ErasureReceipt) Complete() bool { return r.Status == "complete" }

// ErasureAnswer is what one consumer removed, as counts per kind.
type ErasureAnswer struct {
	Consumer string           `json:"consumer"`
	At       time.Time        `json:"at"`
	Removed  map[string]int64 `json:"removed"`
}

// ErasurePurge is one physical purge of a projections store.
type ErasurePurge struct {
	Store string    `json:"store"`
	At    time.Time `json:"at"`
}

// EraseLearner erases learner (scope privacy). With wait > 0 the server
// waits up to that long (at most 55s) for every consumer to answer; the
// answer is the complete receipt, or else the erasure's id and status
// (Complete false): read it later with Erasure.
func (c *Client) EraseLearner(ctx context.Context, learner string, wait time.Duration) (ErasureReceipt, error) {
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out ErasureReceipt
	return out, c.do(ctx, "DELETE", "/v1/learners/"+learnerPath(learner), q, nil, "", &out)
}

// Erasure returns the receipt of erasure id (scope privacy).
func (c *Client) Erasure(ctx context.Context, id string) (ErasureReceipt, error) {
	var out ErasureReceipt
	return out, c.do(ctx, "GET", "/v1/erasures/"+url.PathEscape(id), nil, nil, "", &out)
}

// Purge purges the server process's projections store now, so deleted
// values leave its files (operator scope).
func (c *Client) Purge(ctx context.Context) error {
	return c.do(ctx, "POST", "/v1/admin/purge", nil, nil, "", nil)
}
