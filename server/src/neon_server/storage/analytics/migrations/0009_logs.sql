-- OTLP log records (`POST /v1/logs`): every record kept, with or without a trace. Ordered like `spans` (day,
-- trace, span, time), with a bloom filter on trace_id, so "the logs of a span / of a trace" reads a few granules.
-- GenAI prompt/completion events stay here too and are folded into their span's input/output when it is read.
-- `record_id` is derived from the request digest and the record's place in it: a retried body that is
-- written again (after a crash) collapses onto the same rows.
CREATE TABLE IF NOT EXISTS logs
(
    project_id          LowCardinality(String),
    trace_id            String DEFAULT '',
    span_id             String DEFAULT '',
    time                DateTime64(9, 'UTC'),
    observed_time       DateTime64(9, 'UTC'),
    seq                 UInt32 DEFAULT 0,
    record_id           String,
    severity_number     UInt8 DEFAULT 0,
    severity_text       LowCardinality(String) DEFAULT '',
    body                String DEFAULT '' CODEC(ZSTD(3)),
    body_type           LowCardinality(String) DEFAULT '',
    event_name          LowCardinality(String) DEFAULT '',
    attributes          Map(LowCardinality(String), String) DEFAULT map() CODEC(ZSTD(3)),
    resource_attributes Map(LowCardinality(String), String) DEFAULT map() CODEC(ZSTD(1)),
    service             LowCardinality(String) DEFAULT '',
    scope               LowCardinality(String) DEFAULT '',
    flags               UInt32 DEFAULT 0,
    truncated           UInt8 DEFAULT 0,
    ingest_request      String DEFAULT '' CODEC(ZSTD(1)),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_event_name event_name TYPE set(256) GRANULARITY 4,
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(time)
ORDER BY (project_id, toDate(time), trace_id, span_id, time, record_id);
