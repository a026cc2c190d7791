// Command composecheck validates docker-compose.yml the way `docker compose
// config` does, with the loader Docker Compose itself is built on, so that
// the test pipeline checks the file without a Docker installation. It also
// checks that every file the services bind-mount from the repository exists.
//
//	go run ./.ci/composecheck docker-compose.yml   (from .ci/composecheck: go run . ../../docker-compose.yml)
//
// Variables the file requires (${VAR:?...}) come from the environment, as
// with docker compose.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE")
		os.Exit(2)
	}
	if err := check(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func check(ctx context.Context, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithOsEnv, cli.WithName("composecheck"))
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return err
	}
	var missing, services []string
	for name, s := range p.Services {
		services = append(services, name)
		for _, v := range s.Volumes {
			if v.Type != "bind" {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				missing = append(missing, fmt.Sprintf("service %s mounts %s, which does not exist", name, v.Source))
			}
		}
		if s.Build != nil {
			df := s.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(s.Build.Context, df)
			}
			if _, err := os.Stat(df); err != nil {
				missing = append(missing, fmt.Sprintf("service %s builds from %s, which does not exist", name, df))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s", strings.Join(missing, "; "))
	}
	sort.Strings(services)
	fmt.Printf("%s: valid (services: %s)\n", file, strings.Join(services, ", "))
	return nil
}
