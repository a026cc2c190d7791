package projections

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/learnstream/learnstream/domain/content"
)

// PackageStore keeps imported content packages on disk, under
// <dir>/<package id>/<import id>/files, one directory per import so that a
// learner in a session keeps the version that launched while a new one is
// imported. <dir>/<package id>/current names the current import; it is
// replaced by rename, so readers see the old or the new, never half.
//
// The store holds files, not the truth of the catalog: the course's
// activities are catalog events on the log. It is local to the process's
// data directory; several API processes need a shared directory.
type PackageStore struct {
	Dir string
	// MaxUploadBytes bounds an uploaded archive (413 beyond it).
	MaxUploadBytes int64
	Limits         content.Limits
	// mu keeps Sweep out of an Install (or its undo) between moving the
	// import in and naming it current.
	mu sync.Mutex
}

// StaleAfter is the age from which Sweep takes a staging directory, or a
// package directory without a current import, for abandoned: an upload is
// bounded by the HTTP server's read timeout, a minute.
const StaleAfter = time.Hour

// ScopePackages lets a credential import content packages and nothing
// else of the catalog.
const ScopePackages = "packages"

// The scope is registered here, beside the store it guards, rather than in
// the xAPI scope list.
func init() { Scopes = append(Scopes, ScopePackages) }

// ErrPackageTooLarge marks an upload over MaxUploadBytes.
var ErrPackageTooLarge = errors.New("package too large")

// ErrNoPackage marks a package id the store does not hold.
var ErrNoPackage = errors.New("no such package")

// PackageInfo describes one import of a package.
type PackageInfo struct {
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant"`
	Import     string          `json:"import"`
	ImportedAt time.Time       `json:"importedAt"`
	Files      int             `json:"files"`
	Bytes      int64           `json:"bytes"`
	Course     *content.Course `json:"course"`
}

// PackageID is the stable id of a tenant's package: the same course
// imported again (a new version) replaces the same package.
func PackageID(tenant, courseIRI string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + courseIRI))
	return hex.EncodeToString(h[:16])
}

// Staged is an upload unpacked into a staging directory, not yet installed.
type Staged struct {
	dir string
	// Files is the directory of the package's files.
	Files string
	// Bare is true for an upload that was a cmi5.xml, not an archive.
	Bare  bool
	Count int
	Bytes int64
}

// Discard removes a staged upload.
func (s *Staged) Discard() { os.RemoveAll(s.dir) }

// Stage streams an upload to disk (never whole in memory) and, when it is
// a zip, checks every entry and unpacks it with a budget that counts the
// bytes actually written. A body that is not a zip is taken as a bare
// cmi5.xml. On error nothing is left behind.
func (p *PackageStore) Stage(r io.Reader) (st *Staged, err error) {
	stage := filepath.Join(p.Dir, "staging")
	if err := os.MkdirAll(stage, 0o750); err != nil {
		return nil, fmt.Errorf("package staging directory: %w", err)
	}
	dir, err := os.MkdirTemp(stage, "upload-")
	if err != nil {
		return nil, fmt.Errorf("package staging directory: %w", err)
	}
	st = &Staged{dir: dir, Files: filepath.Join(dir, "files")}
	// Every error return sets st to nil; the directory is known by name.
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	archive := filepath.Join(dir, "upload")
	f, err := os.OpenFile(archive, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := p.MaxUploadBytes
	if limit <= 0 {
		limit = 1 << 30
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrPackageTooLarge, limit)
	}
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := os.MkdirAll(st.Files, 0o750); err != nil {
		return nil, err
	}
	if !bytes.Equal(head, []byte("PK\x03\x04")) {
		st.Bare, st.Count, st.Bytes = true, 1, n
		return st, os.Rename(archive, filepath.Join(st.Files, content.CMI5File))
	}
	z, err := zip.NewReader(f, n)
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable zip: %v", content.ErrUnsafe, err)
	}
	lim := p.Limits
	if lim.MaxFiles == 0 {
		lim = content.DefaultLimits
	}
	if err := content.CheckArchive(z, lim); err != nil {
		return nil, err
	}
	budget := lim.MaxExpandedBytes
	for _, zf := range z.File {
		name, _ := content.EntryName(zf.Name) // checked by CheckArchive
		target := filepath.Join(st.Files, filepath.FromSlash(name))
		if zf.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o750); err != nil {
				return nil, err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, err
		}
		if err := unpackOne(zf, target, &budget); err != nil {
			return nil, err
		}
		st.Count++
	}
	st.Bytes = lim.MaxExpandedBytes - budget
	if err := os.Remove(archive); err != nil {
		return nil, err
	}
	return st, nil
}

func unpackOne(zf *zip.File, target string, budget *int64) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", content.ErrUnsafe, zf.Name, err)
	}
	defer rc.Close()
	// O_EXCL: two entries cannot write one file (CheckArchive rejects
	// duplicates; this also holds for names that differ only in form).
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, content.CountingLimit(rc, budget, zf.Name)); err != nil {
		out.Close()
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) {
			return fmt.Errorf("%w: %s: %v", content.ErrUnsafe, zf.Name, err)
		}
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Install makes a staged upload the current import of info.ID. The
// returned undo puts the previous import back (when publishing the
// catalog events failed, the import must leave nothing).
func (p *PackageStore) Install(st *Staged, info PackageInfo) (undo func() error, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pkgDir := filepath.Join(p.Dir, info.ID)
	if err := os.MkdirAll(pkgDir, 0o750); err != nil {
		return nil, err
	}
	importDir := filepath.Join(pkgDir, info.Import)
	meta, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	if err := WriteFileSynced(filepath.Join(st.dir, "package.json"), meta, 0o640); err != nil {
		return nil, err
	}
	if err := os.Rename(st.dir, importDir); err != nil {
		return nil, fmt.Errorf("install package: %w", err)
	}
	prev, _ := os.ReadFile(filepath.Join(pkgDir, "current"))
	if err := p.setCurrent(pkgDir, info.Import); err != nil {
		os.RemoveAll(importDir)
		return nil, err
	}
	return func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(prev) == 0 {
			return os.RemoveAll(pkgDir)
		}
		if err := p.setCurrent(pkgDir, string(prev)); err != nil {
			return err
		}
		return os.RemoveAll(importDir)
	}, nil
}

// Sweep deletes the files no reader reaches any more: imports replaced
// more than keep ago (a learner who launched the old version had keep,
// the launch lifetime, to finish on its files), imports and package
// directories a failed or interrupted install left behind, and staging
// directories older than StaleAfter. It answers the directories removed,
// relative to the store. now is the sweep's clock.
func (p *PackageStore) Sweep(now time.Time, keep time.Duration) (removed []string, err error) {
	old := func(fi fs.FileInfo, d time.Duration) bool { return now.Sub(fi.ModTime()) > d }
	remove := func(rel string) error {
		if err := os.RemoveAll(filepath.Join(p.Dir, rel)); err != nil {
			return fmt.Errorf("sweep packages: %w", err)
		}
		removed = append(removed, rel)
		return nil
	}
	staging, err := os.ReadDir(filepath.Join(p.Dir, "staging"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sweep packages: %w", err)
	}
	for _, e := range staging {
		if fi, err := e.Info(); err == nil && old(fi, StaleAfter) {
			if err := remove(filepath.Join("staging", e.Name())); err != nil {
				return removed, err
			}
		}
	}
	pkgs, err := os.ReadDir(p.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return removed, nil
	}
	if err != nil {
		return removed, fmt.Errorf("sweep packages: %w", err)
	}
	for _, e := range pkgs {
		if !e.IsDir() || !validPackageID(e.Name()) {
			continue
		}
		if err := p.sweepPackage(e.Name(), old, remove, keep); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func (p *PackageStore) sweepPackage(id string, old func(fs.FileInfo, time.Duration) bool, remove func(string) error, keep time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pkgDir := filepath.Join(p.Dir, id)
	cur, err := os.Stat(filepath.Join(pkgDir, "current"))
	if errors.Is(err, fs.ErrNotExist) {
		// A first install that failed and could not be undone.
		if fi, err := os.Stat(pkgDir); err == nil && old(fi, StaleAfter) {
			return remove(id)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep packages: %w", err)
	}
	curID, err := os.ReadFile(filepath.Join(pkgDir, "current"))
	if err != nil {
		return fmt.Errorf("sweep packages: %w", err)
	}
	imports, err := os.ReadDir(pkgDir)
	if err != nil {
		return fmt.Errorf("sweep packages: %w", err)
	}
	for _, e := range imports {
		if !e.IsDir() || e.Name() == string(curID) {
			continue
		}
		// current changed when this import was replaced (or, for one
		// that never became current, before it was made; Install holds mu
		// from moving an import in to naming it current).
		if old(cur, keep) {
			if err := remove(filepath.Join(id, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *PackageStore) setCurrent(pkgDir, importID string) error {
	return WriteFileAtomic(filepath.Join(pkgDir, "current"), []byte(importID), 0o640)
}

// NewImportID returns a fresh, sortable import id.
func NewImportID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Get returns the current import of a tenant's package.
func (p *PackageStore) Get(tenant, id string) (PackageInfo, error) {
	if !validPackageID(id) {
		return PackageInfo{}, ErrNoPackage
	}
	cur, err := os.ReadFile(filepath.Join(p.Dir, id, "current"))
	if errors.Is(err, fs.ErrNotExist) {
		return PackageInfo{}, ErrNoPackage
	}
	if err != nil {
		return PackageInfo{}, err
	}
	info, err := p.readInfo(id, string(cur))
	if err != nil {
		return PackageInfo{}, err
	}
	if info.Tenant != tenant {
		return PackageInfo{}, ErrNoPackage
	}
	return info, nil
}

func (p *PackageStore) readInfo(id, imp string) (PackageInfo, error) {
	data, err := os.ReadFile(filepath.Join(p.Dir, id, filepath.Base(imp), "package.json"))
	if err != nil {
		return PackageInfo{}, err
	}
	var info PackageInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return PackageInfo{}, fmt.Errorf("package %s: %w", id, err)
	}
	return info, nil
}

// List returns the tenant's packages, by title.
func (p *PackageStore) List(tenant string) ([]PackageInfo, error) {
	ents, err := os.ReadDir(p.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []PackageInfo
	for _, e := range ents {
		if !e.IsDir() || !validPackageID(e.Name()) {
			continue
		}
		info, err := p.Get(tenant, e.Name())
		if errors.Is(err, ErrNoPackage) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Course.Title < out[j].Course.Title })
	return out, nil
}

// Files returns the file system of one import's files, for serving.
func (p *PackageStore) Files(id, imp string) (fs.FS, error) {
	if !validPackageID(id) || imp == "" || imp == "." || imp == ".." || strings.ContainsAny(imp, `/\`) {
		return nil, ErrNoPackage
	}
	dir := filepath.Join(p.Dir, id, filepath.Base(imp), "files")
	if _, err := os.Stat(dir); err != nil {
		return nil, ErrNoPackage
	}
	return os.DirFS(dir), nil
}

func validPackageID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
