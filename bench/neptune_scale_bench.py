"""neptune-scale → Neon: how long the unmodified client takes to `close()` when logging to Neon, against the same
client logging to a server that answers at once and stores nothing (the floor the client itself sets).

Each run starts the server (a real `neon up` in a temporary NEON_HOME, or the null server below in its own
process), runs a training script in a fresh process that logs METRICS float metrics a step for STEPS steps, and
reports the time spent in the logging loop and the time until `close()` returned (every operation confirmed).
For Neon it then checks that every point is stored.

    uv run python bench/neptune_scale_bench.py                    # 100 metrics × 10,000 steps
    uv run python bench/neptune_scale_bench.py --steps 1000       # a quick one
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))

CLIENT = textwrap.dedent('''
    import json, sys, time
    from neptune_scale import Run

    def main(run_id, steps, metrics):
        start = time.perf_counter()
        run = Run(run_id=run_id, enable_console_log_capture=False)
        names = [f"train/metric_{i:03d}" for i in range(metrics)]
        for step in range(steps):
            run.log_metrics({name: step + i / 1000 for i, name in enumerate(names)}, step=step)
        logged = time.perf_counter()
        run.close()
        closed = time.perf_counter()
        print(json.dumps({"log_seconds": logged - start, "close_seconds": closed - start}))

    if __name__ == "__main__":
        main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ null server
class NullHandler(BaseHTTPRequestHandler):
    """Answers the calls neptune-scale makes, at once, storing nothing."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._send(json.dumps(value).encode())

    def do_GET(self) -> None:
        base = f"http://{self.headers['host']}"
        if self.path.startswith("/api/backend/v1/clients/config"):
            self._json({"apiUrl": base, "pyLibVersions": {},
                        "security": {"clientId": "null", "openIdDiscovery": base + "/discovery"}})
        elif self.path.startswith("/discovery"):
            self._json({"authorization_endpoint": base + "/auth", "token_endpoint": base + "/token"})
        elif self.path.startswith("/api/backend/v1/authorization/oauth-token"):
            import jwt

            token = jwt.encode({"exp": int(time.time()) + 3600, "iss": base, "azp": "null"},
                               "null-server-key-of-32-bytes-or-more", algorithm="HS256")
            self._json({"accessToken": token, "refreshToken": token, "username": "null"})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        from neptune_api.proto.neptune_pb.ingest.v1.pub import client_pb2, request_status_pb2

        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path.startswith("/api/client/v1/ingest/check"):
            ids = client_pb2.RequestIdList.FromString(body)
            ok = request_status_pb2.RequestStatus(code_by_count=[request_status_pb2.RequestStatus.CodeByCount(
                code=0, count=1, detail=0)])
            self._send(client_pb2.BulkRequestStatus(statuses=[ok] * len(ids.ids)).SerializeToString(),
                       "application/x-protobuf")
        elif self.path.startswith("/api/client/v1/ingest"):
            self.server.bytes_received += len(body)  # type: ignore[attr-defined]
            request_id = f"null-{time.monotonic_ns()}"
            self._send(client_pb2.SubmitResponse(request_id=request_id, request_ids=[request_id]).SerializeToString(),
                       "application/x-protobuf")
        else:
            self.send_error(404)


def serve_null(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), NullHandler)
    server.bytes_received = 0  # type: ignore[attr-defined]
    server.serve_forever()


def wait_up(url: str, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# ------------------------------------------------------------------------------------------------ runs
def token(url: str, key: str) -> str:
    return base64.b64encode(json.dumps({"api_address": url, "api_url": url, "api_key": key}).encode()).decode()


def run_client(workdir: Path, url: str, key: str, project: str, run_id: str, steps: int, metrics: int
               ) -> dict[str, float]:
    script = workdir / "client.py"
    script.write_text(CLIENT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "NEPTUNE_"))}
    env |= {"NEPTUNE_API_TOKEN": token(url, key), "NEPTUNE_PROJECT": project}
    done = subprocess.run([sys.executable, str(script), run_id, str(steps), str(metrics)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=7200, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_null(workdir: Path, steps: int, metrics: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--null-server", str(port)])
    try:
        wait_up(f"http://127.0.0.1:{port}", "/api/backend/v1/clients/config")
        return run_client(workdir, f"http://127.0.0.1:{port}", "null", "ws/null", "null-run", steps, metrics)
    finally:
        server.kill()
        server.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (not its children: the Temporal dev server idles meanwhile)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def bench_neon(workdir: Path, steps: int, metrics: int) -> dict[str, float]:
    home = workdir / "neon-home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")} | {"NEON_HOME": str(home)}
    log = (workdir / "neon.log").open("wb")
    server = subprocess.Popen([NEON, "up", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        wait_up(url, "/api/health")
        key = json.loads((home / "credentials.json").read_text())["api_key"]
        cpu = _cpu_seconds(server.pid)
        result = run_client(workdir, url, key, "bench/default", "neon-run", steps, metrics)
        result["server_cpu_seconds"] = _cpu_seconds(server.pid) - cpu
        stored = httpx.get(f"{url}/api/track/runs/neon-run", headers={"Authorization": f"Bearer {key}"},
                           timeout=60).json()["series"]
        counts = {s["count"] for s in stored.values()}
        if len(stored) != metrics or counts != {steps}:
            raise RuntimeError(f"Neon stored {len(stored)} series with counts {counts}, expected {metrics} × {steps}")
        result["points_stored"] = float(metrics * steps)
        return result
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each server")
    parser.add_argument("--null-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.null_server:
        serve_null(args.null_server)
        return
    points = args.steps * args.metrics
    print(f"neptune-scale: {args.metrics} metrics × {args.steps} steps = {points:,} points per run")
    rows = []
    for attempt in range(args.repeat):
        for name, bench in (("null server", bench_null), ("Neon", bench_neon)):
            with tempfile.TemporaryDirectory(prefix="neptune-bench-") as folder:
                result = bench(Path(folder), args.steps, args.metrics)
            rows.append((name, result))
            print(f"[{attempt + 1}] {name:12s} logging loop {result['log_seconds']:7.1f} s   "
                  f"close() returned at {result['close_seconds']:7.1f} s   "
                  f"{points / result['close_seconds']:10,.0f} points/s end to end"
                  + (f"   server CPU {result['server_cpu_seconds']:.1f} s "
                     f"({result['server_cpu_seconds'] / points * 1e6:.1f} µs/point)"
                     if "server_cpu_seconds" in result else ""), flush=True)
    null = min(r["close_seconds"] for n, r in rows if n == "null server")
    neon = min(r["close_seconds"] for n, r in rows if n == "Neon")
    print(f"best close(): null {null:.1f} s, Neon {neon:.1f} s → Neon/null = {neon / null:.2f}")


if __name__ == "__main__":
    main()
