package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// memWriter is a Writer over memory that fails the first fails writes.
type memWriter struct {
	mu     sync.Mutex
	fails  int
	calls  int
	rows   []Row
	writes [][]Row
}

func (m *memWriter) Write(_ context.Context, rows []Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fails > 0 {
		m.fails--
		return errors.New("clickhouse unreachable")
	}
	cp := append([]Row(nil), rows...)
	m.rows = append(m.rows, cp...)
	m.writes = append(m.writes, cp)
	return nil
}

func (m *memWriter) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *memWriter) snapshot() []Row {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Row(nil), m.rows...)
}

var producerTime = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// catalogEvent builds a catalog event the way api/catalog.go does: the
// producer's type marshalled, the key from projections.CatalogKey.
func catalogEvent(t *testing.T, id, typ string, v any) event.Event {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	key, err := projections.CatalogKey(typ, data)
	if err != nil {
		t.Fatalf("the catalog projection rejects %s %s: %v", typ, data, err)
	}
	e, err := event.New(id, typ, "http://lrs.test", "acme", key, producerTime, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// recommendationEvent builds a RecommendationsUpdated event the way
// streams/recommend.go does.
func recommendationEvent(t *testing.T, basedOn string, p projections.RecommendationsUpdated) event.Event {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.New(streams.DerivedID("recommendations", basedOn), projections.TypeRecommendationsUpdated,
		"http://lrs.test", "acme", p.Learner, producerTime, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func plainEvent(id, typ, key string, data string) event.Event {
	return event.Event{ID: id, Type: typ, Source: "http://lrs.test", Time: producerTime, Tenant: "acme",
		ContentType: event.ContentTypeJSON, Key: key, Data: []byte(data)}
}

// The sink reads the event types the producers declare; a rename on either
// side fails here.
func TestSinkTypesAreTheProducers(t *testing.T) {
	pairs := map[string]string{
		TypeRecommendationsUpdated:     projections.TypeRecommendationsUpdated,
		TypeCatalogSkillPut:            projections.TypeSkillPut,
		TypeCatalogSkillDeleted:        projections.TypeSkillDeleted,
		TypeCatalogPrerequisitePut:     projections.TypePrerequisitePut,
		TypeCatalogPrerequisiteDeleted: projections.TypePrerequisiteDeleted,
		TypeCatalogActivityPut:         projections.TypeActivityPut,
		TypeCatalogActivityDeleted:     projections.TypeActivityDeleted,
		TypeCatalogActivitySeen:        projections.TypeActivitySeen,
		TypeCatalogRolePut:             projections.TypeRolePut,
		TypeCatalogRoleDeleted:         projections.TypeRoleDeleted,
		TypeCatalogLearnerRolePut:      projections.TypeLearnerRolePut,
	}
	for ours, theirs := range pairs {
		if ours != theirs {
			t.Errorf("analytics reads %q, the producer emits %q", ours, theirs)
		}
	}
	// The recommender's payload decodes into ours field for field.
	full := projections.RecommendationsUpdated{Learner: "l", ModelVersion: "m", BasedOn: "b", Role: "r", ColdStart: true,
		Items: []projections.Recommendation{{Item: "i", Score: 1, Rank: 1, Reasons: []string{"mf"}}}}
	theirs, _ := json.Marshal(full)
	var p RecommendationsUpdatedPayload
	if err := json.Unmarshal(theirs, &p); err != nil {
		t.Fatal(err)
	}
	ours, _ := json.Marshal(p)
	var a, b map[string]any
	json.Unmarshal(theirs, &a)
	json.Unmarshal(ours, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("recommendation payload differs:\nproducer %s\nanalytics %s", theirs, ours)
	}
}

// The adaptive role emits these exact shapes; changing a JSON name here
// breaks it silently, so the names are pinned.
func TestAdaptivePayloadShapesAreStable(t *testing.T) {
	names := func(v any) string {
		b, _ := json.Marshal(v)
		var m map[string]any
		json.Unmarshal(b, &m)
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	f, yes, at := 0.5, true, producerTime
	if got := names(MasteryUpdatedPayload{"l", "s", 0.5, &f, "i", "st", &yes, &at}); got != "at,correct,item,learner,p_mastery,p_previous,skill,statement" {
		t.Errorf("MasteryUpdatedPayload fields: %s", got)
	}
	if got := names(DifficultyAdjustedPayload{"i", "s", 1, &f, "l", &f, &f, &yes, "st", &at}); got != "ability,at,correct,difficulty,expected,item,learner,previous_difficulty,skill,statement" {
		t.Errorf("DifficultyAdjustedPayload fields: %s", got)
	}
}

// Every event type the sink stores, built by the producers' code paths,
// becomes the expected rows.
func TestSinkEventsToRows(t *testing.T) {
	enc := NewEncoder(NoPseudonymization())
	stmt := plainEvent("ev-stmt", event.TypeStatementStored, "mbox:mailto:ada@example.com",
		`{"id":"6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f","actor":{"mbox":"mailto:ada@example.com"},
		  "verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://x.example/c"},
		  "result":{"duration":"PT1M30S"},"timestamp":"2026-03-02T09:00:00Z","stored":"2026-03-02T09:00:01Z","version":"1.0.0",
		  "authority":{"account":{"homePage":"http://lrs.test/","name":"admin"}}}`)
	yes, p := true, 0.4
	at := producerTime.Add(-time.Minute)
	mastery, _ := json.Marshal(MasteryUpdatedPayload{Learner: "l1", Skill: "joins", PMastery: 0.8, PPrevious: &p, Correct: &yes, At: &at})
	diff, _ := json.Marshal(DifficultyAdjustedPayload{Item: "q1", Skill: "joins", Difficulty: 0.2, Expected: &p, Correct: &yes})
	cases := []struct {
		name string
		e    event.Event
		want []Row
	}{
		{"statement", stmt, nil}, // checked field by field below
		{"recommendations", recommendationEvent(t, "ev-stmt", projections.RecommendationsUpdated{Learner: "l1", ModelVersion: "als-k32/p2/1840",
			BasedOn: "ev-stmt", Role: "dev", Items: []projections.Recommendation{
				{Item: "https://x.example/joins", Score: 1, Rank: 1, Reasons: []string{"mf", "ready_to_learn"}},
				{Item: "https://x.example/windows", Score: 0.41, Rank: 2, Reasons: []string{"mf"}}}}),
			[]Row{
				Recommendation{Tenant: "acme", EventID: streams.DerivedID("recommendations", "ev-stmt"), ActorKey: "l1", ActorPseudo: "l1",
					ItemID: "https://x.example/joins", Rank: 1, Score: 1, Reasons: []string{"mf", "ready_to_learn"}, Model: "als-k32",
					RecommendedAt: producerTime, IngestVersion: IngestVersion, ModelVersion: "als-k32/p2/1840", BasedOn: "ev-stmt", Role: "dev"},
				Recommendation{Tenant: "acme", EventID: streams.DerivedID("recommendations", "ev-stmt"), ActorKey: "l1", ActorPseudo: "l1",
					ItemID: "https://x.example/windows", Rank: 2, Score: 0.41, Reasons: []string{"mf"}, Model: "als-k32",
					RecommendedAt: producerTime, IngestVersion: IngestVersion, ModelVersion: "als-k32/p2/1840", BasedOn: "ev-stmt", Role: "dev"},
			}},
		{"mastery", plainEvent("ev-m", TypeMasteryUpdated, "l1", string(mastery)), []Row{MasteryUpdate{Tenant: "acme", EventID: "ev-m",
			ActorKey: "l1", ActorPseudo: "l1", SkillID: "joins", PMastery: 0.8, PPrevious: &p, Correct: boolPtr(&yes), UpdatedAt: at,
			IngestVersion: IngestVersion}}},
		{"difficulty", plainEvent("ev-d", TypeDifficultyAdjusted, "q1", string(diff)), []Row{DifficultyAdjustment{Tenant: "acme",
			EventID: "ev-d", ItemID: "q1", SkillID: "joins", Difficulty: 0.2, Expected: &p, Correct: boolPtr(&yes), AdjustedAt: producerTime,
			IngestVersion: IngestVersion}}},
	}
	meta := catalogMeta{UpdatedAt: producerTime, Version: uint64(producerTime.UnixNano())}
	deleted := meta
	deleted.Deleted = 1
	seen := meta
	seen.Version = 0
	mins := 45 * 60.0
	for _, c := range []struct {
		name string
		typ  string
		v    any
		want Row
	}{
		{"skill put", projections.TypeSkillPut, graph.Skill{ID: "joins", Name: "Joins"}, CatalogSkill{Tenant: "acme", SkillID: "joins", Name: "Joins", catalogMeta: meta}},
		{"skill deleted", projections.TypeSkillDeleted, projections.CatalogRef{ID: "joins"}, CatalogSkill{Tenant: "acme", SkillID: "joins", catalogMeta: deleted}},
		{"prerequisite put", projections.TypePrerequisitePut, graph.Edge{From: "select", To: "joins"},
			CatalogPrerequisite{Tenant: "acme", SkillID: "joins", PrerequisiteID: "select", catalogMeta: meta}},
		{"prerequisite deleted", projections.TypePrerequisiteDeleted, graph.Edge{From: "select", To: "joins"},
			CatalogPrerequisite{Tenant: "acme", SkillID: "joins", PrerequisiteID: "select", catalogMeta: deleted}},
		{"course put", projections.TypeActivityPut, graph.Activity{ID: "https://x.example/c", Type: graph.TypeCourse, Title: "C"},
			CatalogActivity{Tenant: "acme", ActivityID: "https://x.example/c", Name: "C", ActivityType: "course", CourseID: "https://x.example/c",
				Origin: OriginCatalog, catalogMeta: meta}},
		{"activity put", projections.TypeActivityPut, graph.Activity{ID: "https://x.example/q", Type: graph.TypeAssessment, Title: "Q",
			Duration: 45 * time.Minute, Teaches: []string{"joins"}, Assesses: []string{"joins", "select"}, Parent: "https://x.example/c"},
			CatalogActivity{Tenant: "acme", ActivityID: "https://x.example/q", Name: "Q", ActivityType: "assessment", SkillIDs: []string{"joins"},
				AssessesIDs: []string{"joins", "select"}, ParentID: "https://x.example/c", DurationSeconds: &mins, Origin: OriginCatalog, catalogMeta: meta}},
		{"activity deleted", projections.TypeActivityDeleted, projections.CatalogRef{ID: "https://x.example/q"},
			CatalogActivity{Tenant: "acme", ActivityID: "https://x.example/q", Origin: OriginCatalog, catalogMeta: deleted}},
		{"activity seen", projections.TypeActivitySeen, projections.SeenActivity{ID: "https://x.example/n", Type: "http://t", Name: "N"},
			CatalogActivity{Tenant: "acme", ActivityID: "https://x.example/n", Name: "N", ActivityType: "http://t", Origin: OriginSeen, catalogMeta: seen}},
		{"role put", projections.TypeRolePut, graph.Role{ID: "dev", Name: "Dev", Requires: []graph.Requirement{{Skill: "joins", Level: 0.8}}},
			CatalogRole{Tenant: "acme", RoleID: "dev", Name: "Dev", SkillIDs: []string{"joins"}, TargetLevels: []float64{0.8}, catalogMeta: meta}},
		{"role deleted", projections.TypeRoleDeleted, projections.CatalogRef{ID: "dev"},
			CatalogRole{Tenant: "acme", RoleID: "dev", SkillIDs: []string{}, TargetLevels: []float64{}, catalogMeta: deleted}},
		{"learner role put", projections.TypeLearnerRolePut, projections.LearnerRole{Learner: "l1", Role: "dev"},
			LearnerRole{Tenant: "acme", ActorKey: "l1", ActorPseudo: "l1", RoleID: "dev", catalogMeta: meta}},
		{"learner role removed", projections.TypeLearnerRolePut, projections.LearnerRole{Learner: "l1"},
			LearnerRole{Tenant: "acme", ActorKey: "l1", ActorPseudo: "l1", catalogMeta: deleted}},
	} {
		cases = append(cases, struct {
			name string
			e    event.Event
			want []Row
		}{c.name, catalogEvent(t, "ev-"+strings.ReplaceAll(c.name, " ", "-"), c.typ, c.v), []Row{c.want}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &memWriter{}
			s := NewSink(SinkConfig{Encoder: enc, Writer: w})
			if err := s.Add(c.e, event.Position{Topic: "t", Offset: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := w.snapshot()
			if c.name == "statement" {
				if len(got) != 1 {
					t.Fatalf("%d rows", len(got))
				}
				st := got[0].(Statement)
				if st.StatementID != "6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f" || st.EventID != "ev-stmt" || st.VerbID != VerbCompleted ||
					st.DurationSeconds == nil || *st.DurationSeconds != 90 {
					t.Fatalf("%+v", st)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("rows\n got  %#v\n want %#v", got, c.want)
			}
		})
	}
}

func TestSinkIgnoresWhatItDoesNotStore(t *testing.T) {
	w := &memWriter{}
	s := NewSink(SinkConfig{Encoder: NewEncoder(NoPseudonymization()), Writer: w})
	for _, typ := range []string{"learnstream.xapi.attachment.stored.v1", "learnstream.xapi.document.v1",
		streams.TypeItemFactors, "learnstream.adaptive.ability.updated.v1", "learnstream.catalog.thing.put.v1"} {
		if err := s.Add(plainEvent("x", typ, "k", `not even json`), event.Position{}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if s.Pending() != 0 || s.Stats().Ignored != 5 {
		t.Fatalf("pending %d, stats %+v", s.Pending(), s.Stats())
	}
	if err := s.Flush(context.Background()); err != nil || w.calls != 0 {
		t.Fatalf("an empty flush wrote: %v, %d calls", err, w.calls)
	}
}

func TestSinkRejectsBadEventsWithoutHalfApplying(t *testing.T) {
	s := NewSink(SinkConfig{Encoder: NewEncoder(NoPseudonymization()), Writer: &memWriter{}})
	good := recommendationEvent(t, "a", projections.RecommendationsUpdated{Learner: "l", Items: []projections.Recommendation{{Item: "i", Rank: 1, Reasons: []string{"mf"}}}})
	if err := s.Add(good, event.Position{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		e    event.Event
	}{
		// two good items, then a bad one: none of the three may be added
		{"third item bad", plainEvent("r", TypeRecommendationsUpdated, "l",
			`{"learner":"l","items":[{"item":"a","rank":1,"score":1},{"item":"b","rank":2,"score":1},{"item":"c","rank":0,"score":1}]}`)},
		{"not json", plainEvent("m", TypeMasteryUpdated, "l", `{`)},
		{"statement without verb", plainEvent("s", event.TypeStatementStored, "l", `{"id":"6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f"}`)},
		{"unknown major version", plainEvent("c", "learnstream.catalog.skill.put.v2", "k", `{"id":"s"}`)},
		{"catalog without id", plainEvent("c", TypeCatalogActivityPut, "k", `{"type":"item"}`)},
	} {
		err := s.Add(c.e, event.Position{})
		if !event.IsRejected(err) {
			t.Errorf("%s: got %v, want a rejection", c.name, err)
		}
		if s.Pending() != 1 {
			t.Fatalf("%s: %d rows pending, want the 1 row added before", c.name, s.Pending())
		}
	}
	// Without a secret pseudonymisation cannot work: a configuration error
	// that must stop the consumer, not dead-letter every event.
	s = NewSink(SinkConfig{Encoder: NewEncoder(nil), Writer: &memWriter{}})
	err := s.Add(good, event.Position{})
	var ce *ConfigError
	if err == nil || event.IsRejected(err) || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a ConfigError that is not a rejection", err)
	}
}

func TestSinkFlushFailureKeepsTheBatch(t *testing.T) {
	w := &memWriter{fails: 2}
	s := NewSink(SinkConfig{Encoder: NewEncoder(NoPseudonymization()), Writer: w, Batch: BatcherConfig{MaxRows: 3}})
	for i := range 3 {
		rec := recommendationEvent(t, string(rune('a'+i)), projections.RecommendationsUpdated{Learner: "l",
			Items: []projections.Recommendation{{Item: "i", Rank: 1, Reasons: []string{"mf"}}}})
		if err := s.Add(rec, event.Position{Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Full() {
		t.Fatal("3 rows with MaxRows 3: want Full")
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := s.Flush(context.Background()); err == nil {
			t.Fatalf("flush %d: want the writer's error", attempt)
		}
		if s.Pending() != 3 || len(w.snapshot()) != 0 {
			t.Fatalf("after failed flush %d: %d pending, %d written", attempt, s.Pending(), len(w.snapshot()))
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 0 || len(w.writes) != 1 || len(w.writes[0]) != 3 || s.Stats().Rows != 3 || s.Stats().Batches != 1 {
		t.Fatalf("after the retry: pending %d, writes %d, stats %+v", s.Pending(), len(w.writes), s.Stats())
	}
	if err := s.Flush(context.Background()); err != nil || w.calls != 3 {
		t.Fatalf("an empty flush wrote again: %v, %d calls", err, w.calls)
	}
}

type discardWriter struct{}

func (discardWriter) Write(context.Context, []Row) error { return nil }

// BenchmarkSink measures events through Sink.Add and Flush into a writer that
// discards, against the bare encoder (enc.Rows) over the same generated
// stream in the same run; both report rows/s.
func BenchmarkSink(b *testing.B) {
	evs := smallWorld().events
	enc := NewEncoder(NewPseudonymizer(testSecret))
	b.Run("encoder", func(b *testing.B) {
		rows := 0
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rs, err := enc.Rows(evs[i%len(evs)])
			if err != nil {
				b.Fatal(err)
			}
			rows += len(rs)
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("sink", func(b *testing.B) {
		s := NewSink(SinkConfig{Encoder: enc, Writer: discardWriter{}, Batch: BatcherConfig{MaxRows: 10000}})
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := s.Add(evs[i%len(evs)], event.Position{Offset: int64(i)}); err != nil {
				b.Fatal(err)
			}
			if s.Full() {
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.Stats().Rows)/b.Elapsed().Seconds(), "rows/s")
	})
}

// The adaptive role's documented examples (docs/events.md), with the
// fields it adds beyond the shared payloads, are stored, not rejected.
func TestSinkReadsTheAdaptiveExamples(t *testing.T) {
	s := NewSink(SinkConfig{Encoder: NewEncoder(NoPseudonymization()), Writer: &memWriter{}})
	for typ, data := range map[string]string{
		TypeMasteryUpdated: `{"learner": "mbox:mailto:ada@example.com", "skill": "sql", "p_mastery": 0.627907, "p_previous": 0.3,
		  "item": "https://example.com/items/sql-1", "statement": "6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f",
		  "correct": true, "at": "2026-11-29T10:00:00Z", "score": 1, "ability": 0.3, "global_ability": 0.2,
		  "attempts": 1, "recent_success": 1, "recent_attempts": 1, "input_partition": 2, "input_offset": 1840}`,
		TypeDifficultyAdjusted: `{"item": "https://example.com/items/sql-1", "skill": "sql", "difficulty": -0.6, "previous_difficulty": 0,
		  "learner": "mbox:mailto:ada@example.com", "ability": 0, "expected": 0.5, "correct": true,
		  "statement": "6f1c9a0e-8c0b-4bb0-9f5e-3d2a1c0b9e8f", "at": "2026-11-29T10:00:00Z", "skills": ["sql"],
		  "score": 1, "expected_elo": 0.5, "expected_bkt": 0.34, "item_attempts": 1, "input_partition": 2, "input_offset": 1840}`,
	} {
		if err := s.Add(plainEvent("a-"+typ, typ, "mbox:mailto:ada@example.com", data), event.Position{}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if s.Pending() != 2 {
		t.Fatalf("%d rows pending, want 2", s.Pending())
	}
}
