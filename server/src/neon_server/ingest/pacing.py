"""Pacing: when answered spans pile up unwritten, new requests wait for the batch writer before they are taken.

An OTLP protobuf request is answered once it is logged, before its spans are written. A sender faster than the
store would be answered at once while the store fell further behind, and a span answered now would become
queryable only after everything answered before it (at 200,000 spans behind, seconds). So while more than
`lag_rows` spans are taken but not written, a new request waits — holding no thread — until a batch is written,
for at most `max_wait` seconds; then it is taken anyway, and the writer's buffer bound (429) still applies. Under
overload the delay moves from "answered but not yet queryable" to the answer itself, where a sender sees it
and slows down; an exporter that sends one request at a time and waits for its answer is paced to what the
store writes.

Waiters woken by one write all go ahead, so the lag can pass `lag_rows` by the requests waiting at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PacingStats:
    paced_requests: int = 0  # requests that waited for a write
    paced_seconds: float = 0.0  # their waits, in all
    waits_timed_out: int = 0  # requests taken after waiting `max_wait` (the store is slow or stuck)


class WritePacer:
    def __init__(self, unwritten: Callable[[], int], lag_rows: int, max_wait: float) -> None:
        self._unwritten = unwritten
        self._lag_rows = lag_rows
        self._max_wait = max_wait
        # The waiters' loop and the event it wakes them with, as one value: the writer's thread reads both.
        self._progress: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.stats = PacingStats()

    async def wait(self) -> None:
        """Return when fewer than `lag_rows` spans are unwritten, or after `max_wait` seconds."""
        if self._unwritten() < self._lag_rows or self._max_wait <= 0:
            return
        loop = asyncio.get_running_loop()
        if self._progress is None or self._progress[0] is not loop:  # an event belongs to one loop
            self._progress = (loop, asyncio.Event())
        progress = self._progress[1]
        started = time.monotonic()
        deadline = started + self._max_wait
        try:
            while self._unwritten() >= self._lag_rows:
                progress.clear()
                if self._unwritten() < self._lag_rows:  # a write finished between the check and the clear
                    break
                try:  # a deadline already passed times out at once
                    await asyncio.wait_for(progress.wait(), deadline - time.monotonic())
                except TimeoutError:
                    self.stats.waits_timed_out += 1
                    break
        finally:
            self.stats.paced_requests += 1
            self.stats.paced_seconds += time.monotonic() - started

    def written(self) -> None:
        """A batch was written (or given up): wake the waiters. Called from the writer's thread."""
        waiting = self._progress
        if waiting is None:
            return
        loop, progress = waiting
        with contextlib.suppress(RuntimeError):  # the loop closed: no one is waiting
            loop.call_soon_threadsafe(progress.set)
