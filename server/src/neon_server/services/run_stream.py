"""Run stream: events of agent runs that must not go through Temporal history (token deltas, step and status
changes), from the workers that publish them to the subscribers of that run (the UI, `neon agent run`).

Events are fire-and-forget: nothing is stored, a subscriber sees what is published while it listens. Each
subscriber has a bounded queue; one that does not keep up loses the newest events (counted) and finds a
`dropped` event in their place, so it knows to refresh from the run's durable state. Publishing never waits
for a subscriber.

The hub lives in one process: in a distributed deployment, `POST /api/agent-runs/{id}/stream` must reach the
process that serves that run's subscribers (route by run id), or subscribers elsewhere see nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

RESERVED_TYPES = frozenset({"dropped"})  # made by the hub, never published


@dataclass
class _Gap:
    """Stands in a subscriber's queue for the events it lost there."""

    count: int


@dataclass(eq=False)
class RunSubscription:
    """One listener of one run. Read it with `next` on the event loop that subscribed."""

    project_id: str
    run_id: str
    limit: int
    loop: asyncio.AbstractEventLoop
    dropped: int = 0
    _items: deque[str | _Gap] = field(default_factory=deque)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, frames: list[str]) -> None:
        """Queue SSE frames; past the limit they are dropped and counted (on the subscriber's loop only)."""
        for frame in frames:
            if len(self._items) < self.limit:
                self._items.append(frame)
                continue
            self.dropped += 1
            tail = self._items[-1] if self._items else None
            if isinstance(tail, _Gap):
                tail.count += 1
            else:  # the queue may hold one gap marker beyond the limit
                self._items.append(_Gap(1))
        self._wake.set()

    async def next(self, wait_seconds: float) -> str | None:
        """The next SSE frame, or None when nothing came within `wait_seconds`."""
        if not self._items:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait_seconds)
            except TimeoutError:
                return None
            if not self._items:
                return None
        item = self._items.popleft()
        if isinstance(item, _Gap):
            return sse_frame("dropped", {"type": "dropped", "count": item.count, "total_dropped": self.dropped})
        return item

    @property
    def pending(self) -> int:
        return len(self._items)


def sse_frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class RunStreamHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[tuple[str, str], set[RunSubscription]] = {}
        self._lock = threading.Lock()
        self.published = 0
        self._dropped_by_gone = 0  # events lost by subscribers that have left

    def subscribe(self, project_id: str, run_id: str) -> RunSubscription:
        """Call from the event loop that will read the subscription."""
        sub = RunSubscription(project_id, run_id, self._queue_size, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.setdefault((project_id, run_id), set()).add(sub)
        return sub

    def unsubscribe(self, sub: RunSubscription) -> None:
        key = (sub.project_id, sub.run_id)
        with self._lock:
            subs = self._subscribers.get(key)
            if subs is not None and sub in subs:
                self._dropped_by_gone += sub.dropped
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]

    def publish(self, project_id: str, run_id: str, events: list[dict[str, Any]]) -> int:
        """Hand events to the run's subscribers in this project; returns how many subscribers there were."""
        with self._lock:
            subs = list(self._subscribers.get((project_id, run_id), ()))
            self.published += len(events)
        if not subs or not events:
            return len(subs)
        frames = [sse_frame(str(event["type"]), event) for event in events]  # encoded once for everyone
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for sub in subs:
            if sub.loop is current:
                sub.offer(frames)
            else:
                sub.loop.call_soon_threadsafe(sub.offer, frames)
        return len(subs)

    def stats(self) -> dict[str, int]:
        with self._lock:
            subs = [sub for group in self._subscribers.values() for sub in group]
            gone = self._dropped_by_gone
        return {"subscribers": len(subs), "published_events": self.published,
                "dropped_events": gone + sum(sub.dropped for sub in subs)}
