"""Retried request bodies, recognised by a digest per project (traces, native spans and logs alike).

An OTLP exporter resends the identical body: a retry of a request that was written is answered without writing it
again, and a retry arriving while the original is being written waits for the original's answer. Digests written
in the last window are reloaded from the store at start, so a retry after a crash is recognised too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def body_digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class RequestDedupe:
    def __init__(self, window_seconds: int) -> None:
        self._window = window_seconds
        self._recent: dict[tuple[str, str], float] = {}
        self._expiry: deque[tuple[float, tuple[str, str]]] = deque()
        self._inflight: dict[tuple[str, str], Future[object]] = {}

    def remember_all(self, keys: list[tuple[str, str]]) -> None:
        expires = time.monotonic() + self._window
        for key in keys:
            self._remember(key, expires)

    async def once(self, project_id: str, body: bytes, duplicate: T,
                   run: Callable[[str], Awaitable[T]]) -> T:
        """`run(digest)` for a new body; `duplicate` for a body already written; the original's answer for a
        body being written now."""
        key = (project_id, body_digest(body))
        self._expire()
        if key in self._recent:
            return duplicate
        running = self._inflight.get(key)
        if running is not None:
            result: T = await asyncio.wrap_future(running)  # type: ignore[arg-type]
            return result
        mine: Future[object] = Future()
        self._inflight[key] = mine
        try:
            answer = await run(key[1])
        except BaseException as exc:
            mine.set_exception(exc)
            mine.exception()  # mark retrieved: waiting duplicates re-raise it themselves
            raise
        finally:
            del self._inflight[key]
        self._remember(key, time.monotonic() + self._window)
        mine.set_result(answer)
        return answer

    def _remember(self, key: tuple[str, str], expires: float) -> None:
        self._recent[key] = expires
        self._expiry.append((expires, key))

    def _expire(self) -> None:
        now = time.monotonic()
        while self._expiry and self._expiry[0][0] <= now:
            expires, key = self._expiry.popleft()
            if self._recent.get(key) == expires:
                del self._recent[key]
