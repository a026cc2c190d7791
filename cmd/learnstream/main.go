// Command learnstream is the one binary of learnstream: it wires roles,
// flags and configuration. Business logic lives in the other packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// command is one command or subcommand. A command either runs (run gets
// the arguments after its name) or dispatches to its subcommands (eval kt,
// dlq list): the dispatch, its usage text and -h are handled here, so that
// every command answers -h the same way.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	subs    map[string]command
}

// commands is filled by each subcommand's file in an init function, so that
// subcommands live beside their own flags.
var commands = map[string]command{}

// errUsage marks an error already explained to the user (bad flags).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command line: it returns the exit code, 0 for success
// and for -h, 2 for a usage error, 1 for a failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := command{subs: commands}
	if len(args) > 0 && args[0] == "help" {
		// help serve, help eval kt: the command's own -h
		args = append(slices.Clone(args[1:]), "-h")
	}
	err := root.dispatch(ctx, "learnstream", args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", commandPath(args), err)
	return 1
}

// commandPath names the command args ran ("learnstream eval kt") for error
// messages.
func commandPath(args []string) string {
	path, c := "learnstream", command{subs: commands}
	for _, a := range args {
		sub, ok := c.subs[a]
		if !ok {
			break
		}
		path, c = path+" "+a, sub
	}
	return path
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// dispatch runs c, named path, with args.
func (c command) dispatch(ctx context.Context, path string, args []string, stdout, stderr io.Writer) error {
	if len(c.subs) == 0 {
		return c.run(ctx, args, stdout, stderr)
	}
	if len(args) == 0 {
		c.usage(path, stderr)
		return errUsage
	}
	if isHelp(args[0]) {
		c.usage(path, stderr)
		return flag.ErrHelp
	}
	sub, ok := c.subs[args[0]]
	if !ok {
		kind := "subcommand"
		if path == "learnstream" {
			kind = "command"
		}
		fmt.Fprintf(stderr, "%s: unknown %s %q (want %s)\n\n", path, kind, args[0], strings.Join(c.names(), ", "))
		c.usage(path, stderr)
		return errUsage
	}
	return sub.dispatch(ctx, path+" "+args[0], args[1:], stdout, stderr)
}

func (c command) names() []string {
	names := make([]string, 0, len(c.subs))
	for n := range c.subs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// usage lists the subcommands of c.
func (c command) usage(path string, w io.Writer) {
	names := c.names()
	what := "subcommand"
	if path == "learnstream" {
		what = "command"
	}
	fmt.Fprintf(w, "usage: %s <%s> [flags]\n\n%ss:\n", path, strings.Join(names, "|"), what)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, c.subs[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s <%s> -h' for its flags.\n", path, what)
}
