package analytics

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
)

var privacySecret = privacy.Secret("0123456789abcdef0123456789abcdef")

// forgetEngine is an engine with the sink's Writer and Forgetter.
type forgetEngine interface {
	Writer
	Forgetter
}

// runnerForgetter makes a sqlRunner (chDB) a Writer and a Forgetter.
type runnerForgetter struct{ s sqlRunner }

func (r runnerForgetter) Write(_ context.Context, rows []Row) error { return r.s.Insert(rows) }
func (r runnerForgetter) Exec(ctx context.Context, q string) error  { return r.s.Exec(ctx, q) }
func (r runnerForgetter) Count(_ context.Context, q string) (int64, error) {
	rows, _, err := r.s.Query(q, nil)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("count: %d rows", len(rows))
	}
	for _, v := range rows[0] {
		switch n := v.(type) {
		case float64:
			return int64(n), nil
		case string: // UInt64 as text in JSON output
			var x int64
			_, err := fmt.Sscan(n, &x)
			return x, err
		}
		return 0, fmt.Errorf("count: %T", v)
	}
	return 0, nil
}

func TestChDBEraseLearnerAndRetention(t *testing.T) {
	s := startChDB(t)
	exerciseForget(t, s, runnerForgetter{s})
}

func TestLiveClickHouseEraseLearnerAndRetention(t *testing.T) {
	addr := os.Getenv("LEARNSTREAM_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("LEARNSTREAM_CLICKHOUSE_ADDR is not set: no live ClickHouse server (chDB covers the engine)")
	}
	ctx := context.Background()
	cfg := Config{Addr: addr, Username: os.Getenv("LEARNSTREAM_CLICKHOUSE_USER"), Password: os.Getenv("LEARNSTREAM_CLICKHOUSE_PASSWORD"), MaxAttempts: 3}
	admin, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	db := fmt.Sprintf("learnstream_forget_%d", time.Now().UnixNano())
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	cfg.Database = db
	w, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	exerciseForget(t, liveRunner{w}, w)
}

const (
	aliceKey = "mbox:mailto:alice@example.com"
	bobKey   = "mbox:mailto:bob@example.com"
)

// forgetWorld is what the erasure test writes: Alice's own statement with
// a free-text response, Bob's statements naming Alice as instructor (with
// the domain in upper case) and as object, and Alice's derived events.
func forgetWorld(t *testing.T) []event.Event {
	at := "2026-03-02T09:00:00Z"
	stmt := func(id, key, body string) event.Event {
		return plainEvent("ev-"+id, event.TypeStatementStored, key, fmt.Sprintf(
			`{"id":"%s",%s,"timestamp":%q,"stored":%q,"version":"1.0.0","authority":{"account":{"homePage":"http://lrs.test/","name":"admin"}}}`,
			id, body, at, at))
	}
	activity := `"object":{"id":"https://x.example/quiz","definition":{"type":"http://adlnet.gov/expapi/activities/assessment"}},` +
		`"context":{"contextActivities":{"parent":[{"id":"https://x.example/course"}]}%s}`

	alice := `{"mbox":"mailto:alice@example.com","name":"Alice Liddell"}`
	yes, p := true, 0.4
	ts := producerTime.Add(-time.Minute)
	mastery := func(learner string) string {
		b, _ := json.Marshal(MasteryUpdatedPayload{Learner: learner, Skill: "joins", PMastery: 0.8, PPrevious: &p, Correct: &yes, At: &ts})
		return string(b)
	}
	diff, _ := json.Marshal(DifficultyAdjustedPayload{Item: "q1", Skill: "joins", Difficulty: 0.2, Learner: aliceKey, Expected: &p, Correct: &yes})
	return []event.Event{
		stmt("6f1c9a0e-8c0b-4bb0-9f5e-000000000001", aliceKey, `"actor":`+alice+`,"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},`+
			fmt.Sprintf(activity, "")+`,"result":{"success":true,"response":"Alice's own words","score":{"scaled":0.9}}`),
		stmt("6f1c9a0e-8c0b-4bb0-9f5e-000000000002", bobKey, `"actor":{"mbox":"mailto:bob@example.com","name":"Bob"},"verb":{"id":"http://adlnet.gov/expapi/verbs/passed"},`+
			fmt.Sprintf(activity, `,"instructor":{"mbox":"mailto:alice@EXAMPLE.com","name":"Alice Liddell"}`)+`,"result":{"success":true}`),
		stmt("6f1c9a0e-8c0b-4bb0-9f5e-000000000003", bobKey, `"actor":{"mbox":"mailto:bob@example.com"},"verb":{"id":"http://example.com/verbs/thanked"},"object":{"objectType":"Agent","mbox":"mailto:alice@example.com","name":"Alice Liddell"}`),
		plainEvent("ev-m1", TypeMasteryUpdated, aliceKey, mastery(aliceKey)),
		plainEvent("ev-m2", TypeMasteryUpdated, bobKey, mastery(bobKey)),
		plainEvent("ev-d1", TypeDifficultyAdjusted, aliceKey, string(diff)),
		recommendationEvent(t, "ev-stmt", projections.RecommendationsUpdated{Learner: aliceKey, ModelVersion: "als-k32/p2/1",
			Items: []projections.Recommendation{{Item: "https://x.example/quiz", Score: 1, Rank: 1, Reasons: []string{"mf"}}}}),
		catalogEvent(t, "ev-r1", TypeCatalogLearnerRolePut, projections.LearnerRole{Learner: aliceKey, Role: "dev"}),
	}
}

// dump returns every row of every table of the database as JSON text,
// aggregate states (binary) in hex: holds reports whether a dump contains
// a text either way.
func dump(t *testing.T, s sqlRunner) map[string]string {
	t.Helper()
	tables, _, err := s.Query(`SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT IN ('View', 'MaterializedView') ORDER BY name`, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range tables {
		name := r["name"].(string)
		cols, _, err := s.Query(`SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position`,
			map[string]string{"t": name})
		if err != nil {
			t.Fatal(err)
		}
		var sel []string
		for _, c := range cols {
			col := "`" + c["name"].(string) + "`"
			if strings.HasPrefix(c["type"].(string), "AggregateFunction") {
				col = "hex(" + col + ")"
			}
			sel = append(sel, col)
		}
		rows, _, err := s.Query("SELECT "+strings.Join(sel, ", ")+" FROM "+name, nil)
		if err != nil {
			t.Fatalf("dump %s: %v", name, err)
		}
		b, _ := json.Marshal(rows)
		out[name] = string(b)
	}
	return out
}

func holds(dump, text string) bool {
	return strings.Contains(dump, text) || strings.Contains(dump, strings.ToUpper(hex.EncodeToString([]byte(text))))
}

func exerciseForget(t *testing.T, s sqlRunner, eng forgetEngine) {
	ctx := context.Background()
	if err := Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	var answers []string
	sink := NewSink(SinkConfig{Encoder: NewEncoder(NewPrivacyPseudonymizer(privacySecret)), Writer: eng,
		OnErasure: func(_ context.Context, tenant string, e privacy.LearnerErased, removed map[string]int64) error {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(removed)) {
				if removed[k] > 0 {
					kv = append(kv, fmt.Sprintf("%s=%d", k, removed[k]))
				}
			}
			answers = append(answers, tenant+" "+e.Erasure+": "+strings.Join(kv, ","))
			return nil
		}})
	add := func(topic string, evs ...event.Event) {
		t.Helper()
		for _, e := range evs {
			if err := sink.Add(e, event.Position{Topic: topic}); err != nil {
				t.Fatalf("add %s: %v", e.ID, err)
			}
		}
		if err := sink.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	add("statements", forgetWorld(t)...)

	pa := privacySecret.Pseudonym("acme", aliceKey)
	scalarOf := func(q string) float64 { t.Helper(); return scalar(t, s, q) }
	// With privacy on no column holds a name, an identifier or a free-text
	// response; Alice is her privacy pseudonym, in her rows and in Bob's.
	for table, rows := range dump(t, s) {
		for _, bad := range []string{"alice", "Alice", "Liddell", "own words", "bob@", "EXAMPLE"} {
			if holds(rows, bad) {
				t.Errorf("table %s holds %q", table, bad)
			}
		}
	}
	if n := scalarOf("SELECT count() FROM statements WHERE actor_pseudo = '" + pa + "'"); n != 1 {
		t.Fatalf("Alice has %v statements under her privacy pseudonym, want 1", n)
	}
	if n := scalarOf("SELECT count() FROM statements WHERE actor_pseudo != '" + pa + "' AND position(raw, '" + pa + "') > 0"); n != 2 {
		t.Fatalf("%v of Bob's statements name Alice's pseudonym, want 2 (instructor, object)", n)
	}
	learners := func(table, where string) float64 {
		t.Helper()
		return scalarOf("SELECT uniqExactMerge(learners) FROM " + table + " WHERE " + where)
	}
	if n := learners("daily_activity", "verb_id = 'http://adlnet.gov/expapi/verbs/passed'"); n != 2 {
		t.Fatalf("daily_activity counts %v learners who passed, want 2", n)
	}

	erased := func(id string) event.Event {
		b, _ := json.Marshal(privacy.LearnerErased{Erasure: id, Pseudonym: pa, At: producerTime})
		return plainEvent("ev-"+id, privacy.TypeLearnerErased, pa, string(b))
	}
	steps := []struct {
		name, topic string
		e           event.Event
		want        string
	}{
		{"erase Alice", "statements", erased("er1"), "acme er1: assessment_outcomes_recomputed=1,course_progress=1,daily_activity_recomputed=1," +
			"difficulty_events=1,learner_roles=1,mastery_events=1,recommendation_uptake=3,recommendations=1,skill_mastery=1,statement_mentions=2,statements=1"},
		{"the same erasure on another topic", "recommendations", erased("er1"), "acme er1: "},
	}
	for _, st := range steps {
		answers = nil
		add(st.topic, st.e)
		if len(answers) != 1 || answers[0] != st.want {
			t.Errorf("%s: answered %q, want %q", st.name, answers, st.want)
		}
	}
	for table, rows := range dump(t, s) {
		if holds(rows, pa) {
			t.Errorf("after the erasure table %s still holds Alice's pseudonym", table)
		}
	}
	if n := scalarOf("SELECT count() FROM statements WHERE tenant = 'acme'"); n != 2 {
		t.Errorf("%v statements left, want Bob's 2", n)
	}
	if n := learners("daily_activity", "verb_id = 'http://adlnet.gov/expapi/verbs/passed'"); n != 1 {
		t.Errorf("daily_activity counts %v learners who passed after the erasure, want 1 (Bob)", n)
	}
	if n := learners("assessment_outcomes", "assessment_id = 'https://x.example/quiz'"); n != 1 {
		t.Errorf("assessment_outcomes counts %v learners after the erasure, want 1 (Bob)", n)
	}
	if n := scalarOf("SELECT count() FROM mastery_events"); n != 1 {
		t.Errorf("%v mastery events left, want Bob's 1", n)
	}

	// Retention: a cut-off before everything removes nothing; one after
	// everything removes the records and what was derived from them, and
	// keeps role assignments.
	retention := func(id string, before time.Time) event.Event {
		b, _ := json.Marshal(privacy.RetentionApplied{Tenant: "acme", Before: before, At: producerTime})
		return plainEvent("ev-"+id, privacy.TypeRetentionApplied, "acme", string(b))
	}
	add("statements", retention("ret0", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)))
	if n := scalarOf("SELECT count() FROM statements"); n != 2 {
		t.Errorf("retention before everything left %v statements, want 2", n)
	}
	add("statements", catalogEvent(t, "ev-r2", TypeCatalogLearnerRolePut, projections.LearnerRole{Learner: bobKey, Role: "dev"}),
		retention("ret1", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))
	for _, table := range []string{"statements", "mastery_events", "daily_activity", "assessment_outcomes", "course_progress", "skill_mastery",
		"recommendation_uptake"} {
		if n := scalarOf("SELECT count() FROM " + table + " WHERE tenant = 'acme'"); n != 0 {
			t.Errorf("after retention %s has %v rows, want 0", table, n)
		}
	}
	if n := scalarOf("SELECT count() FROM learner_roles WHERE tenant = 'acme'"); n != 1 {
		t.Errorf("after retention learner_roles has %v rows, want Bob's 1", n)
	}
}

func TestSinkRejectsBadPrivacyEvents(t *testing.T) {
	pa := privacySecret.Pseudonym("acme", aliceKey)
	tests := []struct {
		name string
		enc  *Encoder
		e    event.Event
		want string
	}{
		{"not a pseudonym", NewEncoder(NewPrivacyPseudonymizer(privacySecret)),
			plainEvent("e", privacy.TypeLearnerErased, "k", `{"erasure":"x","pseudonym":"mbox:mailto:alice@example.com"}`), "data.pseudonym"},
		{"privacy off", NewEncoder(NewPseudonymizer(testSecret)),
			plainEvent("e", privacy.TypeLearnerErased, pa, `{"erasure":"x","pseudonym":"`+pa+`"}`), "privacy is off"},
		{"retention without cut-off", NewEncoder(NewPrivacyPseudonymizer(privacySecret)),
			plainEvent("e", privacy.TypeRetentionApplied, "acme", `{"tenant":"acme"}`), "data.before"},
		{"retention of another tenant", NewEncoder(NewPrivacyPseudonymizer(privacySecret)),
			plainEvent("e", privacy.TypeRetentionApplied, "acme", `{"tenant":"other","before":"2026-01-01T00:00:00Z"}`), "data.tenant"},
		{"unknown major version", NewEncoder(NewPrivacyPseudonymizer(privacySecret)),
			plainEvent("e", "learnstream.privacy.learner.erased.v2", pa, `{}`), "major version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &memWriter{}
			s := NewSink(SinkConfig{Encoder: tt.enc, Writer: w})
			err := s.Add(tt.e, event.Position{})
			if !event.IsRejected(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a rejection naming %q", err, tt.want)
			}
			if err := s.Flush(context.Background()); err != nil || len(s.forgets) != 0 {
				t.Fatalf("a rejected event left work: %v, %d pending", err, len(s.forgets))
			}
		})
	}
}
