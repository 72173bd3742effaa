"""The ingestion building blocks in one process, without HTTP: OTLP decode, Arrow building, chDB insert.

    uv run python bench/decode_bench.py

Prints the median cost per span of each step over repeated runs of the same workload as ingest_bench.py.
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

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from workload import make_request

from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics import open_analytics


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
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
    print(f"decode: {statistics.median(decode) / spans_per_body * 1e6:.1f} µs/span (median of {len(bodies)})")
    print(f"arrow:  {statistics.median(arrow) / spans_per_body * 1e6:.1f} µs/span")

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
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
