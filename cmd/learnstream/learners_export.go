package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	addLearnersCommand("export", command{summary: "download everything learnstream holds of a learner as one zip a person can read (privacy scope)", run: runLearnersExport})
}

// addLearnersCommand adds a subcommand of "learners" (export, erase...),
// whichever file registers first.
func addLearnersCommand(name string, c command) {
	l := commands["learners"]
	if l.subs == nil {
		l = command{summary: "a learner's personal data (learners export | learners erase)", subs: map[string]command{}}
	}
	l.subs[name] = c
	commands["learners"] = l
}

func runLearnersExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	var out string
	fs := newFlagSet("learners export", stderr)
	c.flags(fs)
	fs.StringVar(&out, "o", "", "the zip file to write (required)")
	// The learner comes first: learnstream learners export ada@example.com -o ada.zip
	const synopsis = "<learner> -o <file.zip> [flags]"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlagsAs(fs, synopsis, true, args); err != nil {
			return err
		}
		return usageError(fs, "the learner comes first: an e-mail address, mailto: IRI or learner key")
	}
	learner := args[0]
	if err := parseFlagsAs(fs, synopsis, true, args[1:]); err != nil {
		return err
	}
	if out == "" {
		return usageError(fs, "-o: the zip file to write is required")
	}
	if err := c.init(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.server+"/v1/learners/"+url.PathEscape(learner)+"/export", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.key, c.secret)
	// No overall timeout: a long history streams for as long as it takes.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("export %s: %w", learner, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("export %s: %s (%d)", learner, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("export %s: status %d", learner, resp.StatusCode)
	}
	// Written beside the target and renamed when whole: a broken
	// download never leaves a complete-looking archive.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".learnstream-export-*")
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export %s: the download broke off after %d bytes: %w", learner, n, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", out, n)
	return nil
}
