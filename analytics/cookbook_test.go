package analytics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/learnstream/learnstream/domain/event"
)

type cookbookQuery struct {
	name, sql string
}

// loadCookbook reads every ```sql block of docs/analytics.md; each must
// start with a "-- name: <name>" line.
func loadCookbook(t testing.TB) []cookbookQuery {
	t.Helper()
	f, err := os.Open("../docs/analytics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var qs []cookbookQuery
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sql":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(l) == "```":
			body := strings.TrimSpace(cur.String())
			first, _, _ := strings.Cut(body, "\n")
			name, ok := strings.CutPrefix(strings.TrimSpace(first), "-- name:")
			if !ok || strings.TrimSpace(name) == "" {
				t.Fatalf("docs/analytics.md:%d: a sql block must start with '-- name: <name>'", line)
			}
			qs = append(qs, cookbookQuery{name: strings.TrimSpace(name), sql: body})
			cur = nil
		case cur != nil:
			cur.WriteString(l)
			cur.WriteByte('\n')
		}
	}
	if cur != nil {
		t.Fatal("docs/analytics.md: unterminated sql block")
	}
	seen := map[string]bool{}
	for _, q := range qs {
		if seen[q.name] {
			t.Fatalf("docs/analytics.md: query name %q used twice", q.name)
		}
		seen[q.name] = true
	}
	return qs
}

var testSecret = []byte("learnstream test secret")

func smallWorld() *world {
	return newWorld(worldConfig{tenants: 3, learners: 24, courses: 3, aus: 3, questions: 2, days: 70, seed: 42})
}

// The doc and the test must agree on the set of queries, with or without chDB.
func TestCookbookMatchesChecks(t *testing.T) {
	qs := loadCookbook(t)
	if len(qs) < 15 {
		t.Fatalf("cookbook has %d queries, want at least 15", len(qs))
	}
	w := smallWorld()
	exp := w.expected(w.tenants[0], func(s string) string { return s })
	var doc, checks []string
	for _, q := range qs {
		doc = append(doc, q.name)
		if !strings.Contains(q.sql, "{tenant:String}") {
			t.Errorf("query %s does not filter by {tenant:String}", q.name)
		}
	}
	for k := range exp {
		checks = append(checks, k)
	}
	sort.Strings(doc)
	sort.Strings(checks)
	if !reflect.DeepEqual(doc, checks) {
		t.Fatalf("docs/analytics.md queries %v\ndiffer from the checked answers %v", doc, checks)
	}
}

// compareRows checks ClickHouse's rows against the expected ones.
func compareRows(got []map[string]any, want []row) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d rows, want %d\ngot:  %s\nwant: %s", len(got), len(want), jsonish(got), jsonish(want))
	}
	for i := range want {
		for k, wv := range want[i] {
			gv, ok := got[i][k]
			if !ok {
				return fmt.Errorf("row %d has no column %q: %v", i, k, got[i])
			}
			if err := compareValue(gv, wv); err != nil {
				return fmt.Errorf("row %d column %s: %v\ngot row:  %v\nwant row: %v", i, k, err, got[i], want[i])
			}
		}
	}
	return nil
}

func compareValue(got, want any) error {
	switch w := want.(type) {
	case nil:
		if got != nil {
			return fmt.Errorf("got %v, want NULL", got)
		}
	case string:
		if g, ok := got.(string); !ok || g != w {
			return fmt.Errorf("got %v, want %q", got, w)
		}
	case int:
		if g, ok := got.(float64); !ok || g != float64(w) {
			return fmt.Errorf("got %v, want %d", got, w)
		}
	case float64:
		if g, ok := got.(float64); !ok || math.Abs(g-w) > 1e-9 {
			return fmt.Errorf("got %v, want %v", got, w)
		}
	case approx:
		if g, ok := got.(float64); !ok || math.Abs(g-w.v) > w.tol {
			return fmt.Errorf("got %v, want %v ± %v", got, w.v, w.tol)
		}
	default:
		return fmt.Errorf("unsupported expected type %T", want)
	}
	return nil
}

func jsonish(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 4000 {
		b = append(b[:4000], "..."...)
	}
	return string(b)
}

func (w *world) params(tenant string) map[string]string {
	return map[string]string{"tenant": tenant, "from": day(w.from()), "to": day(w.to())}
}

// runCookbook runs every query for every tenant and returns the raw answers.
func runCookbook(t *testing.T, s sqlRunner, w *world, qs []cookbookQuery) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, tw := range w.tenants {
		for _, q := range qs {
			rows, _, err := s.Query(q.sql, w.params(tw.name))
			if err != nil {
				t.Fatalf("query %s (tenant %s): %v", q.name, tw.name, err)
			}
			out[tw.name+"/"+q.name] = rows
		}
	}
	return out
}

func scalar(t *testing.T, s sqlRunner, q string) float64 {
	t.Helper()
	rows, _, err := s.Query(q, nil)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %v", q, rows)
	}
	for _, v := range rows[0] {
		f, _ := v.(float64)
		return f
	}
	return 0
}

// schemaSnapshot captures everything Migrate creates.
func schemaSnapshot(t *testing.T, s sqlRunner) string {
	t.Helper()
	rows, _, err := s.Query(`SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name`, nil)
	if err != nil {
		t.Fatal(err)
	}
	mig, _, err := s.Query(`SELECT version, name, checksum, applied_at FROM `+MigrationsTable+` ORDER BY version`, nil)
	if err != nil {
		t.Fatal(err)
	}
	return jsonish(rows) + jsonish(mig)
}

// TestChDBMigrationsAndCookbook applies every migration on the real engine,
// loads rows the Go encoder produced from a generated stream with replayed
// duplicates, and checks every cookbook query's answer per tenant.
func TestChDBMigrationsAndCookbook(t *testing.T) {
	exerciseEngine(t, startChDB(t))
}

// runnerWriter makes an engine the sink's Writer.
type runnerWriter struct{ s sqlRunner }

func (r runnerWriter) Write(_ context.Context, rows []Row) error { return r.s.Insert(rows) }

// sqlRunner is an engine the schema and cookbook run on: chDB, or a live
// server through clickhouse-go.
type sqlRunner interface {
	Execer
	Query(q string, params map[string]string) ([]map[string]any, float64, error)
	Insert(rows []Row) error
}

func exerciseEngine(t *testing.T, s sqlRunner) {
	ctx := context.Background()
	if err := Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	if n := scalar(t, s, `SELECT count() FROM `+MigrationsTable); int(n) != len(ms) {
		t.Fatalf("%s has %v rows, want %d", MigrationsTable, n, len(ms))
	}
	before := schemaSnapshot(t, s)
	if err := Migrate(ctx, s); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := schemaSnapshot(t, s); after != before {
		t.Fatalf("re-applying migrations changed the schema:\nbefore %s\nafter  %s", before, after)
	}

	w := smallWorld()
	p := NewPseudonymizer(testSecret)
	enc := NewEncoder(p)
	rows, err := encodeAll(enc, w.events)
	if err != nil {
		t.Fatal(err)
	}

	// The native-protocol path appends Row.Values to clickhouse-go columns
	// built from the server's column types; check every value fits, with
	// the types the migrations actually created.
	t.Run("values fit clickhouse-go columns", func(t *testing.T) {
		cols := map[string][]column.Interface{}
		for _, r := range rows {
			cs, ok := cols[r.Table()]
			if !ok {
				desc, _, err := s.Query(`SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} AND default_kind = '' ORDER BY position`, map[string]string{"t": r.Table()})
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range desc {
					c, err := column.Type(d["type"].(string)).Column(d["name"].(string), &column.ServerContext{Timezone: time.UTC})
					if err != nil {
						t.Fatalf("%s.%s %s: %v", r.Table(), d["name"], d["type"], err)
					}
					cs = append(cs, c)
				}
				cols[r.Table()] = cs
			}
			vs := r.Values()
			if len(vs) != len(cs) {
				t.Fatalf("%s: %d values for %d columns", r.Table(), len(vs), len(cs))
			}
			for i, v := range vs {
				if err := cs[i].AppendRow(v); err != nil {
					t.Fatalf("%s.%s (%s) rejects %T %v: %v", r.Table(), cs[i].Name(), cs[i].Type(), v, v, err)
				}
			}
		}
		if len(cols) != 9 {
			t.Errorf("rows for %d tables, want all 9", len(cols))
		}
	})

	t.Run("columns match encoders", func(t *testing.T) {
		for _, r := range []Row{Statement{}, Recommendation{}, MasteryUpdate{}, DifficultyAdjustment{}, CatalogActivity{},
			CatalogSkill{}, CatalogPrerequisite{}, CatalogRole{}, LearnerRole{}} {
			rows, _, err := s.Query(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} AND default_kind = '' ORDER BY position`, map[string]string{"t": r.Table()})
			if err != nil {
				t.Fatal(err)
			}
			var cols []string
			for _, c := range rows {
				cols = append(cols, c["name"].(string))
			}
			if !reflect.DeepEqual(cols, r.Columns()) {
				t.Errorf("table %s columns %v\n  encoder columns %v", r.Table(), cols, r.Columns())
			}
		}
	})

	// The stream goes in through the sink, as the analytics role writes
	// it: Add per event, Flush whenever the batch is full and at the end.
	sink := NewSink(SinkConfig{Encoder: enc, Writer: runnerWriter{s}, Batch: BatcherConfig{MaxRows: 1500}})
	for _, e := range w.events {
		if err := sink.Add(e, event.Position{}); err != nil {
			t.Fatalf("sink: add %s (%s): %v", e.ID, e.Type, err)
		}
		if sink.Full() {
			if err := sink.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sink.Stats(); st.Rows != int64(len(rows)) || st.Batches < 2 {
		t.Fatalf("sink wrote %+v, want %d rows in several batches", st, len(rows))
	}
	replay, err := encodeAll(enc, w.replaySubset(0.4, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(replay); err != nil {
		t.Fatal(err)
	}
	total, final := scalar(t, s, `SELECT count() FROM statements`), scalar(t, s, `SELECT count() FROM statements FINAL`)
	stmts, voided := 0, 0
	for _, tw := range w.tenants {
		stmts += len(tw.stmts) + len(tw.voided) + tw.voiding
		voided += len(tw.voided)
	}
	if voided == 0 {
		t.Fatal("the generated world voids no statement; the voiding checks prove nothing")
	}
	if int(final) != stmts || total <= final {
		t.Fatalf("statements: %v rows, %v after FINAL; want %d after FINAL and duplicates before", total, final, stmts)
	}
	t.Logf("%d events, %d statements, %d rows inserted (%d replayed)", len(w.events), stmts, len(rows)+len(replay), len(replay))

	if n := scalar(t, s, `SELECT count() FROM statements WHERE actor_key != '' OR actor_name != '' OR position(raw, '@') > 0`); n != 0 {
		t.Fatalf("%v statements leak a learner identity while pseudonymisation is on", n)
	}

	qs := loadCookbook(t)
	check := func(t *testing.T, answers map[string][]map[string]any) {
		nonEmpty := map[string]bool{}
		for _, tw := range w.tenants {
			pseudo := func(k string) string {
				v, err := p.Pseudonym(tw.name, k)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			exp := w.expected(tw, pseudo)
			for _, q := range qs {
				want := exp[q.name]
				if len(want) > 0 {
					nonEmpty[q.name] = true
				}
				if err := compareRows(answers[tw.name+"/"+q.name], want); err != nil {
					t.Errorf("%s, tenant %s: %v", q.name, tw.name, err)
				}
			}
		}
		mastered := false
		for _, tw := range w.tenants {
			for _, r := range answers[tw.name+"/time_to_competency"] {
				mastered = mastered || r["median_hours"] != nil
			}
		}
		if !mastered {
			t.Error("time_to_competency: nobody reached mastery in the generated world; the median is never checked")
		}
		for _, q := range qs {
			if !nonEmpty[q.name] {
				t.Errorf("%s: the generated world gives no rows for any tenant; the check proves nothing", q.name)
			}
		}
	}
	first := runCookbook(t, s, w, qs)
	t.Run("answers", func(t *testing.T) { check(t, first) })

	t.Run("voided statements count nowhere", func(t *testing.T) {
		for _, tw := range w.tenants {
			for _, v := range tw.voided {
				p := map[string]string{"t": tw.name, "id": v.id}
				if rows, _, err := s.Query(`SELECT count() AS n FROM statements FINAL WHERE tenant = {t:String} AND statement_id = {id:UUID}`, p); err != nil || len(rows) != 1 || rows[0]["n"] != 1.0 {
					t.Fatalf("voided statement %s is not stored once: %v %v", v.id, rows, err)
				}
				if rows, _, err := s.Query(`SELECT count() AS n FROM valid_statements WHERE tenant = {t:String} AND statement_id = {id:UUID}`, p); err != nil || rows[0]["n"] != 0.0 {
					t.Fatalf("voided statement %s is in valid_statements: %v %v", v.id, rows, err)
				}
			}
		}
		// The answers the cookbook would give if voids were ignored differ
		// from the ones it gives: the exclusion is what the checks above
		// verified, not an accident of the generated data.
		differ := map[string]bool{}
		for _, tw := range w.tenants {
			withVoided := *tw
			withVoided.stmts = append(append([]*genStmt(nil), tw.stmts...), tw.voided...)
			sort.Slice(withVoided.stmts, func(i, j int) bool { return withVoided.stmts[i].ts.Before(withVoided.stmts[j].ts) })
			pseudo := func(k string) string { v, _ := p.Pseudonym(tw.name, k); return v }
			for name, want := range w.expected(&withVoided, pseudo) {
				if compareRows(first[tw.name+"/"+name], want) != nil {
					differ[name] = true
				}
			}
		}
		if len(differ) < 3 {
			t.Fatalf("counting voided statements changes only %v; the voids do not exercise the rollups", differ)
		}
		t.Logf("voids change the answers of %d queries: %v", len(differ), sortedKeys(differ))
	})

	t.Run("inserting every event again changes no answer", func(t *testing.T) {
		if err := s.Insert(rows); err != nil {
			t.Fatal(err)
		}
		again := runCookbook(t, s, w, qs)
		for k, v := range first {
			if jsonish(again[k]) != jsonish(v) {
				t.Errorf("%s changed after a full replay:\nbefore %s\nafter  %s", k, jsonish(v), jsonish(again[k]))
			}
		}
	})

	t.Run("merged parts give the same answers", func(t *testing.T) {
		for _, tbl := range []string{"statements", "recommendations", "mastery_events", "difficulty_events", "daily_activity",
			"course_progress", "assessment_outcomes", "skill_mastery", "recommendation_uptake", "catalog_roles", "learner_roles",
			"catalog_activities", "voided_statements"} {
			if err := s.Exec(ctx, "OPTIMIZE TABLE "+tbl+" FINAL"); err != nil {
				t.Fatal(err)
			}
		}
		merged := runCookbook(t, s, w, qs)
		for k, v := range first {
			if jsonish(merged[k]) != jsonish(v) {
				t.Errorf("%s changed after OPTIMIZE FINAL:\nbefore %s\nafter  %s", k, jsonish(v), jsonish(merged[k]))
			}
		}
		if n := scalar(t, s, `SELECT count() FROM statements`); int(n) != stmts {
			t.Errorf("after OPTIMIZE FINAL statements has %v rows, want %d", n, stmts)
		}
	})

	t.Run("catalog replacement and deletes", func(t *testing.T) {
		tw := w.tenants[0]
		name := tw.courses[0].name
		rows, _, err := s.Query(`SELECT name FROM catalog_activities FINAL WHERE tenant = {t:String} AND activity_id = {a:String}`,
			map[string]string{"t": tw.name, "a": tw.courses[0].id})
		if err != nil || len(rows) != 1 || rows[0]["name"] != name {
			t.Fatalf("renamed course: got %v (%v), want name %q", rows, err, name)
		}
		edges := scalar(t, s, `SELECT count() FROM catalog_prerequisites FINAL WHERE tenant = '`+tw.name+`'`)
		if want := len(tw.courses) * (len(tw.courses[0].aus) - 1); int(edges) != want {
			t.Fatalf("prerequisite edges after a delete: %v, want %d", edges, want)
		}
		rows, _, err = s.Query(`SELECT origin, name FROM catalog_activities FINAL WHERE tenant = {t:String} AND activity_id LIKE '%/news/0'`,
			map[string]string{"t": tw.name})
		if err != nil || len(rows) != 1 || rows[0]["origin"] != OriginSeen || rows[0]["name"] != "News" {
			t.Fatalf("seen activity: got %v (%v)", rows, err)
		}
		if n := scalar(t, s, `SELECT count() FROM catalog_roles FINAL WHERE tenant = '`+tw.name+`' AND role_id = 'role-gone'`); n != 0 {
			t.Fatalf("deleted role still listed")
		}
		members := 0
		for _, m := range tw.members {
			members += len(m)
		}
		if n := scalar(t, s, `SELECT count() FROM learner_roles FINAL WHERE tenant = '`+tw.name+`'`); int(n) != members {
			t.Fatalf("learner_roles: %v learners hold a role, want %d", n, members)
		}
	})
}
