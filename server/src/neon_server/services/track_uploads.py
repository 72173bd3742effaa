"""Files logged by `neon.track` (`assign_files` / `log_files`): the bytes, kept under
`NEON_HOME/track-files/<project id>/<key>`, where the key is the client's destination (`run/attribute/step/name`).

A key is untrusted: it is a relative path of 1–800 characters whose segments are letters, digits, '.', '_' or
'-'. On disk a segment that starts with '.' or '_' gets one more '_' in front, so '.' and '..' are names like
any other and nothing is written outside the project's folder. Storing a key again replaces its bytes (a
client that retries an upload changes nothing).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from neon_server.services.errors import BodyTooLarge, Conflict, InvalidInput

MAX_KEY_CHARS = 800
MAX_FILE_BYTES = 4 * 2**30
KEY_PATTERN = r"^[A-Za-z0-9._-]{1,255}(/[A-Za-z0-9._-]{1,255})*$"
KEY = re.compile(KEY_PATTERN)
KEY_RULE = ("a relative path of 1–800 characters whose '/'-separated segments are 1–255 letters, digits, '.', "
            "'_' or '-'")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size_bytes: int
    sha256: str


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_CHARS or not KEY.match(key):
        raise InvalidInput(f"file key {key[:100]!r} must be {KEY_RULE}")
    return key


def _on_disk(key: str) -> str:
    return "/".join(f"_{s}" if s[0] in "._" else s for s in check_key(key).split("/"))


class TrackUploads:
    def __init__(self, home: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = home / "track-files"
        self.max_bytes = max_bytes

    def path(self, project_id: str, key: str) -> Path:
        return self.root / project_id / _on_disk(key)

    async def store(self, project_id: str, key: str, chunks: AsyncIterator[bytes]) -> StoredFile:
        """Write the streamed bytes to the key (atomically: a partial upload never replaces a whole file)."""
        target = self.path(project_id, key)
        try:
            fd, tmp = await asyncio.to_thread(_temp_beside, target)
        except (NotADirectoryError, FileExistsError):
            raise Conflict(f"file key {key[:100]!r} is inside the key of another file") from None
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise BodyTooLarge(f"file is over the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(_durable, out)
            try:
                await asyncio.to_thread(os.replace, tmp, target)
            except IsADirectoryError:
                raise Conflict(f"file key {key[:100]!r} is a folder of other files' keys") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink on failure
            raise
        return StoredFile(key, size, digest.hexdigest())

    def read(self, project_id: str, key: str) -> bytes:
        return self.path(project_id, key).read_bytes()


def _temp_beside(target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=".upload-", dir=target.parent)


def _durable(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())  # answered means durable
