package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// helpWant is what `learnstream <path> -h` must show: the flags (or, for a
// command with subcommands, the subcommands) a user looks for, and flags
// that belong to another command and must not appear. Every command and
// subcommand needs an entry: TestEveryCommandAnswersHelp fails for one
// without.
var helpWant = map[string]struct {
	synopsis string   // text after "usage: learnstream <path>" on the first line
	items    []string // flags ("-name") or subcommands ("name")
	absent   []string
}{
	"": {items: []string{"serve", "credentials", "doctor", "dlq", "eval", "fit", "migrate", "projections", "replay", "version"}},
	"serve": {synopsis: "[flags]", items: []string{"-data-dir", "-http", "-kafka", "-dev", "-consistency-timeout", "-stuck-after", "-roles", "-clickhouse-addr"},
		absent: []string{"-server", "-scopes"}},
	"credentials": {items: []string{"create"}},
	// the new credential's key and secret are --key-id and --new-secret;
	// --key and --secret authorise the request
	"credentials create": {synopsis: "--scopes S [--tenant T] [--name N] [--key-id K] [--new-secret S] [flags]",
		items: []string{"-scopes", "-key-id", "-new-secret", "-tenant", "-name", "-server", "-key", "-secret", "-data-dir"}},
	"bench":            {items: []string{"ingest"}},
	"bench ingest":     {synopsis: "[flags]", items: []string{"-url", "-key", "-secret", "-batch", "-concurrency", "-duration", "-count", "-verify", "-metrics", "-json"}, absent: []string{"-server"}},
	"doctor":           {synopsis: "[flags]", items: []string{"-data-dir", "-kafka", "-json", "-ack", "-kafka-sasl-user", "-kafka-tls"}, absent: []string{"-server", "-limit"}},
	"dlq":              {items: []string{"list", "replay"}},
	"keys":             {items: []string{"rotate", "status"}},
	"keys rotate":      {synopsis: "[flags]", items: []string{"-kafka", "-data-dir", "-privacy-master-key-file", "-kafka-sasl-mechanism"}},
	"keys status":      {synopsis: "[flags]", items: []string{"-kafka", "-data-dir", "-privacy-master-key-file", "-json"}},
	"dlq list":         {synopsis: "[flags]", items: []string{"-kafka", "-topic", "-limit", "-json", "-data-dir", "-kafka-sasl-mechanism"}},
	"dlq replay":       {synopsis: "[flags]", items: []string{"-kafka", "-topic"}, absent: []string{"-limit", "-json"}},
	"eval":             {items: []string{"kt", "recommend", "plot"}},
	"eval kt":          {synopsis: "[flags]", items: []string{"-data", "-train", "-bkt-prior", "-features", "-json"}, absent: []string{"-algo"}},
	"eval recommend":   {synopsis: "[flags]", items: []string{"-data", "-algo", "-k", "-n", "-json", "-item-column", "-windows"}, absent: []string{"-train", "-bkt-prior"}},
	"eval plot":        {synopsis: "[flags]", items: []string{"-results", "-out", "-metric", "-marks", "-models", "-smooth", "-min-scored"}, absent: []string{"-data", "-json"}},
	"fit":              {items: []string{"bkt"}},
	"fit bkt":          {synopsis: "[flags]", items: []string{"-data", "-bkt-restarts", "-bkt-max-iter", "-json"}, absent: []string{"-train", "-algo"}},
	"migrate":          {synopsis: "[flags]", items: []string{"-clickhouse-addr", "-clickhouse-database", "-clickhouse-user", "-clickhouse-password"}},
	"projections":      {synopsis: "[flags]", items: []string{"-server", "-key", "-secret", "-json", "-counts"}},
	"replay":           {synopsis: "<projection> [flags]", items: []string{"-server", "-key", "-secret"}, absent: []string{"-json"}},
	"version":          {synopsis: ""},
	"learners":         {items: []string{"erase", "erasure", "export", "purge"}},
	"learners erase":   {synopsis: "<learner> [--wait 30s] [flags]", items: []string{"-wait", "-server", "-key", "-secret"}},
	"learners erasure": {synopsis: "<erasure id> [flags]", items: []string{"-server", "-key", "-secret"}, absent: []string{"-wait"}},
	"learners export":  {synopsis: "<learner> -o <file.zip> [flags]", items: []string{"-o", "-server", "-key", "-secret"}},
	"learners purge":   {synopsis: "[flags]", items: []string{"-server", "-key", "-secret"}, absent: []string{"-wait"}},
	"packages":         {items: []string{"import"}},
	"packages import":  {synopsis: "FILE.zip [flags]", items: []string{"-server", "-key", "-secret"}},
}

// commandPaths lists every command and subcommand, "" for the top level.
func commandPaths(prefix string, c command) []string {
	out := []string{prefix}
	for name, sub := range c.subs {
		out = append(out, commandPaths(strings.TrimSpace(prefix+" "+name), sub)...)
	}
	slices.Sort(out)
	return out
}

func TestEveryCommandAnswersHelp(t *testing.T) {
	paths := commandPaths("", command{subs: commands})
	for want := range helpWant {
		if !slices.Contains(paths, want) {
			t.Errorf("helpWant has %q, which is not a command", want)
		}
	}
	for _, path := range paths {
		want, ok := helpWant[path]
		if !ok {
			t.Errorf("learnstream %s: no entry in helpWant: add the flags its -h must show", path)
			continue
		}
		args := strings.Fields(path)
		for _, form := range [][]string{append(slices.Clone(args), "-h"), append(slices.Clone(args), "--help"), append([]string{"help"}, args...)} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := run(context.Background(), form, &stdout, &stderr); code != 0 {
					t.Errorf("exit code %d, want 0\n%s", code, stderr.String())
				}
				out := stderr.String()
				first, _, _ := strings.Cut(out, "\n")
				name := strings.TrimSpace("learnstream " + path)
				if c := lookup(args); len(c.subs) > 0 {
					// a command with subcommands lists them
					if !strings.HasPrefix(first, "usage: "+name+" <") {
						t.Fatalf("first line %q does not name %q and its subcommands", first, name)
					}
					for _, sub := range want.items {
						if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(sub) + ` `).MatchString(out) {
							t.Errorf("subcommand %s not listed:\n%s", sub, out)
						}
					}
					return
				}
				if wantFirst := strings.TrimSpace("usage: " + name + " " + want.synopsis); first != wantFirst {
					t.Fatalf("first line %q, want %q", first, wantFirst)
				}
				for _, f := range want.items {
					if !hasFlag(out, f) {
						t.Errorf("flag %s missing:\n%s", f, out)
					}
				}
				for _, f := range want.absent {
					if hasFlag(out, f) {
						t.Errorf("flag %s belongs to another command but is listed:\n%s", f, out)
					}
				}
				if strings.Contains(out, "unknown") {
					t.Errorf("help answers with an error:\n%s", out)
				}
			})
		}
	}
}

func lookup(args []string) command {
	c := command{subs: commands}
	for _, a := range args {
		c = c.subs[a]
	}
	return c
}

// hasFlag reports whether usage output lists flag (as the flag package
// prints it: two spaces, -name, then a space or the end of the line).
func hasFlag(out, flag string) bool {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(flag) + `( |$)`).MatchString(out)
}

// TestCommandLineErrors: a wrong command line answers 2 and says what is
// wrong; the help of a command goes with it.
func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"usage: learnstream <"}},
		{[]string{"cook"}, []string{`unknown command "cook"`, "usage: learnstream <"}},
		{[]string{"eval"}, []string{"usage: learnstream eval <kt|plot|recommend>"}},
		{[]string{"eval", "irt"}, []string{`learnstream eval: unknown subcommand "irt" (want kt, plot, recommend)`}},
		{[]string{"fit", "irt"}, []string{`unknown subcommand "irt" (want bkt)`}},
		{[]string{"dlq", "purge"}, []string{`unknown subcommand "purge" (want list, replay)`}},
		{[]string{"credentials"}, []string{"usage: learnstream credentials <create>"}},
		{[]string{"eval", "kt"}, []string{"learnstream eval kt: --data is required", "usage: learnstream eval kt [flags]"}},
		{[]string{"eval", "recommend"}, []string{"learnstream eval recommend: --data is required", "usage: learnstream eval recommend [flags]"}},
		{[]string{"fit", "bkt"}, []string{"learnstream fit bkt: --data is required", "usage: learnstream fit bkt [flags]"}},
		{[]string{"replay"}, []string{"the projection to replay comes first", "usage: learnstream replay <projection> [flags]"}},
		{[]string{"replay", "--server", "http://127.0.0.1:1"}, []string{"the projection to replay comes first"}},
		{[]string{"dlq", "replay", "--limit", "5"}, []string{"flag provided but not defined: -limit", "usage: learnstream dlq replay [flags]"}},
		{[]string{"version", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"projections", "--counts"}, []string{"--counts goes with --json", "usage: learnstream projections [flags]"}},
		{[]string{"help", "cook"}, []string{`unknown command "cook"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Run("ldflags", func(t *testing.T) {
		old := version
		version = "v1.4.2"
		defer func() { version = old }()
		var stdout bytes.Buffer
		if code := run(context.Background(), []string{"version"}, &stdout, io.Discard); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		if !strings.HasPrefix(stdout.String(), "learnstream v1.4.2 (go") {
			t.Errorf("version printed %q", stdout.String())
		}
	})
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install module@version", debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0"},
		{"checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "b6e1dca0a1b2c3d4e5f60718293a4b5c6d7e8f90"},
			{Key: "vcs.time", Value: "2026-12-03T17:00:00Z"},
			{Key: "vcs.modified", Value: "false"}}}, "devel-b6e1dca0a1b2 2026-12-03T17:00:00Z"},
		{"modified checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "b6e1dca0a1b2c3d4e5f60718293a4b5c6d7e8f90"},
			{Key: "vcs.modified", Value: "true"}}}, "devel-b6e1dca0a1b2-dirty"},
		{"no VCS information", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFromBuildInfo(&tc.info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDevSecretIsKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, devSecretFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	again, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second start got secret %q, first had %q", again, first)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := devSecret(dir); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a secret readable by others: err = %v, want one naming the file and the fix", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devSecret(dir); err == nil || !strings.Contains(err.Error(), "holds no secret") {
		t.Errorf("an empty secret file: err = %v", err)
	}
}
