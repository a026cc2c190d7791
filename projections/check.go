package projections

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// FileProblem is one damaged file of the store.
type FileProblem struct {
	File    string `json:"file"`
	Problem string `json:"problem"`
}

func (p FileProblem) String() string { return p.File + ": " + p.Problem }

// CheckFiles checks the store's files in dir without opening the store:
// every table the manifest lists must open (its index, first and last
// keys), and with full every block must match its checksum. Badger reads
// tables in goroutines of its own, where a truncated table is a panic that
// takes the process down; checked here first, it is an error naming the
// file. A missing dir is a new store, not a problem.
//
// A table file the manifest does not list is not part of the store: Badger
// creates a table's file before it adds the table to the manifest, so a
// process killed in between (during a flush or a compaction) leaves one
// behind, empty or half written, and Badger deletes it when it opens the
// store. Such a file is not damage.
func CheckFiles(dir string, full bool) ([]FileProblem, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check projections store: %w", err)
	}
	var probs []FileProblem
	var tables []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") {
			tables = append(tables, e.Name())
		}
	}
	manifest := filepath.Join(dir, "MANIFEST")
	listed, err := manifestTables(manifest)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(tables) > 0 {
			probs = append(probs, FileProblem{File: manifest, Problem: "missing: the tables cannot be read without it"})
		}
	case err != nil:
		probs = append(probs, FileProblem{File: manifest, Problem: err.Error()})
	}
	for _, name := range tables {
		// Without a readable manifest every table is checked: nothing
		// says which are the store's.
		if id, ok := table.ParseFileID(name); ok && listed != nil && !listed[id] {
			continue
		}
		path := filepath.Join(dir, name)
		if err := checkTable(path, full); err != nil {
			probs = append(probs, FileProblem{File: path, Problem: err.Error()})
		}
	}
	slices.SortFunc(probs, func(a, b FileProblem) int { return strings.Compare(a.File, b.File) })
	return probs, nil
}

// manifestTables is the set of table ids the manifest at path lists, read
// as Badger reads it when it opens the store (a change set cut short at
// the end is one that was never written). It is nil with an error when the
// manifest is missing or cannot be read.
func manifestTables(path string) (map[uint64]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		return nil, errors.New("empty manifest")
	}
	opt := badger.DefaultOptions("").WithLogger(nil)
	m, _, err := badger.ReplayManifestFile(f, opt.ExternalMagicVersion, opt)
	if err != nil {
		return nil, fmt.Errorf("unreadable manifest: %w", err)
	}
	ids := make(map[uint64]bool, len(m.Tables))
	for id := range m.Tables {
		ids[id] = true
	}
	return ids, nil
}

// checkTable opens one table read-only, the way Badger does at start.
func checkTable(path string, full bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable table (truncated or overwritten): %v", r)
		}
	}()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return errors.New("empty table")
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer mf.Close(-1)
	// The options Open uses, so blocks decode alike (the block size only
	// sizes decompression buffers: each table records its own).
	def := badger.DefaultOptions("")
	t, err := table.OpenTable(mf, table.Options{
		ReadOnly: true, BlockSize: blockSize, Compression: def.Compression,
		BloomFalsePositive: def.BloomFalsePositive, ChkMode: options.NoVerification,
	})
	if err != nil {
		return fmt.Errorf("unreadable table: %w", err)
	}
	if full {
		if err := t.VerifyChecksum(); err != nil {
			return fmt.Errorf("checksum: %w", err)
		}
	}
	// Not DecrRef: at zero references a table deletes its file.
	return nil
}

// OpenError is a store that would not open, with the file at fault when it
// is known and what to do about it.
type OpenError struct {
	Dir  string
	File string
	Err  error
}

func (e *OpenError) Error() string {
	if strings.Contains(e.Err.Error(), "directory lock") {
		return fmt.Sprintf("open projections store in %s: another process is using it (a running learnstream serve, or credentials/doctor against a live data dir): stop it first: %v", e.Dir, e.Err)
	}
	what := "the store"
	if e.File != "" {
		what = e.File
	}
	return fmt.Sprintf("open projections store in %s: %s is damaged: %v\n"+
		"the projections are derived from the event log, so nothing in them is lost for good: stop learnstream, move the directory aside\n"+
		"  mv %s %s.damaged\n"+
		"and start again: every projection rebuilds from the log (keep the moved copy for inspection; see docs/operations.md). "+
		"learnstream doctor --data-dir <dir> checks the whole data dir", e.Dir, what, e.Err, e.Dir, e.Dir)
}

func (e *OpenError) Unwrap() error { return e.Err }

var badgerFile = regexp.MustCompile(`[^\s"']*(\d+\.(sst|vlog|mem)|MANIFEST|KEYREGISTRY|DISCARD)`)

// openError names the file an error from Badger is about, when it says.
func openError(dir string, err error) error {
	f := badgerFile.FindString(err.Error())
	if f != "" && !filepath.IsAbs(f) {
		f = filepath.Join(dir, filepath.Base(f))
	}
	return &OpenError{Dir: dir, File: f, Err: err}
}
