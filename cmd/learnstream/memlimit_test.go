package main

import (
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"auto", 0, ""},
		{"off", math.MaxInt64, ""},
		{"2GiB", 2 << 30, ""},
		{"1536MiB", 1536 << 20, ""},
		{" 768 MiB ", 768 << 20, ""},
		{"1TiB", 1 << 40, ""},
		{"536870912", 512 << 20, ""},
		{"536870912B", 512 << 20, ""},
		{"2GB", 0, `--memory-limit: "2GB" is not auto, off or a size`},
		{"lots", 0, `--memory-limit: "lots" is not auto, off or a size`},
		{"-1GiB", 0, `--memory-limit: "-1GiB" is not auto, off or a size`},
		{"1.5GiB", 0, `--memory-limit: "1.5GiB" is not auto, off or a size`},
		{"99999999999TiB", 0, `is not auto, off or a size`},
		{"100MiB", 0, "--memory-limit: must be at least 256MiB, got 100MiB"},
		{"0", 0, "--memory-limit: must be at least 256MiB, got 0"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMemoryLimit(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseMemoryLimit(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseMemoryLimit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestMemoryLimitForAuto(t *testing.T) {
	cgroupV2 := func(content string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cgroupV1 := func(content string) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "memory"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "memory", "memory.limit_in_bytes"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name       string
		spec       string
		env        func(string) string
		root       string
		want       int64
		wantSource string
	}{
		{"flag wins over the cgroup", "1GiB", noEnv, cgroupV2("4294967296\n"), 1 << 30, "--memory-limit"},
		{"off wins over GOMEMLIMIT", "off", func(string) string { return "1GiB" }, t.TempDir(), math.MaxInt64, "--memory-limit off"},
		{"GOMEMLIMIT kept as the runtime read it", "auto", func(k string) string {
			if k == "GOMEMLIMIT" {
				return "3GiB"
			}
			return ""
		}, cgroupV2("4294967296\n"), 0, "GOMEMLIMIT"},
		{"90% of a v2 container limit", "auto", noEnv, cgroupV2("4294967296\n"), 4294967296 * 9 / 10, "cgroup memory limit"},
		{"90% of a v1 container limit", "auto", noEnv, cgroupV1("2147483648\n"), 2147483648 * 9 / 10, "cgroup memory limit"},
		{"a tiny container still gets the minimum", "auto", noEnv, cgroupV2("134217728\n"), minMemoryLimit, "cgroup memory limit"},
		{"v2 max is no limit", "auto", noEnv, cgroupV2("max\n"), math.MaxInt64, "none (no GOMEMLIMIT, no cgroup memory limit)"},
		{"v1 unlimited is no limit", "auto", noEnv, cgroupV1("9223372036854771712\n"), math.MaxInt64, "none (no GOMEMLIMIT, no cgroup memory limit)"},
		{"no cgroup files", "auto", noEnv, t.TempDir(), math.MaxInt64, "none (no GOMEMLIMIT, no cgroup memory limit)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source, err := memoryLimitFor(tc.spec, tc.env, tc.root)
			if err != nil || got != tc.want || source != tc.wantSource {
				t.Fatalf("memoryLimitFor = %d, %q, %v; want %d, %q", got, source, err, tc.want, tc.wantSource)
			}
		})
	}
}

// The flag reaches the runtime: a limit the garbage collector honours.
func TestApplyMemoryLimitSetsTheRuntimeLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set in the test's environment")
	}
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := applyMemoryLimit("768MiB", log); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Fatalf("runtime memory limit after --memory-limit 768MiB = %d", got)
	}
	if err := applyMemoryLimit("off", log); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("runtime memory limit after --memory-limit off = %d", got)
	}
	if err := applyMemoryLimit("12XB", log); err == nil {
		t.Fatal("applyMemoryLimit accepted 12XB")
	}
}
