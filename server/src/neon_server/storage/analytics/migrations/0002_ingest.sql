-- Ingestion: which request wrote each span (so a retried export is recognised, also after a restart),
-- payload-carrying attributes kept beside the payloads, and an index to find recent writes fast.
ALTER TABLE spans ADD COLUMN IF NOT EXISTS ingest_request String DEFAULT '' CODEC(ZSTD(1));
ALTER TABLE spans ADD INDEX IF NOT EXISTS idx_ingested_at ingested_at TYPE minmax GRANULARITY 1;
ALTER TABLE span_payloads ADD COLUMN IF NOT EXISTS attributes Map(LowCardinality(String), String) DEFAULT map() CODEC(ZSTD(3));
