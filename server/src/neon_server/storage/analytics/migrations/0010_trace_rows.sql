-- Complete per-trace rows for the trace list, so that every sort reads about a page instead of aggregating the
-- window. The `traces` rollup keeps one partial row per insert batch until parts merge; here each row is a whole
-- trace: after each insert the writer re-aggregates the traces it touched from `traces` (a point lookup on its
-- key) and writes their full rows (see storage/analytics/trace_rows.py). The version is the span count, which
-- only grows: merges keep the newest row, and readers drop older rows not merged yet (the list checks each
-- candidate's span count against the trace's highest). One projection per sort order lets
-- `ORDER BY <key> LIMIT n` read the rows in order and stop after a page. Granules of 1,024 rows (not 8,192) keep
-- both that read and the newest-row check (a lookup of a page's trace ids) small.
CREATE TABLE IF NOT EXISTS trace_rows
(
    project_id         LowCardinality(String),
    trace_id           String,
    start_time         DateTime64(9, 'UTC'),
    end_time           DateTime64(9, 'UTC'),
    duration_ns        Int64,
    name               String,
    root_span_id       String,
    service            LowCardinality(String),
    status             UInt8,
    span_count         UInt64,
    error_count        UInt64,
    llm_call_count     UInt64,
    tool_call_count    UInt64,
    input_tokens       UInt64,
    output_tokens      UInt64,
    total_tokens       UInt64,
    cost               Float64,
    priced_span_count  UInt64,
    unpriced_llm_calls UInt64,
    session_id         String,
    user_id            String,
    agent_id           LowCardinality(String),
    agent_version      LowCardinality(String),
    environment        LowCardinality(String),
    tags               Array(String),
    models             Array(String),
    tool_names         Array(String),
    PROJECTION by_time (SELECT * ORDER BY project_id, start_time, trace_id),
    PROJECTION by_duration (SELECT * ORDER BY project_id, duration_ns, trace_id),
    PROJECTION by_cost (SELECT * ORDER BY project_id, cost, trace_id),
    PROJECTION by_tokens (SELECT * ORDER BY project_id, total_tokens, trace_id)
)
ENGINE = ReplacingMergeTree(span_count)
ORDER BY (project_id, trace_id)
SETTINGS deduplicate_merge_projection_mode = 'rebuild', index_granularity = 1024;

-- Traces written before this migration (rows already present are skipped, so running it again after an
-- interruption writes only the rest).
INSERT INTO trace_rows
SELECT
    project_id,
    trace_id,
    min(start_time) AS first_start,
    max(end_time) AS last_end,
    toInt64(dateDiff('nanosecond', first_start, last_end)) AS duration_ns,
    max(name) AS name,
    max(root_span_id) AS root_span_id,
    max(service) AS service,
    max(status) AS status,
    sum(span_count) AS span_count,
    sum(error_count) AS error_count,
    sum(llm_call_count) AS llm_call_count,
    sum(tool_call_count) AS tool_call_count,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost) AS cost,
    sum(priced_span_count) AS priced_span_count,
    sum(unpriced_llm_calls) AS unpriced_llm_calls,
    max(session_id) AS session_id,
    max(user_id) AS user_id,
    max(agent_id) AS agent_id,
    max(agent_version) AS agent_version,
    max(environment) AS environment,
    groupUniqArrayArray(tags) AS tags,
    groupUniqArrayArray(models) AS models,
    groupUniqArrayArray(tool_names) AS tool_names
FROM traces
WHERE (project_id, trace_id) NOT IN (SELECT project_id, trace_id FROM trace_rows)
GROUP BY project_id, trace_id;
