package projections

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileSynced writes data to name (created or truncated with perm) and
// syncs it before closing, so the data are on disk when it returns.
func WriteFileSynced(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// WriteFileAtomic replaces name with data: it writes a synced temporary
// file beside it, renames that over name and syncs the directory, so a
// reader or a crash sees the old content or the new one, never a part.
func WriteFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}

// CreateFileOnce writes data to name unless name exists, atomically: no
// reader or crash ever sees a part of it, and of two racing writers one
// wins. created reports whether this call wrote it.
func CreateFileOnce(name string, data []byte, perm os.FileMode) (created bool, err error) {
	if _, err := os.Lstat(name); err == nil {
		return false, nil
	}
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	// A hard link, unlike a rename, fails when name exists.
	if err := os.Link(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, syncDir(filepath.Dir(name))
}

func writeTemp(name string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(perm), f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
