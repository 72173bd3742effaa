-- Float series pre-aggregated in step blocks, so that a chart over millions of points reads thousands of rows
-- (written by the Track writer with the points: see neon_server/track/blocks.py).
--
-- Block k of level L holds a series' points with k·2^L < step ≤ (k+1)·2^L (right-closed, as chart buckets are),
-- at levels 4, 8 and 12 (16, 256 and 4,096 steps a block). Per block: the first and last finite points by step
-- as (step, value) — the min and the max of those pairs, with an infinite step when the block has no finite
-- value — min, max and sum of the finite values, and the counts of finite, NaN, +Inf and -Inf values: what a
-- bucket holds, so a bucket whose bounds are block bounds is the merge of its blocks.
--
-- A batch writes partial rows for the blocks it touches; every column merges associatively (the engine merges
-- rows of one key in the background, readers merge whatever rows they find). Preview points are left out.
-- Readers use a series' blocks only when it is not `rewritten` and its blocks count exactly the points of its
-- summary: a series written before this migration, or with preview points, is read from its points.
CREATE TABLE IF NOT EXISTS track_float_blocks
(
    project_id    LowCardinality(String),
    run_id        String,
    path          LowCardinality(String),
    level         UInt8,
    block         Int64,
    first         SimpleAggregateFunction(min, Tuple(Float64, Float64)),
    last          SimpleAggregateFunction(max, Tuple(Float64, Float64)),
    min_value     SimpleAggregateFunction(min, Float64),
    max_value     SimpleAggregateFunction(max, Float64),
    sum_value     SimpleAggregateFunction(sum, Float64),
    finite_count  SimpleAggregateFunction(sum, UInt64),
    nan_count     SimpleAggregateFunction(sum, UInt64),
    posinf_count  SimpleAggregateFunction(sum, UInt64),
    neginf_count  SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, run_id, path, level, block);
