package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["credentials"] = command{summary: "create xAPI credentials (credentials create --scopes ...)", run: runCredentials}
}

// runCredentials creates a credential through the running server's admin
// endpoint (the server holds the Badger store locked) and, when no server
// answers, directly in --data-dir.
func runCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: learnstream credentials create --scopes all|statements/write,... [--tenant T] [--name N] [--key K] [--secret S]")
		return errUsage
	}
	var c client
	var scopes, dataDir string
	var req struct {
		Key    string   `json:"key,omitempty"`
		Secret string   `json:"secret,omitempty"`
		Name   string   `json:"name,omitempty"`
		Tenant string   `json:"tenant,omitempty"`
		Scopes []string `json:"scopes"`
	}
	fs := flag.NewFlagSet("credentials create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	fs.StringVar(&scopes, "scopes", "", "comma-separated xAPI scopes: "+strings.Join(projections.Scopes, ", "))
	fs.StringVar(&req.Tenant, "tenant", "", "tenant of the credential (default: the admin credential's tenant; 'default' offline)")
	fs.StringVar(&req.Name, "name", "", "name shown in the statements' authority (default: the key)")
	fs.StringVar(&req.Key, "key-id", "", "key of the new credential (default: generated)")
	fs.StringVar(&req.Secret, "new-secret", "", "secret of the new credential (default: generated; at least 8 characters)")
	fs.StringVar(&dataDir, "data-dir", "./data", "data directory to write to when no server answers at --server")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			req.Scopes = append(req.Scopes, s)
		}
	}
	if len(req.Scopes) == 0 {
		return errors.New("--scopes: at least one scope is required (" + strings.Join(projections.Scopes, ", ") + ")")
	}
	if req.Key == "" {
		req.Key = projections.GenerateSecret()[:16]
	}
	if req.Secret == "" {
		req.Secret = projections.GenerateSecret()
	}
	body, _ := json.Marshal(req)
	created, err := createRemote(ctx, &c, body)
	if isUnreachable(err) {
		fmt.Fprintf(stderr, "no server at %s; writing to %s\n", c.server, dataDir)
		created, err = createLocal(ctx, dataDir, req.Key, req.Secret, req.Name, req.Tenant, req.Scopes)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key %s\nsecret %s\ntenant %s\nscopes %s\n", created.Key, created.Secret, created.Tenant, strings.Join(created.Scopes, ","))
	return nil
}

type createdCredential struct {
	Key    string   `json:"key"`
	Secret string   `json:"secret"`
	Tenant string   `json:"tenant"`
	Scopes []string `json:"scopes"`
}

func createRemote(ctx context.Context, c *client, body []byte) (createdCredential, error) {
	var out createdCredential
	if err := c.init(); err != nil {
		// Without admin credentials only the offline path can work; try it
		// if the server is not there.
		if _, perr := http.Get(strings.TrimRight(c.server, "/") + "/healthz"); perr != nil {
			return out, perr
		}
		return out, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+"/v1/admin/credentials", bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return out, fmt.Errorf("POST %s/v1/admin/credentials: %w", c.server, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return out, fmt.Errorf("POST /v1/admin/credentials: %s (%d)", e.Error, resp.StatusCode)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("POST /v1/admin/credentials: decode answer: %w", err)
	}
	return out, nil
}

// isUnreachable reports whether err means nothing listens at the server
// address (as opposed to a server that refused the request).
func isUnreachable(err error) bool {
	return err != nil && (errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"))
}

func createLocal(ctx context.Context, dataDir, key, secret, name, tenant string, scopes []string) (createdCredential, error) {
	if tenant == "" {
		tenant = "default"
	}
	if name == "" {
		name = key
	}
	store, err := projections.Open(filepath.Join(dataDir, "projections"), nil)
	if err != nil {
		return createdCredential{}, fmt.Errorf("--data-dir (is a server running on it?): %w", err)
	}
	defer store.Close()
	if _, err := projections.NewCredentials(store).Put(ctx, key, secret, name, tenant, scopes); err != nil {
		return createdCredential{}, err
	}
	return createdCredential{Key: key, Secret: secret, Tenant: tenant, Scopes: scopes}, nil
}

// wireLRS completes the xAPI LRS of a process running the api role: it
// runs the documents projection over the documents topic (every API
// process keeps all of it, like the statements projection) and puts the
// full backend in cfg.Statements. serve calls it once the statements
// projection exists, before api.New:
//
//	if err := wireLRS(rt, statements, waiters, &apiCfg, nil); err != nil {
//		return err
//	}
//
// origins, when not empty, restricts CORS to those origins.
func wireLRS(rt *runtime, statements *projections.Statements, waiters *projections.Waiters, cfg *api.Config, origins []string) error {
	docs, err := projections.NewDocuments(rt.store, waiters)
	if err != nil {
		return err
	}
	if _, err := rt.project(docs.Projection, streams.TopicDocuments, "",
		func(ctx context.Context, tenant string) (map[string]int64, error) {
			n, err := docs.Count(ctx, tenant)
			return map[string]int64{"documents": int64(n)}, err
		}); err != nil {
		return err
	}
	creds, _ := cfg.Auth.(api.CredentialStore)
	cfg.Statements = &api.XAPI{
		Statements:     statements,
		Documents:      docs,
		DocumentsTopic: streams.TopicDocuments,
		AllowedOrigins: origins,
		Credentials:    creds,
		OperatorTenant: rt.cfg.tenant,
	}
	return nil
}
