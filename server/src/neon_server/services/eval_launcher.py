"""Starting eval runs from the API without Temporal: `neon eval` in a subprocess over the server's evals folder.

Where Temporal runs (`neon up`), runs start as workflows instead (`eval_workflows.py`); this launcher stays
for a server without it (agent workers off, or an API-only process), so starting a run works everywhere.

The subprocess talks back to this server over HTTP, with the caller's own API key, exactly as a CI job
would: it fills the run the API created (`--run-id`). A watcher thread marks the run failed if the process
dies or outlives `eval_run_timeout_seconds` before closing it, with the tail of its log as the error.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from neon_server.domain.evaluation import EvalRun
from neon_server.services.eval_workflows import require_evals_folder
from neon_server.services.evals import EvalRunService, check_label

log = logging.getLogger("neon.evals")
LOG_TAIL_CHARS = 2000


class EvalLauncher:
    def __init__(self, runs: EvalRunService, *, evals_path: Path | None, logs_dir: Path,
                 timeout_seconds: float) -> None:
        self._runs = runs
        self._evals_path = evals_path
        self._logs_dir = logs_dir
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._watchers: list[threading.Thread] = []

    def start(self, project_id: str, *, suite: str, version: str, concurrency: int | None, api_key: str,
              base_url: str) -> EvalRun:
        """Create a queued run and launch `neon eval` to fill it; returns the run at once."""
        check_label(suite, "suite")
        check_label(version, "version")
        folder = require_evals_folder(self._evals_path)
        run = self._runs.create(project_id, suite=suite, version=version, origin="api", status="queued")
        # NAME=VALUE forms: a suite or version starting with '-' stays a value, never becomes an option.
        command = [sys.executable, "-m", "neon.cli.main", "eval", f"--suite={suite}", f"--version={version}",
                   f"--path={folder}", f"--run-id={run.id}"]
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        env = {**os.environ, "NEON_BASE_URL": base_url, "NEON_API_KEY": api_key}
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._logs_dir / f"{run.id}.log"
        with log_path.open("wb") as log_file:
            child = subprocess.Popen(command, cwd=folder if folder.is_dir() else folder.parent, env=env,
                                     stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)  # its own group: stopping it stops its children
        with self._lock:
            self._children[run.id] = child
        watcher = threading.Thread(target=self._watch, args=(run.id, child, log_path), name=f"eval-{run.id}",
                                   daemon=True)
        watcher.start()
        with self._lock:
            self._watchers = [w for w in self._watchers if w.is_alive()] + [watcher]
        log.info("started eval run", extra={"fields": {"run_id": run.id, "suite": suite, "pid": child.pid}})
        return run

    def _watch(self, run_id: str, child: subprocess.Popen[bytes], log_path: Path) -> None:
        try:
            code = child.wait(self._timeout)
            reason = f"neon eval exited with code {code}"
        except subprocess.TimeoutExpired:
            _stop(child)
            reason = f"stopped after {self._timeout:g} s (eval_run_timeout_seconds)"
        finally:
            with self._lock:
                self._children.pop(run_id, None)
        tail = log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:] if log_path.exists() else ""
        # A run that neon eval closed itself stays as it is; this only catches deaths and timeouts.
        self._runs.fail_if_open(run_id, f"{reason}\n{tail}".strip())

    def running(self) -> list[str]:
        with self._lock:
            return list(self._children)

    def close(self) -> None:
        """Stop runs still going (the server is shutting down), and let their watchers mark them failed
        before the stores close."""
        with self._lock:
            children = list(self._children.values())
            watchers = list(self._watchers)
        for child in children:
            _stop(child)
        for watcher in watchers:
            watcher.join(10)


def _stop(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(5)
