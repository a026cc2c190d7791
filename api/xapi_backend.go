package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// StatementStore is what the LRS reads statements and what statements
// taught it from: the statements projection.
type StatementStore interface {
	StatementReader
	Voided(ctx context.Context, tenant, id string) (bool, error)
	Query(ctx context.Context, tenant string, q projections.StatementQuery) (projections.StatementPage, error)
	Attachment(ctx context.Context, tenant, sha2 string) ([]byte, error)
	Activity(ctx context.Context, tenant, id string) (xapi.Activity, error)
	AgentNames(ctx context.Context, tenant, key string) ([]string, error)
}

// DocumentStore reads State, Activity Profile and Agent Profile documents:
// the documents projection.
type DocumentStore interface {
	Document(ctx context.Context, tenant string, k projections.DocumentKey) (projections.Document, error)
	DocumentIDs(ctx context.Context, tenant string, k projections.DocumentKey, since time.Time) ([]string, error)
}

// CredentialStore creates, lists and revokes credentials
// (/v1/admin/credentials).
type CredentialStore interface {
	Put(ctx context.Context, key, secret, name, tenant string, scopes []string) (projections.Credential, error)
	Get(ctx context.Context, key string) (projections.Credential, error)
	// List returns the credentials of tenant, or of every tenant for "".
	List(ctx context.Context, tenant string) ([]projections.Credential, error)
	Revoke(ctx context.Context, key string) error
}

// DefaultDocumentsTopic is where document writes go unless XAPI says
// otherwise (streams.TopicDocuments).
const DefaultDocumentsTopic = "learnstream.documents.v1"

// DefaultMaxAttachmentBytes bounds one attachment payload. Payloads travel
// as events, so the bound stays under Kafka's default message size (1 MB)
// once base64 has grown them by a third.
const DefaultMaxAttachmentBytes = 512 << 10

// XAPI is the full LRS backend. Config.Statements accepts it (it is a
// StatementReader), which lets a process wire the LRS without new Config
// fields: the server type-asserts Config.Statements to *XAPI. A plain
// StatementStore there gives every resource but the documents.
type XAPI struct {
	Statements StatementStore
	// Documents, when nil, leaves out the State, Activity Profile and
	// Agent Profile resources (they answer 501).
	Documents      DocumentStore
	DocumentsTopic string
	// AllowedOrigins are the origins browsers may call the LRS from; empty
	// allows any origin (content is often served from elsewhere).
	AllowedOrigins []string
	// MaxAttachmentBytes bounds one attachment payload (413 beyond it).
	MaxAttachmentBytes int64
	// Credentials, when set, serves /v1/admin/credentials; nil uses
	// Config.Auth when it can create credentials.
	Credentials CredentialStore
}

// Statement reads one statement (StatementReader; the write path checks
// a batch with StatementsByID).
func (x *XAPI) Statement(ctx context.Context, tenant, id string) ([]byte, error) {
	return x.Statements.Statement(ctx, tenant, id)
}

// StatementBatchReader reads several stored statements at once, by
// lower-case id (an id not stored is absent): the statements projection
// does it in one read transaction.
type StatementBatchReader interface {
	StatementsByID(ctx context.Context, tenant string, ids []string) (map[string][]byte, error)
}

// StatementsByID reads the statements ids (the write path's conflict
// check of a batch), at once when the store can.
func (x *XAPI) StatementsByID(ctx context.Context, tenant string, ids []string) (map[string][]byte, error) {
	return statementsByID(ctx, x.Statements, tenant, ids)
}

// statementsByID is r's StatementsByID, or its Statement for each id.
func statementsByID(ctx context.Context, r StatementReader, tenant string, ids []string) (map[string][]byte, error) {
	if b, ok := r.(StatementBatchReader); ok {
		return b.StatementsByID(ctx, tenant, ids)
	}
	out := make(map[string][]byte, len(ids))
	for _, id := range ids {
		b, err := r.Statement(ctx, tenant, id)
		if errors.Is(err, projections.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("statement %s: %w", id, err)
		}
		out[strings.ToLower(id)] = b
	}
	return out, nil
}

// backend resolves the LRS backend from the configuration.
func (s *Server) backend() *XAPI {
	var x XAPI
	switch v := s.cfg.Statements.(type) {
	case *XAPI:
		x = *v
	case StatementStore:
		x.Statements = v
	}
	if x.DocumentsTopic == "" {
		x.DocumentsTopic = DefaultDocumentsTopic
	}
	if x.MaxAttachmentBytes <= 0 {
		x.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if x.Credentials == nil {
		x.Credentials, _ = s.cfg.Auth.(CredentialStore)
	}
	return &x
}
