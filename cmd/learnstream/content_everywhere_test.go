package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/analytics"
	"github.com/learnstream/learnstream/analytics/chdbtest"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// everywhere is what a content launch must have left in every consumer of
// the statements, as native xAPI statements do ("see it everywhere").
type everywhere struct {
	tenant       string
	learner      string // the learner's mbox address
	registration string
	unit         string  // the SCO's or AU's activity IRI
	score        float64 // the scaled score it passed with
	// skill is the skill the unit assesses; attempts and correct are the
	// scored attempts on it (answered interactions and passed).
	skill             string
	attempts, correct int
	// verbs are the statements of the registration by verb id's last
	// segment, as the ClickHouse statements table must hold them.
	verbs map[string]int
}

// tenantOf is the --tenant among serve's arguments.
func tenantOf(args []string) string {
	for i, a := range args {
		if a == "--tenant" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// checkEverywhere checks progress, mastery, a RecommendationsUpdated event
// based on one of the launch's statements, and the rows the analytics sink
// makes of the server's events on the real ClickHouse engine (chDB).
func checkEverywhere(t *testing.T, p *proc, w everywhere) {
	t.Helper()
	// Progress.
	eventually(t, p, "progress showing "+w.unit+" passed", func() bool {
		_, _, b := p.do(t, "GET", "/v1/learners/"+w.learner+"/progress", "")
		var prog struct {
			Activities []projections.ActivityProgress
		}
		json.Unmarshal(b, &prog)
		for _, a := range prog.Activities {
			if a.Activity == w.unit && a.Passed && a.BestScore != nil && *a.BestScore == w.score {
				return true
			}
		}
		return false
	})
	// Mastery: every scored attempt on the unit's skill.
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, b := p.do(t, "GET", "/v1/learners/"+w.learner+"/mastery", "")
		var m struct {
			Skills []struct {
				Skill             string
				PMastery          float64 `json:"p_mastery"`
				Attempts, Correct int
			}
		}
		json.Unmarshal(b, &m)
		got := -1
		for _, s := range m.Skills {
			if s.Skill == w.skill {
				got = s.Attempts
				if s.Attempts == w.attempts && s.Correct == w.correct && s.PMastery > 0 {
					got = -2
				}
			}
		}
		if got == -2 {
			break
		}
		last = string(b)
		if time.Now().After(deadline) {
			t.Fatalf("mastery of %s: want %d attempts, %d correct; have %s", w.skill, w.attempts, w.correct, last)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The launch's statement events, and a RecommendationsUpdated for the
	// learner based on one of them.
	statements := topicEvents(t, ctx, p.kafka, streams.TopicStatements, w.tenant)
	ours := map[string]bool{}
	for _, e := range statements {
		if strings.Contains(string(e.Data), w.registration) {
			ours[e.ID] = true
		}
	}
	learnerKey := "mbox:mailto:" + w.learner
	var recs []event.Event
	deadline = time.Now().Add(30 * time.Second)
	for found := false; !found; {
		recs = topicEvents(t, ctx, p.kafka, streams.TopicRecommendations, w.tenant)
		var theirs []string
		for _, e := range recs {
			var r projections.RecommendationsUpdated
			if e.Type == projections.TypeRecommendationsUpdated && json.Unmarshal(e.Data, &r) == nil && r.Learner == learnerKey {
				found = found || ours[r.BasedOn] && len(r.Items) > 0
				theirs = append(theirs, string(e.Data))
			}
		}
		if !found && time.Now().After(deadline) {
			t.Fatalf("no RecommendationsUpdated for %s based on one of the launch's %d statements in 30 s; the learner's:\n%s",
				learnerKey, len(ours), strings.Join(theirs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// ClickHouse: the analytics sink's rows of every event, on chDB.
	ch := chdbtest.Start(t)
	if err := analytics.Migrate(ctx, ch); err != nil {
		t.Fatalf("migrations on chDB: %v", err)
	}
	sink := analytics.NewSink(analytics.SinkConfig{Writer: chdbWriter{ch}, Encoder: analytics.NewEncoder(analytics.NoPseudonymization())})
	var all []event.Event
	all = append(all, statements...)
	all = append(all, recs...)
	all = append(all, topicEvents(t, ctx, p.kafka, streams.TopicAdaptive, w.tenant)...)
	all = append(all, topicEvents(t, ctx, p.kafka, streams.TopicCatalog, w.tenant)...)
	for _, e := range all {
		if err := sink.Add(e, event.Position{}); err != nil {
			t.Fatalf("analytics sink refused %s %s: %v", e.Type, e.ID, err)
		}
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	query := func(q string, params map[string]string) []map[string]any {
		t.Helper()
		rows, _, err := ch.Query(q, params)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return rows
	}
	params := map[string]string{"tenant": w.tenant, "reg": w.registration, "unit": w.unit, "skill": w.skill, "learner": learnerKey}
	got := map[string]int{}
	for _, r := range query(`SELECT verb_id, toUInt32(count()) AS n FROM statements FINAL
		WHERE tenant = {tenant:String} AND registration = toUUID({reg:String}) GROUP BY verb_id`, params) {
		v := r["verb_id"].(string)
		got[v[strings.LastIndexByte(v, '/')+1:]] = int(r["n"].(float64))
	}
	for v, n := range w.verbs {
		if got[v] != n {
			t.Errorf("ClickHouse statements of the registration: %s %d, want %d (all: %v)", v, got[v], n, got)
		}
	}
	passed := query(`SELECT score_scaled, result_success FROM statements FINAL WHERE tenant = {tenant:String}
		AND registration = toUUID({reg:String}) AND endsWith(verb_id, '/passed') AND object_id = {unit:String}`, params)
	if len(passed) != 1 || passed[0]["score_scaled"] != w.score || passed[0]["result_success"] != float64(1) {
		t.Errorf("ClickHouse passed row: %v, want score %v and success", passed, w.score)
	}
	mastery := query(`SELECT toUInt32(count()) AS n, toUInt32(countIf(correct = 1)) AS correct FROM mastery_events FINAL
		WHERE tenant = {tenant:String} AND skill_id = {skill:String} AND actor_key = {learner:String}`, params)
	if len(mastery) != 1 || mastery[0]["n"] != float64(w.attempts) || mastery[0]["correct"] != float64(w.correct) {
		t.Errorf("ClickHouse mastery_events on %s: %v, want %d attempts, %d correct", w.skill, mastery, w.attempts, w.correct)
	}
	// The cookbook's learner_skills view over them.
	skills := query(`SELECT updates, p_mastery FROM learner_skills WHERE tenant = {tenant:String} AND skill_id = {skill:String}`, params)
	if len(skills) != 1 || skills[0]["updates"] != float64(w.attempts) {
		t.Errorf("ClickHouse learner_skills on %s: %v, want %d updates", w.skill, skills, w.attempts)
	}
	recRows := query(`SELECT toUInt32(count()) AS n FROM recommendations FINAL WHERE tenant = {tenant:String} AND actor_key = {learner:String}`, params)
	if len(recRows) != 1 || recRows[0]["n"] == float64(0) {
		t.Errorf("ClickHouse recommendations of %s: %v, want rows", learnerKey, recRows)
	}
}

// chdbWriter is the analytics sink's Writer into a chDB session.
type chdbWriter struct{ s *chdbtest.Session }

func (c chdbWriter) Write(_ context.Context, rows []analytics.Row) error {
	byTable := map[string][]byte{}
	cols := map[string][]string{}
	var order []string
	for _, r := range rows {
		tb := r.Table()
		if _, ok := cols[tb]; !ok {
			cols[tb] = r.Columns()
			order = append(order, tb)
		}
		byTable[tb] = append(r.AppendJSON(byTable[tb]), '\n')
	}
	for _, tb := range order {
		if err := c.s.InsertJSON(tb, cols[tb], byTable[tb]); err != nil {
			return err
		}
	}
	return nil
}

// topicEvents reads a topic up to its end now and answers the tenant's
// events, in partition and offset order.
func topicEvents(t *testing.T, ctx context.Context, broker, topic, tenant string) []event.Event {
	t.Helper()
	ends, err := streams.EndOffsets(ctx, []string{broker}, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	keys := serverKeys(t, ctx, broker)
	for part, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Dialer: streams.Dialer([]string{broker}), Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, part, err)
			}
			hs := make([]event.Header, len(m.Headers))
			for i, h := range m.Headers {
				hs[i] = event.Header{Key: h.Key, Value: h.Value}
			}
			if e, err := event.FromHeaders(hs, m.Key, m.Value); err == nil && e.Tenant == tenant {
				// What a consumer sees: personal events opened with the
				// install's keys; those of erased learners are gone.
				if e, err = privacy.OpenEvent(ctx, e, keys); err != nil {
					t.Errorf("event %s on %s does not open: %v", e.ID, topic, err)
				} else if !e.Erased {
					out = append(out, e)
				}
			}
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

// followUp puts into the catalog a course teaching skill, as a tenant's
// catalog has beside a package: the recommender's content-based ranking
// recommends activities that teach a skill, and a package's units that
// only assess it teach none. Put before the launch, it changes the
// learner's top-N at the launch's first statement.
func followUp(t *testing.T, p *proc, skill string) {
	t.Helper()
	doc := `{"skills":[{"id":"` + skill + `"}],"activities":[{"id":"https://example.com/next/` + skill + `","type":"course","title":"More ` + skill + `","teaches":["` + skill + `"]}]}`
	if code, b := p.doCT(t, "POST", "/v1/catalog/import", "application/json", doc); code != 200 {
		t.Fatalf("catalog import: %d %s", code, b)
	}
}
