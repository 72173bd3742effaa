"""Content-addressed blobs of agent runs (conversation messages, tool results), kept per project.

The store is told the digest and the bytes; checking that one belongs to the other is the service's job
(`services/agent_blobs.py`). The filesystem store keeps a blob at `<root>/<project_id>/<hex[:2]>/<hex>`:
a project's blobs live under its own folder, so a ref from another project finds nothing.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BlobStore(Protocol):
    """Blobs by (project, sha256 hex digest). Implementations must make `put` durable before returning."""

    def put(self, project_id: str, digest: str, data: bytes) -> bool:
        """Store `data` under `digest`; False when it was already there (then nothing is written)."""
        ...

    def get(self, project_id: str, digest: str) -> bytes | None:
        """The blob's bytes, or None when this project has no such blob."""
        ...

    def exists(self, project_id: str, digest: str) -> bool: ...


class FilesystemBlobStore:
    """Blobs as files. A put writes a temporary file, fsyncs it, renames it into place and fsyncs the folder,
    so an acknowledged blob survives a crash and a reader never sees a partial one.

    One machine only: in a distributed deployment every API process must see the same folder (or use
    another BlobStore)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, project_id: str, digest: str, data: bytes) -> bool:
        path = self._path(project_id, digest)
        if path.exists():
            return False
        folder = path.parent
        _make_dirs(folder)
        temp = folder / f".{digest}.{secrets.token_hex(6)}.tmp"
        try:
            with temp.open("xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Same content under the same name: if another writer won the race, replacing is harmless.
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(folder)
        return True

    def get(self, project_id: str, digest: str) -> bytes | None:
        try:
            return self._path(project_id, digest).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, project_id: str, digest: str) -> bool:
        return self._path(project_id, digest).is_file()

    def _path(self, project_id: str, digest: str) -> Path:
        # Both parts become path components: anything but the expected shapes could leave the root.
        if not PROJECT_ID.match(project_id):
            raise ValueError(f"invalid project id {project_id!r}")
        if not HEX_DIGEST.match(digest):
            raise ValueError(f"invalid blob digest {digest!r}: expected 64 lowercase hex characters")
        return self.root / project_id / digest[:2] / digest


def _make_dirs(folder: Path) -> None:
    """mkdir -p, making each new folder's entry in its parent durable (else a crash could lose the blob)."""
    if folder.is_dir():
        return
    _make_dirs(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    fsync_dir(folder.parent)


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a file renamed into it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
