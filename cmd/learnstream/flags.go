package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// envName is the environment variable that sets a flag: --data-dir is
// LEARNSTREAM_DATA_DIR.
func envName(flagName string) string {
	return "LEARNSTREAM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable. Command-line flags win over the environment.
func applyEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// parseFlags parses args, then the environment, and documents the
// environment variables in the usage text. The usage line is
// "learnstream <fs.Name()> [flags]".
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseFlagsAs(fs, "[flags]", true, args)
}

// parseFlagsAs is parseFlags for a command whose usage line needs more
// than [flags] (replay <projection> [flags]), or whose flags are not read
// from the environment (env false).
func parseFlagsAs(fs *flag.FlagSet, synopsis string, env bool, args []string) error {
	fs.Usage = func() { printUsage(fs, synopsis, env) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "learnstream %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	if !env {
		return nil
	}
	return applyEnv(fs)
}

// printUsage writes "usage: learnstream NAME SYNOPSIS" and the flags of fs.
// The environment example names one of the command's own flags, one that
// takes a value when there is one.
func printUsage(fs *flag.FlagSet, synopsis string, env bool) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: %s\n\n", strings.TrimSpace("learnstream "+fs.Name()+" "+synopsis))
	var first, firstValued string
	fs.VisitAll(func(f *flag.Flag) {
		if first == "" {
			first = f.Name
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); firstValued == "" && !(ok && b.IsBoolFlag()) {
			firstValued = f.Name
		}
	})
	if firstValued != "" {
		first = firstValued
	}
	switch {
	case first == "":
		fmt.Fprintln(w, "no flags")
		return
	case env:
		fmt.Fprintf(w, "flags (each also settable as LEARNSTREAM_<FLAG>, e.g. --%s as %s):\n", first, envName(first))
	default:
		fmt.Fprintln(w, "flags:")
	}
	fs.PrintDefaults()
}

// usageError prints msg and the usage of fs and returns errUsage: for
// errors in the command line that the flag package cannot see (a missing
// required flag, a misplaced argument).
func usageError(fs *flag.FlagSet, msg string) error {
	fmt.Fprintf(fs.Output(), "learnstream %s: %s\n\n", fs.Name(), msg)
	fs.Usage()
	return errUsage
}

// atLeast checks a numeric flag's lower bound; the error names the flag,
// the rule and the value given.
func atLeast[T int | int64](flag string, v, min T) error {
	if v < min {
		return fmt.Errorf("--%s: must be at least %d, got %d", flag, min, v)
	}
	return nil
}
