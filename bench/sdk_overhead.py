"""Per-span cost of the Neon SDK in the user's process, against plain OpenTelemetry doing the same work.

    uv run python bench/sdk_overhead.py

Both sides export for real (batch processor + OTLP/HTTP exporter) to a running `neon up`. Two figures per span:
the time the program's own thread spends creating spans, and the CPU the process spends in all (creating,
plus encoding and sending on the export thread), which is what instrumentation costs the program; waiting for
the server is not counted.
Each variant runs in its own process, five times; the table shows medians.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_bench import Server

SPANS = 20_000
RUNS = 5

CHILD = r'''
import os, sys, time, json
url, key, variant, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from opentelemetry.sdk.trace import TracerProvider
provider = TracerProvider()
messages = [{"role": "user", "content": "What is my balance? " * 10}]
if variant == "otel":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces",
                                                                    headers={"x-api-key": key}),
                                                   max_queue_size=n + 1, schedule_delay_millis=500))
    tracer = provider.get_tracer("bench")
    payload = json.dumps(messages)

    def one(i):
        with tracer.start_as_current_span("llm", attributes={"gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai",
                "gen_ai.input.messages": payload}) as span:
            span.set_attribute("gen_ai.output.messages", "It is 42 EUR.")
            span.set_attribute("gen_ai.usage.input_tokens", 100)
            span.set_attribute("gen_ai.usage.output_tokens", i % 50)
else:
    import neon
    neon.configure(tracer_provider=provider, base_url=url, api_key=key, max_queue_size=n + 1)

    def one(i):
        with neon.generation("llm", model="gpt-4o", provider="openai", messages=messages) as g:
            g.set_output("It is 42 EUR.").set_usage(input_tokens=100, output_tokens=i % 50)
for i in range(500):
    one(i)
provider.force_flush()
def cpu():
    t = os.times()
    return t.user + t.system
started, started_cpu = time.perf_counter(), cpu()
for i in range(n):
    one(i)
created = time.perf_counter() - started
provider.force_flush()
print(json.dumps({"created_us": created / n * 1e6, "cpu_us": (cpu() - started_cpu) / n * 1e6}))
'''


def main() -> None:
    server = Server({})
    try:
        results: dict[str, list[dict[str, float]]] = {"otel": [], "neon": []}
        for _ in range(RUNS):
            for variant in ("otel", "neon"):
                out = subprocess.run([sys.executable, "-c", CHILD, server.url, server.key, variant, str(SPANS)],
                                     capture_output=True, text=True, check=True)
                results[variant].append(json.loads(out.stdout))
                time.sleep(0.5)
        print(f"| variant ({SPANS:,} spans, median of {RUNS}) | create, µs/span (wall) "
              "| process CPU incl. export, µs/span |")
        print("|---|---|---|")
        for variant, runs in results.items():
            label = "plain OpenTelemetry" if variant == "otel" else "neon.generation(...)"
            print(f"| {label} | {statistics.median(r['created_us'] for r in runs):.1f} | "
                  f"{statistics.median(r['cpu_us'] for r in runs):.1f} |")
        neon = statistics.median(r["cpu_us"] for r in results["neon"])
        otel = statistics.median(r["cpu_us"] for r in results["otel"])
        print(f"\nNeon's own cost over plain OpenTelemetry: {neon - otel:+.1f} µs/span")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
