"""Files of training runs (Neptune's file attributes and file series), kept per project under a folder.

A file lives at `<root>/<project_id>/<key>`, the key being the path the client chose (neptune-scale:
`<run>/<attribute>/<step>/<name>`). Keys are untrusted: one that is absolute, has an empty, `.` or `..` part, a
NUL or a backslash is refused, so a key never leaves its project's folder. Multipart uploads keep their parts in
`<root>/.uploads/<project_id>/<upload_id>/<n>` until completed (or for a day).

Every write goes to a temporary file that is fsynced, renamed into place, and its folder fsynced: a file that was
answered survives a crash, and a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from neon_server.storage.blobs import fsync_dir

PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_KEY_CHARS = 1024
MAX_PART_NUMBER = 10_000
UPLOADS = ".uploads"


class BadKey(ValueError):
    """A file key or upload id that is not acceptable; the message says why."""


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_CHARS:
        raise BadKey(f"file path must be 1–{MAX_KEY_CHARS} characters")
    if key.startswith("/") or "\x00" in key or "\\" in key:
        raise BadKey(f"file path {key[:200]!r} must be relative, without NUL or backslash")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise BadKey(f"file path {key[:200]!r} has an empty, '.' or '..' part")
    return key


class PendingFile:
    """Bytes being written; `commit` makes them durable under their final name and returns the MD5 ETag."""

    def __init__(self, final: Path) -> None:
        self.final = final
        if final.is_dir():
            raise BadKey(f"file path {final.name!r} is a folder of other files")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise BadKey("a folder of this file path is a file already") from None
        self.temp = final.with_name(f".{final.name[:100]}.{secrets.token_hex(6)}.tmp")
        self._file = self.temp.open("xb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temp, self.final)
        finally:
            self.abort()
        fsync_dir(self.final.parent)
        return self._md5.hexdigest()

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.temp.unlink(missing_ok=True)


class TrackFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, project_id: str, key: str) -> Path:
        if not PROJECT_ID.match(project_id):
            raise BadKey(f"bad project id {project_id!r}")
        return self.root / project_id / check_key(key)

    def begin(self, project_id: str, key: str) -> PendingFile:
        return PendingFile(self.path(project_id, key))

    def find(self, project_id: str, key: str) -> Path | None:
        path = self.path(project_id, key)
        return path if path.is_file() else None

    def new_upload(self, project_id: str, *, forget_after_seconds: float = 86_400) -> str:
        """A new multipart upload id; uploads of the project left unfinished for a day are deleted."""
        folder = self.root / UPLOADS / project_id
        if PROJECT_ID.match(project_id) and folder.is_dir():
            cutoff = time.time() - forget_after_seconds
            for upload in folder.iterdir():
                if upload.stat().st_mtime < cutoff:
                    shutil.rmtree(upload, ignore_errors=True)
        return secrets.token_hex(16)

    def begin_part(self, project_id: str, upload_id: str, part_number: int) -> PendingFile:
        return PendingFile(self._upload_dir(project_id, upload_id) / str(_part_number(part_number)))

    def complete(self, project_id: str, key: str, upload_id: str, etags: list[str]) -> str:
        """Join parts 1..n (their ETags must be the ones answered) into the file; returns its ETag."""
        folder = self._upload_dir(project_id, upload_id)
        if not folder.is_dir():
            raise BadKey(f"no multipart upload {upload_id!r} in this project (completed already, or never begun)")
        parts = [folder / str(n) for n in range(1, len(etags) + 1)]
        pending = self.begin(project_id, key)
        try:
            for number, (part, etag) in enumerate(zip(parts, etags, strict=True), start=1):
                if not part.is_file():
                    raise BadKey(f"part {number} of upload {upload_id} was not uploaded")
                md5 = hashlib.md5(usedforsecurity=False)
                with part.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        md5.update(chunk)
                        pending.write(chunk)
                if md5.hexdigest() != etag.strip('"'):
                    raise BadKey(f"part {number} has ETag {md5.hexdigest()}, not {etag!r}")
        except BaseException:
            pending.abort()
            raise
        etag = pending.commit()
        shutil.rmtree(folder, ignore_errors=True)
        return etag

    def _upload_dir(self, project_id: str, upload_id: str) -> Path:
        if not PROJECT_ID.match(project_id) or not UPLOAD_ID.match(upload_id):
            raise BadKey(f"bad upload id {upload_id!r}")
        return self.root / UPLOADS / project_id / upload_id


def _part_number(n: int) -> int:
    if not 1 <= n <= MAX_PART_NUMBER:
        raise BadKey(f"part number must be 1–{MAX_PART_NUMBER}")
    return n
