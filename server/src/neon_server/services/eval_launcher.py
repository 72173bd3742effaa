"""Starting eval runs from the API: `neon eval` in a subprocess over the server's configured evals folder.

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
from neon_server.services.errors import Conflict
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

    def start(self, project_id: str, *, suite: str, version: str, concurrency: int | None, api_key: str,
              base_url: str) -> EvalRun:
        """Create a queued run and launch `neon eval` to fill it; returns the run at once."""
        check_label(suite, "suite")
        check_label(version, "version")
        folder = self._evals_path
        if folder is None:
            raise Conflict("this server has no evals folder, so it cannot start runs: set NEON_EVALS_PATH (or "
                           "evals_path in neon.toml) to the folder holding your eval_*.py files")
        if not folder.exists():
            raise Conflict(f"the server's evals folder {str(folder)!r} (NEON_EVALS_PATH) does not exist")
        run = self._runs.create(project_id, suite=suite, version=version, origin="api", status="queued")
        command = [sys.executable, "-m", "neon.cli.main", "eval", "--suite", suite, "--version", version,
                   "--path", str(folder), "--run-id", run.id]
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
        threading.Thread(target=self._watch, args=(run.id, child, log_path), name=f"eval-{run.id}",
                         daemon=True).start()
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
        """Stop runs still going (the server is shutting down); their watchers mark them failed."""
        with self._lock:
            children = list(self._children.values())
        for child in children:
            _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(5)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(5)
