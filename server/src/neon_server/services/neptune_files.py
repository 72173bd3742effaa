"""Signed URLs for Neptune's file uploads and downloads, pointing back at Neon.

neptune-scale asks `POST /api/storagebridge/v1/signedUrl` for a URL per file and then PUTs the bytes there with
no credentials (as it would to S3), so the URL itself is the credential: it names the project, the path, the
operation (read or write, a multipart part) and an expiry, and carries an HMAC of all of them made with the
server's secret. Files larger than `part_bytes` are uploaded in parts (S3 multipart: one URL per part, then
`completeMultipartUpload`).

A URL can be signed before the run or the attribute exists (the client uploads independently of ingestion),
so signing only checks the caller's project.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from neon_server.services.errors import Forbidden
from neon_server.storage.track_files import TrackFileStore

SIGNING_CONTEXT = b"neon-neptune-file-url:v1"
URL_SECONDS = 3600
FILE_ROUTE = "/api/storagebridge/v1/files"


@dataclass(frozen=True)
class FileGrant:
    """What a verified URL allows."""

    project_id: str
    path: str
    permission: str  # "read" | "write"
    upload_id: str = ""
    part: int = 0


@dataclass(frozen=True)
class SignedFile:
    path: str
    url: str
    upload_id: str = ""
    part_size: int = 0
    part_urls: tuple[str, ...] = ()


class NeptuneFiles:
    def __init__(self, store: TrackFileStore, secret: bytes, *, part_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._key = hmac.new(secret, SIGNING_CONTEXT, hashlib.sha256).digest()
        self._part_bytes = part_bytes
        self._clock = clock

    def sign(self, base_url: str, project_id: str, path: str, permission: str, size: int | None) -> SignedFile:
        """A URL for one file; for a write over `part_bytes`, a multipart upload with one URL per part."""
        if permission not in ("read", "write"):
            raise ValueError(f"permission must be read or write, not {permission!r}")
        expires = int(self._clock()) + URL_SECONDS
        url = self._url(base_url, FileGrant(project_id, path, permission), expires)
        if permission == "write" and size is not None and size > self._part_bytes:
            upload_id = self.store.new_upload(project_id)
            parts = math.ceil(size / self._part_bytes)
            urls = tuple(self._url(base_url, FileGrant(project_id, path, "write", upload_id, n), expires)
                         for n in range(1, parts + 1))
            return SignedFile(path, url, upload_id, self._part_bytes, urls)
        return SignedFile(path, url)

    def verify(self, query: dict[str, str]) -> FileGrant:
        """The grant a URL's query carries; Forbidden when it is altered, expired or malformed."""
        try:
            grant = FileGrant(query["project"], query["path"], query["op"], query.get("upload", ""),
                              int(query.get("part", "0")))
            expires = int(query["exp"])
            signature = query["sig"]
        except (KeyError, ValueError):
            raise Forbidden("file URL is incomplete: ask for a new one (POST /api/storagebridge/v1/signedUrl)") \
                from None
        if not hmac.compare_digest(signature, self._signature(grant, expires)):
            raise Forbidden("file URL signature does not match: the URL was altered or signed with another secret")
        if expires < self._clock():
            raise Forbidden("file URL expired: ask for a new one (POST /api/storagebridge/v1/signedUrl)")
        return grant

    def _url(self, base_url: str, grant: FileGrant, expires: int) -> str:
        query = {"project": grant.project_id, "path": grant.path, "op": grant.permission}
        if grant.upload_id:
            query |= {"upload": grant.upload_id, "part": str(grant.part)}
        query |= {"exp": str(expires), "sig": self._signature(grant, expires)}
        return f"{base_url.rstrip('/')}{FILE_ROUTE}?{urlencode(query)}"

    def _signature(self, grant: FileGrant, expires: int) -> str:
        message = "\n".join((grant.project_id, grant.path, grant.permission, grant.upload_id, str(grant.part),
                             str(expires)))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()
