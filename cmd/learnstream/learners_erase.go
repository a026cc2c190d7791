package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

func init() {
	addLearnersCommand("erase", command{summary: "erase a learner: destroy their keys, delete what every consumer holds, print the receipt (privacy scope)", run: runLearnersErase})
	addLearnersCommand("erasure", command{summary: "print the receipt of an erasure (privacy scope)", run: runLearnersErasure})
	addLearnersCommand("purge", command{summary: "purge the server's projections store now: deleted values leave its files (operator scope)", run: runLearnersPurge})
}

func runLearnersErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	var wait time.Duration
	fs := newFlagSet("learners erase", stderr)
	c.flags(fs)
	fs.DurationVar(&wait, "wait", 0, "wait up to this long (at most 55s) for every consumer to answer, then print the receipt")
	const synopsis = "<learner> [--wait 30s] [flags]"
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
	if wait < 0 || wait > 55*time.Second {
		return usageError(fs, "--wait: must be between 0s and 55s")
	}
	if err := c.init(); err != nil {
		return err
	}
	c.http.Timeout = wait + 30*time.Second
	path := "/v1/learners/" + url.PathEscape(learner)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var out json.RawMessage
	if err := c.do(ctx, "DELETE", path, &out); err != nil {
		return err
	}
	return printJSON(stdout, out)
}

func runLearnersErasure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	fs := newFlagSet("learners erasure", stderr)
	c.flags(fs)
	const synopsis = "<erasure id> [flags]"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlagsAs(fs, synopsis, true, args); err != nil {
			return err
		}
		return usageError(fs, "the erasure id comes first (the id learners erase printed)")
	}
	id := args[0]
	if err := parseFlagsAs(fs, synopsis, true, args[1:]); err != nil {
		return err
	}
	if err := c.init(); err != nil {
		return err
	}
	var out json.RawMessage
	if err := c.do(ctx, "GET", "/v1/erasures/"+url.PathEscape(id), &out); err != nil {
		return err
	}
	return printJSON(stdout, out)
}

func runLearnersPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	fs := newFlagSet("learners purge", stderr)
	c.flags(fs)
	if err := parseFlagsAs(fs, "[flags]", true, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "no arguments expected")
	}
	if err := c.init(); err != nil {
		return err
	}
	c.http.Timeout = 10 * time.Minute
	var out json.RawMessage
	if err := c.do(ctx, "POST", "/v1/admin/purge", &out); err != nil {
		return err
	}
	return printJSON(stdout, out)
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
