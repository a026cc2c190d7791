package streams

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/graph"
	"github.com/learnstream/learnstream/domain/mf"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/domain/xapi"
	"github.com/learnstream/learnstream/projections"
)

// TopicItemFactors carries each partition model's item factors (compacted,
// keyed by tenant, partition and item): how recommender instances share
// item factors (docs/architecture.md, "Shared model state").
const TopicItemFactors = "learnstream.recommender.items.v1"

// TypeItemFactors is the event on TopicItemFactors.
const TypeItemFactors = "learnstream.recommender.item_factors.v1"

var (
	recEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "learnstream_recommender_events_total",
		Help: "Statements the recommender consumed, by outcome.",
	}, []string{"outcome"})
	recPublished = promauto.NewCounter(prometheus.CounterOpts{
		Name: "learnstream_recommendations_published_total",
		Help: "RecommendationsUpdated events published (top-N changed).",
	})
	recCheckpoint = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "learnstream_recommender_checkpoint_seconds",
		Help:    "Time a recommender checkpoint took (flush, item factor exchange, every partition's models written); the next periodic one waits nine times as long.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	recLatency = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "learnstream_recommender_event_seconds",
		Help:    "Time from a statement's delivery to its RecommendationsUpdated being acknowledged.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
)

// CatalogView is what the recommender reads of the catalog projection.
type CatalogView interface {
	Graph(tenant string) (*graph.Graph, error)
	LearnerRole(tenant, learner string) (string, error)
}

// MasteryReader gives a learner's mastery per skill (probability in
// [0, 1]) when an adaptive model runs; nil means none. The map is the
// caller's.
type MasteryReader interface {
	Mastery(ctx context.Context, tenant, learner string) (map[string]float64, error)
}

// SuccessPredictor predicts a learner's success probability on items when
// an adaptive model runs, by position in items, NaN for an item without a
// prediction (nil for none at all); the re-ranker then favours items near
// the target success (difficulty fit).
type SuccessPredictor interface {
	PredictSuccess(ctx context.Context, tenant, learner string, items []string) ([]float64, error)
}

// The batch readers below are optional: a Catalog, MasteryReader or
// SuccessPredictor that has them is read once per tenant for a fetched
// batch rather than once per statement or learner. A read of a Badger read
// model opens a transaction, which waits for the store's commits in flight:
// under an ingest load every projection commits all the time, and reads
// per statement held the recommender to a fraction of the input rate.

// RoleLister gives every learner's catalog role from one read.
type RoleLister interface {
	LearnerRoles(tenant string) (func(learner string) string, error)
}

// MasteryBatchReader reads several learners' mastery in one read:
// learner -> their skills' probabilities, each skill by the reader's
// number for it, which SkillName turns back into the skill's id and
// which names that skill for the reader's life. The slices are read only.
// Numbers, not ids: the recommender maps a reader's number to its
// catalog's once, where ids cost a lookup by string per skill and
// ranking.
type MasteryBatchReader interface {
	MasteryOf(ctx context.Context, tenant string, learners []string) (map[string][]projections.SkillLevel, error)
	SkillName(n int32) string
}

// SuccessBatchPredictor prepares success predictions for several learners
// in one read; the function answers as PredictSuccess does.
type SuccessBatchPredictor interface {
	SuccessPredictorFor(ctx context.Context, tenant string, learners []string) (func(ctx context.Context, learner string, items []string) ([]float64, error), error)
}

// EventSink publishes events durably (EventPublisher is one).
type EventSink interface {
	PublishEvents(ctx context.Context, topic string, evs ...event.Event) error
}

// RecommenderConfig configures a Recommender.
type RecommenderConfig struct {
	Model mf.Config
	// Blend mixes the model's scores with item-to-item sequence rules from
	// each learner's last items (default mf.DefaultBlendConfig(); Weight
	// 0 ranks by the model alone).
	Blend mf.BlendConfig
	// Content tunes the content-based hybrid (zero: mf.DefaultContentConfig).
	Content mf.ContentConfig
	Weights mf.Weights
	Rerank  mf.RerankOptions
	// N is the length of the published list (default 10); Candidates the
	// number of candidates re-ranked (default 5N).
	N, Candidates int
	Catalog       CatalogView
	Mastery       MasteryReader
	Success       SuccessPredictor
	Checkpoints   ModelCheckpoints
	Publisher     EventSink
	// Pseudonyms find the learner a LearnerErased names (the key store);
	// without them such an event is parked in the DLQ.
	Pseudonyms privacy.Pseudonyms
	// Topics (defaults: the standard names).
	StatementsTopic, RecommendationsTopic, CatalogTopic, ItemsTopic string
	Source                                                          string
	// CheckpointEvery and CheckpointInterval bound the work re-applied
	// after a crash (defaults 5000 events, 5 s).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// FlushEvents and FlushInterval batch the published updates (defaults
	// 256 events, 5 ms): Run flushes a partial batch after FlushInterval.
	FlushEvents   int
	FlushInterval time.Duration
	// Share publishes and merges item factors across partitions and
	// instances at each checkpoint (default on via NewRecommender).
	Share  bool
	Logger *slog.Logger
}

// Recommender is the recommendation consumer of the statements topic. It
// keeps one model per (partition, tenant): a partition's learners live in
// one model, so replaying a partition after a checkpoint re-applies the same
// events to the same state (deterministic). It implements Handler and
// OffsetStore.
type Recommender struct {
	cfg RecommenderConfig
	log *slog.Logger

	mu         sync.Mutex
	graphs     graphMemo
	roles      map[string]func(string) string // tenant -> roles, for one batch (RoleLister)
	models     partModels[*tenantModel]
	registered map[string]bool // tenant|activity announced as seen
	sinceCkpt  int
	lastCkpt   time.Time
	ckptCost   time.Duration // how long the last checkpoint took (ckptDue)
	ckptBytes  int           // the size of the last checkpoint's models (ckptDue)
	busy       time.Duration // time in HandleBatch since the last checkpoint (ckptDue)
	lastBatch  time.Time     // when HandleBatch last ended
	// scratch is the working space of ranking a learner (mf.Scratch),
	// reused from one learner to the next: rank copies out what it keeps;
	// levels is the learner's mastery by skill number, likewise reused.
	scratch mf.Scratch
	levels  []float64
	// skills numbers each tenant's catalog skills (mf.SkillIndex), made
	// once per catalog graph and shared by the tenant's models.
	skills map[string]*numberedGraph
	// outbox holds RecommendationsUpdated events learned but not yet
	// acknowledged by the broker; a checkpoint flushes it first, so a
	// crash loses none (events after the checkpoint are re-applied and
	// re-published with the same ids).
	outbox    []event.Event
	outboxAt  []outStamp
	lastFlush time.Time
	// seen holds activity.seen catalog events for the same outbox
	// treatment: publishing them one by one, synchronously, made every new
	// activity cost a produce round trip on the consumer's path.
	seen []event.Event
	// sendq feeds the sender goroutine, which publishes batches in order
	// and retries until the broker acknowledges; inflight counts batches
	// queued or being sent.
	sendq     chan outBatch
	inflight  atomic.Int64
	startOnce sync.Once

	// remote holds the latest item factors of every partition, read from
	// the items topic: tenant -> item -> partition -> contribution.
	rmu       sync.Mutex
	remote    map[string]map[string]map[int]ItemFactors
	remoteNew bool

	// answers to erasures, recorded with the next checkpoint.
	answers []projections.PendingAnswer
}

// RecommenderConsumer names the recommender in erasure answers.
const RecommenderConsumer = "recommender"

type tenantModel struct {
	m   *mf.Model
	seq *mf.Sequence // what learners do next: learned and forgotten with m
	// blend ranks the learner's own items from m and seq.
	blend *mf.Blender
	pop   *mf.Popularity
	aux   modelAux
	// content holds the items' features (recommend_content.go);
	// contentGraph is the catalog graph they were last taken from.
	content      *mf.Content
	contentGraph *graph.Graph
	// touched items since the last exchange.
	touched map[string]bool
	// taught holds, per learner ranked, the skills their completed items
	// teach, by their numbers in skills, the index of the catalog graph
	// they were listed from (each ranking needs them, and looking up
	// every completed item in the graph cost 3% of the server's CPU in a
	// long load). A learner's entry goes when they are forgotten, and all
	// go when the catalog's graph is another.
	taught map[string][]int32
	skills *mf.SkillIndex
}

// learnerLevels is a learner's mastery by skill number in ng's index: the
// adaptive model's when given, raised to 1 for every skill taught by an
// item the learner completed (the default when no adaptive model runs).
// The skills of the completed items are kept from one ranking to the next
// (taught). The levels are written into into, reused when long enough.
func (tm *tenantModel) learnerLevels(ng *numberedGraph, learner string, adaptive learnerMastery, into []float64) []float64 {
	x := ng.x
	if tm.skills != x {
		// The catalog's graph is another: the kept skills are its.
		tm.taught, tm.skills = map[string][]int32{}, x
	}
	skills, ok := tm.taught[learner]
	if !ok {
		for _, item := range tm.aux.Completed[learner] {
			for _, s := range x.Taught(item) {
				if !slices.Contains(skills, s) {
					skills = append(skills, s)
				}
			}
		}
		tm.taught[learner] = skills
	}
	levels := x.Levels(into, adaptive.byID)
	for _, s := range adaptive.numbered {
		if i := ng.number(s.Skill, adaptive.name); i >= 0 {
			levels[i] = s.P
		}
	}
	for _, s := range skills {
		levels[s] = 1
	}
	return levels
}

// completed adds the skills item teaches to a learner's kept skills
// (taught) when they were listed from x: a learner who completes one more
// item would otherwise have all their completed items looked up again at
// the next ranking (0.8% of the server's CPU at 2,000 statements/s with a
// catalog, where learners complete items all the time). Kept for another
// graph, they are dropped and listed at the next ranking.
func (tm *tenantModel) completed(x *mf.SkillIndex, learner, item string) {
	skills, ok := tm.taught[learner]
	switch {
	case !ok:
	case x != tm.skills:
		delete(tm.taught, learner)
	default:
		for _, s := range x.Taught(item) {
			if !slices.Contains(skills, s) {
				skills = append(skills, s)
			}
		}
		tm.taught[learner] = skills
	}
}

// modelAux is the per-learner state the model does not keep.
type modelAux struct {
	// Completed is each learner's completed items, sorted: every rank
	// asks whether its candidates are among them, and a learner's list
	// grows with their history (a map built per rank cost a fifth of the
	// ranking's time in a long load).
	Completed map[string][]string `json:"completed,omitempty"` // learner -> items
	Top       map[string][]string `json:"top,omitempty"`       // learner -> last published items
	Roles     map[string]string   `json:"roles,omitempty"`     // learner -> role of their latest learner.role.set
	// NoPersonal are the learners who withdrew consent to
	// personalisation: not learned from, recommended popular items only.
	NoPersonal map[string]bool    `json:"no_personal,omitempty"`
	Counts     map[string]float64 `json:"counts,omitempty"` // item -> events in this partition
	// Seen is when each learner's latest statement learned from (or role
	// set) was stored (Unix seconds): retention forgets learners seen
	// before its cut-off. Learners of a checkpoint older than it have
	// none, and stay until their next statement.
	Seen map[string]int64 `json:"seen,omitempty"`
	// Pop is the popularity counts per (item, group), in order of first
	// appearance, to rebuild the popularity model.
	Pop    []popEntry     `json:"pop,omitempty"`
	popIdx map[string]int // item\x00group -> index in Pop
	// Content is the snapshot of the item features (mf.Content), set
	// only while a checkpoint is written or read.
	Content []byte `json:"content,omitempty"`
}

func (a *modelAux) addPop(item, group string, w float64) {
	if a.popIdx == nil {
		a.popIdx = map[string]int{}
	}
	k := item + "\x00" + group
	if i, ok := a.popIdx[k]; ok {
		a.Pop[i].W += w
		return
	}
	a.popIdx[k] = len(a.Pop)
	a.Pop = append(a.Pop, popEntry{Item: item, Group: group, W: w})
}

type popEntry struct {
	Item  string  `json:"i"`
	Group string  `json:"g,omitempty"`
	W     float64 `json:"w"`
}

// ItemFactors is the data of an item_factors event: one partition model's
// vector and bias for one item, and its weight in the average (the events
// it learned about the item).
type ItemFactors struct {
	Tenant    string    `json:"tenant"`
	Partition int       `json:"partition"`
	Item      string    `json:"item"`
	Vector    []float32 `json:"vector"`
	Bias      float32   `json:"bias"`
	Weight    float64   `json:"weight"`
}

// NewRecommender checks cfg and fills its defaults.
func NewRecommender(cfg RecommenderConfig) (*Recommender, error) {
	if cfg.Checkpoints == nil || cfg.Publisher == nil || cfg.Catalog == nil {
		return nil, errors.New("recommender: checkpoints, publisher and catalog are required")
	}
	if cfg.Model.K == 0 {
		cfg.Model = mf.DefaultConfig()
	}
	if err := cfg.Model.Validate(); err != nil {
		return nil, err
	}
	if cfg.Blend.Pool == 0 {
		cfg.Blend = mf.DefaultBlendConfig()
	}
	if err := cfg.Blend.Validate(); err != nil {
		return nil, err
	}
	if cfg.Content == (mf.ContentConfig{}) {
		cfg.Content = mf.DefaultContentConfig()
	}
	if err := cfg.Content.Validate(); err != nil {
		return nil, err
	}
	if cfg.Weights.Verbs == nil {
		cfg.Weights = mf.DefaultWeights()
	}
	if cfg.Rerank.MasteryThreshold == 0 {
		cfg.Rerank = mf.DefaultRerankOptions()
	}
	if cfg.N <= 0 {
		cfg.N = 10
	}
	if cfg.Candidates < cfg.N {
		cfg.Candidates = 5 * cfg.N
	}
	cfg.Rerank.N = cfg.N
	orDefault(&cfg.StatementsTopic, TopicStatements)
	orDefault(&cfg.RecommendationsTopic, TopicRecommendations)
	orDefault(&cfg.CatalogTopic, TopicCatalog)
	orDefault(&cfg.ItemsTopic, TopicItemFactors)
	orDefault(&cfg.Source, "learnstream")
	pacingDefaults(&cfg.CheckpointEvery, &cfg.CheckpointInterval, &cfg.FlushEvents, &cfg.FlushInterval, 256, &cfg.Logger)
	r := &Recommender{cfg: cfg, log: cfg.Logger, registered: map[string]bool{},
		remote: map[string]map[string]map[int]ItemFactors{}, lastCkpt: time.Now()}
	r.models = partModels[*tenantModel]{name: "recommender", consumer: RecommenderConsumer, topic: cfg.StatementsTopic, ckpts: cfg.Checkpoints,
		fresh: r.newTenantModel, snapshot: r.snapshot, restore: r.restore, log: cfg.Logger}
	return r, nil
}

// NextOffset restores the partition from its checkpoint (once) and says
// where to resume.
func (r *Recommender) NextOffset(_ context.Context, _ string, partition int) (int64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.models.nextOffset(partition)
}

func (r *Recommender) newTenantModel() *tenantModel {
	m, _ := mf.New(r.cfg.Model)                    // validated in NewRecommender
	seq, _ := mf.NewSequence(r.cfg.Blend.Sequence) // validated in NewRecommender
	blend, _ := mf.NewBlender(m, seq, r.cfg.Blend)
	c, _ := mf.NewContent(r.cfg.Content) // validated in NewRecommender
	return &tenantModel{m: m, seq: seq, blend: blend, pop: mf.NewPopularity(), content: c, touched: map[string]bool{},
		aux: modelAux{Completed: map[string][]string{}, Top: map[string][]string{}, Roles: map[string]string{}, Counts: map[string]float64{}}}
}

// snapshot: uint32 length of the model snapshot, the snapshot, uint32
// length of the sequence snapshot, the snapshot, the aux JSON. Checkpoints
// written before the sequence rules have the aux JSON (a '{') right after
// the model: a length never starts with that byte (it would be over 2 GB).
func (r *Recommender) snapshot(tm *tenantModel) ([]byte, error) {
	ms, err := tm.m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ss, err := tm.seq.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if tm.aux.Content, err = tm.content.MarshalBinary(); err != nil {
		return nil, err
	}
	aux, err := json.Marshal(tm.aux)
	tm.aux.Content = nil
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 8+len(ms)+len(ss)+len(aux)), uint32(len(ms)))
	out = append(out, ms...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(ss)))
	out = append(out, ss...)
	return append(out, aux...), nil
}

func (r *Recommender) restore(b []byte) (*tenantModel, error) {
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
		return nil, errors.New("truncated snapshot")
	}
	n := int(binary.BigEndian.Uint32(b))
	tm := r.newTenantModel()
	if err := tm.m.UnmarshalBinary(b[4 : 4+n]); err != nil {
		return nil, err
	}
	rest := b[4+n:]
	if len(rest) > 0 && rest[0] == '{' {
		// A checkpoint from before the sequence rules: rebuild them from
		// the histories the model remembers (each in first-interaction
		// order), so that learners' lists follow their items at once.
		for u := range tm.m.Users() {
			id := tm.m.UserID(int32(u))
			for _, it := range tm.m.Seen(int32(u), nil) {
				tm.seq.Add(id, it)
			}
		}
	} else {
		if len(rest) < 4 || int(binary.BigEndian.Uint32(rest)) > len(rest)-4 {
			return nil, errors.New("truncated snapshot: sequence rules")
		}
		sn := int(binary.BigEndian.Uint32(rest))
		if err := tm.seq.UnmarshalBinary(rest[4 : 4+sn]); err != nil {
			return nil, err
		}
		rest = rest[4+sn:]
	}
	if err := json.Unmarshal(rest, &tm.aux); err != nil {
		return nil, err
	}
	// The lists share the model's copies of the ids (learn says why);
	// checkpoints before the lists were sorted have them in the order of
	// completion.
	intern := func(lists map[string][]string) map[string][]string {
		out := make(map[string][]string, len(lists))
		for l, items := range lists {
			for i, it := range items {
				_, items[i] = tm.m.Intern("", it)
			}
			l, _ = tm.m.Intern(l, "")
			out[l] = items
		}
		return out
	}
	tm.aux.Completed, tm.aux.Top = intern(tm.aux.Completed), intern(tm.aux.Top)
	for l, items := range tm.aux.Completed {
		slices.Sort(items)
		tm.aux.Completed[l] = slices.Compact(items)
	}
	if len(tm.aux.Content) > 0 { // checkpoints before content-based ranking have none
		if err := tm.content.UnmarshalBinary(tm.aux.Content); err != nil {
			return nil, err
		}
		tm.aux.Content = nil
	}
	pop := tm.aux.Pop
	tm.aux.Pop, tm.aux.popIdx = nil, nil
	for _, p := range pop {
		tm.aux.addPop(p.Item, p.Group, p.W)
		if i, ok := tm.m.LookupItem(p.Item); ok {
			tm.pop.Add(i, p.Group, p.W)
		}
	}
	return tm, nil
}

// Skip records an event parked in the DLQ.
func (r *Recommender) Skip(_ context.Context, pos Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.models.skip(pos)
}

// Handle learns one statement and publishes the learner's recommendations
// when their top-N changed.
func (r *Recommender) Handle(ctx context.Context, pos Position, e event.Event) error {
	_, err := r.HandleBatch(ctx, []Position{pos}, []event.Event{e})
	return err
}

// HandleBatch learns a fetched batch of statements, then ranks each
// learner it touched once, after the learner's last statement in the
// batch: at high rates a learner's list is recomputed (top-N, re-ranking,
// JSON) once per batch rather than once per statement, and what is
// published is the list as of the latest statement. It returns how many
// statements, from the first, are learned.
func (r *Recommender) HandleBatch(ctx context.Context, pos []Position, evs []event.Event) (int, error) {
	start := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.graphs.reset()
	clear(r.roles)
	var order []rankKey
	reqs := map[rankKey]rankRequest{}
	dup, forgot := false, false
	// rankAll ranks what was learned, also when the batch stops early:
	// the statements learned are past the partition's offset.
	rankAll := func() {
		reads := r.readForRanking(ctx, order, reqs)
		for _, k := range order {
			r.rankLearner(ctx, reqs[k], start, reads)
		}
	}
	// rankAfter asks for req's learner to be ranked once the batch is
	// learned, after statement i; the last request for a learner wins.
	rankAfter := func(i int, req rankRequest) {
		req.logged = pos[i].Time
		k := rankKey{pos[i].Partition, req.tenant, req.learner}
		if _, ok := reqs[k]; !ok {
			order = append(order, k)
		}
		reqs[k] = req
	}
	for i := range evs {
		ps, err := r.models.part(pos[i].Partition)
		if err != nil {
			rankAll()
			return i, event.Transient(err) // the checkpoint store
		}
		if pos[i].Offset < ps.next {
			recEvents.WithLabelValues("duplicate").Inc()
			dup = true // a retry after a failed flush: flush below
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeLearnerErased) {
			learner, err := r.forget(evs[i])
			if err != nil {
				rankAll()
				return i, err
			}
			// A ranking of the learner asked for earlier in the batch
			// would publish them again.
			order = slices.DeleteFunc(order, func(k rankKey) bool {
				if k.tenant == evs[i].Tenant && k.learner == learner {
					delete(reqs, k)
					return true
				}
				return false
			})
			ps.next = pos[i].Offset + 1
			recEvents.WithLabelValues("erased").Inc()
			r.sinceCkpt++
			forgot = true
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeRetentionApplied) {
			gone, err := r.retain(evs[i])
			if err != nil {
				rankAll()
				return i, err
			}
			order = slices.DeleteFunc(order, func(k rankKey) bool {
				if k.tenant == evs[i].Tenant && gone[k.learner] {
					delete(reqs, k)
					return true
				}
				return false
			})
			ps.next = pos[i].Offset + 1
			recEvents.WithLabelValues("retention").Inc()
			r.sinceCkpt++
			forgot = true
			continue
		}
		if ok, err := isRoleSet(evs[i]); ok || err != nil {
			req := rankRequest{}
			if err == nil {
				req, err = r.roleSet(evs[i], pos[i], ps)
			}
			if err != nil {
				rankAll()
				return i, err
			}
			ps.next = pos[i].Offset + 1
			recEvents.WithLabelValues("role").Inc()
			r.sinceCkpt++
			rankAfter(i, req)
			continue
		}
		if isPrivacyType(evs[i], privacy.TypeConsentSet) {
			req, err := r.consent(evs[i], pos[i], ps)
			if err != nil {
				rankAll()
				return i, err
			}
			ps.next = pos[i].Offset + 1
			recEvents.WithLabelValues("consent").Inc()
			r.sinceCkpt++
			forgot = true // a withdrawal is checkpointed at once, as an erasure
			rankAfter(i, req)
			continue
		}
		out, req, err := r.learn(pos[i], evs[i], ps)
		if err != nil {
			rankAll()
			return i, err
		}
		ps.next = pos[i].Offset + 1
		recEvents.WithLabelValues(out).Inc()
		r.sinceCkpt++
		if req.learner != "" {
			rankAfter(i, req)
		}
	}
	rankAll()
	if len(r.outbox)+len(r.seen) >= r.cfg.FlushEvents || time.Since(r.lastFlush) >= r.cfg.FlushInterval || dup {
		if err := r.flush(ctx); err != nil {
			// The last statement comes again, as a duplicate: that retries
			// the publish.
			return len(evs) - 1, err
		}
	}
	// An erasure is checkpointed at once: until then the learner is in
	// the last checkpoint.
	r.lastBatch = time.Now()
	r.busy += r.lastBatch.Sub(start)
	if forgot || ckptDue(r.sinceCkpt, r.cfg.CheckpointEvery, r.lastCkpt, r.cfg.CheckpointInterval, r.ckptCost, r.busy, r.ckptBytes, time.Now()) {
		// A periodic one writes one partition (partModels.toWrite);
		// an erasure's, every one.
		if err := r.checkpoint(ctx, forgot); err != nil {
			r.log.Warn("recommender: checkpoint failed; will retry", "err", err)
		}
	}
	return len(evs), nil
}

// forget applies a LearnerErased: the learner's factors, history,
// completed items, role and last list go from every model of the tenant,
// with their recommendations not yet published; it returns the learner
// key ("" when no model knew them). Item factors stay (docs/privacy.md).
// The compacted recommendations topic keeps the learner's last list under
// the pseudonym until a later record of the key replaces it: the erasure's
// own record is published there again, after any list of theirs still on
// its way, so that compaction leaves only it.
func (r *Recommender) forget(e event.Event) (string, error) {
	le, err := privacy.DecodeLearnerErased(e)
	if err != nil {
		return "", err
	}
	if r.cfg.Pseudonyms == nil {
		return "", errNoPseudonyms
	}
	removed := map[string]int64{"learner_factors": 0, "history_items": 0, "completed_items": 0, "unpublished_recommendations": 0, "learner_roles": 0}
	learner := ""
	for _, ps := range r.models.parts {
		tm := ps.tenants[e.Tenant]
		if tm == nil {
			continue
		}
		l, ok := matchPseudonym(r.cfg.Pseudonyms, e.Tenant, le.Pseudonym, tm.learners())
		if !ok {
			continue
		}
		learner = l
		if u, ok := tm.m.LookupUser(l); ok {
			removed["learner_factors"]++
			removed["history_items"] += int64(tm.m.HistoryLen(u))
		}
		removed["recent_items"] += int64(len(tm.seq.Last(l)))
		removed["completed_items"] += int64(len(tm.aux.Completed[l]))
		if _, ok := tm.aux.Roles[l]; ok {
			removed["learner_roles"]++
		}
		tm.forgetLearner(l)
	}
	if learner != "" {
		var n int
		r.outbox, r.outboxAt, n = dropLearnerEvents(r.outbox, r.outboxAt, e.Tenant, learner)
		removed["unpublished_recommendations"] = int64(n)
		r.outbox, r.outboxAt = append(r.outbox, e), append(r.outboxAt, outStamp{taken: time.Now()})
	}
	r.answers = append(r.answers, projections.PendingAnswer{Tenant: e.Tenant, Answer: privacy.ErasureApplied{Erasure: le.Erasure,
		Consumer: RecommenderConsumer, Pseudonym: le.Pseudonym, Removed: removed, At: time.Now().UTC()}})
	return learner, nil
}

// ReasonNotPersonalised marks every item of the list of a learner who
// withdrew consent to personalisation (projections.ReasonNotPersonalised).
const ReasonNotPersonalised = projections.ReasonNotPersonalised

// consent applies a ConsentSet and asks for the learner's list to be
// ranked again. A learner who withdraws consent to personalisation is
// forgotten by the model (factors, history, completed items), as on
// erasure, none of their statements is learned from until they give it
// again, and their list becomes the catalog's popular items; giving it
// again starts them cold. The event is keyed by the learner, so it is in
// the partition of their statements.
func (r *Recommender) consent(e event.Event, pos Position, ps *partModel[*tenantModel]) (rankRequest, error) {
	c, err := privacy.DecodeConsentSet(e.Data)
	if err != nil {
		return rankRequest{}, event.Reject(err)
	}
	g, err := r.graphs.get(r.cfg.Catalog, e.Tenant)
	if err != nil {
		return rankRequest{}, event.Transient(err)
	}
	role, err := r.learnerRole(e.Tenant, c.Learner)
	if err != nil {
		return rankRequest{}, event.Transient(err)
	}
	tm := r.models.tenant(ps, e.Tenant)
	role = tm.roleOf(c.Learner, role)
	// The list is published again whatever it holds: its reasons change.
	delete(tm.aux.Top, c.Learner)
	if c.Personalisation {
		delete(tm.aux.NoPersonal, c.Learner)
	} else {
		if tm.aux.NoPersonal == nil {
			tm.aux.NoPersonal = map[string]bool{}
		}
		tm.aux.NoPersonal[c.Learner] = true
		tm.blend.Forget(c.Learner)
		delete(tm.aux.Completed, c.Learner)
		delete(tm.taught, c.Learner)
	}
	return rankRequest{tenant: e.Tenant, learner: c.Learner, role: role, partition: pos.Partition, g: g, tm: tm, e: e}, nil
}

// popular is the list of a learner without consent to personalisation:
// the items most learned from in the tenant's partition model (in the
// catalog when it has them), then entry-level catalog activities.
func (r *Recommender) popular(tm *tenantModel, g *graph.Graph) []projections.Recommendation {
	top := tm.pop.TopN("", r.cfg.N, nil, nil)
	list := make([]mf.Candidate, 0, r.cfg.N)
	for _, sc := range top {
		list = append(list, mf.Candidate{Item: tm.m.ItemID(sc.Item), Score: float64(sc.Score), Reasons: []string{mf.ReasonPopular}})
	}
	list = fillFromSkills(list, g, nil, nil, r.cfg.N, r.cfg.Rerank.MasteryThreshold)
	out := make([]projections.Recommendation, len(list))
	for i, c := range list {
		out[i] = projections.Recommendation{Item: c.Item, Score: math.Round(c.Score*1e6) / 1e6, Rank: i + 1,
			Reasons: append(slices.Clone(c.Reasons), ReasonNotPersonalised)}
	}
	return out
}

// retain applies a RetentionApplied: every learner of the tenant whose
// latest statement learned from was stored before the cut-off is forgotten
// as an erasure forgets them (item factors stay). It returns them. The
// event reaches the partition the tenant's key falls in: in a split
// deployment, each instance applies it to the partitions it holds.
func (r *Recommender) retain(e event.Event) (map[string]bool, error) {
	ra, err := privacy.DecodeRetentionApplied(e)
	if err != nil {
		return nil, err
	}
	before := ra.Before.Unix()
	gone := map[string]bool{}
	for _, ps := range r.models.parts {
		tm := ps.tenants[ra.Tenant]
		if tm == nil {
			continue
		}
		for l, at := range tm.aux.Seen {
			if at >= before {
				continue
			}
			tm.forgetLearner(l)
			gone[l] = true
		}
	}
	return gone, nil
}

// forgetLearner drops everything the tenant model keeps of learner.
func (tm *tenantModel) forgetLearner(l string) {
	tm.blend.Forget(l) // the model and the sequence rules' recent items
	delete(tm.aux.Completed, l)
	delete(tm.taught, l)
	delete(tm.aux.Top, l)
	delete(tm.aux.Roles, l)
	delete(tm.aux.NoPersonal, l)
	delete(tm.aux.Seen, l)
}

// learners lists every learner the tenant model keeps anything of.
func (tm *tenantModel) learners() iter.Seq[string] {
	return func(yield func(string) bool) {
		for u := range tm.m.Users() {
			if !yield(tm.m.UserID(int32(u))) {
				return
			}
		}
		for _, m := range []map[string][]string{tm.aux.Completed, tm.aux.Top} {
			for l := range m {
				if !yield(l) {
					return
				}
			}
		}
		for _, m := range []map[string]string{tm.aux.Roles} {
			for l := range m {
				if !yield(l) {
					return
				}
			}
		}
		for l := range tm.aux.NoPersonal {
			if !yield(l) {
				return
			}
		}
	}
}

// rankKey is a learner in one partition model.
type rankKey struct {
	partition       int
	tenant, learner string
}

// rankRequest is what ranking a learner after a statement needs.
type rankRequest struct {
	tenant, learner, role string
	partition             int
	g                     *graph.Graph
	tm                    *tenantModel
	e                     event.Event // the statement the list is based on
	logged                time.Time   // when e was written to its log (Position.Time)
}

type outBatch struct {
	topic string
	evs   []event.Event
	at    []outStamp // for the latency metrics
}

// outStamp dates an outbox event's input: when the consumer took it up
// (learnstream_recommender_event_seconds) and when it was written to its
// log (learnstream_derived_event_delay_seconds).
type outStamp struct {
	taken, logged time.Time
}

// flush hands the outbox to the sender as one produce request; the
// consumer does not wait for the broker (checkpoints do).
func (r *Recommender) flush(ctx context.Context) error {
	r.lastFlush = time.Now()
	// Announcements go first, so the catalog knows an activity before a
	// recommendation names it.
	if len(r.seen) > 0 {
		if err := r.enqueue(ctx, outBatch{topic: r.cfg.CatalogTopic, evs: slices.Clone(r.seen)}); err != nil {
			return err
		}
		r.seen = r.seen[:0]
	}
	if len(r.outbox) == 0 {
		return nil
	}
	b := outBatch{topic: r.cfg.RecommendationsTopic, evs: slices.Clone(r.outbox), at: slices.Clone(r.outboxAt)}
	if err := r.enqueue(ctx, b); err != nil {
		return err
	}
	r.outbox, r.outboxAt = r.outbox[:0], r.outboxAt[:0]
	return nil
}

func (r *Recommender) enqueue(ctx context.Context, b outBatch) error {
	r.startOnce.Do(func() {
		r.sendq = make(chan outBatch, 64)
		go r.sender()
	})
	r.inflight.Add(1)
	select {
	case r.sendq <- b:
		return nil
	case <-ctx.Done():
		r.inflight.Add(-1)
		return ctx.Err()
	}
}

func (r *Recommender) sender() {
	for b := range r.sendq {
		for {
			err := r.cfg.Publisher.PublishEvents(context.Background(), b.topic, b.evs...)
			if err == nil {
				break
			}
			r.log.Warn("recommender: publish failed; retrying", "topic", b.topic, "events", len(b.evs), "err", err)
			time.Sleep(200 * time.Millisecond)
		}
		now := time.Now()
		for _, t := range b.at {
			recLatency.Observe(now.Sub(t.taken).Seconds())
		}
		observeDerived(b.evs, func(i int) time.Time {
			if i < len(b.at) {
				return b.at[i].logged
			}
			return time.Time{}
		}, now)
		if b.topic == r.cfg.RecommendationsTopic {
			recPublished.Add(float64(len(b.evs)))
		}
		r.inflight.Add(-1)
	}
}

// drain waits until every flushed update is acknowledged.
func (r *Recommender) drain(ctx context.Context) error {
	for r.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("recommendations not yet acknowledged: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Flush publishes pending updates now and waits for the broker.
func (r *Recommender) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flush(ctx); err != nil {
		return err
	}
	return r.drain(ctx)
}

// learn applies the statement to the partition's model and returns the
// outcome for metrics and, for a statement about a learner and activity,
// what ranking the learner needs. It changes nothing when it returns an
// error.
func (r *Recommender) learn(pos Position, e event.Event, ps *partModel[*tenantModel]) (string, rankRequest, error) {
	name, major, err := event.SplitType(e.Type)
	if err != nil {
		return "", rankRequest{}, event.Reject(err)
	}
	want, wantMajor, _ := event.SplitType(event.TypeStatementStored)
	if name != want {
		return "ignored", rankRequest{}, nil
	}
	if major != wantMajor {
		return "", rankRequest{}, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	st, err := projections.StoredStatement(e)
	if err != nil {
		return "", rankRequest{}, event.Reject(fmt.Errorf("data: %w", err))
	}
	act := st.Object.Activity
	if act == nil {
		return "ignored", rankRequest{}, nil
	}
	if _, voiding := st.IsVoiding(); voiding {
		return "ignored", rankRequest{}, nil
	}
	learner, item := st.LearnerKey(), act.ID
	// The catalog and mastery are read models in the store: their
	// failures are the store's, not the event's.
	g, err := r.graphs.get(r.cfg.Catalog, e.Tenant)
	if err != nil {
		return "", rankRequest{}, event.Transient(err)
	}
	role, err := r.learnerRole(e.Tenant, learner)
	if err != nil {
		return "", rankRequest{}, event.Transient(err)
	}
	var seen *event.Event
	if _, ok := g.Activity(item); !ok && !r.registered[e.Tenant+"\x00"+item] {
		if seen, err = r.announce(e, act); err != nil {
			return "", rankRequest{}, err
		}
	}

	// From here on nothing fails: the model learns exactly once.
	if seen != nil {
		r.seen = append(r.seen, *seen)
		r.registered[e.Tenant+"\x00"+item] = true
	}
	tm := r.models.tenant(ps, e.Tenant)
	role = tm.roleOf(learner, role)
	if seen != nil {
		tm.announceContent(act)
	}
	if tm.aux.NoPersonal[learner] {
		// Not learned from; their list (popular items) is refreshed.
		return "no_consent", rankRequest{tenant: e.Tenant, learner: learner, role: role, partition: pos.Partition, g: g, tm: tm, e: e}, nil
	}
	var success *bool
	var completion bool
	if st.Result != nil {
		success = st.Result.Success
		completion = st.Result.Completion != nil && *st.Result.Completion
	}
	verb := st.Verb.ID
	c := r.cfg.Weights.Confidence(verb, success)
	if c > 0 {
		tm.m.Observe(learner, item, c)
		idx := tm.m.AddItem(item)
		tm.seq.Add(learner, idx)
		tm.pop.Add(idx, role, 1)
		tm.aux.addPop(item, role, 1)
		tm.aux.Counts[item]++
		tm.touched[item] = true
	}
	// What is kept per learner holds the model's own copies of the ids,
	// not this statement's: a learner's completed items, one string each
	// otherwise, were a fifth of a learner's memory and most of the
	// objects the collector walks.
	learner, item = tm.m.Intern(learner, item)
	if completion || (success != nil && *success) || verb == mf.VerbCompleted || verb == mf.VerbPassed || verb == mf.VerbMastered {
		done := tm.aux.Completed[learner]
		if i, ok := slices.BinarySearch(done, item); !ok {
			tm.aux.Completed[learner] = slices.Insert(done, i, item)
			tm.completed(r.skillIndex(e.Tenant, g).x, learner, item)
		}
	}
	if tm.aux.Seen == nil {
		tm.aux.Seen = map[string]int64{}
	}
	tm.aux.Seen[learner] = max(tm.aux.Seen[learner], e.Time.Unix())
	return "learned", rankRequest{tenant: e.Tenant, learner: learner, role: role, partition: pos.Partition, g: g, tm: tm, e: e}, nil
}

// successFunc predicts a learner's success on items, by position in items
// and NaN for an item without a prediction (SuccessBatchPredictor).
type successFunc func(ctx context.Context, learner string, items []string) ([]float64, error)

// batchReads is what ranking a batch's learners reads of the adaptive read
// model, per tenant, when it can be read for them all at once; a tenant
// absent here is read per learner.
type batchReads struct {
	mastery   map[string]map[string][]projections.SkillLevel // tenant -> learner -> skills by the reader's numbers
	skillName func(int32) string                             // the reader's skill ids by number
	success   map[string]successFunc                         // tenant -> predictions
}

// readForRanking reads, per tenant, the mastery and success predictions of
// every learner about to be ranked, in one read each (MasteryBatchReader,
// SuccessBatchPredictor). A failed read leaves the tenant to the reads per
// learner, whose failures rank without the signal.
func (r *Recommender) readForRanking(ctx context.Context, order []rankKey, reqs map[rankKey]rankRequest) batchReads {
	mb, _ := r.cfg.Mastery.(MasteryBatchReader)
	sb, _ := r.cfg.Success.(SuccessBatchPredictor)
	if len(order) == 0 || mb == nil && sb == nil {
		return batchReads{}
	}
	learners := map[string][]string{}
	for _, k := range order {
		if q := reqs[k]; !q.tm.aux.NoPersonal[q.learner] {
			learners[k.tenant] = append(learners[k.tenant], k.learner)
		}
	}
	reads := batchReads{mastery: map[string]map[string][]projections.SkillLevel{}, success: map[string]successFunc{}}
	if mb != nil {
		reads.skillName = mb.SkillName
	}
	for tenant, ls := range learners {
		if mb != nil {
			if m, err := mb.MasteryOf(ctx, tenant, ls); err == nil {
				reads.mastery[tenant] = m
			} else {
				r.log.Warn("recommender: mastery of the batch unavailable", "err", err)
			}
		}
		if sb != nil {
			if f, err := sb.SuccessPredictorFor(ctx, tenant, ls); err == nil {
				reads.success[tenant] = f
			} else {
				r.log.Warn("recommender: success predictions of the batch unavailable", "err", err)
			}
		}
	}
	return reads
}

// learnerRole is the catalog's role of learner, from one read of the
// tenant's roles per batch when the catalog is a RoleLister.
func (r *Recommender) learnerRole(tenant, learner string) (string, error) {
	rl, ok := r.cfg.Catalog.(RoleLister)
	if !ok {
		return r.cfg.Catalog.LearnerRole(tenant, learner)
	}
	roles, ok := r.roles[tenant]
	if !ok {
		var err error
		if roles, err = rl.LearnerRoles(tenant); err != nil {
			return "", err
		}
		if r.roles == nil {
			r.roles = map[string]func(string) string{}
		}
		r.roles[tenant] = roles
	}
	return roles(learner), nil
}

// rankLearner ranks a learner and adds a RecommendationsUpdated to the
// outbox when their top-N changed. Mastery is a soft signal here, as
// difficulty fit is: when the read model cannot answer, the list is
// ranked without it rather than the learned statement failed.
func (r *Recommender) rankLearner(ctx context.Context, q rankRequest, start time.Time, reads batchReads) {
	var mastery learnerMastery
	if r.cfg.Mastery != nil && !q.tm.aux.NoPersonal[q.learner] {
		if m, ok := reads.mastery[q.tenant]; ok {
			mastery.numbered, mastery.name = m[q.learner], reads.skillName
		} else {
			var err error
			if mastery.byID, err = r.cfg.Mastery.Mastery(ctx, q.tenant, q.learner); err != nil {
				r.log.Warn("recommender: mastery unavailable", "err", err)
			}
		}
	}
	tm := q.tm
	var recs []projections.Recommendation
	if tm.aux.NoPersonal[q.learner] {
		recs = r.popular(tm, q.g)
	} else {
		recs = r.rank(ctx, q.tenant, tm, q.g, q.learner, q.role, mastery, reads.success[q.tenant])
	}
	items := make([]string, len(recs))
	for i, rc := range recs {
		items[i] = rc.Item
	}
	if slices.Equal(items, tm.aux.Top[q.learner]) {
		recEvents.WithLabelValues("unchanged").Inc()
		return
	}
	tm.aux.Top[q.learner] = items
	// A learner the model does not know (new, or forgotten on a
	// withdrawal of consent) is cold.
	cold := true
	if u, ok := tm.m.LookupUser(q.learner); ok {
		cold = tm.m.HistoryLen(u) == 0
	}
	ru := projections.RecommendationsUpdated{
		Learner: q.learner, Items: recs, BasedOn: q.e.ID, Role: q.role,
		ColdStart:    cold,
		ModelVersion: modelVersion(tm.m, q.partition),
	}
	data, err := ru.AppendJSON(make([]byte, 0, 256+160*len(recs)))
	if err != nil {
		// Rerank refuses NaN scores; a list that still holds one is not
		// published (json.Marshal would have refused it too).
		r.log.Error("recommender: encode RecommendationsUpdated", "learner", q.learner, "err", err)
		return
	}
	out, err := event.New(DerivedID("recommendations", q.e.ID), projections.TypeRecommendationsUpdated, r.cfg.Source,
		q.tenant, q.learner, q.e.Time, data)
	if err != nil {
		// Only a malformed envelope field fails here, and those come
		// from a statement already accepted: log rather than lose the
		// learned state.
		r.log.Error("recommender: build RecommendationsUpdated", "learner", q.learner, "err", err)
		return
	}
	recEvents.WithLabelValues("published").Inc()
	r.outbox, r.outboxAt = append(r.outbox, out), append(r.outboxAt, outStamp{taken: start, logged: q.logged})
}

// modelVersion names the model state a list came from:
// <algorithm>-k<factors>/p<partition>/<events learned>.
func modelVersion(m *mf.Model, partition int) string {
	var a [64]byte
	b := append(a[:0], m.Config().Algorithm...)
	b = append(b, "-k"...)
	b = strconv.AppendInt(b, int64(m.K()), 10)
	b = append(b, "/p"...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, m.Events(), 10)
	return string(b)
}

// numberedGraph is a catalog graph with the numbering of its skills, and
// the mastery reader's numbers in it (from: a reader's number -> x's, -1
// for a skill the graph does not hold), filled as the reader's numbers
// are met.
type numberedGraph struct {
	g    *graph.Graph
	x    *mf.SkillIndex
	from []int32
}

// skillIndex returns the numbering of g's skills, made when the tenant's
// catalog graph is another than last time.
func (r *Recommender) skillIndex(tenant string, g *graph.Graph) *numberedGraph {
	if n, ok := r.skills[tenant]; ok && n.g == g {
		return n
	}
	n := &numberedGraph{g: g, x: mf.NewSkillIndex(g, g.Skills(), g.Activities())}
	if r.skills == nil {
		r.skills = map[string]*numberedGraph{}
	}
	r.skills[tenant] = n
	return n
}

// number is the mastery reader's skill number n in the graph's index (-1
// for none), name giving the reader's id of a number.
func (ng *numberedGraph) number(n int32, name func(int32) string) int32 {
	if n < 0 {
		return -1
	}
	for int(n) >= len(ng.from) {
		i, ok := ng.x.Number(name(int32(len(ng.from))))
		if !ok {
			i = -1
		}
		ng.from = append(ng.from, i)
	}
	return ng.from[n]
}

// learnerMastery is a learner's mastery as the adaptive read model gave
// it: by the reader's skill numbers, which name turns into skill ids (a
// MasteryBatchReader), or by skill id (a MasteryReader alone, or when the
// batch read failed).
type learnerMastery struct {
	numbered []projections.SkillLevel
	name     func(int32) string
	byID     map[string]float64
}

// rank returns the learner's top-N, re-ranked with the graph.
func (r *Recommender) rank(ctx context.Context, tenant string, tm *tenantModel, g *graph.Graph, learner, role string, mastery learnerMastery, predict successFunc) []projections.Recommendation {
	completed := tm.aux.Completed[learner]
	done := func(item string) bool {
		_, ok := slices.BinarySearch(completed, item)
		return ok
	}
	ng := r.skillIndex(tenant, g)
	x := ng.x
	r.levels = tm.learnerLevels(ng, learner, mastery, r.levels)
	levels := r.levels
	level := func(skill string) float64 {
		if i, ok := x.Number(skill); ok {
			return levels[i]
		}
		return 0
	}
	cands := tm.candidates(&r.scratch, g, learner, role, r.cfg.Candidates)
	o := r.cfg.Rerank
	o.Scratch = &r.scratch
	o.Knowledge = g
	o.Skills, o.Levels = x, levels
	o.Completed = done
	// A target role adds what closes its gap now, and the re-ranker
	// blends the gap into the collaborative score (RoleWeight).
	if o.Gap = roleGap(g, role, func() map[string]float64 { return x.Mastery(levels) }, o.MasteryThreshold, r.log); o.Gap != nil {
		score, seen := mf.LearnerScores(tm.m, learner)
		cands = mf.RoleCandidates(cands, o.Gap, g, score, func(it string) bool { return done(it) || seen(it) }, r.cfg.N)
	}
	if r.cfg.Success != nil && len(cands) > 0 {
		// Difficulty fit is a soft signal: when the read model cannot
		// answer, rank without it rather than fail an applied event.
		items := make([]string, len(cands))
		for i, c := range cands {
			items[i] = c.Item
		}
		if predict == nil {
			predict = func(ctx context.Context, learner string, items []string) ([]float64, error) {
				return r.cfg.Success.PredictSuccess(ctx, tenant, learner, items)
			}
		}
		if ps, err := predict(ctx, learner, items); err != nil {
			r.log.Warn("recommender: success predictions unavailable", "err", err)
		} else if len(ps) == len(cands) {
			o.Success = ps
		}
	}
	ranked, err := mf.Rerank(cands, o)
	if err != nil {
		r.log.Error("recommender: rerank", "err", err)
		return nil
	}
	ranked = fillFromSkills(ranked, g, level, done, r.cfg.N, r.cfg.Rerank.MasteryThreshold)
	out := make([]projections.Recommendation, len(ranked))
	for i, c := range ranked {
		out[i] = projections.Recommendation{Item: c.Item, Score: math.Round(c.Score*1e6) / 1e6, Rank: i + 1, Reasons: c.Reasons}
	}
	return out
}

// ReasonSkills marks a recommendation from the catalog (content-based on
// skills): an activity teaching a skill the learner is ready to learn.
const ReasonSkills = "skills"

// fillFromSkills completes a short list (cold start, small catalogues)
// from the graph: activities teaching unmastered skills whose
// prerequisites are mastered, in prerequisite order.
func fillFromSkills(list []mf.Candidate, g *graph.Graph, level func(skill string) float64, done func(string) bool, n int, threshold float64) []mf.Candidate {
	if len(list) >= n {
		return list
	}
	if level == nil {
		level = func(string) float64 { return 0 }
	}
	in := map[string]bool{}
	for _, c := range list {
		in[c.Item] = true
	}
	for _, s := range g.TopoOrder() {
		if level(s) >= threshold {
			continue
		}
		ready := true
		for _, p := range g.Prerequisites(s) {
			if level(p) < threshold {
				ready = false
				break
			}
		}
		if !ready {
			continue
		}
		for _, a := range g.TeachersOf(s) {
			if in[a] || done != nil && done(a) {
				continue
			}
			in[a] = true
			list = append(list, mf.Candidate{Item: a, Score: 0, Reasons: []string{ReasonSkills, mf.ReasonReadyToLearn}})
			if len(list) >= n {
				return list
			}
		}
	}
	return list
}

// announce builds the activity.seen catalog event for an activity the
// catalog does not hold; its id derives from tenant and activity, so every
// instance announcing it writes the same event. It is published with the
// next flush, before the checkpoint that covers its statement.
func (r *Recommender) announce(e event.Event, act *xapi.Activity) (*event.Event, error) {
	seen := projections.SeenActivity{ID: act.ID}
	if d := act.Definition; d != nil {
		seen.Type = d.Type
		seen.Name = firstName(d.Name)
	}
	data, _ := json.Marshal(seen)
	ev, err := event.New(DerivedID("activity_seen", e.Tenant+"\x00"+act.ID), projections.TypeActivitySeen,
		r.cfg.Source, e.Tenant, "activity_seen:"+act.ID, e.Time, data)
	if err != nil {
		return nil, event.Reject(err)
	}
	return &ev, nil
}

func firstName(m xapi.LanguageMap) string {
	for _, l := range []string{"en-US", "en", "en-GB"} {
		if v := m[l]; v != "" {
			return v
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return m[keys[0]]
	}
	return ""
}

// DerivedID is a name-based (version 5 style, SHA-1) UUID of kind and
// input: the same input always gives the same event id.
func DerivedID(kind, input string) string {
	// Every event the models publish takes one: hashed and formatted
	// without a buffer per part.
	var in [160]byte
	h := sha1.Sum(append(append(append(append(in[:0], "learnstream/"...), kind...), 0), input...))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return xapi.UUIDText(h[:])
}

// Checkpoint exchanges item factors (when sharing) and writes every
// partition's models and offsets in one transaction.
func (r *Recommender) Checkpoint(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checkpoint(ctx, true)
}

// checkpoint writes every partition's models (all), or one
// (partModels.toWrite), with their item factors exchanged first.
func (r *Recommender) checkpoint(ctx context.Context, all bool) error {
	start := time.Now()
	if err := r.flush(ctx); err != nil {
		return err
	}
	if err := r.drain(ctx); err != nil {
		return err
	}
	parts := r.models.toWrite(all, len(r.answers))
	if r.cfg.Share {
		if err := r.exchange(ctx, parts); err != nil {
			return err
		}
	}
	size, err := r.models.save(parts, r.answers...)
	if err != nil {
		return err
	}
	r.ckptBytes = size
	r.sinceCkpt, r.lastCkpt, r.answers = 0, time.Now(), nil
	r.ckptCost, r.busy = r.lastCkpt.Sub(start), 0
	recCheckpoint.Observe(r.ckptCost.Seconds())
	return nil
}

// exchange publishes the item factors of parts (the partitions about to be
// checkpointed) that changed since their last exchange and replaces each
// of their models' item factors by the weighted average over every
// partition's latest published factors (its own current ones included).
// Every instance averages the same published set, so they agree. Only the
// partitions checkpointed next are merged: between its checkpoints a
// partition model depends on nothing but its own events, so a replay
// from its checkpoint rebuilds it.
func (r *Recommender) exchange(ctx context.Context, parts map[int]*partModel[*tenantModel]) error {
	var evs []event.Event
	for part, ps := range parts {
		for tenant, tm := range ps.tenants {
			items := make([]string, 0, len(tm.touched))
			for it := range tm.touched {
				items = append(items, it)
			}
			sort.Strings(items)
			for _, it := range items {
				i, _ := tm.m.LookupItem(it)
				f := ItemFactors{Tenant: tenant, Partition: part, Item: it, Vector: slices.Clone(tm.m.ItemVector(i)),
					Bias: tm.m.ItemBias(i), Weight: tm.aux.Counts[it]}
				data, _ := json.Marshal(f)
				key := fmt.Sprintf("%s|%d|%s", tenant, part, it)
				e, err := event.New(DerivedID("item_factors", fmt.Sprintf("%s|%d", key, tm.m.Events())), TypeItemFactors,
					r.cfg.Source, tenant, key, time.Now(), data)
				if err != nil {
					return err
				}
				evs = append(evs, e)
				r.Observe(f) // our own contribution counts at once
			}
			clear(tm.touched)
		}
	}
	for len(evs) > 0 {
		n := min(len(evs), 500)
		if err := r.cfg.Publisher.PublishEvents(ctx, r.cfg.ItemsTopic, evs[:n]...); err != nil {
			return fmt.Errorf("publish item factors: %w", err)
		}
		evs = evs[n:]
	}
	r.rmu.Lock()
	defer r.rmu.Unlock()
	for part, ps := range parts {
		for tenant, tm := range ps.tenants {
			changed := false
			k := tm.m.K()
			for it, contribs := range r.remote[tenant] {
				var wsum float64
				avg := make([]float64, k)
				var bias float64
				for p, f := range contribs {
					if p == part || len(f.Vector) != k || f.Weight <= 0 {
						continue
					}
					wsum += f.Weight
					for j, v := range f.Vector {
						avg[j] += f.Weight * float64(v)
					}
					bias += f.Weight * float64(f.Bias)
				}
				if wsum == 0 {
					continue
				}
				// Items other partitions learned become known here too.
				i := tm.m.AddItem(it)
				own := tm.aux.Counts[it]
				v := tm.m.V[int(i)*k : int(i+1)*k]
				moved := false
				for j := range v {
					nv := float32((avg[j] + own*float64(v[j])) / (wsum + own))
					moved = moved || math.Abs(float64(nv-v[j])) > 1e-5
					v[j] = nv
				}
				if moved && own > 0 {
					// Publish the merged factors too, so that every
					// partition converges on the same average.
					tm.touched[it] = true
				}
				if tm.m.HasBias() {
					tm.m.B[i] = float32((bias + own*float64(tm.m.B[i])) / (wsum + own))
				}
				changed = true
			}
			if changed {
				tm.m.RefreshGram()
			}
		}
	}
	return nil
}

// Observe records a partition's published item factors (from the items
// topic, this instance's own included).
func (r *Recommender) Observe(f ItemFactors) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	t := r.remote[f.Tenant]
	if t == nil {
		t = map[string]map[int]ItemFactors{}
		r.remote[f.Tenant] = t
	}
	if t[f.Item] == nil {
		t[f.Item] = map[int]ItemFactors{}
	}
	t[f.Item][f.Partition] = f
	r.remoteNew = true
}

// Run checkpoints every CheckpointInterval while there is something new
// (events learned, item factors received), until ctx ends: checkpoints
// are also when item factors are exchanged, so idle instances converge.
func (r *Recommender) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.CheckpointInterval)
	defer t.Stop()
	f := time.NewTicker(r.cfg.FlushInterval)
	defer f.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.C:
			r.mu.Lock()
			if len(r.outbox)+len(r.seen) > 0 && time.Since(r.lastFlush) >= r.cfg.FlushInterval {
				if err := r.flush(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("recommender: publish failed; will retry", "err", err)
				}
			}
			r.mu.Unlock()
			continue
		case <-t.C:
		}
		r.rmu.Lock()
		fresh := r.remoteNew
		r.rmu.Unlock()
		r.mu.Lock()
		// While batches come, HandleBatch checkpoints (spaced by its
		// working time); this one is for an instance with nothing to
		// learn, which still exchanges item factors, and for one whose
		// input is too thin to pay a large checkpoint back soon. Received
		// factors stay fresh until a checkpoint merges them: a tick
		// that finds the checkpoint not due yet must not forget them, or
		// an idle instance would never merge what its peers sent.
		if due, stopped := idleCkptDue(r.lastBatch, r.lastCkpt, r.cfg.CheckpointInterval, r.ckptCost, time.Now()); due && (fresh || r.models.dirty()) {
			r.rmu.Lock()
			r.remoteNew = false
			r.rmu.Unlock()
			if err := r.checkpoint(ctx, stopped); err != nil && ctx.Err() == nil {
				r.log.Warn("recommender: checkpoint failed; will retry", "err", err)
				r.rmu.Lock()
				r.remoteNew = true
				r.rmu.Unlock()
			}
		}
		r.mu.Unlock()
	}
}

// ItemVector returns a copy of an item's factors in a partition's model,
// for tests and diagnostics.
func (r *Recommender) ItemVector(tenant string, partition int, item string) ([]float32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.models.parts[partition]
	if ps == nil || ps.tenants[tenant] == nil {
		return nil, false
	}
	m := ps.tenants[tenant].m
	i, ok := m.LookupItem(item)
	if !ok {
		return nil, false
	}
	return slices.Clone(m.ItemVector(i)), true
}

// Stats reports, per partition this instance holds, the events learned.
func (r *Recommender) Stats() map[int]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int]uint64{}
	for p, ps := range r.models.parts {
		for _, tm := range ps.tenants {
			out[p] += tm.m.Events()
		}
	}
	return out
}

// Close writes a last checkpoint.
func (r *Recommender) Close(ctx context.Context) error { return r.Checkpoint(ctx) }

// ItemFactorsHandler feeds a Recommender from the items topic. It keeps no
// offsets: every start reads the compacted topic from the beginning.
type ItemFactorsHandler struct{ R *Recommender }

// Handle records one partition's item factors.
func (h ItemFactorsHandler) Handle(_ context.Context, _ Position, e event.Event) error {
	if e.Type != TypeItemFactors {
		return nil
	}
	var f ItemFactors
	d := json.NewDecoder(bytes.NewReader(e.Data))
	if err := d.Decode(&f); err != nil {
		return event.Reject(fmt.Errorf("data: %w", err))
	}
	if f.Item == "" || strings.TrimSpace(f.Tenant) == "" {
		return event.Reject(errors.New("data: tenant and item are required"))
	}
	h.R.Observe(f)
	return nil
}

// Skip has nothing to record.
func (ItemFactorsHandler) Skip(context.Context, Position) error { return nil }
