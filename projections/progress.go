package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

// ProgressName is the learner-progress projection's name.
const ProgressName = "progress"

// ActivityProgress is what one learner did with one activity.
type ActivityProgress struct {
	Activity   string    `json:"activity"`
	Statements int       `json:"statements"`
	Attempts   int       `json:"attempts"`
	Completed  bool      `json:"completed"`
	Passed     bool      `json:"passed"`
	Failed     bool      `json:"failed"`
	BestScore  *float64  `json:"best_score,omitempty"`
	LastScore  *float64  `json:"last_score,omitempty"`
	TimeSpentS float64   `json:"time_spent_seconds"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// Verbs that start an attempt: cmi5's "launched" and the ADL verbs players
// send when a learner begins.
var attemptVerbs = map[string]bool{
	"http://adlnet.gov/expapi/verbs/launched":  true,
	"http://adlnet.gov/expapi/verbs/attempted": true,
}

// Progress is the per-learner, per-activity progress read model. It is a
// partitioned model (keyed by learner like its input), so instances of the
// projector role can split it.
type Progress struct {
	*Projection
}

// NewProgress returns the progress projection over store.
func NewProgress(store *Store) (*Progress, error) {
	p, err := NewProjection(store, progressModel{store}, nil)
	if err != nil {
		return nil, err
	}
	return &Progress{p}, nil
}

type progressModel struct{ store *Store }

func (progressModel) Name() string { return ProgressName }

// forget applies a LearnerErased (every entry of the learner) or a
// RetentionApplied (entries whose latest statement is before Before: an
// entry with a later one stays whole, its counts folding in the older
// statements, which no longer exist apart from it).
func (m progressModel) forget(txn *badger.Txn, sp Space, e event.Event, pe privacyEvent) (Outcome, error) {
	if pe.erased != nil {
		removed, err := learnerKinds{"l"}.erase(txn, m.store, sp, e.ID, e.Tenant, pe.erased.Pseudonym)
		if err != nil {
			return 0, err
		}
		if err := m.store.noteErasure(txn, ProgressName, e, *pe.erased, map[string]int64{"progress": removed["l"]}); err != nil {
			return 0, err
		}
		return Stored, nil
	}
	_, err := deleteWhere(txn, m.store, carryKey(e.ID, sp.Prefix("l", e.Tenant)), sp.Prefix("l", e.Tenant),
		olderThan(pe.retention.Before, func(ap *ActivityProgress) time.Time { return ap.Last }))
	return Stored, err
}

func progressKey(sp Space, tenant, learner, activity string) []byte {
	return sp.Key("l", tenant, learner, activity)
}

func (m progressModel) Apply(txn *badger.Txn, sp Space, e event.Event) (Outcome, error) {
	return applyAlone(m.store, txn, sp, m, e)
}

// applyStaged counts a statement into its learner's entry for the
// activity. The entry is read once per transaction at most (and not at
// all when the memo has it) and written once, however many of the
// transaction's statements it counts.
func (m progressModel) applyStaged(ts *txnState, e event.Event) (Outcome, error) {
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
	want, wantMajor, _ := event.SplitType(event.TypeStatementStored)
	if name != want {
		return Unchanged, nil
	}
	if major != wantMajor {
		return 0, event.Reject(fmt.Errorf("ce_type: major version %d of %s is not supported (want %d)", major, name, wantMajor))
	}
	st, err := StoredStatement(e)
	if err != nil {
		return 0, event.Reject(fmt.Errorf("data: %w", err))
	}
	act := st.Object.Activity
	if act == nil {
		// Statements about agents or other statements carry no progress.
		return Unchanged, nil
	}
	if _, voiding := st.IsVoiding(); voiding {
		return Unchanged, nil
	}
	learner := st.LearnerKey()
	key := progressKey(ts.sp, e.Tenant, learner, act.ID)
	sv, err := ts.lookup(key, func(item *badger.Item) (any, error) {
		ap := new(ActivityProgress)
		if err := item.Value(func(v []byte) error { return ap.decodeValue(v) }); err != nil {
			return nil, fmt.Errorf("progress %s/%s is unreadable: %w", learner, act.ID, err)
		}
		return ap, nil
	})
	if err != nil {
		return 0, err
	}
	ap, _ := sv.v.(*ActivityProgress)
	if ap == nil {
		ap = &ActivityProgress{Activity: act.ID}
	}
	ap.apply(st)
	ts.set(key, sv, ap)
	return Stored, nil
}

func (ap *ActivityProgress) apply(st *xapi.Statement) {
	ap.Statements++
	at := time.Time{}
	if st.Timestamp != nil {
		at = st.Timestamp.UTC()
	}
	if ap.First.IsZero() || (!at.IsZero() && at.Before(ap.First)) {
		ap.First = at
	}
	if at.After(ap.Last) {
		ap.Last = at
	}
	verb := st.Verb.ID
	if attemptVerbs[verb] {
		ap.Attempts++
	}
	switch {
	case strings.HasSuffix(verb, "/completed"):
		ap.Completed = true
	case strings.HasSuffix(verb, "/passed"):
		ap.Passed = true
	case strings.HasSuffix(verb, "/failed"):
		ap.Failed = true
	}
	r := st.Result
	if r == nil {
		return
	}
	if r.Completion != nil && *r.Completion {
		ap.Completed = true
	}
	if r.Success != nil {
		if *r.Success {
			ap.Passed = true
		} else {
			ap.Failed = true
		}
	}
	if r.Score != nil && r.Score.Scaled != nil {
		s := *r.Score.Scaled
		ap.LastScore = &s
		if ap.BestScore == nil || s > *ap.BestScore {
			ap.BestScore = &s
		}
	}
	if r.Duration != "" {
		if d, err := xapi.ParseDuration(r.Duration); err == nil {
			ap.TimeSpentS += d.Approx().Seconds()
		}
	}
}

// Learner returns the progress of one learner (by learner key) on every
// activity they touched.
func (p *Progress) Learner(_ context.Context, tenant, learner string) ([]ActivityProgress, error) {
	var out []ActivityProgress
	err := p.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("l", tenant, learner)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var ap ActivityProgress
			if err := it.Item().Value(func(v []byte) error { return ap.decodeValue(v) }); err != nil {
				return err
			}
			out = append(out, ap)
		}
		return nil
	})
	return out, err
}

// Totals sums the statements counted for every learner of tenant, and
// counts the learners: what fault tests compare with what was acknowledged.
func (p *Progress) Totals(_ context.Context, tenant string) (learners, statements int, err error) {
	err = p.View(func(txn *badger.Txn, sp Space) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = sp.Prefix("l", tenant)
		it := txn.NewIterator(opts)
		defer it.Close()
		// Keys are (learner, activity) in order, so a learner's entries
		// are together: a learner is counted where the learner changes,
		// without holding every learner key in memory.
		var last []byte
		prefixLen := len(opts.Prefix)
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[prefixLen:]
			learner, _, _ := bytes.Cut(k, []byte{0})
			if learners == 0 || !bytes.Equal(learner, last) {
				learners++
				last = append(last[:0], learner...)
			}
			if err := it.Item().Value(func(v []byte) error {
				n, err := statementsOf(v)
				statements += n
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return learners, statements, err
}

// statementsOf is the Statements of a stored ActivityProgress. The admin
// listing sums them over every learner and activity (200k entries took
// most of its 0.8 s with a whole decode each), so it reads the field
// alone: after the activity in a packed value, where json.Marshal put it
// in one stored as JSON; it decodes the whole value only when it is not
// there.
func statementsOf(v []byte) (int, error) {
	if n, ok, err := progressStatements(v); ok {
		return n, err
	}
	if n, ok := statementsField(v); ok {
		return n, nil
	}
	var ap ActivityProgress
	if err := json.Unmarshal(v, &ap); err != nil {
		return 0, err
	}
	return ap.Statements, nil
}

// statementsField reads Statements from v in the shape json.Marshal
// writes an ActivityProgress, at most 10 digits; ok is false for any
// other shape.
func statementsField(v []byte) (n int, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte(`{"activity":"`))
	if !ok {
		return 0, false
	}
	i := 0
	for i < len(rest) && rest[i] != '"' {
		if rest[i] == '\\' {
			i++ // the escaped byte is part of the string
		}
		i++
	}
	if i >= len(rest) {
		return 0, false
	}
	if rest, ok = bytes.CutPrefix(rest[i+1:], []byte(`,"statements":`)); !ok {
		return 0, false
	}
	j := 0
	for ; j < len(rest) && j < 10 && rest[j] >= '0' && rest[j] <= '9'; j++ {
		n = n*10 + int(rest[j]-'0')
	}
	if j == 0 || j == len(rest) || rest[j] != ',' && rest[j] != '}' {
		return 0, false
	}
	return n, true
}
