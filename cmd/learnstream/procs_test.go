package main

import (
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"testing"
)

func TestProcsFor(t *testing.T) {
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == "GOMAXPROCS" {
			return "3"
		}
		return ""
	}
	for _, tc := range []struct {
		name       string
		spec       string
		env        func(string) string
		current    int
		want       int
		wantSource string
	}{
		{"the flag wins over GOMAXPROCS", "4", env, 2, 4, "--procs"},
		{"one processor when asked", "1", noEnv, 16, 1, "--procs"},
		{"GOMAXPROCS kept as the runtime read it", "auto", env, 3, 0, "GOMAXPROCS"},
		{"two cores raised to the minimum", "auto", noEnv, 2, minProcs, "at least 8 (cores: 2)"},
		{"a one-core container raised too", " auto ", noEnv, 1, minProcs, "at least 8 (cores: 1)"},
		{"as many cores as the minimum", "auto", noEnv, minProcs, minProcs, "cores"},
		{"more cores kept", "auto", noEnv, 32, 32, "cores"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source, err := procsFor(tc.spec, tc.env, tc.current)
			if err != nil || got != tc.want || source != tc.wantSource {
				t.Fatalf("procsFor(%q) = %d, %q, %v; want %d, %q", tc.spec, got, source, err, tc.want, tc.wantSource)
			}
		})
	}
	for _, bad := range []string{"", "0", "-2", "two", "1.5", "2000"} {
		if _, _, err := procsFor(bad, noEnv, 2); err == nil {
			t.Errorf("procsFor(%q) accepted it", bad)
		}
	}
}

// The flag reaches the runtime.
func TestApplyProcsSetsGOMAXPROCS(t *testing.T) {
	prev := goruntime.GOMAXPROCS(0)
	t.Cleanup(func() { goruntime.GOMAXPROCS(prev) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := applyProcs("3", log); err != nil {
		t.Fatal(err)
	}
	if got := goruntime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("GOMAXPROCS after --procs 3 = %d", got)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		goruntime.GOMAXPROCS(2)
		if err := applyProcs("auto", log); err != nil {
			t.Fatal(err)
		}
		if got := goruntime.GOMAXPROCS(0); got != minProcs {
			t.Fatalf("GOMAXPROCS after --procs auto on 2 = %d, want %d", got, minProcs)
		}
	}
	if err := applyProcs("none", log); err == nil {
		t.Fatal("applyProcs accepted none")
	}
}
