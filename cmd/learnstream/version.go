package main

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3"
// (the Dockerfile's VERSION build argument does that). Without it the
// version comes from the build information the go tool records.
var version string

func init() {
	commands["version"] = command{summary: "print the version of this binary", run: runVersion}
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := parseFlagsAs(fs, "", false, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "learnstream %s (%s, %s/%s)\n", binaryVersion(), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	return nil
}

// binaryVersion is the -ldflags version, else the module version (set by
// go install module@version), else the VCS revision the binary was built
// from (go build in a checkout), else "devel".
func binaryVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionFromBuildInfo(info)
}

func versionFromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel-" + rev
	if modified == "true" {
		v += "-dirty"
	}
	if at != "" {
		v += " " + at
	}
	return v
}
