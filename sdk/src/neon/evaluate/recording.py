"""Sending a run to the server as it goes: open the run, post case results in batches, finish it.

The client is synchronous (httpx); posts go through a worker thread so the event loop keeps running cases.
"""

from __future__ import annotations

import asyncio
from typing import Any

from neon.client import NeonClient
from neon.evaluate.results import CaseResult

BATCH = 25


class RunRecorder:
    """Records one suite run on the server. `run_id` given: fill that run (one started through the API)."""

    def __init__(self, client: NeonClient, *, suite: str, version: str, case_count: int, dataset: str = "",
                 run_id: str = "") -> None:
        self.client = client
        self.suite, self.version, self.case_count, self.dataset = suite, version, case_count, dataset
        self.run_id = run_id
        self._pending: list[CaseResult] = []
        self._lock = asyncio.Lock()

    def open(self) -> str:
        """Create the run on the server (unless it exists already); returns its id."""
        if not self.run_id:
            run = self.client.create_eval_run(self.suite, self.version, case_count=self.case_count,
                                              dataset=self.dataset)
            self.run_id = str(run["id"])
        return self.run_id

    async def add(self, result: CaseResult) -> None:
        """Queue a case result; every `BATCH` results go to the server."""
        self._pending.append(result)
        if len(self._pending) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:  # one post at a time keeps the server's view in finishing order
            batch, self._pending = self._pending, []
            if batch:
                await asyncio.to_thread(self.client.add_eval_results, self.run_id, [r.to_dict() for r in batch])

    async def finish(self, *, status: str = "completed", error: str = "") -> dict[str, Any]:
        await self.flush()
        run: dict[str, Any] = await asyncio.to_thread(self.client.finish_eval_run, self.run_id, status=status,
                                                         error=error)
        return run
