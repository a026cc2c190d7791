package projections

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/content"
)

const sweepCourse = `<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://example.com/cmi5/sweep"><title><langstring lang="en-US">S</langstring></title>
    <description><langstring lang="en-US">d</langstring></description></course>
  <au id="https://example.com/cmi5/sweep/au"><title><langstring lang="en-US">AU</langstring></title>
    <description><langstring lang="en-US">d</langstring></description><url>https://au.example.com/</url></au>
</courseStructure>`

// install stages and installs sweepCourse as a new import of one package.
func install(t *testing.T, p *PackageStore, at time.Time) PackageInfo {
	t.Helper()
	st, err := p.Stage(strings.NewReader(sweepCourse))
	if err != nil {
		t.Fatal(err)
	}
	course, err := content.ParseCMI5([]byte(sweepCourse), content.Options{IRIBase: "https://lrs.example/"})
	if err != nil {
		t.Fatal(err)
	}
	info := PackageInfo{ID: PackageID("t1", course.IRI), Tenant: "t1", Import: NewImportID(at), ImportedAt: at, Course: course}
	if _, err := p.Install(st, info); err != nil {
		t.Fatal(err)
	}
	return info
}

func age(t *testing.T, name string, d time.Duration) {
	t.Helper()
	then := time.Now().Add(-d)
	if err := os.Chtimes(name, then, then); err != nil {
		t.Fatal(err)
	}
}

func TestPackageStoreSweep(t *testing.T) {
	const keep = time.Hour
	for _, tc := range []struct {
		name string
		// setup returns the directories (relative to the store) that the
		// sweep must delete and those it must keep.
		setup func(t *testing.T, p *PackageStore) (gone, kept []string)
	}{
		{name: "current import is kept", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			a := install(t, p, time.Now())
			age(t, filepath.Join(p.Dir, a.ID, "current"), 10*keep)
			return nil, []string{filepath.Join(a.ID, a.Import)}
		}},
		{name: "replaced import within keep is kept", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			a := install(t, p, time.Now())
			b := install(t, p, time.Now())
			return nil, []string{filepath.Join(a.ID, a.Import), filepath.Join(b.ID, b.Import)}
		}},
		{name: "import replaced longer ago than keep is deleted", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			a := install(t, p, time.Now())
			b := install(t, p, time.Now())
			age(t, filepath.Join(p.Dir, b.ID, "current"), keep+time.Minute)
			return []string{filepath.Join(a.ID, a.Import)}, []string{filepath.Join(b.ID, b.Import)}
		}},
		{name: "import whose install was undone or interrupted", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			a := install(t, p, time.Now())
			// A failed re-import whose undo could not delete its files.
			orphan := filepath.Join(a.ID, NewImportID(time.Now()))
			os.MkdirAll(filepath.Join(p.Dir, orphan, "files"), 0o750)
			age(t, filepath.Join(p.Dir, a.ID, "current"), keep+time.Minute)
			return []string{orphan}, []string{filepath.Join(a.ID, a.Import)}
		}},
		{name: "package without a current import", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			stale, fresh := strings.Repeat("a", 32), strings.Repeat("b", 32)
			for _, id := range []string{stale, fresh} {
				os.MkdirAll(filepath.Join(p.Dir, id, "x", "files"), 0o750)
			}
			age(t, filepath.Join(p.Dir, stale), StaleAfter+time.Minute)
			return []string{stale}, []string{fresh}
		}},
		{name: "staging directories of failed uploads", setup: func(t *testing.T, p *PackageStore) ([]string, []string) {
			for _, d := range []string{"upload-old", "upload-new"} {
				os.MkdirAll(filepath.Join(p.Dir, "staging", d), 0o750)
			}
			age(t, filepath.Join(p.Dir, "staging", "upload-old"), StaleAfter+time.Minute)
			return []string{filepath.Join("staging", "upload-old")}, []string{filepath.Join("staging", "upload-new")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &PackageStore{Dir: t.TempDir()}
			gone, kept := tc.setup(t, p)
			removed, err := p.Sweep(time.Now(), keep)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(removed)
			slices.Sort(gone)
			if !slices.Equal(removed, gone) {
				t.Errorf("removed %v, want %v", removed, gone)
			}
			for _, d := range gone {
				if _, err := os.Stat(filepath.Join(p.Dir, d)); !os.IsNotExist(err) {
					t.Errorf("%s still there: %v", d, err)
				}
			}
			for _, d := range kept {
				if _, err := os.Stat(filepath.Join(p.Dir, d)); err != nil {
					t.Errorf("%s deleted: %v", d, err)
				}
			}
			if infos, err := p.List("t1"); err != nil {
				t.Errorf("List after the sweep: %v", err)
			} else {
				for _, i := range infos {
					if _, err := p.Files(i.ID, i.Import); err != nil {
						t.Errorf("current import %s/%s not served after the sweep: %v", i.ID, i.Import, err)
					}
				}
			}
		})
	}
}
