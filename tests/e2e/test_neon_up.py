"""`neon up` as a user runs it: first start, the saved key, clear failures, restarts, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import NEON, NeonProcess, free_port

pytestmark = pytest.mark.slow


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
    env["NEON_HOME"] = str(home)
    return subprocess.run([NEON, *args], capture_output=True, text=True, env=env, timeout=120)


def test_first_start_creates_project_and_key_and_serves(spawn: type[NeonProcess], neon_home: Path) -> None:
    server = spawn(neon_home, free_port())
    server.wait_healthy()
    credentials = neon_home / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    saved = json.loads(credentials.read_text())
    assert saved["base_url"] == server.url
    assert saved["project"] == "default"
    assert f"Neon 0.1.0 is running at {server.url}" in server.stdout
    assert saved["api_key"] in server.stdout
    assert "Project:  default (created now)" in server.stdout

    health = httpx.get(f"{server.url}/api/health").json()
    assert health["dependencies"]["analytics"]["backend"] == "chdb"
    assert health["dependencies"]["metadata"]["backend"] == "sqlite"
    headers = {"Authorization": f"Bearer {saved['api_key']}"}
    assert httpx.get(f"{server.url}/api/project", headers=headers).json()["name"] == "default"
    assert httpx.get(f"{server.url}/api/project").status_code == 401

    # Graceful stop: SIGTERM → exit 0 after closing the stores.
    assert server.stop(signal.SIGTERM) == 0
    assert "server stopped; closing stores" in server.stderr

    # A restart on the same home reuses the project and the saved key.
    again = spawn(neon_home, free_port())
    again.wait_healthy()
    assert "(created now)" not in again.stdout
    assert saved["api_key"] in again.stdout
    assert json.loads(credentials.read_text())["base_url"] == again.url  # follows the new port
    assert httpx.get(f"{again.url}/api/project", headers=headers).json()["name"] == "default"
    listed = run_cli(neon_home, "projects")
    assert listed.returncode == 0
    assert listed.stdout.count("default") == 1


def test_second_server_on_same_data_folder_fails_clearly(spawn: type[NeonProcess], neon_home: Path) -> None:
    first = spawn(neon_home, free_port())
    first.wait_healthy()
    second = spawn(neon_home, free_port())
    assert second.wait_exit() == 1
    assert f"is in use by another process (pid {first.proc.pid})" in second.stderr
    assert "a Neon server is probably running already" in second.stderr
    assert httpx.get(f"{first.url}/api/health").status_code == 200  # the first one is unharmed


def test_taken_port_fails_clearly(spawn: type[NeonProcess], neon_home: Path, tmp_path: Path) -> None:
    first = spawn(neon_home, free_port())
    first.wait_healthy()
    other_home = tmp_path / "other"
    other_home.mkdir()
    second = spawn(other_home, first.port)
    assert second.wait_exit() == 1
    assert f"port {first.port} on 127.0.0.1 is already in use" in second.stderr
    assert "--port or NEON_PORT" in second.stderr


def test_invalid_setting_stops_start_naming_it(spawn: type[NeonProcess], neon_home: Path) -> None:
    server = spawn(neon_home, free_port(), env={"NEON_LOG_LEVEL": "chatty"})
    assert server.wait_exit() == 2
    assert "log_level [NEON_LOG_LEVEL]" in server.stderr


def test_restart_after_kill_9_is_not_locked_out(spawn: type[NeonProcess], neon_home: Path) -> None:
    first = spawn(neon_home, free_port())
    first.wait_healthy()
    first.stop(signal.SIGKILL)
    second = spawn(neon_home, free_port())
    second.wait_healthy()


def test_cli_keys_against_a_running_server(spawn: type[NeonProcess], neon_home: Path) -> None:
    server = spawn(neon_home, free_port())
    server.wait_healthy()
    created = run_cli(neon_home, "keys", "create", "--name", "ci")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.split("API key (shown once): ")[1].strip()
    headers = {"x-api-key": secret}
    assert httpx.get(f"{server.url}/api/project", headers=headers).status_code == 200

    listed = run_cli(neon_home, "keys", "list", "--json")
    keys = json.loads(listed.stdout)
    assert {k["name"] for k in keys} == {"created by neon up", "ci"}
    assert secret not in listed.stdout
    ci_key = next(k for k in keys if k["name"] == "ci")

    revoked = run_cli(neon_home, "keys", "revoke", ci_key["prefix"])
    assert revoked.returncode == 0
    assert f"revoked {ci_key['id']}" in revoked.stdout
    # The server trusts a verified key for at most NEON_AUTH_CACHE_SECONDS (2 s) after a revoke elsewhere.
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/api/project", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "revoked key still accepted after 5 s"
        time.sleep(0.2)

    missing = run_cli(neon_home, "keys", "list", "--project", "nope")
    assert missing.returncode == 1
    assert "no project named 'nope'" in missing.stderr
    made = run_cli(neon_home, "projects", "create", "research")
    assert made.returncode == 0
    assert "API key (shown once): neon_sk_" in made.stdout
    bad = run_cli(neon_home, "projects", "create", "Bad Name")
    assert bad.returncode == 1
    assert "must be 1–63 characters" in bad.stderr
