package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// --memory-limit sets the Go runtime's soft memory limit (the limit
// GOMEMLIMIT sets). Below it the garbage collector runs as GOGC says,
// which lets the heap grow to about twice what is live; near it the
// collector runs sooner, so that the resident set stays close to the
// limit instead of at twice the live heap. It is soft: when more than the
// limit is live the server keeps running and the collector costs more CPU
// (docs/operations.md, "Memory").
const (
	memoryLimitAuto = "auto"
	memoryLimitOff  = "off"
	// minMemoryLimit is below the fixed part of a server with every role
	// (docs/operations.md): a smaller limit would only make the collector
	// run all the time.
	minMemoryLimit = 256 << 20
	// cgroupShare of a container's memory limit is the default: the rest
	// is what the runtime does not count (stacks, the kernel's socket
	// buffers, memory-mapped files) and room before the kernel's OOM
	// killer.
	cgroupShare = 0.9
)

// memorySizeUnits are GOMEMLIMIT's units, so that a value works in both.
var memorySizeUnits = []struct {
	suffix string
	factor int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseMemoryLimit reads --memory-limit: auto, off, or a size in bytes
// with an optional unit (B, KiB, MiB, GiB, TiB). It returns the size, or
// 0 for auto and math.MaxInt64 for off.
func parseMemoryLimit(s string) (int64, error) {
	switch strings.TrimSpace(s) {
	case memoryLimitAuto:
		return 0, nil
	case memoryLimitOff:
		return math.MaxInt64, nil
	}
	n, ok := parseSize(s)
	if !ok {
		return 0, fmt.Errorf("--memory-limit: %q is not auto, off or a size such as 2GiB or 1536MiB (units B, KiB, MiB, GiB, TiB)", s)
	}
	if n < minMemoryLimit {
		return 0, fmt.Errorf("--memory-limit: must be at least 256MiB, got %s", s)
	}
	return n, nil
}

// parseSize reads a size in bytes with an optional unit (B, KiB, MiB,
// GiB, TiB).
func parseSize(s string) (int64, bool) {
	num, factor := strings.TrimSpace(s), int64(1)
	for _, u := range memorySizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/factor {
		return 0, false
	}
	return n * factor, true
}

// memoryLimitFor decides the limit: the flag's size, none for off, and
// for auto GOMEMLIMIT when set (the runtime has applied it already:
// limit 0), else cgroupShare of the container's memory limit, else none.
// source says which, for the log.
func memoryLimitFor(spec string, getenv func(string) string, cgroupRoot string) (limit int64, source string, err error) {
	n, err := parseMemoryLimit(spec)
	switch {
	case err != nil:
		return 0, "", err
	case n == math.MaxInt64:
		return n, "--memory-limit off", nil
	case n > 0:
		return n, "--memory-limit", nil
	case getenv("GOMEMLIMIT") != "":
		return 0, "GOMEMLIMIT", nil
	}
	if c := cgroupMemoryLimit(cgroupRoot); c > 0 {
		return max(int64(float64(c)*cgroupShare), minMemoryLimit), "cgroup memory limit", nil
	}
	return math.MaxInt64, "none (no GOMEMLIMIT, no cgroup memory limit)", nil
}

// applyMemoryLimit sets the runtime's memory limit from --memory-limit and
// logs what it is.
func applyMemoryLimit(spec string, log *slog.Logger) error {
	limit, source, err := memoryLimitFor(spec, os.Getenv, "/sys/fs/cgroup")
	if err != nil {
		return err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if cur := debug.SetMemoryLimit(-1); cur == math.MaxInt64 {
		log.Info("memory limit: none; the heap may reach about twice what is live (GOGC)", "source", source)
	} else {
		log.Info("memory limit", "bytes", cur, "mib", cur>>20, "source", source)
	}
	return nil
}

// cgroupMemoryLimit is the memory limit of the process's cgroup (v2
// memory.max or v1 memory.limit_in_bytes, at the mount's root, which is the
// container's own in a cgroup namespace, or at the path /proc/self/cgroup
// names), the smallest found; 0 when there is none.
func cgroupMemoryLimit(root string) int64 {
	candidates := []string{
		filepath.Join(root, "memory.max"),
		filepath.Join(root, "memory", "memory.limit_in_bytes"),
	}
	if f, err := os.Open("/proc/self/cgroup"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// hierarchy-id:controllers:path
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) != 3 || parts[2] == "/" {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				candidates = append(candidates, filepath.Join(root, parts[2], "memory.max"))
			case strings.Contains(","+parts[1]+",", ",memory,"):
				candidates = append(candidates, filepath.Join(root, "memory", parts[2], "memory.limit_in_bytes"))
			}
		}
		f.Close()
	}
	var limit int64
	for _, p := range candidates {
		n, err := readCgroupLimit(p)
		if err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit
}

// readCgroupLimit reads one limit file: "max" (v2) and the near-MaxInt64
// page-rounded value (v1) both mean no limit, returned as 0.
func readCgroupLimit(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if n <= 0 || n >= 1<<62 {
		return 0, nil
	}
	return n, nil
}
