"""Ingestion benchmark: sustained spans/s into a real `neon up` (embedded chDB), and request latency.

A request is answered only after its spans are written to chDB, so the time from sending a request to its
200 answer is the time from request to queryable; the run ends by checking that the store holds every span.

    uv run python bench/ingest_bench.py                       # concurrency and batch-size sweeps
    uv run python bench/ingest_bench.py --quick               # one short run
    uv run python bench/ingest_bench.py --sdk                 # through the real OTel SDK exporter
    uv run python bench/ingest_bench.py --profile out.txt     # py-spy collapsed stacks of the server under load

The load generator runs on the same 2-core machine as the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from workload import make_request

NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], home: Path | None = None) -> None:
        self.home = home or Path(tempfile.mkdtemp(prefix="neon-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
        full_env.update({"NEON_HOME": str(self.home), "NEON_LOG_LEVEL": "warning", **env})
        self.log = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen([NEON, "up", "--port", str(self.port)], env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"server did not start: {(self.home / 'server.log').read_text()}")
            time.sleep(0.1)
        self.key = json.loads((self.home / "credentials.json").read_text())["api_key"]

    @classmethod
    def reuse(cls, home: Path, env: dict[str, str]) -> Server:
        """A new server process on an existing NEON_HOME (its data and saved key)."""
        return cls({k: v for k, v in env.items() if k != "NEON_HOME"}, home)

    def count_spans(self) -> int:
        """Stop the server and count what its chDB folder holds, from a fresh process."""
        self.stop()
        script = textwrap.dedent(f"""
            from neon_server.storage.analytics import open_analytics
            db = open_analytics("chdb://{self.home / 'chdb'}")
            print(db.query("SELECT count() AS n FROM spans", tag="bench.count")[0]["n"])
            db.close()
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class RunResult:
    label: str
    spans: int
    seconds: float
    latencies: list[float]
    retries: int
    stored: int
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.spans / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        return (f"| {self.label} | {self.rate:,.0f} | {self.pct(0.5):.0f} | {self.pct(0.99):.0f} | "
                f"{self.server_cpu / self.seconds:.2f} | {self.server_cpu / self.spans * 1e6:.0f} | "
                f"{self.retries} | {'yes' if self.stored == self.spans else f'NO ({self.stored})'} |")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def encode_requests(count: int, traces_per_request: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [make_request(rng, traces_per_request).SerializeToString() for _ in range(count)]


async def send_all(url: str, key: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], int, float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    retries = 0
    headers = {"x-api-key": key, "content-type": "application/x-protobuf"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal retries
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                started = time.perf_counter()
                response = await client.post(f"{url}/v1/traces", content=body, headers=headers)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                    break
                if response.status_code in (429, 503):
                    retries += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 10)
                    continue
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, retries, time.perf_counter() - started


def run(label: str, bodies: list[bytes], spans_per_body: int, concurrency: int, env: dict[str, str],
        profile: str | None = None) -> RunResult:
    server = Server(env)
    spy = None
    try:
        if profile:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen([py_spy, "record", "-o", profile, "--pid", str(server.proc.pid), "--rate", "200",
                                    "--nonblocking", "--gil", "--format", "raw"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu_before = process_cpu(server.proc.pid)
        latencies, retries, seconds = asyncio.run(send_all(server.url, server.key, bodies, concurrency))
        cpu = process_cpu(server.proc.pid) - cpu_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        stored = server.count_spans()
        return RunResult(label, len(bodies) * spans_per_body, seconds, latencies, retries, stored, cpu)
    finally:
        server.cleanup()


def sdk_run(spans: int) -> None:
    """Spans made by the OpenTelemetry SDK in this process, exported by the real OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    server = Server({})
    try:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers={"x-api-key": server.key})
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000, max_export_batch_size=2048,
                                                       schedule_delay_millis=200))
        tracer = provider.get_tracer("bench")
        text = "x" * 1000
        started = time.perf_counter()
        for t in range(spans // 50):
            with tracer.start_as_current_span("agent", attributes={"neon.span_type": "agent"}):
                for i in range(49):
                    with tracer.start_as_current_span("chat", attributes={
                            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                            "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": t % 50,
                            "gen_ai.input.messages": text, "gen_ai.output.messages": text}):
                        pass
        created = time.perf_counter() - started
        provider.force_flush(timeout_millis=600_000)
        total = time.perf_counter() - started
        provider.shutdown()
        stored = server.count_spans()
        print(f"| OTel SDK + OTLP/HTTP exporter, {spans:,} spans | {spans / total:,.0f} spans/s end to end "
              f"(span creation alone {spans / created:,.0f}/s) | stored {stored:,} |")
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short run")
    parser.add_argument("--sdk", action="store_true", help="measure through the OTel SDK exporter instead")
    parser.add_argument("--profile", help="write py-spy collapsed stacks of the server during one run")
    parser.add_argument("--requests", type=int, default=200, help="requests per run (each 20 traces x 50 spans)")
    parser.add_argument("--concurrency", type=int, default=4, help="connections for --quick and --profile runs")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="server setting for the --quick and --profile runs, e.g. NEON_INGEST_BATCH_DELAY_MS=250")
    args = parser.parse_args()
    if args.sdk:
        sdk_run(50_000 if args.quick else 200_000)
        return
    traces_per_request, spans_per_body = 20, 20 * 50
    count = 30 if args.quick else args.requests
    print(f"encoding {count} requests of {spans_per_body} spans …", file=sys.stderr)
    bodies = encode_requests(count, traces_per_request, seed=1)
    mb = sum(len(b) for b in bodies) / count / 1e6
    print(f"average request: {mb:.2f} MB, {spans_per_body} spans, ~1 KB input and output per LLM span")
    header = ("| run | spans/s | p50 ms (to queryable) | p99 ms | server CPU cores | server CPU µs/span | 429 retries "
              "| all stored |\n|---|---|---|---|---|---|---|---|")
    print(header)
    if args.quick or args.profile:
        env = dict(item.split("=", 1) for item in args.env)
        label = f"concurrency {args.concurrency}" + "".join(f", {k}={v}" for k, v in env.items())
        print(run(label, bodies, spans_per_body, args.concurrency, env, args.profile).row(), flush=True)
        return
    for concurrency in (1, 2, 4, 8, 16, 32):
        print(run(f"concurrency {concurrency}, batch ≤20k", bodies, spans_per_body, concurrency, {}).row(), flush=True)
    for batch in (2_000, 5_000, 50_000):
        env = {"NEON_INGEST_BATCH_ROWS": str(batch)}
        print(run(f"concurrency 16, batch ≤{batch // 1000}k", bodies, spans_per_body, 16, env).row(), flush=True)


if __name__ == "__main__":
    main()
