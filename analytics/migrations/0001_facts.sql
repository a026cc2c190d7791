-- 0001: fact tables written by the analytics sink.
--
-- Every fact table is a ReplacingMergeTree whose sorting key ends in the
-- identity of the fact (statement id, event id + item), and whose other key
-- columns are copied verbatim from the immutable event. A replayed event
-- therefore lands on exactly the same key and collapses into one row; read
-- with FINAL (or through the idempotent rollups of 0003) for exact answers.
-- The version column is ingest_version (the encoder's version), so a replay
-- through a newer encoder replaces the rows an older one wrote.

CREATE TABLE IF NOT EXISTS statements
(
    tenant            LowCardinality(String),
    statement_id      UUID,
    event_id          String,
    actor_key         String,
    actor_pseudo      String,
    actor_name        String,
    actor_type        LowCardinality(String),
    verb_id           LowCardinality(String),
    verb_display      LowCardinality(String),
    object_id         String,
    object_type       LowCardinality(String),
    object_name       String,
    activity_type     LowCardinality(String),
    course_id         String,
    parent_ids        Array(String),
    grouping_ids      Array(String),
    category_ids      Array(String),
    registration      Nullable(UUID),
    session_id        String,
    result_success    Nullable(UInt8),
    result_completion Nullable(UInt8),
    score_scaled      Nullable(Float64),
    score_raw         Nullable(Float64),
    score_min         Nullable(Float64),
    score_max         Nullable(Float64),
    duration_seconds  Nullable(Float64),
    response          String,
    timestamp         DateTime64(3, 'UTC'),
    stored            DateTime64(3, 'UTC'),
    xapi_version      LowCardinality(String),
    raw               String CODEC(ZSTD(3)),
    ingest_version    UInt32,
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_actor  actor_pseudo TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_course course_id    TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_object object_id    TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant, toDate(timestamp), verb_id, statement_id);

-- One row per recommended item per RecommendationsUpdated event.
CREATE TABLE IF NOT EXISTS recommendations
(
    tenant         LowCardinality(String),
    event_id       String,
    actor_key      String,
    actor_pseudo   String,
    item_id        String,
    rank           UInt16,
    score          Float64,
    reasons        Array(LowCardinality(String)),
    model          LowCardinality(String),
    recommended_at DateTime64(3, 'UTC'),
    ingest_version UInt32,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(recommended_at)
ORDER BY (tenant, actor_pseudo, item_id, event_id);

-- One row per MasteryUpdated event (BKT posterior after one graded attempt).
CREATE TABLE IF NOT EXISTS mastery_events
(
    tenant         LowCardinality(String),
    event_id       String,
    actor_key      String,
    actor_pseudo   String,
    skill_id       String,
    p_mastery      Float64,
    p_previous     Nullable(Float64),
    item_id        String,
    statement_id   String,
    correct        Nullable(UInt8),
    updated_at     DateTime64(3, 'UTC'),
    ingest_version UInt32,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(updated_at)
ORDER BY (tenant, skill_id, actor_pseudo, event_id);

-- One row per DifficultyAdjusted event (Elo update of an item after an attempt).
CREATE TABLE IF NOT EXISTS difficulty_events
(
    tenant              LowCardinality(String),
    event_id            String,
    item_id             String,
    skill_id            String,
    difficulty          Float64,
    difficulty_previous Nullable(Float64),
    actor_key           String,
    actor_pseudo        String,
    ability             Nullable(Float64),
    expected            Nullable(Float64),
    correct             Nullable(UInt8),
    statement_id        String,
    adjusted_at         DateTime64(3, 'UTC'),
    ingest_version      UInt32,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(adjusted_at)
ORDER BY (tenant, item_id, event_id);
