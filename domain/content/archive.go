package content

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Limits bound what an archive may expand to.
type Limits struct {
	// MaxFiles is the largest number of entries.
	MaxFiles int
	// MaxExpandedBytes bounds the sum of the entries' uncompressed sizes.
	MaxExpandedBytes int64
	// MaxRatio bounds an entry's uncompressed size over its compressed
	// size (entries under 1 MiB are exempt: small text compresses well).
	MaxRatio int64
}

// DefaultLimits suit e-learning packages: video-heavy courses reach a few
// GiB, but not tens of thousands of files or 1000:1 compression.
var DefaultLimits = Limits{MaxFiles: 20_000, MaxExpandedBytes: 4 << 30, MaxRatio: 200}

// ErrUnsafe marks an archive that must not be unpacked.
var ErrUnsafe = errors.New("unsafe archive")

// CheckArchive checks every entry of a zip before anything is unpacked:
// names must be relative slash paths that stay inside the package, no
// symbolic links or devices, no two entries with one name, and the
// declared sizes within the limits. The sizes written while unpacking must
// still be counted (CountingLimit), since headers can lie.
func CheckArchive(z *zip.Reader, lim Limits) error {
	if len(z.File) > lim.MaxFiles {
		return fmt.Errorf("%w: %d files, more than the limit of %d", ErrUnsafe, len(z.File), lim.MaxFiles)
	}
	seen := map[string]bool{}
	// files and folders (explicit, or implied by an entry's path), by
	// name without case, each with the entry that made it: one name
	// cannot be both, or unpacking would find a file where it needs a
	// folder.
	files, folders := map[string]string{}, map[string]string{}
	var total uint64
	for _, f := range z.File {
		name, err := EntryName(f.Name)
		if err != nil {
			return err
		}
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %q is a symbolic link", ErrUnsafe, f.Name)
		}
		if mode&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
			return fmt.Errorf("%w: %q is not a regular file or directory", ErrUnsafe, f.Name)
		}
		key := strings.ToLower(name)
		if seen[key] {
			return fmt.Errorf("%w: %q appears twice (names are compared without case)", ErrUnsafe, name)
		}
		seen[key] = true
		if f.FileInfo().IsDir() {
			folders[key] = name
		} else {
			files[key] = name
		}
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := folders[strings.ToLower(dir)]; !ok {
				folders[strings.ToLower(dir)] = name
			}
		}
		total += f.UncompressedSize64
		if total > uint64(lim.MaxExpandedBytes) {
			return fmt.Errorf("%w: expands to more than the limit of %d bytes", ErrUnsafe, lim.MaxExpandedBytes)
		}
		if lim.MaxRatio > 0 && f.UncompressedSize64 > 1<<20 && f.UncompressedSize64 > f.CompressedSize64*uint64(lim.MaxRatio) {
			return fmt.Errorf("%w: %q compresses %d:1, more than the limit of %d:1", ErrUnsafe, name,
				f.UncompressedSize64/max(f.CompressedSize64, 1), lim.MaxRatio)
		}
	}
	// Reported in entry order, so the answer names the same entry every time.
	for _, f := range z.File {
		name, _ := EntryName(f.Name)
		key := strings.ToLower(name)
		if by, ok := folders[key]; ok && files[key] == name {
			return fmt.Errorf("%w: %q is a file, and %q needs a folder of that name", ErrUnsafe, name, by)
		}
	}
	return nil
}

// EntryName cleans an archive entry name and rejects one that is absolute,
// has a drive letter or backslashes, or climbs out with "..".
func EntryName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", fmt.Errorf("%w: an entry has an empty name", ErrUnsafe)
	case strings.ContainsRune(raw, '\\'):
		return "", fmt.Errorf("%w: %q uses backslashes", ErrUnsafe, raw)
	case strings.HasPrefix(raw, "/"):
		return "", fmt.Errorf("%w: %q is an absolute path", ErrUnsafe, raw)
	case len(raw) >= 2 && raw[1] == ':':
		return "", fmt.Errorf("%w: %q has a drive letter", ErrUnsafe, raw)
	case strings.ContainsRune(raw, 0):
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrUnsafe, raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q leaves the package (..)", ErrUnsafe, raw)
		}
	}
	clean := path.Clean(raw)
	if clean == "." {
		return "", fmt.Errorf("%w: %q names the package root", ErrUnsafe, raw)
	}
	return clean, nil
}

// CountingLimit returns a reader that fails with ErrUnsafe once more than
// *budget bytes were read from r, decrementing the budget: one budget
// shared by all entries bounds the expanded size whatever the headers say.
func CountingLimit(r io.Reader, budget *int64, name string) io.Reader {
	return &limited{r: r, budget: budget, name: name}
}

type limited struct {
	r      io.Reader
	budget *int64
	name   string
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	*l.budget -= int64(n)
	if *l.budget < 0 {
		return n, fmt.Errorf("%w: %q expands beyond the size limit", ErrUnsafe, l.name)
	}
	return n, err
}

// Read reads the package in fsys (an unpacked or still zipped archive):
// cmi5.xml or imsmanifest.xml at its root, and the optional skill mapping
// file. A package with neither is unsupported. A mapping given in
// opts.Skills (uploaded with the import) replaces the package's own file,
// which is then not read: the administrator importing a bought package
// maps it to the company's skills, whatever its author shipped.
func Read(fsys fs.FS, opts Options) (*Course, error) {
	if err := checkBase(opts.IRIBase); err != nil {
		return nil, err
	}
	if opts.Exists == nil {
		opts.Exists = func(name string) bool {
			st, err := fs.Stat(fsys, name)
			return err == nil && !st.IsDir()
		}
	}
	if opts.Skills != nil {
		return readManifest(fsys, opts)
	}
	data, err := ReadMetaFile(fsys, SkillsFile)
	switch {
	case err == nil:
		m, err := ParseSkillMap(data)
		if err != nil {
			return nil, err
		}
		opts.Skills = m
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return readManifest(fsys, opts)
}

// readManifest reads cmi5.xml or, failing it, imsmanifest.xml.
func readManifest(fsys fs.FS, opts Options) (*Course, error) {
	if data, err := ReadMetaFile(fsys, CMI5File); err == nil {
		return ParseCMI5(data, opts)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if data, err := ReadMetaFile(fsys, ManifestFile); err == nil {
		return ParseSCORM(data, opts)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return nil, &Problem{Err: ErrUnsupported,
		Msg: fmt.Sprintf("neither %s (cmi5) nor %s (SCORM) at the package root; AICC and IMS Common Cartridge packages are not supported", CMI5File, ManifestFile)}
}

// MaxMetaFileBytes bounds cmi5.xml, imsmanifest.xml and the skill mapping
// file. They are read whole, so the XML parser's element limit comes too
// late for them: a package may expand to gigabytes of media, but its
// metadata is small.
const MaxMetaFileBytes = 32 << 20

// ReadMetaFile reads one of a package's metadata files, refusing one over
// MaxMetaFileBytes. A missing file is an error matching fs.ErrNotExist.
func ReadMetaFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxMetaFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxMetaFileBytes {
		return nil, &Problem{File: name, Msg: fmt.Sprintf("larger than %d bytes; a package's metadata file is read whole", MaxMetaFileBytes)}
	}
	return data, nil
}
