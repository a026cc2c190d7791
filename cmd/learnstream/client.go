package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// client talks to a running learnstream's admin endpoints. Commands that
// change a running server's state (replay) go through it rather than open
// its Badger store, which the server holds locked.
type client struct {
	server, key, secret string
	http                *http.Client
}

func (c *client) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "URL of the running learnstream")
	fs.StringVar(&c.key, "key", "", "key of the admin credential that authorises the request (default $LEARNSTREAM_ADMIN_KEY)")
	fs.StringVar(&c.secret, "secret", "", "secret of the admin credential that authorises the request (default $LEARNSTREAM_ADMIN_SECRET)")
}

func (c *client) init() error {
	if c.key == "" {
		c.key = os.Getenv("LEARNSTREAM_ADMIN_KEY")
	}
	if c.secret == "" {
		c.secret = os.Getenv("LEARNSTREAM_ADMIN_SECRET")
	}
	if c.key == "" || c.secret == "" {
		return fmt.Errorf("--key/--secret: an admin credential is required (or LEARNSTREAM_ADMIN_KEY and LEARNSTREAM_ADMIN_SECRET)")
	}
	c.server = strings.TrimRight(c.server, "/")
	c.http = &http.Client{Timeout: 30 * time.Second}
	return nil
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.key, c.secret)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.server+path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (%d)", method, path, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
