package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/learnstream/learnstream/domain/privacy"
)

// How the sink forgets (docs/analytics.md, "Erasure and retention"). With
// privacy on, actor_pseudo (and every pseudonym in raw and object_id) is
// the privacy pseudonym, so a LearnerErased, which names the learner only
// by pseudonym, finds the learner's rows directly. Deletes are mutations
// (ALTER TABLE ... DELETE) run with mutations_sync, so they return once the
// parts are rewritten without the rows: the bytes are gone, not masked as a
// lightweight DELETE would leave them until a merge.

// Forgetter runs the statements of an erasure or a retention: Exec a
// mutation, Count a query's single number. ClickHouseWriter implements it.
type Forgetter interface {
	Exec(ctx context.Context, query string) error
	Count(ctx context.Context, query string) (int64, error)
}

// learnerTables hold rows of one learner each, with tenant and
// actor_pseudo columns: the facts and the per-learner aggregates their
// materialised views fill.
var learnerTables = []string{
	"statements", "recommendations", "mastery_events", "difficulty_events", "role_members", "learner_roles",
	"course_progress", "skill_mastery", "recommendation_uptake",
}

// ErasedPseudonym replaces an erased learner's pseudonym where it names
// them in rows of others (an instructor, a team member, an Agent object).
const ErasedPseudonym = "erased"

// mutationSettings makes a mutation return only once it is applied.
const mutationSettings = " SETTINGS mutations_sync = 2"

// EraseLearner deletes every row of the learner with pseudonym in tenant,
// rewrites the mentions of the pseudonym in other learners' statements, and
// recomputes the shared aggregates (daily_activity, assessment_outcomes)
// the learner counted in. It returns the rows removed per table. Running it
// again removes nothing more; a crash part-way leaves it to be run again.
func EraseLearner(ctx context.Context, f Forgetter, tenant, pseudonym string) (map[string]int64, error) {
	if !privacy.IsPseudonym(pseudonym) {
		return nil, fmt.Errorf("analytics: erase: %q is not a pseudonym", pseudonym)
	}
	t, p := quoteString(tenant), quoteString(pseudonym)
	learner := " WHERE tenant = " + t + " AND actor_pseudo = " + p
	removed := map[string]int64{}
	for _, table := range learnerTables {
		n, err := f.Count(ctx, "SELECT count() FROM "+table+learner)
		if err != nil {
			return nil, fmt.Errorf("analytics: erase: count %s: %w", table, err)
		}
		removed[table] = n
	}
	// The shared aggregates first, from the statements without the
	// learner's: were the statements deleted first, a crash would leave no
	// trace of which aggregate rows counted the learner.
	for _, agg := range sharedAggregates {
		touched := "SELECT DISTINCT " + agg.key + " FROM statements" + learner
		n, err := f.Count(ctx, "SELECT count() FROM ("+touched+")")
		if err != nil {
			return nil, fmt.Errorf("analytics: erase: rows of %s to recompute: %w", agg.table, err)
		}
		if n == 0 {
			continue
		}
		// Delete, then insert the recomputed rows: until the insert the
		// aggregate lacks them; a crash in between is mended by running
		// again, as the learner's statements are still there to say which.
		del := "ALTER TABLE " + agg.table + " DELETE WHERE tenant = " + t + " AND (" + agg.columns + ") IN (" + touched + ")" + mutationSettings
		if err := f.Exec(ctx, del); err != nil {
			return nil, fmt.Errorf("analytics: erase: %s: %w", agg.table, err)
		}
		recompute := fmt.Sprintf(agg.recompute, "tenant = "+t+" AND actor_pseudo != "+p+" AND ("+agg.key+") IN ("+touched+")")
		if err := f.Exec(ctx, "INSERT INTO "+agg.table+" "+recompute); err != nil {
			return nil, fmt.Errorf("analytics: erase: recompute %s: %w", agg.table, err)
		}
		removed[agg.table+"_recomputed"] = n
	}
	mention := "position(raw, " + p + ") > 0 OR object_id = " + p
	if n, err := f.Count(ctx, "SELECT count() FROM statements WHERE tenant = "+t+" AND actor_pseudo != "+p+" AND ("+mention+")"); err != nil {
		return nil, fmt.Errorf("analytics: erase: count mentions: %w", err)
	} else if n > 0 {
		q := "ALTER TABLE statements UPDATE raw = replaceAll(raw, " + p + ", " + quoteString(ErasedPseudonym) + "), object_id = if(object_id = " + p + ", " +
			quoteString(ErasedPseudonym) + ", object_id) WHERE tenant = " + t + " AND actor_pseudo != " + p + " AND (" + mention + ")" + mutationSettings
		if err := f.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("analytics: erase: rewrite mentions: %w", err)
		}
		removed["statement_mentions"] = n
	}
	for _, table := range learnerTables {
		if removed[table] == 0 {
			continue
		}
		if err := f.Exec(ctx, "ALTER TABLE "+table+" DELETE"+learner+mutationSettings); err != nil {
			return nil, fmt.Errorf("analytics: erase: %s: %w", table, err)
		}
	}
	return removed, nil
}

// sharedAggregates are the materialised-view targets that count learners
// among others (uniqExact states of pseudonyms): a learner's part cannot be
// deleted from a state, so the rows the learner touched are recomputed
// from the statements of everybody else. recompute is the view's SELECT
// with %s for the WHERE condition on statements.
var sharedAggregates = []struct {
	table, key, columns, recompute string
}{
	{
		table: "daily_activity", key: "toDate(timestamp), course_id, verb_id", columns: "day, course_id, verb_id",
		recompute: `SELECT tenant, toDate(timestamp) AS day, course_id, verb_id,
    uniqExactState(actor_pseudo) AS learners, uniqExactState(statement_id) AS statements
FROM statements WHERE %s
GROUP BY tenant, day, course_id, verb_id`,
	},
	{
		table: "assessment_outcomes", key: "course_id, object_id, toDate(timestamp)", columns: "course_id, assessment_id, day",
		recompute: `SELECT tenant, course_id, object_id AS assessment_id, toDate(timestamp) AS day,
    uniqExactState(statement_id) AS attempts,
    uniqExactState(if(outcome = 1, toNullable(statement_id), NULL)) AS passed,
    uniqExactState(if(outcome = 0, toNullable(statement_id), NULL)) AS failed,
    uniqExactState(actor_pseudo) AS learners,
    uniqExactState(if(outcome = 1, toNullable(actor_pseudo), NULL)) AS learners_passed,
    minState(score_scaled) AS min_score,
    maxState(score_scaled) AS max_score
FROM (
    SELECT *, multiIf(verb_id = 'http://adlnet.gov/expapi/verbs/passed', toNullable(toUInt8(1)),
                      verb_id = 'http://adlnet.gov/expapi/verbs/failed', toNullable(toUInt8(0)),
                      result_success) AS outcome
    FROM statements WHERE %s
)
WHERE outcome IS NOT NULL
GROUP BY tenant, course_id, assessment_id, day`,
	},
}

// retention lists, per table, the condition that makes a row older than
// the cut-off (%[1]s: the cut-off as a DateTime64 literal). Per-learner
// aggregates go when the learner's latest fact in them is older; the
// shared daily aggregates by their day. Role assignments are settings in
// force, not records, and stay.
var retention = []struct{ table, old string }{
	{"statements", "stored < %[1]s"},
	{"recommendations", "recommended_at < %[1]s"},
	{"mastery_events", "updated_at < %[1]s"},
	{"difficulty_events", "adjusted_at < %[1]s"},
	{"voided_statements", "voided_at < %[1]s"},
	{"daily_activity", "day < toDate(%[1]s)"},
	{"assessment_outcomes", "day < toDate(%[1]s)"},
	{"course_progress", "(course_id, actor_pseudo) IN (SELECT course_id, actor_pseudo FROM course_progress WHERE tenant = %[2]s" +
		" GROUP BY course_id, actor_pseudo HAVING maxMerge(last_seen) < %[1]s)"},
	{"skill_mastery", "(skill_id, actor_pseudo) IN (SELECT skill_id, actor_pseudo FROM skill_mastery WHERE tenant = %[2]s" +
		" GROUP BY skill_id, actor_pseudo HAVING maxMerge(last_update) < %[1]s)"},
	{"recommendation_uptake", "(actor_pseudo, item_id) IN (SELECT actor_pseudo, item_id FROM recommendation_uptake WHERE tenant = %[2]s" +
		" GROUP BY actor_pseudo, item_id HAVING greatest(ifNull(maxMerge(last_recommended), toDateTime64(0, 3, 'UTC'))," +
		" ifNull(maxMerge(last_started), toDateTime64(0, 3, 'UTC')), ifNull(maxMerge(last_completed), toDateTime64(0, 3, 'UTC'))) < %[1]s)"},
}

// ApplyRetention deletes the tenant's rows older than before in every
// table that holds learning records or what was derived from them, and
// returns how many per table.
func ApplyRetention(ctx context.Context, f Forgetter, tenant string, before time.Time) (map[string]int64, error) {
	if before.IsZero() {
		return nil, errors.New("analytics: retention: no cut-off")
	}
	t := quoteString(tenant)
	cut := "toDateTime64(" + quoteString(before.UTC().Format("2006-01-02 15:04:05.000")) + ", 3, 'UTC')"
	removed := map[string]int64{}
	for _, r := range retention {
		where := " WHERE tenant = " + t + " AND " + fmt.Sprintf(r.old, cut, t)
		n, err := f.Count(ctx, "SELECT count() FROM "+r.table+where)
		if err != nil {
			return nil, fmt.Errorf("analytics: retention: count %s: %w", r.table, err)
		}
		removed[r.table] = n
		if n == 0 {
			continue
		}
		if err := f.Exec(ctx, "ALTER TABLE "+r.table+" DELETE"+where+mutationSettings); err != nil {
			return nil, fmt.Errorf("analytics: retention: %s: %w", r.table, err)
		}
	}
	return removed, nil
}
