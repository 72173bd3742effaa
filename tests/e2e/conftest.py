"""Whole-system fixtures: a real `neon up` process on a free port with its own NEON_HOME."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import browser, browser_page  # noqa: F401 - fixtures for the browser tests

NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NeonProcess:
    """`neon up` as a child process; output goes to files so a failing test can show it."""

    def __init__(self, home: Path, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = home.parent / f"neon-{port}.out"
        self.stderr_path = home.parent / f"neon-{port}.err"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
        full_env.update({"NEON_HOME": str(home), **(env or {})})
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen([NEON, "up", "--port", str(port), *args], stdout=out, stderr=err,
                                         env=full_env)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"neon up exited {self.proc.returncode}:\n{self.stdout}\n{self.stderr}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"neon up not healthy after {timeout}s:\n{self.stdout}\n{self.stderr}")

    def wait_exit(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def neon_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def spawn() -> Iterator[type[NeonProcess]]:
    started: list[NeonProcess] = []

    class Tracked(NeonProcess):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield Tracked
    for process in started:
        process.stop(signal.SIGKILL)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item (`rep_setup`, `rep_call`), so fixtures can tell a failure."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report
