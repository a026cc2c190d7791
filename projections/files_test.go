package projections

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileWrites(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mode := func(name string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}

	if err := WriteFileSynced(filepath.Join(dir, "s"), []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if read("s") != "one" || mode("s") != 0o640 {
		t.Errorf("WriteFileSynced: %q %v", read("s"), mode("s"))
	}

	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(filepath.Join(dir, "a"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if read("a") != content || mode("a") != 0o600 {
			t.Errorf("WriteFileAtomic: %q %v, want %q 0600", read("a"), mode("a"), content)
		}
	}

	for i, tc := range []struct {
		content     string
		wantCreated bool
		want        string
	}{
		{"secret-1", true, "secret-1"},
		{"secret-2", false, "secret-1"},
	} {
		created, err := CreateFileOnce(filepath.Join(dir, "o"), []byte(tc.content), 0o600)
		if err != nil || created != tc.wantCreated || read("o") != tc.want || mode("o") != 0o600 {
			t.Errorf("CreateFileOnce #%d: created %v err %v content %q mode %v", i, created, err, read("o"), mode("o"))
		}
	}

	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
