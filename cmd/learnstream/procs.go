package main

import (
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
)

// --procs sets how many goroutines run at once (GOMAXPROCS). Go's default
// is the number of cores, and on a small machine that is too few for the
// projections store: a Badger merge runs about ten goroutines at once
// (its key ranges, each with its own table builders and block
// compressors), each keeps a processor for up to 10 ms before the
// scheduler takes it back, and every request, consumer and broker turn
// waits behind them. With at least minProcs processors the kernel shares
// the cores among more threads at a finer grain, so the rest keeps
// running through a merge: over 10M statements on 2 cores, filtered GETs'
// p99 fell from 31–52 to 23–24 ms (from 88–94 to 32–36 ms with more
// ingest beside them) and the goroutines' p99 wait to run from 50–72 to
// 10 ms, at about the same CPU per statement there (6% more in an
// earlier series; docs/benchmarks.md, "Seventeenth pass"). The extra
// processors do cost CPU: with every role in batches, 14% more a
// statement than as many as the cores in a later series; but with as
// many as the cores the consumers ran twice as far behind and, beside
// readers, the writes' p99 was two to five times as long ("Thirty-fourth
// pass"), so the tails decide the default and --procs with the cores is
// for bulk imports. On machines with more cores than minProcs, Go's
// default stands.
// Once raised, the runtime no longer follows changes of a container's CPU
// limit while the server runs; a restart reads it again.
const (
	procsAuto = "auto"
	minProcs  = 8
)

// procsFor decides GOMAXPROCS: the flag's number; for auto, what the
// runtime took from GOMAXPROCS when that is set (0: keep it), else the
// runtime's default (cores, or the container's CPU limit) raised to
// minProcs. source says which, for the log.
func procsFor(spec string, getenv func(string) string, current int) (n int, source string, err error) {
	spec = strings.TrimSpace(spec)
	if spec != procsAuto {
		n, err := strconv.Atoi(spec)
		if err != nil || n < 1 || n > 1024 {
			return 0, "", fmt.Errorf("--procs: %q is not auto or a number of processors from 1 to 1024", spec)
		}
		return n, "--procs", nil
	}
	if getenv("GOMAXPROCS") != "" {
		return 0, "GOMAXPROCS", nil
	}
	if current >= minProcs {
		return current, "cores", nil
	}
	return minProcs, fmt.Sprintf("at least %d (cores: %d)", minProcs, current), nil
}

// applyProcs sets GOMAXPROCS from --procs and logs what it is.
func applyProcs(spec string, log *slog.Logger) error {
	n, source, err := procsFor(spec, os.Getenv, goruntime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	if n > 0 && n != goruntime.GOMAXPROCS(0) {
		goruntime.GOMAXPROCS(n)
	}
	log.Info("processors (GOMAXPROCS)", "n", goruntime.GOMAXPROCS(0), "source", source)
	return nil
}
