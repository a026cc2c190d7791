-- 0002: catalog dimension tables from learnstream.catalog.v1 (a compacted,
-- entity-keyed topic). Each is a ReplacingMergeTree(version, deleted) keyed by
-- the entity: the newest version wins, and a delete (tombstone) hides the
-- entity under FINAL. version is the event time in nanoseconds.

CREATE TABLE IF NOT EXISTS catalog_activities
(
    tenant        LowCardinality(String),
    activity_id   String,
    name          String,
    description   String,
    activity_type LowCardinality(String),
    course_id     String,
    skill_ids     Array(String),
    difficulty    Nullable(Float64),
    updated_at    DateTime64(3, 'UTC'),
    version       UInt64,
    deleted       UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, activity_id);

CREATE TABLE IF NOT EXISTS catalog_skills
(
    tenant      LowCardinality(String),
    skill_id    String,
    name        String,
    description String,
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64,
    deleted     UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, skill_id);

-- An edge: prerequisite_id must be mastered before skill_id.
CREATE TABLE IF NOT EXISTS catalog_prerequisites
(
    tenant          LowCardinality(String),
    skill_id        String,
    prerequisite_id String,
    updated_at      DateTime64(3, 'UTC'),
    version         UInt64,
    deleted         UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, skill_id, prerequisite_id);

-- A role and the skills it requires; skill_ids[i] must reach target_levels[i].
CREATE TABLE IF NOT EXISTS catalog_roles
(
    tenant        LowCardinality(String),
    role_id       String,
    name          String,
    skill_ids     Array(String),
    target_levels Array(Float64),
    updated_at    DateTime64(3, 'UTC'),
    version       UInt64,
    deleted       UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, role_id);

-- Which learners hold which role.
CREATE TABLE IF NOT EXISTS role_members
(
    tenant       LowCardinality(String),
    role_id      String,
    actor_key    String,
    actor_pseudo String,
    updated_at   DateTime64(3, 'UTC'),
    version      UInt64,
    deleted      UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, role_id, actor_pseudo);
