"""The ingestion building blocks in one process, without HTTP: OTLP decode, Arrow building, chDB insert.

    uv run python bench/decode_bench.py          # all of it (decode read by protobuf, by the C walker, C mapper)
    uv run python bench/decode_bench.py sql      # only the Python decoder against the engine's decode

Prints the median cost per span of each step over repeated runs of the same workload as ingest_bench.py, then
the Python decoder (decode_protobuf + to_arrow) against the engine's decode (storage/analytics/otlp_decode.py,
same two Arrow tables) for 200-span requests one per statement, 20 per statement, and one 10,000-span request:
µs of process CPU per span (chDB runs in this process, so its threads count) and spans/s of wall time.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from workload import make_request

from neon_server.ingest import otlp
from neon_server.ingest.native_map import map_protobuf
from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.analytics.otlp_decode import OtlpRequest, decode_otlp


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def measure(run: Any, spans: int, repeat: int) -> tuple[float, float]:
    """(median µs of CPU per span, median spans/s of wall time) over `repeat` runs."""
    cpus, walls = [], []
    for _ in range(repeat):
        started_cpu, started = cpu(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu() - started_cpu)
    return statistics.median(cpus) / spans * 1e6, spans / statistics.median(walls)


def compare_sql(db: AnalyticsDB, repeat: int = 5) -> None:
    rng = random.Random(2)
    limits = Limits()
    small = [make_request(rng, 4).SerializeToString() for _ in range(50)]  # 200 spans each
    large = make_request(rng, 200).SerializeToString()  # 10,000 spans
    decode_otlp(db, [OtlpRequest("bench", "warm", small[0])], limits)  # first statement: schema and caches

    def python(bodies: list[bytes]) -> Any:
        return lambda: [decode_protobuf(b, "bench", limits).columns.to_arrow("digest") for b in bodies]

    def sql(bodies: list[bytes]) -> Any:
        return lambda: decode_otlp(db, [OtlpRequest("bench", f"d{i}", b) for i, b in enumerate(bodies)], limits)

    print(f"{'case':<38}{'python µs/span':>15}{'sql µs/span':>13}{'python spans/s':>16}{'sql spans/s':>13}")
    for label, bodies, spans in (("200-span request, 1 per statement", small[:1], 200),
                                 ("200-span requests, 20 per statement", small[:20], 4000),
                                 ("200-span requests, 50 per statement", small, 10_000),
                                 ("10,000-span request", [large], 10_000)):
        py_cpu, py_rate = measure(python(bodies), spans, repeat)
        sql_cpu, sql_rate = measure(sql(bodies), spans, repeat)
        print(f"{label:<38}{py_cpu:>15.1f}{sql_cpu:>13.1f}{py_rate:>16,.0f}{sql_rate:>13,.0f}")


def main() -> None:
    if sys.argv[1:] == ["sql"]:
        folder = tempfile.mkdtemp(prefix="neon-decode-bench-")
        try:
            db = open_analytics(f"chdb://{folder}", migrate=False)
            compare_sql(db)
            db.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    rng = random.Random(1)
    bodies = [make_request(rng, 20).SerializeToString() for _ in range(20)]
    spans_per_body = 1000
    limits = Limits()
    decode, arrow = [], []
    tables = []
    for body in bodies:
        started = time.perf_counter()
        result = decode_protobuf(body, "bench", limits)
        decoded = time.perf_counter()
        tables.append(result.columns.to_arrow("bench"))
        decode.append(decoded - started)
        arrow.append(time.perf_counter() - decoded)
    print(f"decode: {statistics.median(decode) / spans_per_body * 1e6:.1f} µs/span (median of {len(bodies)}; "
          "read through protobuf's objects)")
    native = []
    for body in bodies:
        started = time.perf_counter()
        decode_protobuf(body, "bench", limits, native=True)
        native.append(time.perf_counter() - started)
    print(f"decode: {statistics.median(native) / spans_per_body * 1e6:.1f} µs/span (read by the C walker)")
    for label, read in (("protobuf's objects", otlp._pb_walk), ("the C walker", otlp.native_walk)):
        if read is None:
            continue
        timings = []
        for body in bodies:
            started = time.perf_counter()
            read(body)
            timings.append(time.perf_counter() - started)
        print(f"read alone: {statistics.median(timings) / spans_per_body * 1e6:.1f} µs/span ({label})")
    print(f"arrow:  {statistics.median(arrow) / spans_per_body * 1e6:.1f} µs/span")
    mapped = []
    for body in bodies:
        started = time.perf_counter()
        if map_protobuf(body, "bench", "digest", limits) is None:
            break  # the C mapper is not installed
        mapped.append(time.perf_counter() - started)
    if mapped:
        print(f"read, map and Arrow in C (native_map): {statistics.median(mapped) / spans_per_body * 1e6:.1f} "
              "µs/span (the server's default for logged bodies)")

    folder = tempfile.mkdtemp(prefix="neon-decode-bench-")
    try:
        db = open_analytics(f"chdb://{folder}")
        spans = pa.concat_tables([t[0] for t in tables])
        payloads = pa.concat_tables([t[1] for t in tables])
        for table, data in (("span_payloads", payloads), ("spans", spans)):
            started_cpu, started = cpu(), time.perf_counter()
            db.insert_arrow(table, data, tag="bench.insert")
            print(f"insert {table}: {(time.perf_counter() - started) / spans.num_rows * 1e6:.1f} µs/span wall, "
                  f"{(cpu() - started_cpu) / spans.num_rows * 1e6:.1f} µs/span CPU ({spans.num_rows} spans)")
        compare_sql(db)
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
