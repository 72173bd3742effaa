-- Partial cost: how many of a trace's LLM calls (spans with a model and tokens) got no price, so a trace whose
-- cost leaves some calls out can say so. Counted by the traces rollup from now on; spans written before this
-- migration are counted once below.
ALTER TABLE traces ADD COLUMN IF NOT EXISTS unpriced_llm_calls SimpleAggregateFunction(sum, UInt64) AFTER priced_span_count;

-- The rollup's query, as in 0001 plus the new count (MODIFY QUERY swaps it without a moment when inserts
-- would miss the view).
ALTER TABLE traces_mv MODIFY QUERY
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
    toUInt64(countIf(s.cost IS NULL AND s.model != ''
                     AND (s.input_tokens > 0 OR s.output_tokens > 0 OR s.total_tokens > 0))) AS unpriced_llm_calls,
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

-- Traces written before: one more rollup row per trace with unpriced calls, carrying only that count (and the
-- trace's own start and end, which min/max leave as they are). Skipped when any trace already has a count, so a
-- migration interrupted after this statement and run again does not count twice.
INSERT INTO traces (project_id, trace_id, start_time, end_time, unpriced_llm_calls)
SELECT
    s.project_id,
    s.trace_id,
    min(s.start_time) AS start_time,
    max(s.end_time) AS end_time,
    toUInt64(count()) AS unpriced_llm_calls
FROM spans AS s FINAL
WHERE s.cost IS NULL AND s.model != '' AND (s.input_tokens > 0 OR s.output_tokens > 0 OR s.total_tokens > 0)
  AND (SELECT count() FROM traces WHERE unpriced_llm_calls > 0) = 0
GROUP BY s.project_id, s.trace_id;
