package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/projections"
)

// SCORM and cmi5 content (api role): package import, the package store
// under <data-dir>/packages, and the files served to browsers. The file
// sorts after role_recommender.go on purpose: its API setter runs after the
// recommender's and finds the catalog module there, so that package
// imports and catalog edits share one lock.
func init() { roleStarters = append(roleStarters, startContent) }

// contentConfig are the content players' flags.
type contentConfig struct {
	contentIRIBase     string
	maxPackageBytes    int64
	maxPackageFiles    int
	maxPackageExpanded int64
	launchTTL          time.Duration
}

func (c *contentConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.contentIRIBase, "content-iri-base", "", "prefix of the activity IRIs of imported SCORM packages; keep it fixed, "+
		"re-imports keep learners' records only under the same IRIs (default <--public-url>/activities/)")
	fs.Int64Var(&c.maxPackageBytes, "max-package-bytes", 2<<30, "largest content package upload (zip) accepted")
	fs.IntVar(&c.maxPackageFiles, "max-package-files", content.DefaultLimits.MaxFiles, "most files a content package may hold")
	fs.Int64Var(&c.maxPackageExpanded, "max-package-expanded-bytes", content.DefaultLimits.MaxExpandedBytes, "largest total size a content package may unpack to")
	fs.DurationVar(&c.launchTTL, "launch-ttl", api.DefaultLaunchTTL, "how long a SCORM or cmi5 launch URL lives unused (each use renews it); "+
		"expired launches, and package versions replaced longer ago, are deleted from the data directory")
}

func (c *contentConfig) validate() []error {
	var errs []error
	if c.contentIRIBase != "" {
		if u, err := url.Parse(c.contentIRIBase); err != nil || !u.IsAbs() {
			errs = append(errs, fmt.Errorf("--content-iri-base: %q is not an absolute IRI", c.contentIRIBase))
		}
	}
	if c.launchTTL < time.Second {
		errs = append(errs, fmt.Errorf("--launch-ttl: must be at least 1s, got %s", c.launchTTL))
	}
	return append(errs,
		atLeast("max-package-bytes", c.maxPackageBytes, 1024),
		atLeast("max-package-files", c.maxPackageFiles, 1),
		atLeast("max-package-expanded-bytes", c.maxPackageExpanded, 1024))
}

func startContent(rt *runtime, roles map[string]bool) error {
	if !roles["api"] {
		return nil
	}
	cfg := rt.cfg.contentConfig
	store := &projections.PackageStore{Dir: filepath.Join(rt.cfg.dataDir, "packages"), MaxUploadBytes: cfg.maxPackageBytes,
		Limits: content.Limits{MaxFiles: cfg.maxPackageFiles, MaxExpandedBytes: cfg.maxPackageExpanded, MaxRatio: content.DefaultLimits.MaxRatio}}
	pm := &api.PackagesModule{Store: store, Logger: rt.log}
	player := &api.PlayerModule{Packages: store, Dir: filepath.Join(rt.cfg.dataDir, "registrations"), LaunchTTL: cfg.launchTTL, Logger: rt.log}
	rt.consumers.Add(1)
	go func() {
		defer rt.consumers.Done()
		sweepContent(rt.consumeCtx, rt.log, player, store, cfg.launchTTL)
	}()
	rt.apiConfig = append(rt.apiConfig, func(c *api.Config) {
		for _, m := range c.Modules {
			if cm, ok := m.(*api.CatalogModule); ok {
				pm.Catalog = cm
			}
		}
		if pm.Catalog == nil {
			rt.log.Warn("content packages: no catalog module, POST /v1/packages is off")
			return
		}
		pm.IRIBase = cfg.contentIRIBase
		if pm.IRIBase == "" {
			pm.IRIBase = strings.TrimRight(c.Source, "/") + "/activities/"
		}
		c.MaxPackageBytes = cfg.maxPackageBytes
		c.Modules = append(c.Modules, pm, player)
	})
	return nil
}

// sweepContent deletes expired launches and replaced package versions, at
// start and then every few minutes (sooner under a short --launch-ttl),
// until ctx ends at shutdown.
func sweepContent(ctx context.Context, log *slog.Logger, player *api.PlayerModule, store *projections.PackageStore, ttl time.Duration) {
	t := time.NewTicker(min(5*time.Minute, max(ttl/2, time.Second)))
	defer t.Stop()
	for {
		now := time.Now()
		if n, err := player.Sweep(ctx, now); err != nil {
			log.Warn("sweep launches", "err", err)
		} else if n > 0 {
			log.Info("expired launches removed", "launches", n)
		}
		if dirs, err := store.Sweep(now, ttl); err != nil {
			log.Warn("sweep packages", "err", err)
		} else if len(dirs) > 0 {
			log.Info("replaced or abandoned package files removed", "directories", dirs)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
