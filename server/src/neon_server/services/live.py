"""Live feed: newly written spans announced to subscribers of a project (for the UI's live tail over SSE), and
the ids of newly written traces to listeners in this process (the online scorer).

The batch writer publishes from its own thread after each commit; each subscriber has a bounded asyncio
queue on its event loop. A subscriber that does not keep up loses events (counted in `dropped`) rather than
slowing ingestion down. Listeners are called on the writer's thread, so they must only take note and return.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from neon_server.ingest.writer import WrittenBatch
from neon_server.services.traces import iso_times

log = logging.getLogger("neon.live")

TraceListener = Callable[[str, list[str]], None]
"""Called with (project id, ids of the traces that just had spans written)."""

ROOT_FIELDS = ["trace_id", "span_id", "name", "status", "start_time", "duration_ns", "service", "session_id",
               "user_id", "agent_id", "agent_version", "environment"]


@dataclass(eq=False)
class Subscription:
    project_id: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    dropped: int = 0

    def offer(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


class LiveHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self._listeners: list[TraceListener] = []
        self._lock = threading.Lock()

    def listen(self, listener: TraceListener) -> None:
        """Be told the trace ids of every written batch, per project (on the writer's thread: be quick)."""
        with self._lock:
            self._listeners.append(listener)

    def unlisten(self, listener: TraceListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def subscribe(self, project_id: str) -> Subscription:
        """Call from the event loop that will read the subscription's queue."""
        sub = Subscription(project_id, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.setdefault(project_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subscribers.get(sub.project_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[sub.project_id]

    def publish(self, written: WrittenBatch) -> None:
        with self._lock:
            if not self._subscribers and not self._listeners:
                return
            targets = {p: list(s) for p, s in self._subscribers.items()}
            listeners = list(self._listeners)
        spans = written.spans
        projects = pc.unique(spans["project_id"]).to_pylist() if listeners else list(targets)
        for project_id in projects:
            mine = spans.filter(pc.equal(spans["project_id"], project_id))
            if mine.num_rows == 0:
                continue
            subs = targets.get(project_id)
            if subs:
                event = _event(project_id, mine)
                for sub in subs:
                    sub.loop.call_soon_threadsafe(sub.offer, event)
            if listeners:
                trace_ids = pc.unique(mine["trace_id"]).to_pylist()
                for listener in listeners:
                    try:
                        listener(project_id, trace_ids)
                    except Exception:  # a listener's bug must not fail the writer's thread
                        log.exception("live listener failed")


def _event(project_id: str, spans: pa.Table) -> dict[str, Any]:
    roots = spans.filter(pc.equal(spans["parent_span_id"], ""))
    return {
        "type": "spans",
        "project_id": project_id,
        "span_count": spans.num_rows,
        "trace_ids": pc.unique(spans["trace_id"]).to_pylist(),
        "root_spans": iso_times(roots.select(ROOT_FIELDS).to_pylist()),
    }
