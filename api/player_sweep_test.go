package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/content"
	"github.com/learnstream/learnstream/domain/event"
)

// isAbandoned matches the events of abandoned statements.
func isAbandoned(e event.Event) bool {
	return strings.Contains(string(e.Data), content.Cmi5VerbAbandoned)
}

func abandonedStatements(f *fixture) int {
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	n := 0
	for _, e := range f.log.evs {
		if isAbandoned(e) {
			n++
		}
	}
	return n
}

// Launches have a lifetime: an unused launch expires and its files go, an
// unfetched cmi5 launch goes once its fetch window closed, every use
// renews a launch.
func TestLaunchLifetimeAndSweep(t *testing.T) {
	const ttl = time.Hour
	type launched struct {
		au    *cmi5AU // nil: not fetched
		file  string  // the registration file
		fetch string  // the fetch URL's path
	}
	for _, tc := range []struct {
		name    string
		fetch   bool
		age     time.Duration // the registration file's age before the step
		posts   []string      // the AU's statements before the sweep
		sweepAt time.Duration // after now
		gone    bool          // the launch's files are deleted
		removed int
		// abandoned is the number of abandoned statements the LMS issued.
		abandoned int
	}{
		{name: "fresh unfetched cmi5 launch is kept", sweepAt: time.Minute},
		{name: "unfetched cmi5 launch after its fetch window", sweepAt: 11 * time.Minute, gone: true, removed: 1},
		{name: "fetched launch outlives the fetch window", fetch: true, sweepAt: 11 * time.Minute},
		{name: "launch unused for longer than the lifetime", fetch: true, sweepAt: ttl + time.Minute, gone: true, removed: 1},
		{name: "a use renews the launch", fetch: true, age: 50 * time.Minute, posts: []string{content.Cmi5VerbInitialized}, sweepAt: 30 * time.Minute},
		{name: "without the use it would have expired", fetch: true, age: 50 * time.Minute, sweepAt: 30 * time.Minute, gone: true, removed: 1},
		{name: "an expired session that did not terminate is abandoned", fetch: true, posts: []string{content.Cmi5VerbInitialized},
			sweepAt: ttl + time.Minute, gone: true, removed: 1, abandoned: 1},
		{name: "an expired session that terminated is not", fetch: true, posts: []string{content.Cmi5VerbInitialized, content.Cmi5VerbTerminated},
			sweepAt: ttl + time.Minute, gone: true, removed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, pkg := installCmi5(t, oneAUCourse)
			dir := t.TempDir()
			player := &api.PlayerModule{Packages: store, Dir: dir, LaunchTTL: ttl}
			f := newFixture(t, func(c *api.Config) {
				c.Source = "https://lrs.example"
				c.Modules = append(c.Modules, player)
			})
			var l launched
			if tc.fetch {
				l.au = launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
			} else {
				resp, body := f.do(t, req{method: "POST", path: "/v1/registrations",
					body: `{"actor":{"mbox":"mailto:ada@example.com"},"package":"` + pkg + `","unit":"https://example.com/cmi5/one/au"}`})
				var reg struct{ Launch string }
				if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
					t.Fatalf("register: %d %s", resp.StatusCode, body)
				}
				u, _ := url.Parse(reg.Launch)
				fu, _ := url.Parse(u.Query().Get("fetch"))
				l.fetch = fu.Path
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			if len(files) != 1 {
				t.Fatalf("registration files %v, want one", files)
			}
			l.file = files[0]
			if tc.age > 0 {
				then := time.Now().Add(-tc.age)
				if err := os.Chtimes(l.file, then, then); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range tc.posts {
				result := ""
				if v == content.Cmi5VerbTerminated {
					result = `,"result":{"duration":"PT2M"}`
				}
				l.au.post(t, v, result, http.StatusOK)
			}
			n, err := player.Sweep(context.Background(), time.Now().Add(tc.sweepAt))
			if err != nil || n != tc.removed {
				t.Fatalf("Sweep = %d, %v, want %d removed", n, err, tc.removed)
			}
			if got := abandonedStatements(f); got != tc.abandoned {
				t.Errorf("%d abandoned statements, want %d", got, tc.abandoned)
			}
			for _, name := range []string{l.file, l.file + ".fetched"} {
				_, err := os.Stat(name)
				if !tc.fetch && strings.HasSuffix(name, ".fetched") {
					continue
				}
				if gone := os.IsNotExist(err); gone != tc.gone {
					t.Errorf("%s: deleted %v, want %v (%v)", filepath.Base(name), gone, tc.gone, err)
				}
			}
			if tc.gone && l.fetch != "" {
				// The launch is no more: its fetch URL says so.
				resp, body := f.do(t, req{method: "POST", path: l.fetch, user: "-"})
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error-code":3`) {
					t.Errorf("fetch of a swept launch: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}

// An expired launch is refused at once, before any sweep, and its files
// go; the sweep also takes fetch markers without a launch and stale
// temporary files, and leaves other files alone.
func TestExpiredLaunchRefusedAndLeftoversSwept(t *testing.T) {
	store, pkg := installCmi5(t, oneAUCourse)
	dir := t.TempDir()
	player := &api.PlayerModule{Packages: store, Dir: dir, LaunchTTL: time.Hour}
	f := newFixture(t, func(c *api.Config) {
		c.Source = "https://lrs.example"
		c.Modules = append(c.Modules, player)
	})
	au := launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("registration files %v", files)
	}
	then := time.Now().Add(-61 * time.Minute)
	os.Chtimes(files[0], then, then)
	st := `{"actor":{"mbox":"mailto:ada@example.com"},"verb":{"id":"` + content.Cmi5VerbInitialized + `"},"object":{"id":"https://example.com/cmi5/one/au"}}`
	resp, body := f.do(t, req{method: "POST", path: au.statements, body: st, user: "-", headers: map[string]string{"Authorization": "Basic " + au.auth}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no such launch") {
		t.Errorf("statement to an expired launch: %d %s, want 404", resp.StatusCode, body)
	}
	if _, err := player.Sweep(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{files[0], files[0] + ".fetched"} {
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Errorf("%s kept after the launch expired: %v", filepath.Base(name), err)
		}
	}

	leftovers := map[string]bool{ // name: deleted by the sweep
		"0123.json.fetched":    true,  // its launch is gone
		".0123.json.1234.tmp":  true,  // a crash's temporary file, two hours old
		"README":               false, // not the player's
		".4567.json.fresh.tmp": false, // a write in progress
		"89ab.json":            false, // a fresh launch
		"89ab.json.fetched":    false,
	}
	old := time.Now().Add(-2 * time.Hour)
	for name := range leftovers {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if name == ".0123.json.1234.tmp" || name == "README" {
			os.Chtimes(p, old, old)
		}
	}
	if _, err := player.Sweep(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, deleted := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) != deleted {
			t.Errorf("%s: deleted %v, want %v", name, os.IsNotExist(err), deleted)
		}
	}
}

// An abandoned statement the event log refuses keeps the expired launch
// for the next sweep, which issues it once.
func TestAbandonedIsRetriedBySweep(t *testing.T) {
	store, pkg := installCmi5(t, oneAUCourse)
	dir := t.TempDir()
	player := &api.PlayerModule{Packages: store, Dir: dir, LaunchTTL: time.Hour}
	f := newFixture(t, func(c *api.Config) {
		c.Source = "https://lrs.example"
		c.Modules = append(c.Modules, player)
	})
	au := launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
	au.post(t, content.Cmi5VerbInitialized, "", http.StatusOK)
	later := time.Now().Add(2 * time.Hour)
	f.log.mu.Lock()
	f.log.failIf = isAbandoned
	f.log.mu.Unlock()
	if n, err := player.Sweep(context.Background(), later); err != nil || n != 0 {
		t.Fatalf("Sweep with the log refusing = %d, %v, want nothing removed", n, err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 1 {
		t.Fatalf("registration files %v, want the launch kept", files)
	}
	f.log.mu.Lock()
	f.log.failIf = nil
	f.log.mu.Unlock()
	if n, err := player.Sweep(context.Background(), later); err != nil || n != 1 {
		t.Fatalf("second Sweep = %d, %v, want the launch removed", n, err)
	}
	if got := abandonedStatements(f); got != 1 {
		t.Errorf("%d abandoned statements, want 1", got)
	}
	// A relaunch of the AU in the registration does not say it again.
	resp, body := f.do(t, req{method: "POST", path: "/v1/registrations", body: `{"actor":{"mbox":"mailto:ada@example.com"},"package":"` + pkg +
		`","unit":"https://example.com/cmi5/one/au","registration":"` + au.registration + `"}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("relaunch: %d %s", resp.StatusCode, body)
	}
	if got := abandonedStatements(f); got != 1 {
		t.Errorf("after a relaunch: %d abandoned statements, want 1", got)
	}
}
