"""Where a local Neon keeps its data and the credentials that `neon up` saves for the SDK and CLI.

`neon up` writes `$NEON_HOME/credentials.json` (mode 0600) on first start; the SDK and CLI read it when
no base URL or API key is given explicitly, so a user on the same machine needs no configuration.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

CREDENTIALS_FILENAME = "credentials.json"


def neon_home() -> Path:
    """The folder for embedded data and saved credentials: `$NEON_HOME`, else `~/.neon`."""
    return Path(os.environ.get("NEON_HOME") or "~/.neon").expanduser()


@dataclass(frozen=True)
class Credentials:
    """What a client needs to talk to a Neon server: where it is, which project, and the key."""

    base_url: str
    project: str
    api_key: str


def credentials_path(home: Path | None = None) -> Path:
    return (home or neon_home()) / CREDENTIALS_FILENAME


def load_credentials(home: Path | None = None) -> Credentials | None:
    """The credentials saved by `neon up`, or None when there are none (or the file is not ours)."""
    path = credentials_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(base_url=str(data["base_url"]), project=str(data["project"]),
                           api_key=str(data["api_key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_credentials(credentials: Credentials, home: Path | None = None) -> Path:
    """Write the credentials readable by the owner only (0600), atomically, and return the path."""
    path = credentials_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(credentials), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
