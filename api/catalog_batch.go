package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/learnstream/learnstream/domain/graph"
)

// ErrCatalogUnavailable marks a catalog change the event log did not take.
var ErrCatalogUnavailable = errors.New("catalog unavailable")

// ImportBatch applies b to the tenant's catalog all or nothing, the way
// POST /v1/catalog/import does, for other modules (content packages). It
// validates b against the current graph; then prepare runs (under the
// catalog's lock, so no other change slips between); then the difference
// is published and awaited. When validation or prepare fails nothing is
// published. When publishing fails the error wraps ErrCatalogUnavailable:
// the caller undoes what prepare did.
func (m *CatalogModule) ImportBatch(ctx context.Context, tenant string, b *graph.Batch, prepare func() error) (graph.ImportReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, err := m.Catalog.Graph(tenant)
	if err != nil {
		return graph.ImportReport{}, fmt.Errorf("read catalog: %w", err)
	}
	next := old.Clone()
	rep, err := next.Apply(b, graph.ImportOptions{})
	if err != nil {
		return rep, err
	}
	evs, err := CatalogEvents(old, next, m.Source, tenant, time.Now())
	if err != nil {
		return rep, err
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return rep, err
		}
	}
	if status, msg := m.commit(ctx, tenant, evs); status != http.StatusOK {
		return rep, fmt.Errorf("%w: %s", ErrCatalogUnavailable, msg)
	}
	return rep, nil
}
