-- Core analytics schema: spans (observations-first), their large payloads, the per-trace rollup,
-- scores, and the daily rollups that dashboards read. Every statement is idempotent.

-- One row per span. Big inputs/outputs live in span_payloads so that metadata scans stay small.
-- ReplacingMergeTree: a span written twice (a retried export) collapses to one row on merge; the
-- ingest path keeps duplicates out of the rollups below, which count what is inserted.
CREATE TABLE IF NOT EXISTS spans
(
    project_id          LowCardinality(String),
    trace_id            String,
    span_id             String,
    parent_span_id      String DEFAULT '',
    name                String,
    span_type           LowCardinality(String) DEFAULT 'span',
    component_type      LowCardinality(String) DEFAULT '',
    service             LowCardinality(String) DEFAULT '',
    scope               LowCardinality(String) DEFAULT '',
    start_time          DateTime64(9, 'UTC'),
    end_time            DateTime64(9, 'UTC'),
    duration_ns         UInt64,
    status              Enum8('unset' = 0, 'ok' = 1, 'error' = 2) DEFAULT 'unset',
    status_message      String DEFAULT '',
    model               LowCardinality(String) DEFAULT '',
    provider            LowCardinality(String) DEFAULT '',
    input_tokens        UInt32 DEFAULT 0,
    output_tokens       UInt32 DEFAULT 0,
    cached_input_tokens UInt32 DEFAULT 0,
    total_tokens        UInt32 DEFAULT 0,
    cost                Nullable(Float64),
    tool_name           LowCardinality(String) DEFAULT '',
    session_id          String DEFAULT '',
    user_id             String DEFAULT '',
    agent_id            LowCardinality(String) DEFAULT '',
    agent_version       LowCardinality(String) DEFAULT '',
    environment         LowCardinality(String) DEFAULT '',
    tags                Array(LowCardinality(String)) DEFAULT [],
    attributes          Map(LowCardinality(String), String) DEFAULT map() CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String) DEFAULT map() CODEC(ZSTD(1)),
    events              String DEFAULT '' CODEC(ZSTD(3)),
    truncated           UInt8 DEFAULT 0,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_tool_name tool_name TYPE set(256) GRANULARITY 4,
    INDEX idx_model model TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, toDate(start_time), trace_id, span_id);

-- Inputs and outputs of spans, kept apart from span metadata (they are most of the bytes).
CREATE TABLE IF NOT EXISTS span_payloads
(
    project_id  LowCardinality(String),
    trace_id    String,
    span_id     String,
    start_time  DateTime64(9, 'UTC'),
    input       String DEFAULT '' CODEC(ZSTD(3)),
    output      String DEFAULT '' CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, toDate(start_time), trace_id, span_id);

-- Per-trace rollup. Spans of one trace arrive in several batches, and an aggregating table merges only
-- rows with equal sort keys, so the key is (project_id, trace_id) alone; readers aggregate again
-- (GROUP BY trace_id, or FINAL) to combine parts not merged yet. The trace's name and root span come
-- from the span without a parent: max() over '' and that value picks it whichever batch brings it.
CREATE TABLE IF NOT EXISTS traces
(
    project_id       LowCardinality(String),
    trace_id         String,
    start_time       SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    end_time         SimpleAggregateFunction(max, DateTime64(9, 'UTC')),
    name             SimpleAggregateFunction(max, String),
    root_span_id     SimpleAggregateFunction(max, String),
    service          SimpleAggregateFunction(max, String),
    status           SimpleAggregateFunction(max, UInt8),
    span_count       SimpleAggregateFunction(sum, UInt64),
    error_count      SimpleAggregateFunction(sum, UInt64),
    llm_call_count   SimpleAggregateFunction(sum, UInt64),
    tool_call_count  SimpleAggregateFunction(sum, UInt64),
    input_tokens     SimpleAggregateFunction(sum, UInt64),
    output_tokens    SimpleAggregateFunction(sum, UInt64),
    total_tokens     SimpleAggregateFunction(sum, UInt64),
    cost             SimpleAggregateFunction(sum, Float64),
    priced_span_count SimpleAggregateFunction(sum, UInt64),
    session_id       SimpleAggregateFunction(max, String),
    user_id          SimpleAggregateFunction(max, String),
    agent_id         SimpleAggregateFunction(max, String),
    agent_version    SimpleAggregateFunction(max, String),
    environment      SimpleAggregateFunction(max, String),
    tags             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models           SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    tool_names       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    updated_at       SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    INDEX idx_start_time start_time TYPE minmax GRANULARITY 1
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, trace_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS traces_mv TO traces AS
SELECT
    s.project_id,
    s.trace_id,
    min(s.start_time) AS start_time,
    max(s.end_time) AS end_time,
    max(if(s.parent_span_id = '', s.name, '')) AS name,
    max(if(s.parent_span_id = '', s.span_id, '')) AS root_span_id,
    max(if(s.parent_span_id = '', toString(s.service), '')) AS service,
    max(toUInt8(s.status)) AS status,
    toUInt64(count()) AS span_count,
    toUInt64(countIf(s.status = 'error')) AS error_count,
    toUInt64(countIf(s.span_type = 'generation')) AS llm_call_count,
    toUInt64(countIf(s.span_type = 'tool')) AS tool_call_count,
    toUInt64(sum(s.input_tokens)) AS input_tokens,
    toUInt64(sum(s.output_tokens)) AS output_tokens,
    toUInt64(sum(s.total_tokens)) AS total_tokens,
    toFloat64(sum(ifNull(s.cost, 0))) AS cost,
    toUInt64(countIf(s.cost IS NOT NULL)) AS priced_span_count,
    max(s.session_id) AS session_id,
    max(s.user_id) AS user_id,
    max(toString(s.agent_id)) AS agent_id,
    max(toString(s.agent_version)) AS agent_version,
    max(toString(s.environment)) AS environment,
    groupUniqArrayArray(arrayMap(t -> toString(t), s.tags)) AS tags,
    groupUniqArrayIf(toString(s.model), s.model != '') AS models,
    groupUniqArrayIf(toString(s.tool_name), s.tool_name != '') AS tool_names,
    max(s.ingested_at) AS updated_at
FROM spans AS s
GROUP BY project_id, trace_id;

-- Scores on traces or spans, from the API, the SDK, annotations, eval runs and online rules.
CREATE TABLE IF NOT EXISTS scores
(
    project_id      LowCardinality(String),
    score_id        String,
    trace_id        String,
    span_id         String DEFAULT '',
    name            LowCardinality(String),
    value           Nullable(Float64),
    string_value    String DEFAULT '',
    data_type       Enum8('numeric' = 1, 'categorical' = 2, 'boolean' = 3),
    source          Enum8('api' = 1, 'sdk' = 2, 'annotation' = 3, 'eval' = 4, 'online' = 5),
    scorer          LowCardinality(String) DEFAULT '',
    reason          String DEFAULT '' CODEC(ZSTD(3)),
    evidence        String DEFAULT '' CODEC(ZSTD(3)),
    eval_run_id     String DEFAULT '',
    dataset_item_id String DEFAULT '',
    metadata        Map(LowCardinality(String), String) DEFAULT map(),
    created_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_eval_run_id eval_run_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (project_id, name, score_id);

-- Daily totals per project and span type: trace and span counts, errors, tokens, cost, time spent.
CREATE TABLE IF NOT EXISTS daily_stats
(
    project_id       LowCardinality(String),
    day              Date,
    span_type        LowCardinality(String),
    span_count       UInt64,
    root_span_count  UInt64,
    error_count      UInt64,
    input_tokens     UInt64,
    output_tokens    UInt64,
    total_tokens     UInt64,
    cost             Float64,
    duration_ns      UInt64
)
ENGINE = SummingMergeTree
ORDER BY (project_id, day, span_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_stats_mv TO daily_stats AS
SELECT
    s.project_id,
    toDate(s.start_time) AS day,
    s.span_type,
    toUInt64(count()) AS span_count,
    toUInt64(countIf(s.parent_span_id = '')) AS root_span_count,
    toUInt64(countIf(s.status = 'error')) AS error_count,
    toUInt64(sum(s.input_tokens)) AS input_tokens,
    toUInt64(sum(s.output_tokens)) AS output_tokens,
    toUInt64(sum(s.total_tokens)) AS total_tokens,
    toFloat64(sum(ifNull(s.cost, 0))) AS cost,
    toUInt64(sum(s.duration_ns)) AS duration_ns
FROM spans AS s
GROUP BY project_id, day, span_type;

-- LLM usage per model and day: calls, tokens and cost (priced_calls says how many calls had a price).
CREATE TABLE IF NOT EXISTS model_usage_daily
(
    project_id          LowCardinality(String),
    day                 Date,
    model               LowCardinality(String),
    provider            LowCardinality(String),
    calls               UInt64,
    error_count         UInt64,
    input_tokens        UInt64,
    output_tokens       UInt64,
    cached_input_tokens UInt64,
    total_tokens        UInt64,
    cost                Float64,
    priced_calls        UInt64
)
ENGINE = SummingMergeTree
ORDER BY (project_id, day, model, provider);

CREATE MATERIALIZED VIEW IF NOT EXISTS model_usage_daily_mv TO model_usage_daily AS
SELECT
    s.project_id,
    toDate(s.start_time) AS day,
    s.model,
    s.provider,
    toUInt64(count()) AS calls,
    toUInt64(countIf(s.status = 'error')) AS error_count,
    toUInt64(sum(s.input_tokens)) AS input_tokens,
    toUInt64(sum(s.output_tokens)) AS output_tokens,
    toUInt64(sum(s.cached_input_tokens)) AS cached_input_tokens,
    toUInt64(sum(s.total_tokens)) AS total_tokens,
    toFloat64(sum(ifNull(s.cost, 0))) AS cost,
    toUInt64(countIf(s.cost IS NOT NULL)) AS priced_calls
FROM spans AS s
WHERE s.model != ''
GROUP BY project_id, day, model, provider;
