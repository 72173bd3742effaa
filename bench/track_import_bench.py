"""Import benchmark: rows/s of `neon import neptune` for neptune-exporter exports of 100 MB and 1 GB.

Generates an export in the exporter's shape in a temporary folder (`<data>/<project>/<run>_part_<n>.parquet`,
Snappy, parts rolled past 50 MiB, part_0 written last): runs of 30 parameters, 20 float series with fractional
steps (random values, so the Parquet compresses as real metrics do, ~1 % NaN) and a string series. Then starts a
real `neon up` (embedded chDB + SQLite), runs the real CLI against it, and stops the server and counts what its
store holds (every float and string point must be there).

    uv run python bench/track_import_bench.py                 # 100 MB and 1 GB
    uv run python bench/track_import_bench.py --sizes 100     # only 100 MB
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import NEON, Server, process_cpu

UTC_MS = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema([
    ("project_id", pa.string()), ("run_id", pa.string()), ("attribute_path", pa.string()),
    ("attribute_type", pa.string()), ("step", pa.decimal128(18, 6)), ("timestamp", UTC_MS),
    ("int_value", pa.int64()), ("float_value", pa.float64()), ("string_value", pa.string()),
    ("bool_value", pa.bool_()), ("datetime_value", UTC_MS), ("string_set_value", pa.list_(pa.string())),
    ("file_value", pa.struct([("path", pa.string())])),
    ("histogram_value", pa.struct([("type", pa.string()), ("edges", pa.list_(pa.float64())),
                                   ("values", pa.list_(pa.float64()))])),
])
PROJECT = "bench/import"
METRICS = 20
STEPS_PER_RUN = 20_000  # per metric: 400,000 float points a run (~9 MiB)
LOG_LINES = 2_000
PART_BYTES = 50 * 2**20
T0_MS = 1_740_830_400_000


def sanitize(part: str) -> str:
    digest = hashlib.blake2b(part.encode(), digest_size=8).hexdigest()
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in part) + "-" + digest


def decimal_steps(micros: np.ndarray) -> pa.Array:
    words = np.stack([micros, micros >> 63], axis=1).ravel()
    return pa.Array.from_buffers(pa.decimal128(18, 6), len(micros), [None, pa.py_buffer(words.tobytes())])


def rows(run: str, columns: dict[str, pa.Array], n: int) -> pa.Table:
    full = {}
    for field in SCHEMA:
        if field.name in columns:
            full[field.name] = columns[field.name]
        elif field.name == "project_id":
            full[field.name] = pa.repeat(pa.scalar(PROJECT), n)
        elif field.name == "run_id":
            full[field.name] = pa.repeat(pa.scalar(run), n)
        else:
            full[field.name] = pa.nulls(n, field.type)
    return pa.Table.from_pydict(full, schema=SCHEMA)


def run_tables(run: str, index: int, rng: np.random.Generator) -> list[pa.Table]:
    """A run's rows in the exporter's order: parameters, float series (path by path), a string series."""
    names = [f"config/p{i}" for i in range(28)] + ["sys/creation_time", "sys/name"]
    params = rows(run, {"attribute_path": pa.array(names), "attribute_type": pa.array(["float"] * 28 + [
        "datetime", "string"]), "float_value": pa.array([*rng.random(28).tolist(), None, None]),
        "datetime_value": pa.array([None] * 28 + [T0_MS + index * 1000, None], UTC_MS),
        "string_value": pa.array([None] * 29 + [f"exp-{index % 4}"])}, 30)
    out = [params]
    micros = np.arange(STEPS_PER_RUN, dtype=np.int64) * 250_000  # fractional steps: 0, 0.25, 0.5, …
    times = pa.array(T0_MS + np.arange(STEPS_PER_RUN, dtype=np.int64) * 40, pa.int64()).cast(UTC_MS)
    for m in range(METRICS):
        values = rng.normal(size=STEPS_PER_RUN).cumsum()
        values[rng.random(STEPS_PER_RUN) < 0.01] = np.nan
        out.append(rows(run, {"attribute_path": pa.repeat(pa.scalar(f"train/metric_{m}"), STEPS_PER_RUN),
                              "attribute_type": pa.repeat(pa.scalar("float_series"), STEPS_PER_RUN),
                              "step": decimal_steps(micros), "timestamp": times,
                              "float_value": pa.array(values)}, STEPS_PER_RUN))
    lines = np.arange(LOG_LINES, dtype=np.int64)
    out.append(rows(run, {"attribute_path": pa.repeat(pa.scalar("logs/stdout"), LOG_LINES),
                          "attribute_type": pa.repeat(pa.scalar("string_series"), LOG_LINES),
                          "step": decimal_steps(lines * 1_000_000),
                          "timestamp": pa.array(T0_MS + lines * 1000, pa.int64()).cast(UTC_MS),
                          "string_value": pa.array([f"step {i}: loss {rng.random():.4f}" for i in lines])},
                    LOG_LINES))
    return out


def write_export(folder: Path, target_bytes: int) -> tuple[int, int, int]:
    """Runs until the export holds `target_bytes`; (runs, rows, bytes)."""
    data = folder / "data" / sanitize(PROJECT)
    data.mkdir(parents=True)
    rng = np.random.default_rng(7)
    size = runs = total = 0
    while size < target_bytes:
        run = f"run-{runs:04d}"
        parts: list[Path] = []
        writer = None
        for table in run_tables(run, runs, rng):
            if writer is None:
                parts.append(data / f"{sanitize(run)}_part_{len(parts)}.parquet.tmp")
                writer = pq.ParquetWriter(parts[-1], SCHEMA, compression="snappy")
            writer.write_table(table, row_group_size=200_000)
            total += table.num_rows
            if os.path.getsize(parts[-1]) > PART_BYTES:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()
        for tmp in reversed(parts):  # part_0 last: the run is complete
            os.replace(tmp, tmp.with_suffix(""))
            size += tmp.with_suffix("").stat().st_size
        runs += 1
    return runs, total, size


def count_points(server: Server) -> tuple[int, int]:
    server.stop()
    script = textwrap.dedent(f"""
        from neon_server.storage.analytics import open_analytics
        db = open_analytics("chdb://{server.home / 'chdb'}")
        f = db.query("SELECT count() AS n FROM track_float_points FINAL", tag="bench.count")[0]["n"]
        s = db.query("SELECT count() AS n FROM track_string_points FINAL", tag="bench.count")[0]["n"]
        print(f, s)
        db.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    f, s = out.stdout.split()
    return int(f), int(s)


def bench(size_mb: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="neon-import-bench-"))
    server = None
    try:
        started = time.perf_counter()
        runs, rows_total, size = write_export(folder, size_mb * 2**20)
        print(f"{size_mb} MB: wrote {runs} runs, {rows_total:,} rows, {size / 2**20:.0f} MiB of Parquet "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        server = Server({})
        cpu0 = process_cpu(server.proc.pid)
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([NEON, "import", "neptune", str(folder), "--base-url", server.url, "--api-key", server.key],
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        cpu = process_cpu(server.proc.pid) - cpu0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
        floats, strings = count_points(server)
        expected_f, expected_s = runs * METRICS * STEPS_PER_RUN, runs * LOG_LINES
        result = {"size_mib": size / 2**20, "runs": runs, "rows": rows_total, "seconds": seconds,
                  "rows_per_s": rows_total / seconds, "mib_per_s": size / 2**20 / seconds,
                  "server_cores": cpu / seconds, "client_cores": client_cpu / seconds,
                  "all_stored": float(floats == expected_f and strings == expected_s)}
        print(f"{size_mb} MB: imported in {seconds:.1f} s = {result['rows_per_s']:,.0f} rows/s, "
              f"{result['mib_per_s']:.1f} MiB/s, server {result['server_cores']:.2f} cores, CLI "
              f"{result['client_cores']:.2f} cores; stored "
              f"{floats:,}/{expected_f:,} float and {strings:,}/{expected_s:,} string points", flush=True)
        return result
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="export sizes in MB, comma-separated")
    args = parser.parse_args()
    results = [bench(int(s)) for s in args.sizes.split(",")]
    print("\n| export | runs | rows | seconds | rows/s | MiB/s | server cores | CLI cores | all stored |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size_mib']:.0f} MiB | {r['runs']:.0f} | {r['rows']:,.0f} | {r['seconds']:.1f} | "
              f"{r['rows_per_s']:,.0f} | {r['mib_per_s']:.1f} | {r['server_cores']:.2f} | {r['client_cores']:.2f} | "
              f"{'yes' if r['all_stored'] else 'NO'} |")
    if len(results) > 1:
        print(f"\nrows/s ratio {results[-1]['size_mib']:.0f} MiB / {results[0]['size_mib']:.0f} MiB: "
              f"{results[-1]['rows_per_s'] / results[0]['rows_per_s']:.2f}")


if __name__ == "__main__":
    main()
