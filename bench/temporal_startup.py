"""How long from `neon up` to a worker ready to run agents, and how long it takes to stop.

Spawns a real `neon up` on a free port with a temporary NEON_HOME, polls /api/health every 20 ms, and records
when the API first answers, when Temporal (the embedded dev server) is ok, and when the in-process worker runs;
then stops it with SIGTERM and times the exit. Runs N cold starts (a new NEON_HOME each: migrations, a new
Temporal database) and N warm ones (the same NEON_HOME again), and prints medians.

    uv run python bench/temporal_startup.py            # 5 cold + 5 warm
    uv run python bench/temporal_startup.py --runs 3 --factory mypkg.workers:create_worker

The worker is the agent worker (`neon.execute.worker:create_worker`) when it is installed, else the small test
app of the e2e tests (say which with --factory).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))
TEST_FACTORY = "tests.e2e.temporal_app:create_worker"


@dataclass
class Start:
    api: float
    temporal: float
    worker: float
    stop: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_start(home: Path, factory: str, timeout: float = 120) -> Start:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
    env.update(NEON_HOME=str(home), NEON_AGENT_WORKER_FACTORY=factory, PYTHONPATH=str(ROOT))
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/health"
    log = (home.parent / f"neon-{port}.err").open("wb")
    began = time.monotonic()
    proc = subprocess.Popen([NEON, "up", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log)
    api = temporal = worker = None
    try:
        with httpx.Client(timeout=5) as http:
            while worker is None or temporal is None:
                if proc.poll() is not None:
                    raise SystemExit(f"neon up exited {proc.returncode}; see {log.name}")
                if time.monotonic() - began > timeout:
                    raise SystemExit(f"not ready after {timeout}s; see {log.name}")
                try:
                    report = http.get(url).json()
                except httpx.TransportError:
                    time.sleep(0.02)
                    continue
                now = time.monotonic() - began
                api = api if api is not None else now
                if temporal is None and report["dependencies"].get("temporal", {}).get("status") == "ok":
                    temporal = now
                if worker is None and report.get("workers", {}).get("status") == "ok":
                    worker = now
                time.sleep(0.02)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        stop = time.monotonic() - stopping
        if code != 0:
            raise SystemExit(f"neon up exited {code} on SIGTERM; see {log.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert api is not None
    assert temporal is not None
    assert worker is not None
    return Start(api=api, temporal=temporal, worker=worker, stop=stop)


def summary(label: str, starts: list[Start]) -> str:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}"

    api = [s.api for s in starts]
    temporal = [s.temporal for s in starts]
    worker = [s.worker for s in starts]
    after_api = [s.worker - s.api for s in starts]
    return (f"| {label} | {len(starts)} | {med(api)} | {med(temporal)} | {med(worker)} | {med(after_api)} | "
            f"{med([s.stop for s in starts])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--factory", help="module:function building the worker")
    args = parser.parse_args()
    factory = args.factory or ("neon.execute.worker:create_worker"
                               if importlib.util.find_spec("neon.execute") and importlib.util.find_spec(
                                   "neon.execute.worker") else TEST_FACTORY)
    print(f"worker factory: {factory}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    folder = Path(tempfile.mkdtemp(prefix="neon-temporal-bench-"))
    try:
        cold, warm = [], []
        for i in range(args.runs):
            home = folder / f"home{i}"
            home.mkdir()
            cold.append(one_start(home, factory))
            warm.append(one_start(home, factory))
            print(f"run {i + 1}: cold {cold[-1]}, warm {warm[-1]}", flush=True)
        print("\n| start | runs | API answers (s) | Temporal ok (s) | worker running (s) | worker after API (s) "
              "| stop (s) |")
        print("|---|---|---|---|---|---|---|")
        print(summary("cold (new NEON_HOME)", cold))
        print(summary("warm (same NEON_HOME)", warm))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
