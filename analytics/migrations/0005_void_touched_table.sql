-- 0005: keep the statements a void touched in a table instead of finding
-- them by scanning the fact table at every query.
--
-- void_touched (0004) was a view over statements: every read of a void-aware
-- view scanned the whole statement_id column (about 2.5 s per query at 10M
-- statements). The touched statements are now written as they arrive:
--   - void_touched_statements_mv: a voiding statement itself, and a
--     statement whose void arrived before it (voided_statements is small);
--   - void_touched_targets_mv: when a void arrives, the statement it voids
--     if it is already stored (a scan of statements, but only for inserts
--     that carry voids, which are rare).
-- Every order of arrival ends with both the void and its target listed;
-- ReplacingMergeTree on (tenant, statement_id) makes repeats harmless.
CREATE TABLE IF NOT EXISTS void_touched_statements
(
    tenant       LowCardinality(String),
    statement_id UUID,
    day          Date,
    course_id    String,
    verb_id      LowCardinality(String),
    object_id    String,
    actor_pseudo String
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, statement_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS void_touched_statements_mv TO void_touched_statements AS
SELECT tenant, statement_id, toDate(timestamp) AS day, course_id, verb_id, object_id, actor_pseudo
FROM statements
WHERE verb_id = 'http://adlnet.gov/expapi/verbs/voided'
   OR (tenant, statement_id) IN (SELECT tenant, statement_id FROM voided_statements);

CREATE MATERIALIZED VIEW IF NOT EXISTS void_touched_targets_mv TO void_touched_statements AS
SELECT
    s.tenant AS tenant,
    s.statement_id AS statement_id,
    toDate(s.timestamp) AS day,
    s.course_id AS course_id,
    s.verb_id AS verb_id,
    s.object_id AS object_id,
    s.actor_pseudo AS actor_pseudo
FROM voided_statements AS v
INNER JOIN
(
    SELECT tenant, statement_id, timestamp, course_id, verb_id, object_id, actor_pseudo
    FROM statements
    WHERE (tenant, statement_id) IN (SELECT tenant, statement_id FROM voided_statements)
) AS s ON s.tenant = v.tenant AND s.statement_id = v.statement_id;

-- What was stored before this migration (the views above see only new
-- rows), once: like the record of a migration, the insert selects nothing
-- when version 5 is already recorded, so re-running it is a no-op.
INSERT INTO void_touched_statements
SELECT tenant, statement_id, toDate(timestamp) AS day, course_id, verb_id, object_id, actor_pseudo
FROM statements
WHERE (SELECT count() FROM learnstream_schema_migrations WHERE version = 5) = 0
  AND (verb_id = 'http://adlnet.gov/expapi/verbs/voided'
       OR (tenant, statement_id) IN (SELECT tenant, statement_id FROM voided_statements));

CREATE OR REPLACE VIEW void_touched AS
SELECT tenant, statement_id, day, course_id, verb_id, object_id, actor_pseudo
FROM void_touched_statements FINAL;
