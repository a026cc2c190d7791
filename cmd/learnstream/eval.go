package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	commands["eval"] = command{
		summary: "replay a dataset prequentially and print model quality (eval kt | eval recommend)",
		run:     runEval,
	}
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: learnstream eval kt|recommend --data FILE [--json]")
		return errUsage
	}
	switch args[0] {
	case "kt":
		return runEvalKT(ctx, args[1:], stdout, stderr)
	case "recommend":
		return runEvalRecommend(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "learnstream eval: unknown model %q (want kt or recommend)\n", args[0])
	return errUsage
}
