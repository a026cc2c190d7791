package analytics

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	script := `-- leading comment; not a separator
CREATE TABLE a (s String DEFAULT 'x;y', "we;ird" UInt8, ` + "`b;t`" + ` UInt8) ENGINE = Memory; /* block; comment */
SELECT 'it''s; fine', 'esc\'; aped' ;
-- only a comment;
  ;
SELECT 1`
	got, err := SplitStatements(script)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !strings.HasPrefix(got[0], "-- leading") || !strings.HasSuffix(got[0], "ENGINE = Memory") ||
		!strings.HasPrefix(got[1], "/* block; comment */") || !strings.HasSuffix(got[1], `'esc\'; aped'`) || !strings.HasSuffix(got[2], "SELECT 1") {
		t.Fatalf("%q", got)
	}
	for _, bad := range []string{"SELECT 'open", "SELECT 1 /* open"} {
		if _, err := SplitStatements(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func stripComments(s string) string {
	s = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(s, "")
	return strings.TrimSpace(regexp.MustCompile(`(?m)--.*$`).ReplaceAllString(s, ""))
}

// Migrate re-runs applied migrations, so every statement must be idempotent.
func TestMigrationStatementsAreIdempotent(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d migrations", len(ms))
	}
	// CREATE OR REPLACE VIEW is idempotent too: a later migration redefines a
	// (plain, stateless) view, and re-running it defines the same view again.
	ok := regexp.MustCompile(`(?i)^(CREATE (TABLE|(MATERIALIZED )?VIEW|DICTIONARY|DATABASE) IF NOT EXISTS|CREATE OR REPLACE VIEW|ALTER TABLE \S+ (ADD|DROP|MODIFY|COMMENT) (COLUMN|INDEX|PROJECTION) IF (NOT )?EXISTS|DROP (TABLE|VIEW|DICTIONARY) IF EXISTS)\b`)
	// A backfill runs once: it selects nothing when its own migration is
	// recorded already.
	onceOnly := regexp.MustCompile(`(?is)^INSERT INTO \S+\s+SELECT .*\sWHERE\s+\(SELECT count\(\) FROM ` + MigrationsTable + ` WHERE version = (\d+)\) = 0\s`)
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s: versions must be 1..n without gaps", m.Name)
		}
		for j, s := range m.Statements {
			once := onceOnly.FindStringSubmatch(stripComments(s))
			if once != nil && once[1] != strconv.Itoa(m.Version) {
				t.Errorf("migration %s statement %d: a backfill must test its own version %d, not %s", m.Name, j+1, m.Version, once[1])
			}
			if !ok.MatchString(stripComments(s)) && once == nil {
				t.Errorf("migration %s statement %d is not idempotent:\n%s", m.Name, j+1, s)
			}
		}
	}
}

type recordingExec struct {
	stmts []string
	fail  func(string) error
}

func (r *recordingExec) Exec(_ context.Context, q string) error {
	r.stmts = append(r.stmts, q)
	if r.fail != nil {
		return r.fail(q)
	}
	return nil
}

func TestMigrateOrderAndBookkeeping(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_two.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = Memory;")},
		"m/0001_one.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory; CREATE VIEW IF NOT EXISTS v AS SELECT 1;")},
		"m/README":       {Data: []byte("ignored")},
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingExec{}
	if err := applyMigrations(context.Background(), rec, ms); err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATE TABLE IF NOT EXISTS " + MigrationsTable, "SELECT throwIf", "CREATE TABLE IF NOT EXISTS a", "CREATE VIEW IF NOT EXISTS v",
		"INSERT INTO " + MigrationsTable, "SELECT throwIf", "CREATE TABLE IF NOT EXISTS b", "INSERT INTO " + MigrationsTable}
	if len(rec.stmts) != len(want) {
		t.Fatalf("%d statements: %q", len(rec.stmts), rec.stmts)
	}
	for i, w := range want {
		if !strings.HasPrefix(rec.stmts[i], w) {
			t.Errorf("statement %d = %q, want prefix %q", i, rec.stmts[i], w)
		}
	}
	if !strings.Contains(rec.stmts[4], "'0001_one'") || !strings.Contains(rec.stmts[4], ms[0].Checksum) || !strings.Contains(rec.stmts[4], "WHERE version = 1) = 0") {
		t.Errorf("record statement: %s", rec.stmts[4])
	}

	boom := errors.New("boom")
	rec = &recordingExec{fail: func(q string) error {
		if strings.HasPrefix(q, "CREATE VIEW") {
			return boom
		}
		return nil
	}}
	err = applyMigrations(context.Background(), rec, ms)
	var me *MigrationError
	if !errors.As(err, &me) || me.Migration != "0001_one" || me.Statement != 2 || !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if strings.HasPrefix(rec.stmts[len(rec.stmts)-1], "INSERT") {
		t.Fatal("a failed migration must not be recorded")
	}

	for name, data := range map[string]string{"x_bad.sql": "SELECT 1", "0001_a.sql": "-- nothing"} {
		if _, err := loadMigrations(fstest.MapFS{"m/" + name: {Data: []byte(data)}}, "m"); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := loadMigrations(fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/0001_b.sql": {Data: []byte("SELECT 1")}}, "m"); err == nil {
		t.Error("duplicate versions: want an error")
	}
}

// A changed, already-applied migration must stop Migrate on the real engine.
func TestChDBChecksumGuard(t *testing.T) {
	s := startChDB(t)
	ctx := context.Background()
	ms := []Migration{{Version: 1, Name: "0001_x", Checksum: "aaa", Statements: []string{"CREATE TABLE IF NOT EXISTS x (a UInt8) ENGINE = Memory"}}}
	if err := applyMigrations(ctx, s, ms); err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, s, ms); err != nil {
		t.Fatalf("re-apply: %v", err)
	}
	ms[0].Checksum = "bbb"
	err := applyMigrations(ctx, s, ms)
	if err == nil || !strings.Contains(err.Error(), "different checksum") {
		t.Fatalf("changed migration: got %v", err)
	}
}
