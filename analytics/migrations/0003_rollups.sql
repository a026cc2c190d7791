-- 0003: rollups kept current by materialised views, and finalising views.
--
-- A materialised view sees each block inserted into its source table, so a
-- replayed event is fed to it again. Every state below is therefore an
-- idempotent aggregate: uniqExact over ids, min, max, and argMax with a
-- unique tie-breaker. Adding the same row twice leaves each state unchanged,
-- which makes the rollups exact without FINAL (sums and counts would not be:
-- they are computed from the fact tables with FINAL instead).

-- Learners and statements per tenant, day, course and verb.
CREATE TABLE IF NOT EXISTS daily_activity
(
    tenant     LowCardinality(String),
    day        Date,
    course_id  String,
    verb_id    LowCardinality(String),
    learners   AggregateFunction(uniqExact, String),
    statements AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, course_id, verb_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_activity_mv TO daily_activity AS
SELECT
    tenant,
    toDate(timestamp) AS day,
    course_id,
    verb_id,
    uniqExactState(actor_pseudo) AS learners,
    uniqExactState(statement_id) AS statements
FROM statements
GROUP BY tenant, day, course_id, verb_id;

-- One row per learner and course: when each cmi5 milestone was first
-- reached, first/last activity, best score, and the last activity touched.
CREATE TABLE IF NOT EXISTS course_progress
(
    tenant              LowCardinality(String),
    course_id           String,
    actor_pseudo        String,
    first_seen          AggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen           AggregateFunction(max, DateTime64(3, 'UTC')),
    launched_at         AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    initialized_at      AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    completed_at        AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    passed_at           AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    failed_at           AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    course_completed_at AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    statements          AggregateFunction(uniqExact, UUID),
    best_score          AggregateFunction(max, Nullable(Float64)),
    last_activity       AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), UUID))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, course_id, actor_pseudo);

CREATE MATERIALIZED VIEW IF NOT EXISTS course_progress_mv TO course_progress AS
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
FROM statements
WHERE course_id != ''
GROUP BY tenant, course_id, actor_pseudo;

CREATE VIEW IF NOT EXISTS course_learners AS
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
FROM course_progress
GROUP BY tenant, course_id, actor_pseudo;

-- Strict funnel: each stage counts learners who reached it and every stage before it.
CREATE VIEW IF NOT EXISTS course_funnel AS
SELECT
    tenant,
    course_id,
    countIf(launched_at IS NOT NULL) AS launched,
    countIf(launched_at IS NOT NULL AND initialized_at IS NOT NULL) AS initialized,
    countIf(launched_at IS NOT NULL AND initialized_at IS NOT NULL AND completed_at IS NOT NULL) AS completed,
    countIf(launched_at IS NOT NULL AND initialized_at IS NOT NULL AND completed_at IS NOT NULL
            AND passed_at IS NOT NULL) AS passed
FROM course_learners
GROUP BY tenant, course_id;

-- Judged attempts per assessment and day. outcome: passed -> 1, failed -> 0,
-- otherwise result.success.
CREATE TABLE IF NOT EXISTS assessment_outcomes
(
    tenant          LowCardinality(String),
    course_id       String,
    assessment_id   String,
    day             Date,
    attempts        AggregateFunction(uniqExact, UUID),
    passed          AggregateFunction(uniqExact, Nullable(UUID)),
    failed          AggregateFunction(uniqExact, Nullable(UUID)),
    learners        AggregateFunction(uniqExact, String),
    learners_passed AggregateFunction(uniqExact, Nullable(String)),
    min_score       AggregateFunction(min, Nullable(Float64)),
    max_score       AggregateFunction(max, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, course_id, assessment_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS assessment_outcomes_mv TO assessment_outcomes AS
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
    FROM statements
)
WHERE outcome IS NOT NULL
GROUP BY tenant, course_id, assessment_id, day;

-- Per learner and skill: first BKT update (the first graded attempt), first
-- time p_mastery reached 0.95, and the latest p_mastery.
CREATE TABLE IF NOT EXISTS skill_mastery
(
    tenant       LowCardinality(String),
    skill_id     String,
    actor_pseudo String,
    first_update AggregateFunction(min, DateTime64(3, 'UTC')),
    last_update  AggregateFunction(max, DateTime64(3, 'UTC')),
    mastered_at  AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    latest_p     AggregateFunction(argMax, Float64, Tuple(DateTime64(3, 'UTC'), String)),
    updates      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, skill_id, actor_pseudo);

CREATE MATERIALIZED VIEW IF NOT EXISTS skill_mastery_mv TO skill_mastery AS
SELECT
    tenant,
    skill_id,
    actor_pseudo,
    minState(updated_at) AS first_update,
    maxState(updated_at) AS last_update,
    minState(if(p_mastery >= 0.95, toNullable(updated_at), NULL)) AS mastered_at,
    argMaxState(p_mastery, (updated_at, event_id)) AS latest_p,
    uniqExactState(event_id) AS updates
FROM mastery_events
GROUP BY tenant, skill_id, actor_pseudo;

CREATE VIEW IF NOT EXISTS learner_skills AS
SELECT
    tenant,
    skill_id,
    actor_pseudo,
    minMerge(first_update) AS first_update,
    maxMerge(last_update) AS last_update,
    minMerge(mastered_at) AS mastered_at,
    argMaxMerge(latest_p) AS p_mastery,
    uniqExactMerge(updates) AS updates
FROM skill_mastery
GROUP BY tenant, skill_id, actor_pseudo;

-- Per learner and item: when it was recommended, and when the learner
-- started or completed it (as the statement's object or its course). Fed by
-- two views, one from each fact table; each leaves the other's states empty.
CREATE TABLE IF NOT EXISTS recommendation_uptake
(
    tenant            LowCardinality(String),
    actor_pseudo      String,
    item_id           String,
    first_recommended AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_recommended  AggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    best_rank         AggregateFunction(min, Nullable(UInt16)),
    recommendations   AggregateFunction(uniqExact, Nullable(String)),
    first_started     AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_started      AggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    first_completed   AggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_completed    AggregateFunction(max, Nullable(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, actor_pseudo, item_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS recommendation_uptake_recs_mv TO recommendation_uptake AS
SELECT
    tenant,
    actor_pseudo,
    item_id,
    minState(toNullable(recommended_at)) AS first_recommended,
    maxState(toNullable(recommended_at)) AS last_recommended,
    minState(toNullable(rank)) AS best_rank,
    uniqExactState(toNullable(event_id)) AS recommendations
FROM recommendations
GROUP BY tenant, actor_pseudo, item_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS recommendation_uptake_statements_mv TO recommendation_uptake AS
SELECT
    tenant,
    actor_pseudo,
    item_id,
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
    FROM statements
    WHERE started OR finished
)
ARRAY JOIN items AS item_id
GROUP BY tenant, actor_pseudo, item_id;

CREATE VIEW IF NOT EXISTS recommended_items AS
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
FROM recommendation_uptake
GROUP BY tenant, actor_pseudo, item_id;
