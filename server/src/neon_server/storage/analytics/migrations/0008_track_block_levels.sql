-- Two more levels of step blocks, 6 and 10 (64 and 1,024 steps), between the levels 4, 8 and 12 of 0007: with
-- levels four times apart, a chart's buckets always find blocks of a few times smaller than themselves, so 100
-- runs of 100k points in 1,000 buckets each merge ~156k block rows instead of ~625k (see
-- neon_server/storage/analytics/track_blocks.py). The writer keeps all five levels from now on; the blocks
-- written before are derived here from level 4, exactly (every column merges associatively).
--
-- Run again after an interruption, the delete first keeps the derived rows from being counted twice (nothing
-- else writes before the migrations are done).
ALTER TABLE track_float_blocks DELETE WHERE level IN (6, 10) SETTINGS mutations_sync = 2;

INSERT INTO track_float_blocks
SELECT project_id, run_id, path, toUInt8(6), toInt64(floor(block / 4)) AS derived, min(first), max(last),
       min(min_value), max(max_value), sum(sum_value), sum(finite_count), sum(nan_count), sum(posinf_count),
       sum(neginf_count)
FROM track_float_blocks WHERE level = 4 GROUP BY project_id, run_id, path, derived;

INSERT INTO track_float_blocks
SELECT project_id, run_id, path, toUInt8(10), toInt64(floor(block / 64)) AS derived, min(first), max(last),
       min(min_value), max(max_value), sum(sum_value), sum(finite_count), sum(nan_count), sum(posinf_count),
       sum(neginf_count)
FROM track_float_blocks WHERE level = 4 GROUP BY project_id, run_id, path, derived
