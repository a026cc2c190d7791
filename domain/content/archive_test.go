package content

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

type entry struct {
	name string
	data string
	mode fs.FileMode
	size uint64 // declared size when non-zero (a lying header)
}

func zipOf(t *testing.T, entries ...entry) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.size != 0 {
			z.File[i].UncompressedSize64 = e.size
		}
	}
	return z
}

func TestCheckArchive(t *testing.T) {
	lim := Limits{MaxFiles: 5, MaxExpandedBytes: 4 << 20, MaxRatio: 100}
	bomb := strings.Repeat("A", 3<<20) // 3 MiB of one byte compresses about 1000:1
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{name: "ok", entries: []entry{{name: "imsmanifest.xml", data: "<x/>"}, {name: "a/b.html", data: "hi"}, {name: "a/", mode: fs.ModeDir | 0o755}}},
		{name: "dot-dot", entries: []entry{{name: "a/../../evil.sh", data: "x"}}, want: `"a/../../evil.sh" leaves the package`},
		{name: "absolute", entries: []entry{{name: "/etc/cron.d/x", data: "x"}}, want: "is an absolute path"},
		{name: "drive letter", entries: []entry{{name: "C:/x", data: "x"}}, want: "drive letter"},
		{name: "backslash", entries: []entry{{name: `..\x`, data: "x"}}, want: "backslashes"},
		{name: "symlink", entries: []entry{{name: "link", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777}}, want: `"link" is a symbolic link`},
		{name: "too many files", entries: []entry{{name: "1"}, {name: "2"}, {name: "3"}, {name: "4"}, {name: "5"}, {name: "6"}}, want: "6 files, more than the limit of 5"},
		{name: "declared size over the limit", entries: []entry{{name: "big", data: "x", size: 5 << 20}}, want: "expands to more than the limit of 4194304 bytes"},
		{name: "compression ratio", entries: []entry{{name: "bomb.txt", data: bomb}}, want: "more than the limit of 100:1"},
		{name: "duplicate names", entries: []entry{{name: "A.html"}, {name: "a.html"}}, want: "appears twice"},
		{name: "file then entry under it", entries: []entry{{name: "a", data: "x"}, {name: "a/b", data: "y"}}, want: `"a" is a file, and "a/b" needs a folder of that name`},
		{name: "entry under a file that comes later", entries: []entry{{name: "a/b/c.html", data: "y"}, {name: "A/b", data: "x"}}, want: `"A/b" is a file, and "a/b/c.html" needs a folder`},
		{name: "file and folder entry", entries: []entry{{name: "a/", mode: fs.ModeDir | 0o755}, {name: "a/x"}, {name: "b"}, {name: "b/", mode: fs.ModeDir | 0o755}}, want: "appears twice"},
		{name: "folders shared by files", entries: []entry{{name: "a/b/c"}, {name: "a/b/d"}, {name: "a/e"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckArchive(zipOf(t, tc.entries...), lim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnsafe) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// A header that understates the size does not get past the counting
// reader that unpacking uses.
func TestCountingLimitCatchesLyingHeaders(t *testing.T) {
	budget := int64(1000)
	r := CountingLimit(strings.NewReader(strings.Repeat("x", 1500)), &budget, "f")
	_, err := io.Copy(io.Discard, r)
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("err = %v", err)
	}
	budget = 1000
	if _, err := io.Copy(io.Discard, CountingLimit(strings.NewReader(strings.Repeat("x", 1000)), &budget, "f")); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}
