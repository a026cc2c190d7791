-- 0004: align the tables with the events the producers really emit, and
-- keep voided statements out of every answer.
--
-- Producers: recommendations carry model_version, based_on, role and
-- cold_start; catalog activities carry a parent, assessed skills and a
-- duration, and may be announced as "seen" by the recommender; a learner
-- holds one role at a time (learner_role.put names only the new role), so
-- role assignments are keyed by the learner in learner_roles. role_members
-- (0002) is no longer written.

ALTER TABLE recommendations ADD COLUMN IF NOT EXISTS model_version String;
ALTER TABLE recommendations ADD COLUMN IF NOT EXISTS based_on String;
ALTER TABLE recommendations ADD COLUMN IF NOT EXISTS role LowCardinality(String);
ALTER TABLE recommendations ADD COLUMN IF NOT EXISTS cold_start UInt8;

ALTER TABLE catalog_activities ADD COLUMN IF NOT EXISTS parent_id String;
ALTER TABLE catalog_activities ADD COLUMN IF NOT EXISTS assesses_ids Array(String);
ALTER TABLE catalog_activities ADD COLUMN IF NOT EXISTS duration_seconds Nullable(Float64);
ALTER TABLE catalog_activities ADD COLUMN IF NOT EXISTS origin LowCardinality(String);

CREATE TABLE IF NOT EXISTS learner_roles
(
    tenant       LowCardinality(String),
    actor_key    String,
    actor_pseudo String,
    role_id      String,
    updated_at   DateTime64(3, 'UTC'),
    version      UInt64,
    deleted      UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, actor_pseudo);

-- Voiding. A statement with the verb voided names, as a StatementRef, a
-- statement that must no longer count. The voiding statement may reach
-- ClickHouse before or after the statement it voids (they are often keyed
-- by different learners, so on different partitions), and the rollups'
-- idempotent states cannot subtract anything. So voids are applied when
-- reading: voided_statements collects the voided ids; valid_statements is
-- the fact table without voided and voiding statements; and the *_valid
-- views (and the replaced finalising views) take each rollup's rows for the
-- keys no void touched and recompute the few keys a void touched from
-- valid_statements. Voids are rare, so the rollups keep doing the work.

CREATE TABLE IF NOT EXISTS voided_statements
(
    tenant       LowCardinality(String),
    statement_id UUID,
    voided_by    UUID,
    voided_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, statement_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS voided_statements_mv TO voided_statements AS
SELECT tenant, toUUIDOrZero(object_id) AS statement_id, statement_id AS voided_by, stored AS voided_at
FROM statements
WHERE verb_id = 'http://adlnet.gov/expapi/verbs/voided' AND object_type = 'StatementRef';

CREATE VIEW IF NOT EXISTS valid_statements AS
SELECT *
FROM statements FINAL
WHERE verb_id != 'http://adlnet.gov/expapi/verbs/voided'
  AND (tenant, statement_id) NOT IN (SELECT tenant, statement_id FROM voided_statements);

-- Statements whose rollup contributions are wrong: the voided ones and the
-- voiding ones.
CREATE VIEW IF NOT EXISTS void_touched AS
SELECT tenant, statement_id, toDate(timestamp) AS day, course_id, verb_id, object_id, actor_pseudo
FROM statements
WHERE verb_id = 'http://adlnet.gov/expapi/verbs/voided'
   OR (tenant, statement_id) IN (SELECT tenant, statement_id FROM voided_statements);

CREATE VIEW IF NOT EXISTS daily_activity_valid AS
SELECT tenant, day, course_id, verb_id, learners, statements
FROM daily_activity
WHERE (tenant, day, course_id, verb_id) NOT IN (SELECT tenant, day, course_id, verb_id FROM void_touched)
UNION ALL
SELECT
    tenant,
    toDate(timestamp) AS day,
    course_id,
    verb_id,
    uniqExactState(actor_pseudo) AS learners,
    uniqExactState(statement_id) AS statements
FROM valid_statements
WHERE (tenant, toDate(timestamp), course_id, verb_id) IN (SELECT tenant, day, course_id, verb_id FROM void_touched)
GROUP BY tenant, day, course_id, verb_id;

CREATE VIEW IF NOT EXISTS course_progress_valid AS
SELECT
    tenant, course_id, actor_pseudo, first_seen, last_seen, launched_at, initialized_at, completed_at,
    passed_at, failed_at, course_completed_at, statements, best_score, last_activity
FROM course_progress
WHERE (tenant, course_id, actor_pseudo) NOT IN (SELECT tenant, course_id, actor_pseudo FROM void_touched)
UNION ALL
SELECT
    tenant,
    course_id,
    actor_pseudo,
    minState(timestamp) AS first_seen,
    maxState(timestamp) AS last_seen,
    minState(if(verb_id = 'http://adlnet.gov/expapi/verbs/launched', toNullable(timestamp), NULL)) AS launched_at,
    minState(if(verb_id = 'http://adlnet.gov/expapi/verbs/initialized', toNullable(timestamp), NULL)) AS initialized_at,
    minState(if(verb_id = 'http://adlnet.gov/expapi/verbs/completed', toNullable(timestamp), NULL)) AS completed_at,
    minState(if(verb_id = 'http://adlnet.gov/expapi/verbs/passed', toNullable(timestamp), NULL)) AS passed_at,
    minState(if(verb_id = 'http://adlnet.gov/expapi/verbs/failed', toNullable(timestamp), NULL)) AS failed_at,
    minState(if(object_id = course_id
                AND verb_id IN ('https://w3id.org/xapi/adl/verbs/satisfied', 'http://adlnet.gov/expapi/verbs/completed'),
                toNullable(timestamp), NULL)) AS course_completed_at,
    uniqExactState(statement_id) AS statements,
    maxState(score_scaled) AS best_score,
    argMaxState(object_id, (timestamp, statement_id)) AS last_activity
FROM valid_statements
WHERE course_id != ''
  AND (tenant, course_id, actor_pseudo) IN (SELECT tenant, course_id, actor_pseudo FROM void_touched)
GROUP BY tenant, course_id, actor_pseudo;

-- The finalising view keeps its name and columns, so course_funnel (built
-- on it) and every query reading it leave voided statements out too.
CREATE OR REPLACE VIEW course_learners AS
SELECT
    tenant,
    course_id,
    actor_pseudo,
    minMerge(first_seen) AS first_seen,
    maxMerge(last_seen) AS last_seen,
    minMerge(launched_at) AS launched_at,
    minMerge(initialized_at) AS initialized_at,
    minMerge(completed_at) AS completed_at,
    minMerge(passed_at) AS passed_at,
    minMerge(failed_at) AS failed_at,
    minMerge(course_completed_at) AS course_completed_at,
    uniqExactMerge(statements) AS statements,
    maxMerge(best_score) AS best_score,
    argMaxMerge(last_activity) AS last_activity
FROM course_progress_valid
GROUP BY tenant, course_id, actor_pseudo;

CREATE VIEW IF NOT EXISTS assessment_outcomes_valid AS
SELECT
    tenant, course_id, assessment_id, day, attempts, passed, failed, learners, learners_passed, min_score, max_score
FROM assessment_outcomes
WHERE (tenant, course_id, assessment_id, day) NOT IN (SELECT tenant, course_id, object_id, day FROM void_touched)
UNION ALL
SELECT
    tenant,
    course_id,
    object_id AS assessment_id,
    toDate(timestamp) AS day,
    uniqExactState(statement_id) AS attempts,
    uniqExactState(if(outcome = 1, toNullable(statement_id), NULL)) AS passed,
    uniqExactState(if(outcome = 0, toNullable(statement_id), NULL)) AS failed,
    uniqExactState(actor_pseudo) AS learners,
    uniqExactState(if(outcome = 1, toNullable(actor_pseudo), NULL)) AS learners_passed,
    minState(score_scaled) AS min_score,
    maxState(score_scaled) AS max_score
FROM
(
    SELECT *,
        multiIf(verb_id = 'http://adlnet.gov/expapi/verbs/passed', toNullable(toUInt8(1)),
                verb_id = 'http://adlnet.gov/expapi/verbs/failed', toNullable(toUInt8(0)),
                result_success) AS outcome
    FROM valid_statements
    WHERE (tenant, course_id, object_id, toDate(timestamp)) IN (SELECT tenant, course_id, object_id, day FROM void_touched)
)
WHERE outcome IS NOT NULL
GROUP BY tenant, course_id, assessment_id, day;

-- Uptake keys a void touched: the learner with the statement's object and
-- its course, as recommendation_uptake_statements_mv counts them.
CREATE VIEW IF NOT EXISTS void_touched_items AS
SELECT DISTINCT tenant, actor_pseudo, item_id
FROM void_touched
ARRAY JOIN arrayDistinct(arrayFilter(x -> x != '', [object_id, course_id])) AS item_id;

CREATE VIEW IF NOT EXISTS recommendation_uptake_valid AS
SELECT
    tenant, actor_pseudo, item_id, first_recommended, last_recommended, best_rank, recommendations,
    first_started, last_started, first_completed, last_completed
FROM recommendation_uptake
WHERE (tenant, actor_pseudo, item_id) NOT IN (SELECT tenant, actor_pseudo, item_id FROM void_touched_items)
UNION ALL
SELECT
    tenant,
    actor_pseudo,
    item_id,
    minState(toNullable(recommended_at)) AS first_recommended,
    maxState(toNullable(recommended_at)) AS last_recommended,
    minState(toNullable(rank)) AS best_rank,
    uniqExactState(toNullable(event_id)) AS recommendations,
    minState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS first_started,
    maxState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS last_started,
    minState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS first_completed,
    maxState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS last_completed
FROM recommendations FINAL
WHERE (tenant, actor_pseudo, item_id) IN (SELECT tenant, actor_pseudo, item_id FROM void_touched_items)
GROUP BY tenant, actor_pseudo, item_id
UNION ALL
SELECT
    tenant,
    actor_pseudo,
    item_id,
    minState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS first_recommended,
    maxState(CAST(NULL AS Nullable(DateTime64(3, 'UTC')))) AS last_recommended,
    minState(CAST(NULL AS Nullable(UInt16))) AS best_rank,
    uniqExactState(CAST(NULL AS Nullable(String))) AS recommendations,
    minState(if(started, toNullable(timestamp), NULL)) AS first_started,
    maxState(if(started, toNullable(timestamp), NULL)) AS last_started,
    minState(if(finished, toNullable(timestamp), NULL)) AS first_completed,
    maxState(if(finished, toNullable(timestamp), NULL)) AS last_completed
FROM
(
    SELECT
        tenant,
        actor_pseudo,
        timestamp,
        arrayDistinct(arrayFilter(x -> x != '', [object_id, course_id])) AS items,
        verb_id IN ('http://adlnet.gov/expapi/verbs/launched', 'http://adlnet.gov/expapi/verbs/initialized',
                    'http://adlnet.gov/expapi/verbs/attempted', 'http://adlnet.gov/expapi/verbs/experienced',
                    'http://adlnet.gov/expapi/verbs/progressed') AS started,
        verb_id IN ('http://adlnet.gov/expapi/verbs/completed', 'http://adlnet.gov/expapi/verbs/passed',
                    'http://adlnet.gov/expapi/verbs/mastered', 'https://w3id.org/xapi/adl/verbs/satisfied') AS finished
    FROM valid_statements
    WHERE started OR finished
)
ARRAY JOIN items AS item_id
WHERE (tenant, actor_pseudo, item_id) IN (SELECT tenant, actor_pseudo, item_id FROM void_touched_items)
GROUP BY tenant, actor_pseudo, item_id;

CREATE OR REPLACE VIEW recommended_items AS
SELECT
    tenant,
    actor_pseudo,
    item_id,
    minMerge(first_recommended) AS first_recommended,
    maxMerge(last_recommended) AS last_recommended,
    minMerge(best_rank) AS best_rank,
    uniqExactMerge(recommendations) AS recommendations,
    minMerge(first_started) AS first_started,
    maxMerge(last_started) AS last_started,
    minMerge(first_completed) AS first_completed,
    maxMerge(last_completed) AS last_completed
FROM recommendation_uptake_valid
GROUP BY tenant, actor_pseudo, item_id;
