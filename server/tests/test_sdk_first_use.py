"""A program that never calls neon.configure(): its spans reach Neon when the environment or the saved
credentials say where, and it is told how to fix it when nothing does. Each program runs in its own process,
as a user's would, against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from neon.credentials import Credentials, save_credentials
from server.tests.conftest import LiveServer

# No configure(), no flush(): the provider flushes at exit, as a user's script expects.
PROGRAM = """
import logging, sys, neon
if "--debug" in sys.argv:
    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
with neon.trace(sys.argv[1], input="where is my parcel?") as run:
    with neon.tool("lookup_order"):
        pass
    run.set_output("on its way")
with neon.trace(sys.argv[1] + "-second"):
    pass
"""


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:  # where the SDK sends is what is tested, not the metadata backend
    return f"sqlite:///{tmp_path / 'neon.db'}"


def run_program(name: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "OTEL_"))}
    return subprocess.run([sys.executable, "-c", PROGRAM, name, *extra], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=True)


def wait_for_trace(server: LiveServer, key: str, name: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        traces = httpx.get(f"{server.url}/api/traces", params={"name": name},
                           headers={"x-api-key": key}).json()["traces"]
        if traces:
            return dict(traces[0])
        assert time.monotonic() < deadline, f"trace {name!r} never arrived"
        time.sleep(0.1)


def test_environment_alone_sends_the_trace(live_server: LiveServer, project_key: tuple[str, str],
                                           tmp_path: Path) -> None:
    done = run_program("env-only", {"NEON_BASE_URL": live_server.url, "NEON_API_KEY": project_key[1],
                                    "NEON_HOME": str(tmp_path)}, "--debug")
    trace = wait_for_trace(live_server, project_key[1], "env-only")
    assert trace["span_count"] == 2
    assert trace["tool_call_count"] == 1
    said = [line for line in done.stderr.splitlines() if "configured on first use" in line]
    assert len(said) == 1, done.stderr  # said once, at debug level
    assert said[0].startswith("DEBUG neon ")
    assert "the environment" in said[0]
    assert live_server.url in said[0]


def test_saved_credentials_alone_send_the_trace(live_server: LiveServer, project_key: tuple[str, str],
                                                tmp_path: Path) -> None:
    save_credentials(Credentials(live_server.url, "default", project_key[1]), tmp_path)
    done = run_program("saved-only", {"NEON_HOME": str(tmp_path)})
    assert wait_for_trace(live_server, project_key[1], "saved-only")["span_count"] == 2
    assert done.stderr == ""  # nothing said above debug level


def test_nothing_configured_warns_once_with_the_fix(tmp_path: Path) -> None:
    done = run_program("nowhere", {"NEON_HOME": str(tmp_path)})
    warnings = [line for line in done.stderr.splitlines() if "spans are not being sent" in line]
    assert len(warnings) == 1, done.stderr  # two traces, one warning
    assert "neon.configure(" in warnings[0]
    assert "NEON_API_KEY" in warnings[0]
    assert str(tmp_path / "credentials.json") in warnings[0]


def test_autoconfigure_off_is_silent_and_sends_nothing(live_server: LiveServer, project_key: tuple[str, str],
                                                       tmp_path: Path) -> None:
    done = run_program("opted-out", {"NEON_BASE_URL": live_server.url, "NEON_API_KEY": project_key[1],
                                     "NEON_HOME": str(tmp_path), "NEON_AUTOCONFIGURE": "0"})
    assert done.stderr == ""
    run_program("after-opt-out", {"NEON_BASE_URL": live_server.url, "NEON_API_KEY": project_key[1],
                                  "NEON_HOME": str(tmp_path)})
    wait_for_trace(live_server, project_key[1], "after-opt-out")  # the server is up and taking traces
    listed = httpx.get(f"{live_server.url}/api/traces", params={"name": "opted-out"},
                       headers={"x-api-key": project_key[1]}).json()["traces"]
    assert listed == []


@pytest.mark.parametrize("variable", ["NEON_API_KEY", "NEON_BASE_URL"])
def test_configure_called_explicitly_is_not_overridden(variable: str, tmp_path: Path) -> None:
    """configure(export=False) is a choice: the first span must not add an exporter behind the user's back."""
    program = ("import neon\nneon.configure(export=False)\nwith neon.trace('x'):\n    pass\n"
               "from neon.tracing import config\nprint(len(config.current().processors))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "NEON_HOME": str(tmp_path), variable: "http://127.0.0.1:9"})
    assert done.stdout.strip() == "0"
    assert done.stderr == ""
