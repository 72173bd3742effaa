"""The on-disk buffer: what a run logged and the server has not acknowledged yet, as files.

    <root>/<run key>/run.json                 how to create (or resume) the run, and the server it goes to
    <root>/<run key>/<session>/lock           held (flock) by the process that writes this session
    <root>/<run key>/<session>/000000000001.ntrk     a native Track body, sent as it is
    <root>/<run key>/<session>/000000000002.bin      the bytes of a logged file, with
    <root>/<run key>/<session>/000000000002.json     its destination key and mime type (written last)

Items are sent in sequence order and deleted once the server acknowledged them. A session whose lock is free
belongs to a process that is gone: a later `Run` of the same run, or `neon track sync`, adopts and sends it.
The root is `$NEON_TRACK_BUFFER`, else `$NEON_HOME/track-buffer` (`~/.neon/track-buffer`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from neon.credentials import neon_home

RUN_FILE = "run.json"
LOCK_FILE = "lock"


def buffer_root(given: str | os.PathLike[str] | None = None) -> Path:
    if given is not None:
        return Path(given).expanduser()
    env = os.environ.get("NEON_TRACK_BUFFER")
    return Path(env).expanduser() if env else neon_home() / "track-buffer"


def run_key(base_url: str, project: str, run_id: str) -> str:
    digest = hashlib.sha256(f"{base_url}\0{project}\0{run_id}".encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)[:60]}-{digest}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Session:
    """One process's items for one run, in a folder it holds locked while it lives."""

    def __init__(self, folder: Path, lock_fd: int) -> None:
        self.folder = folder
        self._lock_fd = lock_fd
        items = self.items()
        self._seq = int(items[-1].stem) if items else 0

    @classmethod
    def create(cls, run_dir: Path) -> Session:
        folder = run_dir / f"{time.time_ns():020d}-{os.getpid()}"
        folder.mkdir(parents=True)
        fd = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(folder, fd)

    @classmethod
    def adopt(cls, folder: Path) -> Session | None:
        """The session, locked for this process, when no living process holds it."""
        try:
            fd = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        if not folder.exists():  # emptied and removed by its owner between listing and locking
            os.close(fd)
            return None
        return cls(folder, fd)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def write_body(self, seq: int, body: bytes) -> Path:
        path = self.folder / f"{seq:012d}.ntrk"
        _write_atomic(path, body)
        return path

    def stage_file(self, source: bytes | Path) -> Path:
        """A copy of a logged file's bytes in the session folder, not yet an item (see `commit_file`)."""
        staged = self.folder / f".staged-{uuid.uuid4().hex}"
        if isinstance(source, bytes):
            staged.write_bytes(source)
        else:
            shutil.copyfile(source, staged)
        return staged

    def commit_file(self, seq: int, staged: Path, key: str, mime: str) -> Path:
        os.replace(staged, self.folder / f"{seq:012d}.bin")
        meta = self.folder / f"{seq:012d}.json"
        _write_atomic(meta, json.dumps({"key": key, "mime": mime}).encode())
        return meta

    def items(self) -> list[Path]:
        """Complete items in order: bodies (.ntrk) and file descriptions (.json, whose bytes are in .bin)."""
        found = [p for p in self.folder.iterdir() if p.suffix in (".ntrk", ".json") and p.stem.isdigit()]
        return sorted(found, key=lambda p: int(p.stem))

    @staticmethod
    def remove(item: Path) -> None:
        item.unlink(missing_ok=True)
        if item.suffix == ".json":
            item.with_suffix(".bin").unlink(missing_ok=True)

    def set_aside(self, item: Path) -> Path:
        """Keep a refused item out of the way (under `rejected/`) for a person to look at."""
        aside = self.folder.parent / "rejected"
        aside.mkdir(exist_ok=True)
        target = aside / f"{self.folder.name}-{item.name}"
        os.replace(item, target)
        if item.suffix == ".json":
            with contextlib.suppress(FileNotFoundError):
                os.replace(item.with_suffix(".bin"), target.with_suffix(".bin"))
        return target

    def close(self, *, remove_if_empty: bool = True) -> None:
        if self._lock_fd < 0:
            return
        if remove_if_empty and not self.items():
            shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock_fd)
        self._lock_fd = -1


def write_run(run_dir: Path, spec: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(run_dir / RUN_FILE, json.dumps(spec, indent=1).encode())


def read_run(run_dir: Path) -> dict[str, Any] | None:
    try:
        spec: dict[str, Any] = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return spec


def leftover_sessions(run_dir: Path, own: Path | None = None) -> list[Session]:
    """Sessions of this run that no living process holds, oldest first, locked for the caller."""
    if not run_dir.is_dir():
        return []
    adopted = []
    for folder in sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name != "rejected" and p != own):
        session = Session.adopt(folder)
        if session is not None:
            adopted.append(session)
    return adopted


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / RUN_FILE).is_file()) if root.is_dir() else []
