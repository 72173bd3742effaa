"""OTLP logs benchmark: records/s into a real `neon up` through `POST /v1/logs`, and what reading them costs.

Each request holds the GenAI events of 100 LLM calls (system, user, assistant and tool messages, a choice: 5
records a call, ~300 B bodies) plus one ordinary log line a call: 600 records, protobuf. Then, on the filled
store: a span's payload whose input/output are folded from its events, the same read for a span that has its own
input/output (no log read), a span's logs (`GET /api/logs?trace_id&span_id`), and a text search over all records.

    uv run python bench/logs_bench.py                 # 100 requests (60,000 records), concurrency 1 and 4
    uv run python bench/logs_bench.py --requests 20   # shorter
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

CALLS_PER_REQUEST = 100
WORDS = "balance account transfer refund invoice card limit payment statement branch loan rate".split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def kv_body(target: AnyValue, values: dict[str, Any]) -> None:
    for key, value in values.items():
        entry = target.kvlist_value.values.add()
        entry.key = key
        if isinstance(value, dict):
            kv_body(entry.value, value)
        else:
            entry.value.string_value = value


def make_request(rng: random.Random, now: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.scope.name = "opentelemetry.instrumentation.openai_v2"
    calls = []
    for _ in range(CALLS_PER_REQUEST):
        trace_id, span_id = rng.randbytes(16), rng.randbytes(8)
        calls.append((trace_id, span_id))
        events: list[tuple[str, dict[str, Any]]] = [("gen_ai.system.message", {"content": text(rng, 20)}),
                  ("gen_ai.user.message", {"content": text(rng, 40)}),
                  ("gen_ai.assistant.message", {"content": text(rng, 30)}),
                  ("gen_ai.tool.message", {"content": text(rng, 30), "id": "call_1"}),
                  ("gen_ai.choice", {"index": "0", "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text(rng, 40)}}),
                  ("", {})]
        for i, (name, body) in enumerate(events):
            record = scope.log_records.add()
            record.trace_id, record.span_id = trace_id, span_id
            record.time_unix_nano = now + i
            record.event_name = name
            record.severity_number = 9
            if body:
                kv_body(record.body, body)
            else:
                record.body.string_value = f"handled request {rng.randrange(10**6)} for {text(rng, 5)}"
    return request.SerializeToString(), calls


async def send_all(url: str, key: str, bodies: list[bytes], concurrency: int) -> list[float]:
    queue = list(bodies)
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            response = await client.post(f"{url}/v1/logs", content=body, headers={
                "x-api-key": key, "content-type": "application/x-protobuf"})
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies


def timed(client: httpx.Client, path: str, runs: int = 30, **params: str) -> float:
    """Median ms of `runs` GETs (after one warm-up)."""
    client.get(path, params=params).raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(7)
    now = time.time_ns()
    server = Server({})
    try:
        records = 0
        calls: list[tuple[bytes, bytes]] = []
        for concurrency in (1, 4):
            bodies = []
            for _ in range(args.requests // 2):
                body, made = make_request(rng, now)
                bodies.append(body)
                calls += made
            started = time.perf_counter()
            latencies = sorted(asyncio.run(send_all(server.url, server.key, bodies, concurrency)))
            seconds = time.perf_counter() - started
            count = len(bodies) * CALLS_PER_REQUEST * 6
            records += count
            print(f"c={concurrency}: {count:,} records in {seconds:.1f} s = {count / seconds:,.0f} records/s; "
                  f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p99 "
                  f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms per 600-record request")

        # A span with its own input/output, for the read that needs no log query.
        own_trace, own_span = rng.randbytes(16), rng.randbytes(8)
        spans = ExportTraceServiceRequest()
        span = spans.resource_spans.add().scope_spans.add().spans.add()
        span.trace_id, span.span_id, span.name = own_trace, own_span, "chat"
        span.start_time_unix_nano, span.end_time_unix_nano = now, now + 10**6
        attribute = span.attributes.add()
        attribute.key, attribute.value.string_value = "gen_ai.input.messages", '[{"role": "user", "content": "hi"}]'
        attribute = span.attributes.add()
        attribute.key, attribute.value.string_value = "gen_ai.output.messages", '[{"role": "assistant"}]'
        httpx.post(f"{server.url}/v1/traces", content=spans.SerializeToString(), timeout=60, headers={
            "x-api-key": server.key, "content-type": "application/x-protobuf"}).raise_for_status()

        trace_id, span_id = (x.hex() for x in rng.choice(calls))
        with httpx.Client(base_url=server.url, headers={"x-api-key": server.key}, timeout=60) as client:
            folded = client.get(f"/api/traces/{trace_id}/spans/{span_id}/payload").json()
            if not folded["input"] or not folded["output"]:
                raise SystemExit(f"the span's events were not folded: {folded}")
            print(f"store: {records:,} log records")
            print(f"payload folded from events: {timed(client, f'/api/traces/{trace_id}/spans/{span_id}/payload'):.1f}"
                  f" ms; with its own input/output: "
                  f"{timed(client, f'/api/traces/{own_trace.hex()}/spans/{own_span.hex()}/payload'):.1f} ms (median)")
            print(f"a span's logs: {timed(client, '/api/logs', trace_id=trace_id, span_id=span_id):.1f} ms; "
                  f"text search (100 newest): {timed(client, '/api/logs', runs=10, text='refund loan'):.1f} ms; "
                  f"newest page: {timed(client, '/api/logs', runs=10):.1f} ms (median)")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
