"""API keys: random, shown once, stored as a SHA-256 hash behind a visible prefix, revocable, one project each.

A key looks like `neon_sk_<12 id chars>_<43 secret chars>`; `neon_sk_<id>` is its prefix, shown in lists.
The secret has 256 bits of entropy, so a plain SHA-256 is the right hash (a slow password hash protects
guessable secrets, which these are not) and lets us check a key in microseconds on the ingest path.

Verified keys are trusted for `cache_seconds` (default 2 s) so that hot endpoints do not query the
metadata store on every request; revoking through this service takes effect at once in this process, and
within `cache_seconds` in other processes. `last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from neon_server.domain.projects import ApiKey, Principal
from neon_server.services.errors import NotFound, Unauthorized
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.repositories import ApiKeyRepository

KEY_PREFIX = "neon_sk_"
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 12
# 43 base62 characters carry 256 bits; no '-' or '_' so a double-click selects the whole key.
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 43
KEY_PATTERN = re.compile(rf"^({KEY_PREFIX}[a-z0-9]{{{ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
TOUCH_INTERVAL_SECONDS = 60.0
CACHE_LIMIT = 10_000


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _public_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


class KeyService:
    def __init__(self, keys: ApiKeyRepository, *, cache_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, project_id: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for the project: (stored record, the secret key — the only time it is seen)."""
        for _ in range(5):
            public_id = _public_id()
            prefix = KEY_PREFIX + public_id
            raw = f"{prefix}_{''.join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))}"
            try:
                key = self._keys.create(key_id=f"key_{public_id}", project_id=project_id, name=name,
                                        prefix=prefix, secret_hash=hash_key(raw))
            except AlreadyExists:
                continue  # 36^12 ids: a collision is astronomically rare, but never fatal
            return key, raw
        raise RuntimeError("could not find a free key id")  # pragma: no cover

    def list(self, project_id: str) -> list[ApiKey]:
        return self._keys.list(project_id)

    def revoke(self, project_id: str, key_id: str) -> ApiKey:
        key = self._keys.revoke(project_id, key_id, datetime.now(UTC))
        if key is None:
            raise NotFound(f"no API key {key_id!r} in this project")
        with self._lock:
            self._cache = {h: entry for h, entry in self._cache.items() if entry[0].key_id != key_id}
        return key

    def cached(self, raw_key: str) -> Principal | None:
        """The principal for a key verified less than `cache_seconds` ago, without any I/O."""
        entry = self._cache.get(hash_key(raw_key))
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    def authenticate(self, raw_key: str) -> Principal:
        """The project and key behind `raw_key`; raises Unauthorized saying what was wrong."""
        digest = hash_key(raw_key)
        now = self._clock()
        entry = self._cache.get(digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        match = KEY_PATTERN.match(raw_key)
        if not match:
            raise Unauthorized(
                f"malformed API key: expected '{KEY_PREFIX}…' followed by "
                f"{ID_LENGTH} + 43 characters, as printed by `neon up` or `neon keys create`"
            )
        found = self._keys.find_by_prefix(match[1])
        if found is None or not hmac.compare_digest(found[1], digest):
            raise Unauthorized(f"unknown API key {match[1]}…")
        key = found[0]
        if key.revoked_at is not None:
            raise Unauthorized(f"API key {key.prefix}… was revoked at {key.revoked_at.isoformat()}")
        principal = Principal(project_id=key.project_id, key_id=key.id, key_prefix=key.prefix)
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            if self._cache_seconds > 0:
                self._cache[digest] = (principal, now + self._cache_seconds)
            last = self._touched.get(key.id)
            due = last is None or now - last >= TOUCH_INTERVAL_SECONDS
            if due:
                self._touched[key.id] = now
        if due:
            self._keys.touch(key.id, datetime.now(UTC))
        return principal
