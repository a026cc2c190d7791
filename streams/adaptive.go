package streams

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/adaptive"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

var (
	adaptiveEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_adaptive_events_total",
		Help: "Statements the adaptive consumer read, by outcome: applied, applied_no_skills, or why it skipped them.",
	}, []string{"outcome"})
	adaptivePublished = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_adaptive_published_total",
		Help: "MasteryUpdated and DifficultyAdjusted events acknowledged by the broker, by type.",
	}, []string{"type"})
)

// Outcomes of the adaptive consumer (the outcome label of
// learnstream_adaptive_events_total).
const (
	AdaptiveApplied         = "applied"           // learned; events published
	AdaptiveAppliedNoSkills = "applied_no_skills" // learned without skills (see docs/adaptive.md)
	AdaptiveUnscored        = "unscored"          // no success, scaled or usable raw score
	AdaptiveNotActivity     = "not_activity"      // the object is not an activity
	AdaptiveVoiding         = "voiding"           // a voiding statement
	AdaptiveIgnored         = "ignored"           // another event type
	AdaptiveDuplicate       = "duplicate"         // an offset already applied (redelivery)
	AdaptiveErased          = "erased"            // a LearnerErased applied
	AdaptiveRetention       = "retention"         // a RetentionApplied applied
	AdaptiveConsent         = "consent"           // a ConsentSet applied
	AdaptiveNoConsent       = "no_consent"        // the learner withdrew consent to personalisation: not learned
	AdaptiveRejected        = "rejected"          // sent to the DLQ
)

// SkillCatalog gives the catalog graph the item → skills mapping comes from.
type SkillCatalog interface {
	Graph(tenant string) (*graph.Graph, error)
}

// AdaptiveConfig configures an Adaptive consumer.
type AdaptiveConfig struct {
	// Model configures Elo, BKT and the predictor; the zero value means
	// adaptive.DefaultConfig(). Replays are deterministic only under the
	// configuration the checkpoint was learned with.
	Model       adaptive.Config
	Catalog     SkillCatalog
	Checkpoints ModelCheckpoints
	Publisher   EventSink
	// Pseudonyms find the learner a LearnerErased names (the key store);
	// without them such an event is parked in the DLQ.
	Pseudonyms privacy.Pseudonyms
	// Topics (defaults: the standard names).
	StatementsTopic, AdaptiveTopic string
	Source                         string
	// CheckpointEvery and CheckpointInterval bound the work re-applied
	// after a crash (defaults 5000 events, 5 s).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// FlushEvents and FlushInterval batch the published events (defaults
	// 512 events, 5 ms; Run flushes a partial batch after FlushInterval).
	FlushEvents   int
	FlushInterval time.Duration
	Logger        *slog.Logger
}

// Adaptive is the adaptive consumer of the statements topic: for every
// scored statement it updates Elo, BKT and the combined predictor
// (domain/adaptive) and publishes one MasteryUpdated per skill of the item
// and one DifficultyAdjusted on the adaptive topic, keyed by learner.
//
// It keeps one model per (partition, tenant), checkpointed to Badger with
// the partition's next offset in one transaction. A checkpoint is written
// only after every event derived from the statements before it has been
// acknowledged by the broker, so after a crash the statements since the
// checkpoint are re-applied to the same state and re-publish the same
// events (ids derived from the input position). It implements Handler and
// OffsetStore.
type Adaptive struct {
	cfg AdaptiveConfig
	log *slog.Logger

	mu        sync.Mutex
	graphs    graphMemo
	models    partModels[*adaptiveTenant]
	outbox    []event.Event
	logged    []time.Time // for each outbox event, when its statement was written to the log
	lastFlush time.Time
	sinceCkpt int
	lastCkpt  time.Time
	ckptCost  time.Duration // how long the last checkpoint took (ckptDue)
	ckptBytes int           // the size of the last checkpoint's models (ckptDue)
	busy      time.Duration // time in HandleBatch since the last checkpoint (ckptDue)
	lastBatch time.Time     // when HandleBatch last ended
	// answers to erasures, recorded with the next checkpoint.
	answers []projections.PendingAnswer
}

// AdaptiveConsumer names the adaptive consumer in erasure answers.
const AdaptiveConsumer = "adaptive-model"

// adaptiveTenant is one partition's model of one tenant, with the index of
// its dense ids and scratch reused across events.
type adaptiveTenant struct {
	idx *adaptive.Index
	m   *adaptive.Model
	ev  adaptive.Event
	// noPersonal are the learners who withdrew consent to
	// personalisation: the model neither learns from them nor keeps
	// state of them.
	noPersonal map[string]bool
	// seen is when each learner's latest attempt learned from was stored
	// (Unix seconds): retention forgets learners seen before its cut-off.
	seen map[string]int64
}

// NewAdaptive checks cfg and fills its defaults.
func NewAdaptive(cfg AdaptiveConfig) (*Adaptive, error) {
	if cfg.Checkpoints == nil || cfg.Publisher == nil || cfg.Catalog == nil {
		return nil, errors.New("adaptive consumer: checkpoints, publisher and catalog are required")
	}
	if cfg.Model == (adaptive.Config{}) {
		cfg.Model = adaptive.DefaultConfig()
	}
	if _, err := adaptive.New(cfg.Model); err != nil {
		return nil, fmt.Errorf("adaptive consumer: %w", err)
	}
	orDefault(&cfg.StatementsTopic, TopicStatements)
	orDefault(&cfg.AdaptiveTopic, TopicAdaptive)
	orDefault(&cfg.Source, "learnstream")
	pacingDefaults(&cfg.CheckpointEvery, &cfg.CheckpointInterval, &cfg.FlushEvents, &cfg.FlushInterval, 512, &cfg.Logger)
	a := &Adaptive{cfg: cfg, log: cfg.Logger, lastCkpt: time.Now(), lastFlush: time.Now()}
	a.models = partModels[*adaptiveTenant]{name: "adaptive consumer", consumer: AdaptiveConsumer, topic: cfg.StatementsTopic, ckpts: cfg.Checkpoints,
		fresh: a.newTenant, snapshot: (*adaptiveTenant).snapshot, restore: a.restore, log: cfg.Logger}
	return a, nil
}

// NextOffset restores the partition from its checkpoint (once) and says
// where to resume.
func (a *Adaptive) NextOffset(_ context.Context, _ string, partition int) (int64, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.models.nextOffset(partition)
}

func (a *Adaptive) newTenant() *adaptiveTenant {
	m, _ := adaptive.New(a.cfg.Model) // validated in NewAdaptive
	return &adaptiveTenant{idx: adaptive.NewIndex(), m: m, noPersonal: map[string]bool{}, seen: map[string]int64{}}
}

// vocabSnapshot is the dense-id index of a tenant model: the names of ids
// 0, 1, 2, ... per kind.
type vocabSnapshot struct {
	Learners []string `json:"learners"`
	Items    []string `json:"items"`
	Skills   []string `json:"skills"`
	// NoPersonal are the learners without consent to personalisation.
	NoPersonal []string `json:"no_personal,omitempty"`
	// Seen is adaptiveTenant.seen (absent from older checkpoints: their
	// learners stay until their next attempt).
	Seen map[string]int64 `json:"seen,omitempty"`
}

func vocabNames(v *adaptive.Vocab) []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.Name(int32(i))
	}
	return out
}

// snapshot: uint32 length of the model snapshot, the snapshot, the index
// as JSON.
func (t *adaptiveTenant) snapshot() ([]byte, error) {
	ms, err := t.m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ix, err := json.Marshal(vocabSnapshot{Learners: vocabNames(t.idx.Learners), Items: vocabNames(t.idx.Items), Skills: vocabNames(t.idx.Skills),
		NoPersonal: slices.Sorted(maps.Keys(t.noPersonal)), Seen: t.seen})
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(ms)+len(ix)), uint32(len(ms)))
	return append(append(out, ms...), ix...), nil
}

func (a *Adaptive) restore(b []byte) (*adaptiveTenant, error) {
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
		return nil, errors.New("truncated snapshot")
	}
	n := int(binary.BigEndian.Uint32(b))
	t := a.newTenant()
	if err := t.m.UnmarshalBinary(b[4 : 4+n]); err != nil {
		return nil, err
	}
	var vs vocabSnapshot
	if err := json.Unmarshal(b[4+n:], &vs); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	for _, l := range vs.NoPersonal {
		t.noPersonal[l] = true
	}
	if vs.Seen != nil {
		t.seen = vs.Seen
	}
	for _, kind := range []struct {
		v     *adaptive.Vocab
		names []string
	}{{t.idx.Learners, vs.Learners}, {t.idx.Items, vs.Items}, {t.idx.Skills, vs.Skills}} {
		for i, name := range kind.names {
			if name == "" {
				// A forgotten learner's id (Vocab.Forget).
				kind.v.AddForgotten()
				continue
			}
			if kind.v.Add(name) != int32(i) {
				return nil, fmt.Errorf("index: name %q repeated", name)
			}
		}
	}
	return t, nil
}

// Skip records an event parked in the DLQ.
func (a *Adaptive) Skip(_ context.Context, pos Position) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.models.skip(pos); err != nil {
		return err
	}
	adaptiveEvents.WithLabelValues(AdaptiveRejected).Inc()
	return nil
}

// Handle learns one statement and queues the events it causes.
func (a *Adaptive) Handle(ctx context.Context, pos Position, e event.Event) error {
	_, err := a.HandleBatch(ctx, []Position{pos}, []event.Event{e})
	return err
}

// HandleBatch learns a fetched batch of statements under one lock and
// publishes what they caused at most once for the batch (when the outbox
// is full or FlushInterval has passed; Run flushes the rest): publishing
// waits for the broker, and a round trip per statement bounded the
// consumer. It returns how many statements, from the first, are learned.
func (a *Adaptive) HandleBatch(ctx context.Context, pos []Position, evs []event.Event) (int, error) {
	start := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.graphs.reset()
	dup, forgot := false, false
	for i := range evs {
		ps, err := a.models.part(pos[i].Partition)
		if err != nil {
			return i, event.Transient(err) // the checkpoint store
		}
		if pos[i].Offset < ps.next {
			// A redelivery, or the retry of an event whose publish failed:
			// the model has it; what may be missing is the publish.
			adaptiveEvents.WithLabelValues(AdaptiveDuplicate).Inc()
			dup = true
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeLearnerErased) {
			if err := a.forget(evs[i]); err != nil {
				return i, err
			}
			ps.next = pos[i].Offset + 1
			adaptiveEvents.WithLabelValues(AdaptiveErased).Inc()
			a.sinceCkpt++
			forgot = true
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeRetentionApplied) {
			if err := a.retain(evs[i]); err != nil {
				return i, err
			}
			ps.next = pos[i].Offset + 1
			adaptiveEvents.WithLabelValues(AdaptiveRetention).Inc()
			a.sinceCkpt++
			forgot = true
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeConsentSet) {
			if err := a.consent(evs[i], ps); err != nil {
				return i, err
			}
			ps.next = pos[i].Offset + 1
			adaptiveEvents.WithLabelValues(AdaptiveConsent).Inc()
			a.sinceCkpt++
			forgot = true // a withdrawal is checkpointed at once, as an erasure
			continue
		}
		outcome, err := a.learn(pos[i], evs[i], ps)
		if err != nil {
			return i, err
		}
		ps.next = pos[i].Offset + 1
		adaptiveEvents.WithLabelValues(outcome).Inc()
		a.sinceCkpt++
	}
	if dup || len(a.outbox) >= a.cfg.FlushEvents || time.Since(a.lastFlush) >= a.cfg.FlushInterval {
		if err := a.flush(ctx); err != nil {
			// The last statement comes again, as a duplicate: that retries
			// the publish.
			return len(evs) - 1, err
		}
	}
	// An erasure is checkpointed at once: until then the learner is in
	// the last checkpoint.
	a.lastBatch = time.Now()
	a.busy += a.lastBatch.Sub(start)
	if forgot || ckptDue(a.sinceCkpt, a.cfg.CheckpointEvery, a.lastCkpt, a.cfg.CheckpointInterval, a.ckptCost, a.busy, a.ckptBytes, time.Now()) {
		// A periodic one writes one partition (partModels.toWrite);
		// an erasure's, every one.
		if err := a.checkpoint(ctx, forgot); err != nil {
			a.log.Warn("adaptive consumer: checkpoint failed; will retry", "err", err)
		}
	}
	return len(evs), nil
}

// Score rules, in order (docs/adaptive.md, "Scored statements"):
//
//  1. result.success present: 1 if true, 0 if false. It is the
//     assessor's own verdict (a player sending both has already applied
//     its mastery score), so a scaled score beside it is not used.
//  2. result.score.scaled: max(0, scaled). xAPI allows negative scaled
//     scores (penalties); the models' scale is [0, 1] and below zero is
//     no credit.
//  3. result.score.raw with min < max: (raw - min) / (max - min).
//  4. otherwise the statement is unscored and skipped.
//
// A score that is NaN, infinite or out of its range is bad input: the
// statement goes to the DLQ with the field and the rule. The LRS already
// refuses such statements, so this is defence against other producers.
func scoreOf(r *xapi.Result) (score float64, ok bool, err error) {
	if r == nil {
		return 0, false, nil
	}
	if r.Success != nil {
		if *r.Success {
			return 1, true, nil
		}
		return 0, true, nil
	}
	if r.Score == nil {
		return 0, false, nil
	}
	if s := r.Score.Scaled; s != nil {
		if math.IsNaN(*s) || *s < -1 || *s > 1 {
			return 0, false, fmt.Errorf("result.score.scaled: must be a number in [-1, 1] (got %v)", *s)
		}
		return max(0, *s), true, nil
	}
	raw, lo, hi := r.Score.Raw, r.Score.Min, r.Score.Max
	if raw == nil || lo == nil || hi == nil || !(*hi > *lo) {
		return 0, false, nil
	}
	if math.IsNaN(*raw) || *raw < *lo || *raw > *hi {
		return 0, false, fmt.Errorf("result.score.raw: must be a number in [min, max] = [%v, %v] (got %v)", *lo, *hi, *raw)
	}
	v := (*raw - *lo) / (*hi - *lo)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, fmt.Errorf("result.score: raw, min and max give no finite scaled score")
	}
	return v, true, nil
}

// ItemSkills is the item → skills mapping: the skills the catalog activity
// assesses, else those it teaches; none for an activity the catalog does
// not know (see docs/adaptive.md for what an item without skills does).
func ItemSkills(g *graph.Graph, item string) []string {
	a, ok := g.Activity(item)
	if !ok {
		return nil
	}
	if len(a.Assesses) > 0 {
		return a.Assesses
	}
	return a.Teaches
}

// StatementSkills is the skills a scored statement is evidence on: its
// object's (ItemSkills); for an object without skills of its own, those
// of the activities in its contextActivities.parent; failing those, of
// its contextActivities.grouping; each list in order, each skill once.
// A question inside a lesson is the usual case: a SCORM interaction (its
// IRI made at run time, never in the catalog) names its SCO as parent, a
// cmi5 AU's statements carry the AU in grouping (the context template),
// and any xAPI client can report questions under an activity the catalog
// knows the same way.
func StatementSkills(g *graph.Graph, st *xapi.Statement) []string {
	s := ItemSkills(g, st.Object.Activity.ID)
	if len(s) > 0 || st.Context == nil || st.Context.ContextActivities == nil {
		return s
	}
	ca := st.Context.ContextActivities
	for _, list := range [][]xapi.Activity{ca.Parent, ca.Grouping} {
		for _, a := range list {
			for _, k := range ItemSkills(g, a.ID) {
				if !slices.Contains(s, k) {
					s = append(s, k)
				}
			}
		}
		if len(s) > 0 {
			break
		}
	}
	return s
}

// optionsOf is the number of answer options of a choice item, from the
// statement's activity definition (0: an open response, no guessing floor).
func optionsOf(act *xapi.Activity) int {
	d := act.Definition
	if d == nil {
		return 0
	}
	switch d.InteractionType {
	case xapi.InteractionChoice:
		if len(d.Choices) >= 2 {
			return len(d.Choices)
		}
	case xapi.InteractionTrueFalse:
		return 2
	}
	return 0
}

// learn applies one statement to the partition's model and queues its
// events. It returns the outcome for metrics. It changes nothing when it
// returns an error: every check comes before the first change.
func (a *Adaptive) learn(pos Position, e event.Event, ps *partModel[*adaptiveTenant]) (string, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return "", event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(event.TypeStatementStored)
	if name != want {
		return AdaptiveIgnored, nil
	}
	if major != wantMajor {
		return "", event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	st, err := projections.StoredStatement(e)
	if err != nil {
		return "", event.Reject(fmt.Errorf("data: %w", err))
	}
	act := st.Object.Activity
	if act == nil {
		return AdaptiveNotActivity, nil
	}
	if _, voiding := st.IsVoiding(); voiding {
		return AdaptiveVoiding, nil
	}
	score, scored, err := scoreOf(st.Result)
	if err != nil {
		return "", event.Reject(fmt.Errorf("data.%w", err))
	}
	if !scored {
		return AdaptiveUnscored, nil
	}
	g, err := a.graphs.get(a.cfg.Catalog, e.Tenant)
	if err != nil {
		return "", event.Transient(fmt.Errorf("adaptive consumer: catalog of tenant %s: %w", e.Tenant, err))
	}
	learner, item := st.LearnerKey(), act.ID
	skills := StatementSkills(g, st)
	at := e.Time
	if st.Timestamp != nil {
		at = st.Timestamp.UTC()
	}

	tm := ps.tenants[e.Tenant]
	fresh := tm == nil
	if fresh {
		tm = a.newTenant()
	}
	if tm.noPersonal[learner] {
		return AdaptiveNoConsent, nil
	}
	attempt := adaptive.Attempt{Learner: learner, Item: item, Skills: skills, Score: &score, Options: optionsOf(act)}
	outcome := AdaptiveApplied
	if err := tm.idx.Resolve(&attempt, &tm.ev); err != nil {
		var ve *adaptive.ValidationError
		if !errors.As(err, &ve) || ve.Action != adaptive.ActionDefault {
			// Resolve checks every DLQ rule before it adds a name, so
			// the index is unchanged.
			return "", event.Reject(fmt.Errorf("attempt: %w", err))
		}
		if ve.Rule == adaptive.RuleNoSkills {
			outcome = AdaptiveAppliedNoSkills
		}
	}
	if fresh {
		ps.tenants[e.Tenant] = tm
	}
	tm.seen[learner] = max(tm.seen[learner], e.Time.Unix())
	ev := &tm.ev
	// State before the attempt, for p_previous, previous_difficulty and
	// the ability the prediction was made with.
	prevMastery := make([]float64, len(ev.Skills))
	var skillAbility float64
	for i, s := range ev.Skills {
		ls := tm.m.LearnerSkill(ev.Learner, s)
		prevMastery[i] = ls.Mastery
		skillAbility += ls.SkillAbility
	}
	// Skill -1 never exists: this reads the global ability alone, which
	// items without skills need too.
	global := tm.m.LearnerSkill(ev.Learner, -1).Ability
	if len(ev.Skills) > 0 {
		skillAbility /= float64(len(ev.Skills))
	}
	prevDiff, _ := tm.m.ItemDifficulty(ev.Item)
	pred, err := tm.m.Observe(ev)
	if err != nil {
		// Unreachable: Resolve validated the event. Observe changes
		// nothing when it fails, but the index may hold new names; they
		// are harmless (ids without state read the priors).
		return "", event.Reject(fmt.Errorf("attempt: %w", err))
	}

	correct := score >= 0.5
	statementID := st.ID
	base := fmt.Sprintf("%s|%d|%d", pos.Topic, pos.Partition, pos.Offset)
	skillNames := make([]string, len(ev.Skills))
	for i, s := range ev.Skills {
		skillNames[i] = tm.idx.Skills.Name(s)
	}
	for i, s := range ev.Skills {
		ls := tm.m.LearnerSkill(ev.Learner, s)
		data, err := (&projections.MasteryUpdated{
			Learner: learner, Skill: skillNames[i], PMastery: round6(ls.Mastery), PPrevious: round6(prevMastery[i]),
			Item: item, Statement: statementID, Correct: correct, At: at, Score: score,
			Ability: round6(ls.Ability + ls.SkillAbility), GlobalAbility: round6(ls.Ability), Attempts: ls.Attempts,
			RecentSuccess: round6(ls.Recent.SuccessRate), RecentAttempts: round6(ls.Recent.Attempts),
			InputPartition: pos.Partition, InputOffset: pos.Offset,
		}).AppendJSON(nil)
		if err != nil {
			// A number that is not finite, or a time JSON cannot show:
			// nothing that integrators could read is published.
			return "", event.Reject(fmt.Errorf("mastery of %s: %w", skillNames[i], err))
		}
		if err := a.queue(DerivedID("adaptive.mastery", base+"|"+skillNames[i]), projections.TypeMasteryUpdated, e, pos, learner, data); err != nil {
			return "", err
		}
	}
	diff, n := tm.m.ItemDifficulty(ev.Item)
	first := ""
	if len(skillNames) > 0 {
		first = skillNames[0]
	}
	data, err := (&projections.DifficultyAdjusted{
		Item: item, Skill: first, Difficulty: round6(diff), PreviousDifficulty: round6(prevDiff),
		Learner: learner, Ability: round6(global + skillAbility), Expected: round6(pred.P), Correct: correct,
		Statement: statementID, At: at, Skills: skillNames, Score: score,
		ExpectedElo: round6(pred.Elo), ExpectedBKT: round6(pred.BKT), ItemAttempts: n,
		InputPartition: pos.Partition, InputOffset: pos.Offset,
	}).AppendJSON(nil)
	if err != nil {
		return "", event.Reject(fmt.Errorf("difficulty of %s: %w", item, err))
	}
	if err := a.queue(DerivedID("adaptive.difficulty", base), projections.TypeDifficultyAdjusted, e, pos, learner, data); err != nil {
		return "", err
	}
	return outcome, nil
}

// queue adds an event to the outbox. Its time is the statement event's, so
// a re-application produces the same record.
func (a *Adaptive) queue(id, typ string, in event.Event, pos Position, learner string, data []byte) error {
	out, err := event.New(id, typ, a.cfg.Source, in.Tenant, learner, in.Time, data)
	if err != nil {
		// Only an invalid input envelope gets here, and the consumer
		// validated it on decoding.
		return event.Reject(err)
	}
	a.outbox, a.logged = append(a.outbox, out), append(a.logged, pos.Time)
	return nil
}

// round6 keeps published numbers short and stable in JSON.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// flush publishes the outbox and waits for the broker. On failure the
// events stay queued for the next flush.
func (a *Adaptive) flush(ctx context.Context) error {
	a.lastFlush = time.Now()
	for len(a.outbox) > 0 {
		n := min(len(a.outbox), 500)
		if err := a.cfg.Publisher.PublishEvents(ctx, a.cfg.AdaptiveTopic, a.outbox[:n]...); err != nil {
			return event.Transient(fmt.Errorf("adaptive consumer: publish %d events: %w", n, err))
		}
		observeDerived(a.outbox[:n], func(i int) time.Time { return a.logged[i] }, time.Now())
		for _, e := range a.outbox[:n] {
			adaptivePublished.WithLabelValues(e.Type).Inc()
		}
		a.outbox, a.logged = a.outbox[n:], a.logged[n:]
	}
	a.outbox, a.logged = nil, nil
	return nil
}

// Flush publishes pending events now.
func (a *Adaptive) Flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flush(ctx)
}

// Checkpoint publishes pending events, then writes every partition's
// models and offsets in one transaction.
func (a *Adaptive) Checkpoint(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checkpoint(ctx, true)
}

func (a *Adaptive) checkpoint(ctx context.Context, all bool) error {
	// The order is the delivery guarantee: a checkpoint never covers a
	// statement whose events the broker has not acknowledged.
	start := time.Now()
	if err := a.flush(ctx); err != nil {
		return err
	}
	size, err := a.models.save(a.models.toWrite(all, len(a.answers)), a.answers...)
	if err != nil {
		return err
	}
	a.ckptBytes = size
	a.sinceCkpt, a.lastCkpt, a.answers = 0, time.Now(), nil
	a.ckptCost, a.busy = a.lastCkpt.Sub(start), 0
	return nil
}

// forget applies a LearnerErased: the learner's ability, mastery, counts
// and recency go from every model of the tenant, with their events not yet
// published, and their key from the model's index. Item difficulties and
// the predictor's weights stay (docs/privacy.md). What was published of
// the learner on the adaptive topic is sealed under their destroyed keys.
func (a *Adaptive) forget(e event.Event) error {
	le, err := privacy.DecodeLearnerErased(e)
	if err != nil {
		return err
	}
	if a.cfg.Pseudonyms == nil {
		return errNoPseudonyms
	}
	removed := map[string]int64{"learner_states": 0, "unpublished_events": 0}
	found := false
	for _, ps := range a.models.parts {
		tm := ps.tenants[e.Tenant]
		if tm == nil {
			continue
		}
		names := func(yield func(string) bool) {
			for i := range tm.idx.Learners.Len() {
				if n := tm.idx.Learners.Name(int32(i)); n != "" && !yield(n) {
					return
				}
			}
			for n := range tm.noPersonal {
				if !yield(n) {
					return
				}
			}
		}
		learner, ok := matchPseudonym(a.cfg.Pseudonyms, e.Tenant, le.Pseudonym, names)
		if !ok {
			continue
		}
		delete(tm.noPersonal, learner)
		delete(tm.seen, learner)
		if id, ok := tm.idx.Learners.Forget(learner); ok && tm.m.ForgetLearner(id) {
			removed["learner_states"]++
		}
		var n int
		a.outbox, a.logged, n = dropLearnerEvents(a.outbox, a.logged, e.Tenant, learner)
		removed["unpublished_events"] += int64(n)
		found = true
	}
	if found {
		// Events of the learner this consumer published after the
		// erasure's record on the adaptive topic (learned before it met
		// the erasure) are followed by the record again, so that the
		// read models delete them too.
		a.outbox, a.logged = append(a.outbox, e), append(a.logged, time.Time{})
	}
	a.answers = append(a.answers, projections.PendingAnswer{Tenant: e.Tenant, Answer: privacy.ErasureApplied{Erasure: le.Erasure,
		Consumer: AdaptiveConsumer, Pseudonym: le.Pseudonym, Removed: removed, At: time.Now().UTC()}})
	return nil
}

// retain applies a RetentionApplied: every learner of the tenant whose
// latest attempt learned from was stored before the cut-off is forgotten
// as an erasure forgets them (item difficulties stay). The event reaches
// the partition the tenant's key falls in: in a split deployment, each
// instance applies it to the partitions it holds.
func (a *Adaptive) retain(e event.Event) error {
	ra, err := privacy.DecodeRetentionApplied(e)
	if err != nil {
		return err
	}
	before := ra.Before.Unix()
	for _, ps := range a.models.parts {
		tm := ps.tenants[ra.Tenant]
		if tm == nil {
			continue
		}
		for l, at := range tm.seen {
			if at >= before {
				continue
			}
			if id, ok := tm.idx.Learners.Forget(l); ok {
				tm.m.ForgetLearner(id)
			}
			delete(tm.seen, l)
		}
	}
	return nil
}

// consent applies a ConsentSet. A learner who withdraws consent to
// personalisation is forgotten by the partition's model (ability,
// mastery, counts, unpublished events), as on erasure, and none of their
// statements is learned until they give it again; item difficulties keep
// what they learned before. The event is keyed by the learner, so it is in
// the partition of the learner's statements.
func (a *Adaptive) consent(e event.Event, ps *partModel[*adaptiveTenant]) error {
	c, err := privacy.DecodeConsentSet(e.Data)
	if err != nil {
		return event.Reject(err)
	}
	tm := a.models.tenant(ps, e.Tenant)
	if c.Personalisation {
		delete(tm.noPersonal, c.Learner)
		return nil
	}
	tm.noPersonal[c.Learner] = true
	if id, ok := tm.idx.Learners.Forget(c.Learner); ok {
		tm.m.ForgetLearner(id)
	}
	a.outbox, a.logged, _ = dropLearnerEvents(a.outbox, a.logged, e.Tenant, c.Learner)
	return nil
}

// Run flushes partial batches every FlushInterval and checkpoints every
// CheckpointInterval while there is something new, until ctx ends. The
// caller owns the goroutine; Close writes the last checkpoint after it.
func (a *Adaptive) Run(ctx context.Context) {
	ckpt := time.NewTicker(a.cfg.CheckpointInterval)
	defer ckpt.Stop()
	fl := time.NewTicker(a.cfg.FlushInterval)
	defer fl.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fl.C:
			a.mu.Lock()
			if len(a.outbox) > 0 {
				if err := a.flush(ctx); err != nil && ctx.Err() == nil {
					a.log.Warn("adaptive consumer: publish failed; will retry", "err", err)
				}
			}
			a.mu.Unlock()
		case <-ckpt.C:
			a.mu.Lock()
			// While batches come, HandleBatch checkpoints; this is for
			// the events learned before the input stopped, or while it
			// is too thin to pay a large checkpoint back soon.
			if due, stopped := idleCkptDue(a.lastBatch, a.lastCkpt, a.cfg.CheckpointInterval, a.ckptCost, time.Now()); due && a.models.dirty() {
				if err := a.checkpoint(ctx, stopped); err != nil && ctx.Err() == nil {
					a.log.Warn("adaptive consumer: checkpoint failed; will retry", "err", err)
				}
			}
			a.mu.Unlock()
		}
	}
}

// Close writes a last checkpoint.
func (a *Adaptive) Close(ctx context.Context) error { return a.Checkpoint(ctx) }

// Stats reports, per partition this instance holds, the tenants and
// learners its models know (diagnostics and tests).
func (a *Adaptive) Stats() map[int]map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int]map[string]int{}
	for p, ps := range a.models.parts {
		out[p] = map[string]int{}
		for tenant, tm := range ps.tenants {
			out[p][tenant] = tm.idx.Learners.Len()
		}
	}
	return out
}

// PartitionSnapshot returns the serialised state of one partition's tenant
// model (tests compare states with it).
func (a *Adaptive) PartitionSnapshot(partition int, tenant string) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.models.parts[partition]
	if ps == nil || ps.tenants[tenant] == nil {
		return nil, false
	}
	b, err := ps.tenants[tenant].snapshot()
	return b, err == nil
}
