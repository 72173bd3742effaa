"""Agent blobs: the conversation messages and tool results of agent runs, stored by content address.

A blob's ref is `sha256:<hex>` of its canonical JSON (sorted keys, no spaces, UTF-8; `neon.execute.shared`
defines it and the workers use the same function), so a workflow can keep refs in its history instead of the
values. Putting a blob twice is a no-op. Blobs are kept per project: a ref only finds the blob in the caller's
project. Values are stored and answered as their canonical JSON bytes, never re-encoded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from neon.execute.shared import canonical_json
from neon_server.services.errors import BodyTooLarge, InvalidInput, NotFound
from neon_server.storage.blobs import BlobStore

REF = re.compile(r"^sha256:([0-9a-f]{64})$")
MAX_REFS = 10_000
CANONICAL = "the canonical JSON of the value: sorted keys, no spaces, UTF-8 (neon.execute.shared.blob_ref)"


def digest_of(ref: str) -> str:
    """The hex digest of a ref; raises InvalidInput for anything but `sha256:<64 lowercase hex>`."""
    match = REF.match(ref)
    if match is None:
        shown = ref if len(ref) <= 80 else ref[:80] + "…"
        raise InvalidInput(f"invalid blob ref {shown!r}: expected 'sha256:' and 64 lowercase hex characters")
    return match[1]


def parse_json(body: bytes) -> Any:
    """A request body as JSON; InvalidInput for anything else, including NaN and Infinity (not JSON, and
    a browser could not read such a blob back)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        return json.loads(body, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None


class AgentBlobService:
    def __init__(self, store: BlobStore, *, max_blob_bytes: int, max_batch_bytes: int) -> None:
        self._store = store
        self.max_blob_bytes = max_blob_bytes
        self.max_batch_bytes = max_batch_bytes

    def put(self, project_id: str, ref: str, value: Any) -> bool:
        """Store `value` under `ref`, which must be its address; True when it was new, False when already there."""
        expected = digest_of(ref)
        data = self._encode(value, "the blob")
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise InvalidInput(f"the body hashes to sha256:{actual}, not to the ref sha256:{expected}: "
                               f"a ref is the sha256 of {CANONICAL}")
        return self._store.put(project_id, expected, data)

    def put_many(self, project_id: str, values: Sequence[Any]) -> list[str]:
        """Store each value; their refs in order (values already stored are left as they are)."""
        if len(values) > MAX_REFS:
            raise InvalidInput(f"{len(values)} blobs in one request: at most {MAX_REFS}")
        encoded = [self._encode(value, f"blob [{i}]") for i, value in enumerate(values)]
        total = sum(len(data) for data in encoded)
        if total > self.max_batch_bytes:
            raise BodyTooLarge(f"the blobs add up to {total} bytes, over the limit of {self.max_batch_bytes} "
                               "for one request (NEON_AGENT_BLOB_MAX_BATCH_BYTES): send fewer at once")
        refs = []
        for data in encoded:
            digest = hashlib.sha256(data).hexdigest()
            self._store.put(project_id, digest, data)
            refs.append(f"sha256:{digest}")
        return refs

    def get(self, project_id: str, ref: str) -> bytes:
        """The blob's canonical JSON; NotFound when this project has no blob with this ref."""
        data = self._store.get(project_id, digest_of(ref))
        if data is None:
            raise NotFound(f"no agent blob {ref} in this project")
        return data

    def get_many(self, project_id: str, refs: Sequence[str]) -> list[bytes]:
        """The blobs' canonical JSON in the order asked (a ref may repeat); NotFound naming what is missing."""
        if len(refs) > MAX_REFS:
            raise InvalidInput(f"{len(refs)} refs in one request: at most {MAX_REFS}")
        digests = [digest_of(ref) for ref in refs]
        found: dict[str, bytes] = {}
        missing: list[str] = []
        total = 0
        for ref, digest in zip(refs, digests, strict=True):
            if digest in found:
                data = found[digest]
            else:
                blob = self._store.get(project_id, digest)
                if blob is None:
                    missing.append(ref)
                    continue
                found[digest] = data = blob
            total += len(data)
            if total > self.max_batch_bytes:
                raise BodyTooLarge(f"the blobs asked for add up to more than {self.max_batch_bytes} bytes "
                                   "(NEON_AGENT_BLOB_MAX_BATCH_BYTES): ask for fewer refs at once")
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise NotFound(f"no agent blob {shown} in this project")
        return [found[digest] for digest in digests]

    def _encode(self, value: Any, what: str) -> bytes:
        try:
            data = canonical_json(value)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise InvalidInput(f"{what} cannot be stored as JSON: {exc}") from None
        if len(data) > self.max_blob_bytes:
            raise BodyTooLarge(f"{what} is {len(data)} bytes as canonical JSON, over the limit of "
                               f"{self.max_blob_bytes} (NEON_AGENT_BLOB_MAX_BYTES)")
        return data
