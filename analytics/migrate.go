package analytics

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// MigrationsTable records applied migrations.
const MigrationsTable = "learnstream_schema_migrations"

//go:embed migrations/*.sql
var migrationFS embed.FS

// Execer runs one SQL statement. clickhouse-go's driver.Conn satisfies it
// through ExecFunc, the ClickHouseWriter implements it, and the chDB test
// harness implements it over a pipe.
type Execer interface {
	Exec(ctx context.Context, query string) error
}

// ExecFunc adapts a function to Execer.
type ExecFunc func(ctx context.Context, query string) error

// Exec calls f.
func (f ExecFunc) Exec(ctx context.Context, query string) error { return f(ctx, query) }

// Migration is one embedded migration file.
type Migration struct {
	Version    int
	Name       string // file name without .sql, e.g. "0001_facts"
	Checksum   string // hex SHA-256 of the file
	SQL        string
	Statements []string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("analytics: migration %q: name must be NNNN_description.sql with NNNN >= 1", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("analytics: migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		stmts, err := SplitStatements(string(b))
		if err != nil {
			return nil, fmt.Errorf("analytics: migration %s: %w", e.Name(), err)
		}
		if len(stmts) == 0 {
			return nil, fmt.Errorf("analytics: migration %s has no statements", e.Name())
		}
		ms = append(ms, Migration{Version: v, Name: name, Checksum: hex.EncodeToString(sum[:]),
			SQL: string(b), Statements: stmts})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// MigrationError names the migration and statement that failed.
type MigrationError struct {
	Migration string
	Statement int // 1-based; 0 for the bookkeeping statements
	Err       error
}

func (e *MigrationError) Error() string {
	if e.Statement == 0 {
		return fmt.Sprintf("analytics: migration %s: %v", e.Migration, e.Err)
	}
	return fmt.Sprintf("analytics: migration %s statement %d: %v", e.Migration, e.Statement, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// Migrate applies the embedded migrations in version order. It needs nothing
// but Exec, so it cannot read which versions are recorded; instead it is
// idempotent by construction:
//
//   - every migration statement is itself idempotent (CREATE ... IF NOT
//     EXISTS, ADD COLUMN IF NOT EXISTS, CREATE OR REPLACE VIEW for a later
//     redefinition of a plain view; a test rejects any other form), so
//     re-running an applied migration changes nothing;
//   - before a migration runs, a guard query fails if the same version was
//     recorded with a different checksum: applied migrations are immutable,
//     a change needs a new file;
//   - the version is recorded by an INSERT ... SELECT that inserts only when
//     no row for that version exists yet.
//
// Re-running Migrate on an up-to-date database is therefore a no-op.
func Migrate(ctx context.Context, exec Execer) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return applyMigrations(ctx, exec, ms)
}

func applyMigrations(ctx context.Context, exec Execer, ms []Migration) error {
	if err := exec.Exec(ctx, migrationsTableDDL); err != nil {
		return &MigrationError{Migration: MigrationsTable, Err: err}
	}
	for _, m := range ms {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := exec.Exec(ctx, checksumGuard(m)); err != nil {
			return &MigrationError{Migration: m.Name, Err: fmt.Errorf("checksum guard: %w", err)}
		}
		for i, s := range m.Statements {
			if err := exec.Exec(ctx, s); err != nil {
				return &MigrationError{Migration: m.Name, Statement: i + 1, Err: err}
			}
		}
		if err := exec.Exec(ctx, recordMigration(m)); err != nil {
			return &MigrationError{Migration: m.Name, Err: fmt.Errorf("record: %w", err)}
		}
	}
	return nil
}

const migrationsTableDDL = `CREATE TABLE IF NOT EXISTS ` + MigrationsTable + `
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version`

func checksumGuard(m Migration) string {
	return fmt.Sprintf(`SELECT throwIf(count() > 0, %s) FROM %s WHERE version = %d AND checksum != %s`,
		quoteString(fmt.Sprintf("migration %s was applied with a different checksum; applied migrations are immutable, add a new migration instead", m.Name)),
		MigrationsTable, m.Version, quoteString(m.Checksum))
}

func recordMigration(m Migration) string {
	return fmt.Sprintf(`INSERT INTO %s (version, name, checksum, applied_at) SELECT %d, %s, %s, now64(3) WHERE (SELECT count() FROM %s WHERE version = %d) = 0`,
		MigrationsTable, m.Version, quoteString(m.Name), quoteString(m.Checksum), MigrationsTable, m.Version)
}

// quoteString renders s as a ClickHouse string literal.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString(`\'`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// SplitStatements splits a SQL script on top-level semicolons. Semicolons in
// string literals ('...'), quoted identifiers ("..." and `...`), line
// comments (-- and #!) and block comments are not separators. Comments are
// kept inside the statement they belong to; statements that hold only
// comments and white space are dropped.
func SplitStatements(script string) ([]string, error) {
	var out []string
	start := 0
	meaningful := false // the current statement has something besides comments
	flush := func(end int) {
		if meaningful {
			out = append(out, strings.TrimSpace(script[start:end]))
		}
		start = end + 1
		meaningful = false
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == '-' && i+1 < len(script) && script[i+1] == '-',
			c == '#' && i+1 < len(script) && script[i+1] == '!':
			j := strings.IndexByte(script[i:], '\n')
			if j < 0 {
				i = len(script)
			} else {
				i += j
			}
		case c == '/' && i+1 < len(script) && script[i+1] == '*':
			j := strings.Index(script[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated block comment at byte %d", i)
			}
			i += j + 3
		case c == '\'' || c == '"' || c == '`':
			j, err := skipQuoted(script, i)
			if err != nil {
				return nil, err
			}
			i = j
			meaningful = true
		case c == ';':
			flush(i)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			meaningful = true
		}
	}
	if meaningful {
		out = append(out, strings.TrimSpace(script[start:]))
	}
	return out, nil
}

// skipQuoted returns the index of the quote closing the literal opened at i.
// A backslash escapes the next byte and a doubled quote stands for itself.
func skipQuoted(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c-quoted text at byte %d", q, i)
}
