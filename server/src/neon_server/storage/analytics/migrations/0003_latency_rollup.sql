-- Hourly rollup for analytics: counts, tokens, cost and latency t-digest states per project, hour, span type,
-- model, tool and root-ness, so analytics over weeks read thousands of rows instead of millions of spans.
CREATE TABLE IF NOT EXISTS latency_hourly
(
    project_id  LowCardinality(String),
    hour        DateTime('UTC'),
    span_type   LowCardinality(String),
    model       LowCardinality(String),
    tool_name   LowCardinality(String),
    is_root     UInt8,
    calls       SimpleAggregateFunction(sum, UInt64),
    errors      SimpleAggregateFunction(sum, UInt64),
    input_tokens  SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    total_tokens  SimpleAggregateFunction(sum, UInt64),
    cost        SimpleAggregateFunction(sum, Float64),
    priced_calls SimpleAggregateFunction(sum, UInt64),
    duration_ms AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, hour, span_type, model, tool_name, is_root);

CREATE MATERIALIZED VIEW IF NOT EXISTS latency_hourly_mv TO latency_hourly AS
SELECT
    s.project_id AS project_id,
    toDateTime(toStartOfHour(s.start_time), 'UTC') AS hour,
    s.span_type AS span_type,
    s.model AS model,
    s.tool_name AS tool_name,
    toUInt8(s.parent_span_id = '') AS is_root,
    toUInt64(count()) AS calls,
    toUInt64(countIf(s.status = 'error')) AS errors,
    toUInt64(sum(s.input_tokens)) AS input_tokens,
    toUInt64(sum(s.output_tokens)) AS output_tokens,
    toUInt64(sum(s.total_tokens)) AS total_tokens,
    toFloat64(sum(ifNull(s.cost, 0))) AS cost,
    toUInt64(countIf(s.cost IS NOT NULL)) AS priced_calls,
    quantilesTDigestState(0.5, 0.95, 0.99)(s.duration_ns / 1e6) AS duration_ms
FROM spans AS s
GROUP BY project_id, hour, span_type, model, tool_name, is_root;

-- Spans written before this migration, once (the rollup is empty only before the first backfill or insert).
INSERT INTO latency_hourly
SELECT
    s.project_id AS project_id,
    toDateTime(toStartOfHour(s.start_time), 'UTC') AS hour,
    s.span_type AS span_type,
    s.model AS model,
    s.tool_name AS tool_name,
    toUInt8(s.parent_span_id = '') AS is_root,
    toUInt64(count()) AS calls,
    toUInt64(countIf(s.status = 'error')) AS errors,
    toUInt64(sum(s.input_tokens)) AS input_tokens,
    toUInt64(sum(s.output_tokens)) AS output_tokens,
    toUInt64(sum(s.total_tokens)) AS total_tokens,
    toFloat64(sum(ifNull(s.cost, 0))) AS cost,
    toUInt64(countIf(s.cost IS NOT NULL)) AS priced_calls,
    quantilesTDigestState(0.5, 0.95, 0.99)(s.duration_ns / 1e6) AS duration_ms
FROM spans AS s
WHERE (SELECT count() FROM latency_hourly) = 0
GROUP BY project_id, hour, span_type, model, tool_name, is_root;
