"""Ingestion benchmark: sustained spans/s into a real `neon up` (embedded chDB), and request latency.

The load: 2,000 agent traces × 50 spans, pre-encoded OTLP protobuf, 200 spans per request, sent from N
concurrent connections. An OTLP protobuf request is answered once it is synced to the ingest log; its spans are
written in bulk after. So a run reports both: the answer's latency (what holds a sender back) and the time from
arrival to queryable (the server's own figure for the latest requests, `/api/health` → `ingest.queryable_*`).
A run ends when the server has written every span; then the server is stopped and its store counted.

    uv run python bench/ingest_bench.py                       # concurrency 1, 4, 8 (the issue's load)
    uv run python bench/ingest_bench.py --sweep               # concurrency 1–32 and batch sizes, 1,000-span requests
    uv run python bench/ingest_bench.py --quick               # one short run
    uv run python bench/ingest_bench.py --sdk                 # through the real OTel SDK exporter
    uv run python bench/ingest_bench.py --profile out.txt     # py-spy collapsed stacks of the server under load
    uv run python bench/ingest_bench.py --threads             # and the server's CPU per span by thread

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
from collections import Counter
from dataclasses import dataclass, field
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
    written_seconds: float = 0.0   # from the first request to the last span written
    queryable_p50: float | None = None
    queryable_p99: float | None = None
    peak_rss_mb: float = 0.0       # the server and its child processes (decode workers, Temporal's dev server)
    own_peak_rss_mb: float = 0.0   # the server process alone
    cpu_by_thread: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.spans / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        written = self.spans / self.written_seconds if self.written_seconds else 0.0
        return (f"| {self.label} | {self.rate:,.0f} | {written:,.0f} | {self.pct(0.5):.0f} | {self.pct(0.99):.0f} | "
                f"{_ms(self.queryable_p50)} | {_ms(self.queryable_p99)} | "
                f"{self.server_cpu / self.written_seconds:.2f} | {self.server_cpu / self.spans * 1e6:.0f} | "
                f"{self.own_peak_rss_mb:,.0f} / {self.peak_rss_mb:,.0f} | {self.retries} | "
                f"{'yes' if self.stored == self.spans else f'NO ({self.stored})'} |")

    def threads(self) -> str:
        """Server CPU µs per span by thread name, largest first."""
        shares = ", ".join(f"{name} {seconds / self.spans * 1e6:.0f}"
                           for name, seconds in self.cpu_by_thread.most_common() if seconds / self.spans > 1e-6)
        return f"  {self.label}: server CPU µs/span by thread: {shares}"


HEADER = ("| run | spans/s answered | spans/s written | answer p50 ms | answer p99 ms | queryable p50 ms "
          "| queryable p99 ms | server CPU cores | server CPU µs/span | peak RSS MB (server / with children) "
          "| 429 retries "
          "| all stored |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def _ms(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else "–"


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """Peak resident memory of the server process, and of it plus its children (decode workers, Temporal's dev
    server; each its own peak)."""
    peaks = {}
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[member] = int(line.split()[1]) / 1024
    return peaks.get(pid, 0.0), sum(peaks.values())


def wait_written(url: str, spans: int, timeout: float = 600) -> dict[str, object]:
    """Poll the server's health until it has written `spans` spans; returns its ingest figures."""
    deadline = time.monotonic() + timeout
    while True:
        ingest = httpx.get(f"{url}/api/health", timeout=10).json()["ingest"]
        if ingest["written_spans"] >= spans or time.monotonic() > deadline:
            return dict(ingest)
        time.sleep(0.005)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (the server's decode workers), by parent pid."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process and its children have used so far."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def thread_cpu(pid: int) -> Counter[str]:
    """CPU seconds so far per thread name across the server and its decode workers: where the server's CPU goes.
    The engine names its threads (ThreadPool: query work, MergeMutate: merges); the server names its busiest
    Python ones (neon-map: mapping batches, neon-writer: the writer, with the part of each insert the engine runs
    in the calling thread, neon-decode: checking and logging requests); the others show as the process's name."""
    seconds: Counter[str] = Counter()
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                name = (task / "comm").read_text().strip()
            except (OSError, ValueError):
                continue
            seconds[name.rstrip("0123456789") or name] += (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK")
    return seconds


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
        profile: str | None = None, gil: bool = False) -> RunResult:
    server = Server(env)
    spy = None
    try:
        if profile:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen([py_spy, "record", "-o", profile, "--pid", str(server.proc.pid), "--rate", "200",
                                    "--nonblocking", "--threads", "--gil" if gil else "--idle", "--format", "raw"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu_before, threads_before = process_cpu(server.proc.pid), thread_cpu(server.proc.pid)
        started = time.perf_counter()
        latencies, retries, seconds = asyncio.run(send_all(server.url, server.key, bodies, concurrency))
        total = len(bodies) * spans_per_body
        ingest = wait_written(server.url, total)
        written_seconds = time.perf_counter() - started
        cpu = process_cpu(server.proc.pid) - cpu_before
        by_thread = thread_cpu(server.proc.pid)
        by_thread.subtract(threads_before)
        own_rss, rss = peak_rss_mb(server.proc.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        stored = server.count_spans()
        p50, p99 = ingest.get("queryable_p50_ms"), ingest.get("queryable_p99_ms")
        return RunResult(label, total, seconds, latencies, retries, stored, cpu, written_seconds,
                         float(p50) if isinstance(p50, int | float) else None,
                         float(p99) if isinstance(p99, int | float) else None, rss, own_rss, by_thread)
    finally:
        server.cleanup()


def sdk_run(spans: int) -> None:
    """Spans made by the OpenTelemetry SDK in this process, exported by the real OTLP/HTTP exporter through a
    BatchSpanProcessor with its default settings (queue 2,048 spans, batches of 512, 5 s delay: it drops spans
    when its queue is full, so the run reports how many reached the store)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    server = Server({})
    try:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers={"x-api-key": server.key})
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("bench")
        text = "x" * 1000
        cpu_before = process_cpu(server.proc.pid)
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
        ingest = wait_written(server.url, spans, timeout=30)
        cpu = process_cpu(server.proc.pid) - cpu_before
        stored = server.count_spans()
        print(f"| OTel SDK, default BatchSpanProcessor + OTLP/HTTP exporter, {spans:,} spans | "
              f"{stored / total:,.0f} stored spans/s end to end | span creation alone {spans / created:,.0f}/s | "
              f"stored {stored:,} of {spans:,} ({spans - stored:,} dropped by the SDK's full queue) | "
              f"server CPU {cpu / total:.2f} cores | queryable p99 {_ms(ingest.get('queryable_p99_ms'))} ms |")
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short run")
    parser.add_argument("--sweep", action="store_true", help="concurrency 1–32 and batch sizes, 1,000-span requests")
    parser.add_argument("--sdk", action="store_true", help="measure through the OTel SDK exporter instead")
    parser.add_argument("--profile", help="write py-spy collapsed stacks of the server during one run")
    parser.add_argument("--traces", type=int, default=2000, help="traces of 50 spans per run")
    parser.add_argument("--spans-per-request", type=int, default=200, help="a multiple of 50")
    parser.add_argument("--concurrency", type=int, action="append",
                        help="connections (repeatable; default 1, 4, 8; 4 for --quick and --profile)")
    parser.add_argument("--gil", action="store_true", help="with --profile: only the thread holding the GIL")
    parser.add_argument("--threads", action="store_true", help="after each run, server CPU per span by thread")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="server setting for every run, e.g. NEON_INGEST_BATCH_DELAY_MS=250")
    args = parser.parse_args()
    if args.sdk:
        sdk_run(50_000 if args.quick else 200_000)
        return
    env = dict(item.split("=", 1) for item in args.env)
    per_request = 1000 if args.sweep else args.spans_per_request
    traces_per_request = per_request // 50
    count = max(1, (300 if args.quick else args.traces) // traces_per_request)
    if args.sweep:
        count = 200
    print(f"encoding {count} requests of {per_request} spans …", file=sys.stderr)
    bodies = encode_requests(count, traces_per_request, seed=1)
    mb = sum(len(b) for b in bodies) / count / 1e6
    print(f"{count} requests of {per_request} spans, {mb:.2f} MB each, ~1 KB input and output per LLM span")
    print(HEADER)
    settings = "".join(f", {k}={v}" for k, v in env.items())
    done: list[RunResult] = []
    if args.quick or args.profile:
        concurrency = (args.concurrency or [4])[0]
        done.append(run(f"concurrency {concurrency}{settings}", bodies, per_request, concurrency, env,
                        args.profile, args.gil))
        print(done[-1].row(), flush=True)
    elif args.sweep:
        for concurrency in (1, 2, 4, 8, 16, 32):
            done.append(run(f"concurrency {concurrency}, batch ≤20k", bodies, per_request, concurrency, env))
            print(done[-1].row(), flush=True)
        for batch in (2_000, 5_000, 50_000):
            batch_env = {**env, "NEON_INGEST_BATCH_ROWS": str(batch)}
            done.append(run(f"concurrency 16, batch ≤{batch // 1000}k", bodies, per_request, 16, batch_env))
            print(done[-1].row(), flush=True)
    else:
        for concurrency in args.concurrency or [1, 4, 8]:
            done.append(run(f"concurrency {concurrency}{settings}", bodies, per_request, concurrency, env))
            print(done[-1].row(), flush=True)
    if args.threads:
        print()
        for result in done:
            print(result.threads())


if __name__ == "__main__":
    main()
