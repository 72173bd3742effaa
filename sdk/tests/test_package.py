"""The SDK stays light: it installs and imports without any server dependency."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest

from neon.credentials import Credentials, load_credentials, neon_home, save_credentials

SERVER_ONLY = {"neon-server", "fastapi", "uvicorn", "sqlalchemy", "alembic", "chdb", "clickhouse-connect",
               "psycopg", "pyarrow", "pydantic-settings", "temporalio"}


def test_installed_requirements_have_nothing_of_the_server() -> None:
    # Extras (`neon[eval]`) are opt-in, so only the unconditional requirements must stay light.
    names = {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
             for r in requires("neon") or [] if "extra ==" not in r.replace("extra==", "extra ==")}
    assert names, "neon declares no requirements?"
    assert not names & SERVER_ONLY
    assert names <= {"opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "httpx",
                     "pyyaml"}


def test_importing_neon_loads_no_server_module() -> None:
    code = ("import sys, neon, neon.credentials; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('neon_server', 'fastapi', 'sqlalchemy', 'chdb', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_credentials_roundtrip_owner_only(tmp_path: Path) -> None:
    creds = Credentials(base_url="http://127.0.0.1:3000", project="default", api_key="neon_sk_x")
    path = save_credentials(creds, tmp_path / "home")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(tmp_path / "home") == creds
    assert json.loads(path.read_text())["project"] == "default"


@pytest.mark.parametrize("content", ["", "{", "[]", '{"base_url": "x"}'])
def test_unreadable_credentials_are_none(tmp_path: Path, content: str) -> None:
    (tmp_path / "credentials.json").write_text(content)
    assert load_credentials(tmp_path) is None


def test_neon_home_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_HOME", str(tmp_path))
    assert neon_home() == tmp_path
    monkeypatch.delenv("NEON_HOME")
    assert neon_home() == Path("~/.neon").expanduser()


def test_cli_help_lists_server_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "neon.cli.main", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("up", "worker", "projects", "keys"):
        assert command in result.stdout
