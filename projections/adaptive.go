package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/adaptive"
	"github.com/learnstream/learnstream/domain/event"
)

// AdaptiveName is the adaptive read model's name.
const AdaptiveName = "adaptive"

// AdaptiveModelName names the adaptive consumer's checkpoint space.
const AdaptiveModelName = "adaptive-model"

// Event types of learnstream.adaptive.v1, keyed by learner. The names and
// the JSON field names of their data are shared with the analytics sink
// (analytics.MasteryUpdatedPayload, analytics.DifficultyAdjustedPayload).
const (
	TypeMasteryUpdated     = "learnstream.adaptive.mastery.updated.v1"
	TypeDifficultyAdjusted = "learnstream.adaptive.difficulty.adjusted.v1"
)

// MasteryUpdated is the data of a MasteryUpdated event: a learner's state on
// one skill after one scored attempt on an item assessing it.
type MasteryUpdated struct {
	Learner   string    `json:"learner"`
	Skill     string    `json:"skill"`
	PMastery  float64   `json:"p_mastery"`  // BKT P(known) after the attempt
	PPrevious float64   `json:"p_previous"` // before it
	Item      string    `json:"item"`
	Statement string    `json:"statement"` // id of the scored statement
	Correct   bool      `json:"correct"`   // score >= 0.5
	At        time.Time `json:"at"`        // the statement's timestamp
	// Score is the outcome in [0, 1] the models learned from.
	Score float64 `json:"score"`
	// Ability is the learner's Elo ability on the skill after the attempt
	// (global ability plus the skill's own); GlobalAbility the global part.
	Ability       float64 `json:"ability"`
	GlobalAbility float64 `json:"global_ability"`
	Attempts      int     `json:"attempts"` // attempts on the skill so far
	// RecentSuccess and RecentAttempts are the decayed recent success rate
	// on the skill and the (decayed) attempts behind it: what the target
	// difficulty adjusts for.
	RecentSuccess  float64 `json:"recent_success"`
	RecentAttempts float64 `json:"recent_attempts"`
	// InputPartition and InputOffset locate the statement on the statements
	// topic: a re-published event (same ce_id) carries the same position,
	// which is how this read model skips it.
	InputPartition int   `json:"input_partition"`
	InputOffset    int64 `json:"input_offset"`
}

// DifficultyAdjusted is the data of a DifficultyAdjusted event: an item's
// Elo difficulty after one scored attempt, with the prediction made before.
type DifficultyAdjusted struct {
	Item               string    `json:"item"`
	Skill              string    `json:"skill"` // the item's first skill; "" when it has none
	Difficulty         float64   `json:"difficulty"`
	PreviousDifficulty float64   `json:"previous_difficulty"`
	Learner            string    `json:"learner"`
	Ability            float64   `json:"ability"`  // the learner's ability on the item before the attempt
	Expected           float64   `json:"expected"` // predicted success (combined predictor) before it
	Correct            bool      `json:"correct"`
	Statement          string    `json:"statement"`
	At                 time.Time `json:"at"`
	Skills             []string  `json:"skills"` // every skill of the item
	Score              float64   `json:"score"`
	ExpectedElo        float64   `json:"expected_elo"`
	ExpectedBKT        float64   `json:"expected_bkt"`
	// ItemAttempts is how many attempts the difficulty rests on in the
	// model of the input partition (difficulties are per partition model).
	ItemAttempts   int   `json:"item_attempts"`
	InputPartition int   `json:"input_partition"`
	InputOffset    int64 `json:"input_offset"`
}

// MasteryPoint is one point of a mastery trajectory.
type MasteryPoint struct {
	At       time.Time `json:"at"`
	PMastery float64   `json:"p_mastery"`
	Correct  bool      `json:"correct"`
}

// Bounds of what the read model keeps per learner and skill.
const (
	// TrajectoryLen is how many of the latest mastery points are kept.
	TrajectoryLen = 50
	// GainWindow is how many first and last scores are kept for pre/post
	// gains: pre is the mean of the first k, post of the last k, with
	// k = min(GainWindow, attempts/2) so the two never overlap.
	GainWindow = 3
)

// DefaultMasteryThreshold is the P(known) at which a skill counts as
// mastered, the usual BKT convention.
const DefaultMasteryThreshold = 0.95

// SkillMastery is the read model of one learner on one skill.
type SkillMastery struct {
	Skill          string     `json:"skill"`
	PMastery       float64    `json:"p_mastery"`
	PInitial       float64    `json:"p_initial"` // P(known) before the first attempt
	Ability        float64    `json:"ability"`
	Attempts       int        `json:"attempts"`
	Correct        int        `json:"correct"`
	FirstAt        time.Time  `json:"first_at"`
	LastAt         time.Time  `json:"last_at"`
	FirstCorrect   bool       `json:"first_correct"`
	MasteredAt     *time.Time `json:"mastered_at,omitempty"` // first time p_mastery reached the threshold
	RecentSuccess  float64    `json:"recent_success"`
	RecentAttempts float64    `json:"recent_attempts"`
	// FirstScores and LastScores are the first and the latest GainWindow
	// scores (oldest first).
	FirstScores []float64      `json:"first_scores"`
	LastScores  []float64      `json:"last_scores"`
	Trajectory  []MasteryPoint `json:"trajectory"`
	Position    inputPosition  `json:"position"`
}

// Gain returns the pre and post mean scores and whether there were enough
// attempts (two or more) to compute them.
func (s SkillMastery) Gain() (pre, post float64, ok bool) {
	k := min(GainWindow, s.Attempts/2, len(s.FirstScores), len(s.LastScores))
	if k == 0 {
		return 0, 0, false
	}
	return mean(s.FirstScores[:k]), mean(s.LastScores[len(s.LastScores)-k:]), true
}

// TimeToMastery is the time from the first attempt to reaching the
// threshold (ok false when not reached).
func (s SkillMastery) TimeToMastery() (time.Duration, bool) {
	if s.MasteredAt == nil {
		return 0, false
	}
	return s.MasteredAt.Sub(s.FirstAt), true
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// LearnerItem is the read model of one learner on one item.
type LearnerItem struct {
	Learner      string        `json:"learner"`
	Item         string        `json:"item"`
	Attempts     int           `json:"attempts"`
	Correct      int           `json:"correct"`
	FirstAt      time.Time     `json:"first_at"`
	LastAt       time.Time     `json:"last_at"`
	FirstCorrect bool          `json:"first_correct"`
	LastScore    float64       `json:"last_score"`
	Position     inputPosition `json:"position"`
}

// ItemDifficulty is an item's difficulty: the attempts-weighted mean of
// the difficulties of every partition model that saw it.
type ItemDifficulty struct {
	Item       string  `json:"item"`
	Difficulty float64 `json:"difficulty"`
	Attempts   int     `json:"attempts"`
}

type itemPart struct {
	Difficulty float64       `json:"difficulty"`
	Attempts   int           `json:"attempts"`
	Position   inputPosition `json:"position"`
}

// learnerGlobal is a learner's global Elo ability.
type learnerGlobal struct {
	Ability  float64       `json:"ability"`
	Position inputPosition `json:"position"`
	// At is the attempt's time (retention reads it; an entry written
	// before it existed has none and counts as old).
	At time.Time `json:"at,omitzero"`
}

// inputPosition is the statements-topic position an entry last applied.
// One learner's statements live in one partition, in order, so an event at
// or before the stored position of the same partition is a re-published
// duplicate.
type inputPosition struct {
	Partition int   `json:"p"`
	Offset    int64 `json:"o"`
	Set       bool  `json:"s"`
}

func (p inputPosition) covers(part int, off int64) bool {
	return p.Set && p.Partition == part && off <= p.Offset
}

// Adaptive is the read model over learnstream.adaptive.v1: per learner and
// skill the mastery, ability, attempts, first and last attempt, mastery
// trajectory and time to mastery; per learner and item the attempts and
// correctness; per item the difficulty. Every API process keeps all of it
// (it reads every partition), like the recommendations read model.
type Adaptive struct {
	*Projection
	threshold float64
}

// NewAdaptive returns the adaptive read model. threshold is the mastery
// threshold in (0, 1]; 0 means DefaultMasteryThreshold. Changing it
// applies to events projected afterwards (replay the projection to apply
// it to history).
func NewAdaptive(store *Store, threshold float64) (*Adaptive, error) {
	if threshold == 0 {
		threshold = DefaultMasteryThreshold
	}
	if !(threshold > 0 && threshold <= 1) {
		return nil, fmt.Errorf("adaptive read model: mastery threshold %v: want 0 < threshold <= 1", threshold)
	}
	p, err := NewProjection(store, adaptiveModel{threshold: threshold, store: store}, nil)
	if err != nil {
		return nil, err
	}
	return &Adaptive{Projection: p, threshold: threshold}, nil
}

// Threshold is the mastery threshold.
func (a *Adaptive) Threshold() float64 { return a.threshold }

type adaptiveModel struct {
	threshold float64
	store     *Store
}

// committed keeps the store's caches of learners current (commitWatcher).
func (m adaptiveModel) committed(ts *txnState) {
	if ts.forgot {
		m.store.learners.invalidate()
		return
	}
	m.store.learners.committed(ts.sp, ts.vals)
}

func (adaptiveModel) Name() string { return AdaptiveName }

// adaptiveLearnerKinds are the read model's keys per learner: skill
// mastery, learner-item attempts, global ability. Item difficulties are
// per item and stay (docs/privacy.md).
var adaptiveLearnerKinds = learnerKinds{"s", "li", "g"}

// forget applies a LearnerErased (every entry of the learner) or a
// RetentionApplied (entries whose latest attempt is before Before).
func (m adaptiveModel) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	if pe.erased != nil {
		removed, err := adaptiveLearnerKinds.erase(txn, m.store, sp, e.ID, e.Tenant, pe.erased.Pseudonym)
		if err != nil {
			return 0, err
		}
		if err := m.store.noteErasure(txn, AdaptiveName, e, *pe.erased, map[string]int64{
			"mastery": removed["s"], "learner_items": removed["li"], "abilities": removed["g"]}); err != nil {
			return 0, err
		}
		return Stored, nil
	}
	before := pe.retention.Before
	for _, d := range []struct {
		kind string
		old  func([]byte) (bool, error)
	}{
		{"s", olderThan(before, func(s *SkillMastery) time.Time { return s.LastAt })},
		{"li", olderThan(before, func(li *LearnerItem) time.Time { return li.LastAt })},
		{"g", olderThan(before, func(g *learnerGlobal) time.Time { return g.At })},
	} {
		if _, err := deleteWhere(txn, m.store, carryKey(e.ID, sp.Prefix(d.kind, e.Tenant)), sp.Prefix(d.kind, e.Tenant), d.old); err != nil {
			return 0, err
		}
	}
	return Stored, nil
}

// memoLimit keeps the memo to about 25 MB: a skill's mastery, with its
// trajectory, decodes to about 3 KB.
func (adaptiveModel) memoLimit() int { return 8 << 10 }

func (m adaptiveModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	return applyAlone(m.store, txn, sp, m, e)
}

// applyStaged applies an event to the values staged for the transaction:
// a learner's skill, an item, a learner's item and ability are read once
// per transaction at most (not at all when the memo has them) and written
// once, however many of its events change them.
func (m adaptiveModel) applyStaged(ts *txnState, e event.Event) (Outcome, error) {
	if pe, ok, err := decodePrivacy(e); ok || err != nil {
		if err != nil {
			return 0, err
		}
		if err := ts.forgetting(); err != nil {
			return 0, err
		}
		return m.forget(ts.txn, ts.sp, e, pe)
	}
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return 0, event.Reject(err)
	}
	mName, mMajor, _ := event.SplitType(TypeMasteryUpdated)
	dName, dMajor, _ := event.SplitType(TypeDifficultyAdjusted)
	switch name {
	case mName:
		if major != mMajor {
			return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, mMajor))
		}
		var d MasteryUpdated
		if err := decodeAdaptive(decodeMasteryUpdated(e.Data, &d), d.check); err != nil {
			return 0, err
		}
		if d.Skill == "" {
			return 0, event.Reject(errors.New("data.skill: required"))
		}
		return m.applyMastery(ts, e.Tenant, d)
	case dName:
		if major != dMajor {
			return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, dMajor))
		}
		var d DifficultyAdjusted
		if err := decodeAdaptive(decodeDifficultyAdjusted(e.Data, &d), d.check); err != nil {
			return 0, err
		}
		if d.Item == "" {
			return 0, event.Reject(errors.New("data.item: required"))
		}
		if !finite(d.Difficulty) || !finite(d.Ability) {
			return 0, event.Reject(errors.New("data.difficulty, data.ability: must be finite numbers"))
		}
		return applyDifficulty(ts, e.Tenant, d)
	}
	return Unchanged, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// decodeAdaptive wraps the decoding of an adaptive event's data and its
// check: what fails is rejected.
func decodeAdaptive(decodeErr error, check func() error) error {
	if decodeErr != nil {
		return event.Reject(fmt.Errorf("data: %w", decodeErr))
	}
	if err := check(); err != nil {
		return event.Reject(err)
	}
	return nil
}

func (d *MasteryUpdated) check() error {
	switch {
	case d.Learner == "":
		return errors.New("data.learner: required")
	case !(d.PMastery >= 0 && d.PMastery <= 1):
		return fmt.Errorf("data.p_mastery: must be in [0, 1] (got %v)", d.PMastery)
	case !(d.Score >= 0 && d.Score <= 1):
		return fmt.Errorf("data.score: must be in [0, 1] (got %v)", d.Score)
	case !finite(d.Ability):
		return errors.New("data.ability: must be a finite number")
	}
	return nil
}

func (d *DifficultyAdjusted) check() error {
	if d.Learner == "" {
		return errors.New("data.learner: required")
	}
	if !(d.Score >= 0 && d.Score <= 1) {
		return fmt.Errorf("data.score: must be in [0, 1] (got %v)", d.Score)
	}
	return nil
}

// getStored reads key into v (decodeStored); found false when absent.
func getStored(txn *badger.Txn, key []byte, v any) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return decodeStored(b, v) })
}

// stagedStored returns the staged value of key, a *T decoded by
// decodeStored, nil when the key is absent.
func stagedStored[T any](ts *txnState, key []byte) (*stagedValue, *T, error) {
	sv, err := ts.lookup(key, func(item *badger.Item) (any, error) {
		v := new(T)
		return v, item.Value(func(b []byte) error { return decodeStored(b, v) })
	})
	if err != nil {
		return nil, nil, err
	}
	v, _ := sv.v.(*T)
	return sv, v, nil
}

func (m adaptiveModel) applyMastery(ts *txnState, tenant string, d MasteryUpdated) (Outcome, error) {
	key := ts.sp.Key("s", tenant, d.Learner, d.Skill)
	sv, s, err := stagedStored[SkillMastery](ts, key)
	if err != nil {
		return 0, fmt.Errorf("adaptive %s/%s is unreadable: %w", d.Learner, d.Skill, err)
	}
	if s != nil && s.Position.covers(d.InputPartition, d.InputOffset) {
		return Unchanged, nil // re-published after a consumer restart
	}
	if s == nil {
		s = &SkillMastery{Skill: d.Skill, PInitial: d.PPrevious, FirstAt: d.At, FirstCorrect: d.Correct}
	}
	s.PMastery, s.Ability = d.PMastery, d.Ability
	s.Attempts++
	if d.Correct {
		s.Correct++
	}
	if d.At.Before(s.FirstAt) {
		s.FirstAt = d.At
	}
	if d.At.After(s.LastAt) {
		s.LastAt = d.At
	}
	s.RecentSuccess, s.RecentAttempts = d.RecentSuccess, d.RecentAttempts
	if s.MasteredAt == nil && d.PMastery >= m.threshold {
		at := d.At
		s.MasteredAt = &at
	}
	if len(s.FirstScores) < GainWindow {
		s.FirstScores = append(s.FirstScores, d.Score)
	}
	s.LastScores = appendBounded(s.LastScores, d.Score, GainWindow)
	s.Trajectory = appendBounded(s.Trajectory, MasteryPoint{At: d.At, PMastery: d.PMastery, Correct: d.Correct}, TrajectoryLen)
	s.Position = inputPosition{Partition: d.InputPartition, Offset: d.InputOffset, Set: true}
	ts.set(key, sv, s)
	return Stored, nil
}

func appendBounded[T any](s []T, v T, n int) []T {
	s = append(s, v)
	if len(s) > n {
		s = append(s[:0], s[len(s)-n:]...)
	}
	return s
}

func applyDifficulty(ts *txnState, tenant string, d DifficultyAdjusted) (Outcome, error) {
	out := Unchanged
	part := strconv.Itoa(d.InputPartition)
	pos := inputPosition{Partition: d.InputPartition, Offset: d.InputOffset, Set: true}
	ikey := ts.sp.Key("i", tenant, d.Item, part)
	isv, ip, err := stagedStored[itemPart](ts, ikey)
	if err != nil {
		return 0, err
	}
	if ip == nil || !ip.Position.covers(d.InputPartition, d.InputOffset) {
		ts.set(ikey, isv, &itemPart{Difficulty: d.Difficulty, Attempts: d.ItemAttempts, Position: pos})
		out = Stored
	}
	lkey := ts.sp.Key("li", tenant, d.Learner, d.Item)
	lsv, li, err := stagedStored[LearnerItem](ts, lkey)
	if err != nil {
		return 0, err
	}
	if li == nil || !li.Position.covers(d.InputPartition, d.InputOffset) {
		if li == nil {
			li = &LearnerItem{Learner: d.Learner, Item: d.Item, FirstAt: d.At, FirstCorrect: d.Correct}
		}
		li.Attempts++
		if d.Correct {
			li.Correct++
		}
		if d.At.Before(li.FirstAt) {
			li.FirstAt = d.At
		}
		if d.At.After(li.LastAt) {
			li.LastAt = d.At
		}
		li.LastScore = d.Score
		li.Position = pos
		ts.set(lkey, lsv, li)
		out = Stored
	}
	gkey := ts.sp.Key("g", tenant, d.Learner)
	gsv, g, err := stagedStored[learnerGlobal](ts, gkey)
	if err != nil {
		return 0, err
	}
	if g == nil || !g.Position.covers(d.InputPartition, d.InputOffset) {
		// The event's ability is before the attempt; the MasteryUpdated
		// events carry the one after it, so this lags one attempt on items
		// without skills only.
		ts.set(gkey, gsv, &learnerGlobal{Ability: d.Ability, Position: pos, At: d.At})
		out = Stored
	}
	return out, nil
}

// Mastery returns a learner's P(known) per skill (MasteryReader of the
// recommender and of the learning-path planner).
func (a *Adaptive) Mastery(ctx context.Context, tenant, learner string) (map[string]float64, error) {
	skills, err := a.LearnerSkills(ctx, tenant, learner)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(skills))
	for _, s := range skills {
		out[s.Skill] = s.PMastery
	}
	return out, nil
}

// LearnerSkills returns a learner's state on every skill attempted, by
// skill id.
func (a *Adaptive) LearnerSkills(_ context.Context, tenant, learner string) ([]SkillMastery, error) {
	var out []SkillMastery
	err := a.View(func(txn *badger.Txn, sp Space) error {
		return scanStored(txn, sp.Prefix("s", tenant, learner), func(_ string, s *SkillMastery) { out = append(out, *s) })
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: skills of %s: %w", learner, err)
	}
	return out, nil
}

// LearnerItems returns a learner's attempts on every item, by item id.
func (a *Adaptive) LearnerItems(_ context.Context, tenant, learner string) ([]LearnerItem, error) {
	var out []LearnerItem
	err := a.View(func(txn *badger.Txn, sp Space) error {
		return scanStored(txn, sp.Prefix("li", tenant, learner), func(_ string, li *LearnerItem) { out = append(out, *li) })
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: items of %s: %w", learner, err)
	}
	return out, nil
}

// LearnerAbility returns a learner's latest global Elo ability (0, false
// for a learner without attempts).
func (a *Adaptive) LearnerAbility(_ context.Context, tenant, learner string) (float64, bool, error) {
	var g learnerGlobal
	var found bool
	err := a.View(func(txn *badger.Txn, sp Space) (err error) {
		found, err = getStored(txn, sp.Key("g", tenant, learner), &g)
		return err
	})
	return g.Ability, found, err
}

// PredictSuccess predicts the learner's success on each item someone has
// attempted, with Elo from the learner's global ability and the item's
// difficulty; the recommender's difficulty fit uses it. The answer is by
// position in items; an item never attempted gets NaN, and a learner
// without attempts none (nil): a prediction from priors alone would say
// nothing about fit.
func (a *Adaptive) PredictSuccess(ctx context.Context, tenant, learner string, items []string) ([]float64, error) {
	ability, found, err := a.LearnerAbility(ctx, tenant, learner)
	if err != nil || !found {
		return nil, err
	}
	return a.predict(ctx, tenant, ability, items)
}

// predict is the success predictions of a learner of the given ability on
// items, by position in items, NaN for an item nobody attempted (a slice:
// the recommender asks for about 50 items whenever it ranks, and a map of
// them was most of the cost of answering), from the store's cache of item
// difficulties (learner_cache.go):
// kept current by the model's commits, so an item is read from the store
// once, and every prediction sees the difficulties as last committed. It
// once kept each difficulty for a second instead, and with 2,000 items
// asked for all the time the re-reads were 2% of the server's CPU,
// growing with the catalog.
func (a *Adaptive) predict(ctx context.Context, tenant string, ability float64, items []string) ([]float64, error) {
	// The cache's keys (learnerKey of tenant and item) side by side in
	// one buffer: an item found costs no key of its own. The buffers go
	// back to a pool: a prediction is made per learner ranked, and they
	// were most of its allocations.
	sp := predictScratch.Get().(*predictSpace)
	defer sp.put()
	buf := sp.buf[:0]
	at := append(sp.at[:0], 0) // item i's key is buf[at[i]:at[i+1]]
	for _, it := range items {
		buf = appendLearnerKey(buf, tenant, it)
		at = append(at, len(buf))
	}
	sp.buf, sp.at = buf, at
	key := func(i int) []byte { return buf[at[i]:at[i+1]] }
	parts := slices.Grow(sp.parts[:0], len(items))[:len(items)]
	sp.parts = parts
	var missing []int
	var stamps []uint64
	cache := &a.store.learners.difficulties
	cache.lookupEach(a.Space(), len(items), key,
		func(i int, p itemParts) { parts[i] = p },
		func(i int, stamp uint64) { missing, stamps = append(missing, i), append(stamps, stamp) })
	if len(missing) > 0 {
		err := a.View(func(txn *badger.Txn, read Space) error {
			for j, i := range missing {
				p, err := readItemParts(txn, read, tenant, items[i])
				if err != nil {
					return err
				}
				parts[i] = p
				cache.fill(read, string(key(i)), stamps[j], p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("adaptive read model: item difficulties: %w", err)
		}
	}
	out := make([]float64, len(items))
	for i, p := range parts {
		out[i] = math.NaN()
		if d, ok := meanDifficulty(p); ok {
			out[i] = adaptive.EloPredict(ability, d.Difficulty, 0)
		}
	}
	return out, nil
}

// predictSpace is predict's working space, pooled (predictScratch).
type predictSpace struct {
	buf   []byte
	at    []int
	parts []itemParts
}

var predictScratch = sync.Pool{New: func() any { return new(predictSpace) }}

// put gives the space back, without the items' parts it points at (the
// cache's, which it must not keep alive), unless a long list grew it
// beyond what a ranking needs.
func (sp *predictSpace) put() {
	clear(sp.parts)
	if cap(sp.buf) > 1<<20 {
		return
	}
	predictScratch.Put(sp)
}

// itemParts are an item's difficulty as each input partition's model
// holds it (the read model's "i" entries), by partition.
type itemParts []partDifficulty

type partDifficulty struct {
	part       string // the input partition, as the entry's key names it
	difficulty float64
	attempts   int
}

// readItemParts reads an item's parts from the store.
func readItemParts(txn *badger.Txn, sp Space, tenant, item string) (itemParts, error) {
	var parts itemParts
	err := scanStored(txn, sp.Prefix("i", tenant, item), func(part string, p *itemPart) {
		parts = append(parts, partDifficulty{part: part, difficulty: p.Difficulty, attempts: p.Attempts})
	})
	return parts, err
}

// with is parts with one partition's part set: a new slice, since a
// cached entry is shared with the readers that looked it up.
func (parts itemParts) with(p partDifficulty) itemParts {
	out := make(itemParts, 0, len(parts)+1)
	for _, q := range parts {
		if q.part != p.part {
			out = append(out, q)
		}
	}
	return append(out, p)
}

// meanDifficulty is the item's difficulty over its parts, each weighing
// its attempts (at least 1); ok is false for an item never attempted.
func meanDifficulty(parts itemParts) (d ItemDifficulty, ok bool) {
	var w float64
	for _, p := range parts {
		n := float64(max(p.attempts, 1))
		d.Difficulty += n * p.difficulty
		w += n
		d.Attempts += p.attempts
	}
	if w == 0 {
		return ItemDifficulty{}, false
	}
	d.Difficulty /= w
	return d, true
}

// Items returns the difficulty of each item that was attempted; items
// never attempted are absent.
func (a *Adaptive) Items(_ context.Context, tenant string, items []string) (map[string]ItemDifficulty, error) {
	out := make(map[string]ItemDifficulty, len(items))
	err := a.View(func(txn *badger.Txn, sp Space) error {
		for _, it := range items {
			parts, err := readItemParts(txn, sp, tenant, it)
			if err != nil {
				return err
			}
			if d, ok := meanDifficulty(parts); ok {
				d.Item = it
				out[it] = d
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: item difficulties: %w", err)
	}
	return out, nil
}

// ItemLearners returns, for the given items, every learner's attempts on
// them, by learner. It scans the tenant's learner-item entries: fine for
// reports, not for a hot path.
func (a *Adaptive) ItemLearners(_ context.Context, tenant string, items map[string]bool) (map[string][]LearnerItem, error) {
	out := map[string][]LearnerItem{}
	err := a.View(func(txn *badger.Txn, sp Space) error {
		return scanStored(txn, sp.Prefix("li", tenant), func(_ string, li *LearnerItem) {
			if items[li.Item] {
				out[li.Learner] = append(out[li.Learner], *li)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("adaptive read model: learners of items: %w", err)
	}
	return out, nil
}

// Counts reports the number of learner-skill entries (admin status).
func (a *Adaptive) Counts(_ context.Context, tenant string) (map[string]int64, error) {
	var n int64
	learners := map[string]bool{}
	err := a.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = sp.Prefix("s", tenant)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			l, _, _ := strings.Cut(string(it.Item().Key()[len(opts.Prefix):]), "\x00")
			learners[l] = true
			n++
		}
		return nil
	})
	return map[string]int64{"learners": int64(len(learners)), "learner_skills": n}, err
}

// scanStored decodes every value under prefix into a fresh T
// (decodeStored) and passes it with the rest of its key.
func scanStored[T any](txn *badger.Txn, prefix []byte, fn func(rest string, v *T)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var v T
		if err := it.Item().Value(func(b []byte) error { return decodeStored(b, &v) }); err != nil {
			return fmt.Errorf("%q: %w", it.Item().Key(), err)
		}
		fn(string(it.Item().Key()[len(prefix):]), &v)
	}
	return nil
}

// NewModelCheckpoints opens a checkpoint space for a model consumer other
// than the recommender (e.g. AdaptiveModelName): the same layout and the
// same all-or-nothing Save, under its own name, so the two consumers'
// offsets and snapshots never mix.
func NewModelCheckpoints(store *Store, name string) (*RecommenderCheckpoints, error) {
	if name == RecommenderName {
		return NewRecommenderCheckpoints(store)
	}
	sp, err := store.currentSpace(name)
	if err != nil {
		return nil, err
	}
	return &RecommenderCheckpoints{store: store, sp: sp}, nil
}
