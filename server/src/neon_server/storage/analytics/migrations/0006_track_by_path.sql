-- Track, read by attribute path: the runs table filters and sorts every run of a project on one attribute or
-- series at a time, and looks up attribute names by regular expression.
--
-- track_attributes and track_series are ordered by run, then path: reading one path of 10,000 runs reads all of
-- their rows (9M at 1,000 attributes per run: 0.5 s). These copies, kept by materialized views on every insert,
-- are ordered by path, then run, so the same read is one key range (10k rows: ~15 ms). They are
-- ReplacingMergeTrees with the source's version: read them with FINAL, as the source.
CREATE TABLE IF NOT EXISTS track_attributes_by_path AS track_attributes
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, path, run_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS track_attributes_by_path_mv TO track_attributes_by_path
AS SELECT * FROM track_attributes;

CREATE TABLE IF NOT EXISTS track_series_by_path AS track_series
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, path, run_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS track_series_by_path_mv TO track_series_by_path
AS SELECT * FROM track_series;

-- The project's attribute names: one row per (path, type) after merges, with the runs that have it as a
-- distinct-count state. Values are never deleted, so the count only grows (an attribute assigned again is the
-- same run). What attribute search reads: a few thousand rows, not every value. uniqCombined(15) is exact up to
-- about 1,000 runs a name and within about 1% beyond, in at most 24 KiB a name: an exact state (uniqExact, 16
-- bytes a run) took 0.9 s to merge for 100 names at 100k runs, `uniq` (4 bytes a run, to 256 KiB) 0.3-1 s;
-- this one 20-30 ms.
CREATE TABLE IF NOT EXISTS track_paths
(
    project_id  LowCardinality(String),
    path        String,
    type        LowCardinality(String),
    runs        AggregateFunction(uniqCombined(15), String)
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, path, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS track_paths_attributes_mv TO track_paths
AS SELECT project_id, path, type, uniqCombinedState(15)(run_id) AS runs FROM track_attributes
GROUP BY project_id, path, type;

CREATE MATERIALIZED VIEW IF NOT EXISTS track_paths_series_mv TO track_paths
AS SELECT project_id, path, type, uniqCombinedState(15)(run_id) AS runs FROM track_series
GROUP BY project_id, path, type;

-- What was written before these views existed (a row copied twice is one row after FINAL: same key, same
-- version; the distinct counts are unchanged by a run counted twice).
INSERT INTO track_attributes_by_path SELECT * FROM track_attributes;

INSERT INTO track_series_by_path SELECT * FROM track_series;

INSERT INTO track_paths SELECT project_id, path, type, uniqCombinedState(15)(run_id) FROM track_attributes
GROUP BY project_id, path, type;

INSERT INTO track_paths SELECT project_id, path, type, uniqCombinedState(15)(run_id) FROM track_series
GROUP BY project_id, path, type
