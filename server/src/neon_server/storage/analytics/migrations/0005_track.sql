-- Track: training runs, their typed attributes and their series (float, string, histogram, file).
--
-- Every table is a ReplacingMergeTree keyed by what identifies a value, versioned by the write sequence
-- (`version`, nanoseconds at write): a value written again for the same key (an attribute assigned again, a
-- point logged again at the same step, a retried request) replaces the old one. Readers take the newest row per
-- key (FINAL or argMax), so the answer never depends on whether a merge has run.
-- Steps are Float64 (fractional steps: whole + micro/1e6); times are epoch milliseconds in DateTime64(3).

-- One row per run (the metadata store holds the same identity with its uniqueness rules; this copy is what
-- analytical queries join with).
CREATE TABLE IF NOT EXISTS track_runs
(
    project_id          LowCardinality(String),
    run_id              String,
    short_id            String,
    experiment_name     String DEFAULT '',
    family              String DEFAULT '',
    owner               String DEFAULT '',
    created_at          DateTime64(3, 'UTC'),
    fork_parent_run_id  String DEFAULT '',
    fork_step           Nullable(Float64),
    version             UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id);

-- Typed single-value attributes: configs, sys/*, tags (a string set), single files. One column per type;
-- `type` says which one holds the value.
CREATE TABLE IF NOT EXISTS track_attributes
(
    project_id      LowCardinality(String),
    run_id          String,
    path            String,
    type            LowCardinality(String),
    float_value     Float64 DEFAULT 0,
    int_value       Int64 DEFAULT 0,
    bool_value      Bool DEFAULT false,
    string_value    String DEFAULT '' CODEC(ZSTD(1)),
    datetime_value  DateTime64(3, 'UTC') DEFAULT 0,
    string_set      Array(String) DEFAULT [],
    file_path       String DEFAULT '',
    file_size       Int64 DEFAULT 0,
    file_mime       String DEFAULT '',
    updated_at      DateTime64(3, 'UTC'),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path);

-- Float series points: the bulk of the data.
CREATE TABLE IF NOT EXISTS track_float_points
(
    project_id  LowCardinality(String),
    run_id      String,
    path        LowCardinality(String),
    step        Float64,
    time        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    value       Float64,
    preview     Bool DEFAULT false,
    ratio       Float32 DEFAULT 1,
    version     UInt64 CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path, step);

CREATE TABLE IF NOT EXISTS track_string_points
(
    project_id  LowCardinality(String),
    run_id      String,
    path        LowCardinality(String),
    step        Float64,
    time        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    value       String CODEC(ZSTD(3)),
    preview     Bool DEFAULT false,
    ratio       Float32 DEFAULT 1,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path, step);

CREATE TABLE IF NOT EXISTS track_histogram_points
(
    project_id  LowCardinality(String),
    run_id      String,
    path        LowCardinality(String),
    step        Float64,
    time        DateTime64(3, 'UTC'),
    kind        LowCardinality(String) DEFAULT 'counts',
    bin_edges   Array(Float64) CODEC(ZSTD(3)),
    bin_values  Array(Float64) CODEC(ZSTD(3)),
    preview     Bool DEFAULT false,
    ratio       Float32 DEFAULT 1,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path, step);

CREATE TABLE IF NOT EXISTS track_file_points
(
    project_id  LowCardinality(String),
    run_id      String,
    path        LowCardinality(String),
    step        Float64,
    time        DateTime64(3, 'UTC'),
    file_path   String,
    file_size   Int64 DEFAULT 0,
    file_mime   String DEFAULT '',
    preview     Bool DEFAULT false,
    ratio       Float32 DEFAULT 1,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path, step);

-- One row per series, kept at write time by the writer (never by scanning points on read): what the runs
-- table, filters, sorts and attribute listings need. Statistics are over finite values; NaN and ±Inf are
-- counted apart. `sum_sq_dev` is the sum of squared deviations from the mean (Welford's M2), so that
-- variance = sum_sq_dev / finite_count. `rewritten`: some step of the series was logged again, so its points table
-- may hold replaced rows until a merge: readers use FINAL for such series only (value is stored without
-- Gorilla: decoding it cost twice the time of a bucket query).
CREATE TABLE IF NOT EXISTS track_series
(
    project_id      LowCardinality(String),
    run_id          String,
    path            String,
    type            LowCardinality(String),
    count           UInt64,
    finite_count    UInt64 DEFAULT 0,
    nan_count       UInt64 DEFAULT 0,
    posinf_count    UInt64 DEFAULT 0,
    neginf_count    UInt64 DEFAULT 0,
    first_step      Float64,
    last_step       Float64,
    last_value      Float64 DEFAULT nan,
    min_value       Float64 DEFAULT nan,
    max_value       Float64 DEFAULT nan,
    mean_value      Float64 DEFAULT nan,
    sum_sq_dev      Float64 DEFAULT 0,
    first_time      DateTime64(3, 'UTC'),
    last_time       DateTime64(3, 'UTC'),
    rewritten       Bool DEFAULT false,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, run_id, path);
