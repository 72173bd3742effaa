"""Live feed: newly written spans announced to subscribers of a project (for the UI's live tail over SSE).

The batch writer publishes from its own thread after each commit; each subscriber has a bounded asyncio
queue on its event loop. A subscriber that does not keep up loses events (counted in `dropped`) rather than
slowing ingestion down.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from neon_server.ingest.writer import WrittenBatch
from neon_server.services.traces import iso_times

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
        self._lock = threading.Lock()

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
            if not self._subscribers:
                return
            targets = {p: list(s) for p, s in self._subscribers.items()}
        spans = written.spans
        for project_id, subs in targets.items():
            mine = spans.filter(pc.equal(spans["project_id"], project_id))
            if mine.num_rows == 0:
                continue
            event = _event(project_id, mine)
            for sub in subs:
                sub.loop.call_soon_threadsafe(sub.offer, event)


def _event(project_id: str, spans: pa.Table) -> dict[str, Any]:
    roots = spans.filter(pc.equal(spans["parent_span_id"], ""))
    return {
        "type": "spans",
        "project_id": project_id,
        "span_count": spans.num_rows,
        "trace_ids": pc.unique(spans["trace_id"]).to_pylist(),
        "root_spans": iso_times(roots.select(ROOT_FIELDS).to_pylist()),
    }
