package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/learnstream/learnstream/api"
)

func init() {
	commands["projections"] = command{summary: "list a running server's projections with offsets and lag", run: runProjections}
	commands["replay"] = command{summary: "rebuild a projection from offset 0 while it keeps serving (replay <projection>)", run: runReplay}
}

func runProjections(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	var asJSON, counts bool
	fs := newFlagSet("projections", stderr)
	c.flags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.BoolVar(&counts, "counts", false, "with --json, also each projection's counts for the credential's tenant (some walk read models the size of the population: about a second for 200k learner-activity entries)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if counts && !asJSON {
		return usageError(fs, "--counts goes with --json: the table shows positions only")
	}
	if err := c.init(); err != nil {
		return err
	}
	var ps []api.ProjectionStatus
	if err := c.do(ctx, "GET", "/v1/admin/projections?counts="+strconv.FormatBool(counts), &ps); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(ps)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tGENERATION\tTOPIC\tPARTITION\tNEXT\tEND\tLAG")
	for _, p := range ps {
		for _, pt := range p.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\n", p.Name, p.Generation, p.Topic, pt.Partition, pt.Next, pt.End, pt.Lag)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\tall\t\t\t%d\n", p.Name, p.Generation, p.Topic, p.Lag)
		if r := p.Replay; r != nil {
			fmt.Fprintf(tw, "  replay\t%s\t%d/%d events\t%s\t\t\t\n", r.State, r.Done, r.Total, r.Error)
		}
	}
	return tw.Flush()
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	fs := newFlagSet("replay", stderr)
	c.flags(fs)
	// The projection name comes first: learnstream replay statements --server ...
	const synopsis = "<projection> [flags]"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// -h (or a misplaced flag) gets the usage from the flag package
		if err := parseFlagsAs(fs, synopsis, true, args); err != nil {
			return err
		}
		return usageError(fs, "the projection to replay comes first (see learnstream projections)")
	}
	name := args[0]
	if err := parseFlagsAs(fs, synopsis, true, args[1:]); err != nil {
		return err
	}
	if err := c.init(); err != nil {
		return err
	}
	var st api.ProjectionStatus
	if err := c.do(ctx, "POST", "/v1/admin/projections/"+name+"/replay", &st); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "replaying %s into generation %d; reads keep using the current one until the swap\n", name, st.Generation+1)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr)
			return errors.New("interrupted; the replay goes on in the server (see learnstream projections)")
		case <-time.After(300 * time.Millisecond):
		}
		// Positions only: a poll that counted would walk the read models
		// sized by the population every 300 ms.
		var ps []api.ProjectionStatus
		if err := c.do(ctx, "GET", "/v1/admin/projections?counts=false", &ps); err != nil {
			return err
		}
		for _, p := range ps {
			if p.Name != name || p.Replay == nil {
				continue
			}
			r := p.Replay
			fmt.Fprintf(stderr, "\r%s", progressBar(r.Done, r.Total, 40))
			switch r.State {
			case "done":
				fmt.Fprintf(stderr, "\n")
				fmt.Fprintf(stdout, "replayed %s: %d events, now at generation %d\n", name, r.Total, p.Generation)
				return nil
			case "failed":
				fmt.Fprintf(stderr, "\n")
				return fmt.Errorf("replay of %s failed: %s", name, r.Error)
			}
		}
	}
}

// progressBar renders "[=====>    ]  52% 1234/2345".
func progressBar(done, total int64, width int) string {
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	n := int(frac * float64(width))
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %3.0f%% %d/%d events", bar, frac*100, done, total)
}
