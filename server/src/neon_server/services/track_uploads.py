"""Files logged by `neon.track` (`assign_files` / `log_files`): the bytes, kept in Track's file store
(`storage/track_files.py`, the same store as Neptune's file uploads) at `<project id>/<key>`, where the key is the
client's destination (`run/attribute/step/name`).

A key is untrusted: a relative path of 1–800 characters whose segments are letters, digits, '.', '_' or '-', and
none of them '.' or '..' (the store refuses those, so nothing is written outside the project's folder). Storing a
key again replaces its bytes (a client that retries an upload changes nothing).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from neon_server.services.errors import BodyTooLarge, Conflict, InvalidInput, NotFound
from neon_server.storage.track_files import BadKey, TrackFileStore

MAX_KEY_CHARS = 800
MAX_FILE_BYTES = 4 * 2**30
KEY_PATTERN = r"^[A-Za-z0-9._-]{1,255}(/[A-Za-z0-9._-]{1,255})*$"
KEY = re.compile(KEY_PATTERN)
KEY_RULE = ("a relative path of 1–800 characters whose '/'-separated segments are 1–255 letters, digits, '.', "
            "'_' or '-', none of them '.' or '..'")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size_bytes: int
    sha256: str


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_CHARS or not KEY.match(key):
        raise InvalidInput(f"file key {key[:100]!r} must be {KEY_RULE}")
    return key


def _refused(exc: BadKey, key: str) -> Exception:
    text = str(exc)
    if "folder" in text:
        return Conflict(f"file key {key[:100]!r}: {text}")
    return InvalidInput(text)


class TrackUploads:
    def __init__(self, files: TrackFileStore, max_bytes: int = MAX_FILE_BYTES) -> None:
        self._files = files
        self.max_bytes = max_bytes

    async def store(self, project_id: str, key: str, chunks: AsyncIterator[bytes]) -> StoredFile:
        """Write the streamed bytes to the key (atomically and durably: a partial upload never replaces a file)."""
        check_key(key)
        try:
            pending = await asyncio.to_thread(self._files.begin, project_id, key)
        except BadKey as exc:
            raise _refused(exc, key) from None
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise BodyTooLarge(f"file is over the limit of {self.max_bytes} bytes")
                digest.update(chunk)
                await asyncio.to_thread(pending.write, chunk)
            await asyncio.to_thread(pending.commit)
        except IsADirectoryError:
            raise Conflict(f"file key {key[:100]!r} is a folder of other files' keys") from None
        finally:
            pending.abort()  # a no-op after commit
        return StoredFile(key, size, digest.hexdigest())

    def read(self, project_id: str, key: str) -> bytes:
        try:
            found = self._files.find(project_id, check_key(key))
        except BadKey:
            found = None
        if found is None:
            raise NotFound(f"no file {key!r} in this project")
        return found.read_bytes()
