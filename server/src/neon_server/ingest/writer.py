"""Group commit: requests hand in column batches; one thread writes them in large batches.

A request's future resolves only after the batch holding its spans is written to the store (so an answered
request is durable), or fails with the store's error. The buffer is bounded by rows: when it is full,
`submit` raises Overloaded at once and the API answers 429 with Retry-After, instead of queueing without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

log = logging.getLogger("neon.ingest.writer")


class Overloaded(RuntimeError):
    """The write buffer is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"ingest buffer full; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class WriterStopped(RuntimeError):
    """The writer is shutting down and takes no more work."""


@dataclass
class PendingBatch:
    spans: pa.Table
    payloads: pa.Table
    future: Future[None] = field(default_factory=Future)


@dataclass(frozen=True)
class WrittenBatch:
    """What was committed: for the live feed."""

    spans: pa.Table
    requests: int
    seconds: float


@dataclass
class WriterStats:
    batches: int = 0
    spans: int = 0
    requests: int = 0
    failures: int = 0
    rejected_overload: int = 0
    last_batch_spans: int = 0
    write_seconds: float = 0.0


class BatchWriter:
    def __init__(self, write: Callable[[pa.Table, pa.Table], None], *, max_batch_rows: int = 20_000,
                 max_delay_seconds: float = 0.05, max_pending_rows: int = 200_000,
                 on_written: Callable[[WrittenBatch], None] | None = None) -> None:
        self._write = write
        self._max_batch_rows = max_batch_rows
        self._max_delay = max_delay_seconds
        self._max_pending_rows = max_pending_rows
        self._on_written = on_written
        self._pending: deque[PendingBatch] = deque()
        self._pending_rows = 0
        self._first_pending_at = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = WriterStats()

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="neon-batch-writer", daemon=True)
        self._thread.start()

    def submit(self, spans: pa.Table, payloads: pa.Table) -> Future[None]:
        batch = PendingBatch(spans, payloads)
        rows = spans.num_rows
        with self._cond:
            if self._stopping:
                raise WriterStopped("the server is shutting down")
            # One oversized request is admitted into an empty buffer, or it could never be written.
            if self._pending_rows and self._pending_rows + rows > self._max_pending_rows:
                self.stats.rejected_overload += 1
                raise Overloaded(retry_after=1.0)
            if not self._pending:
                self._first_pending_at = time.monotonic()
            self._pending.append(batch)
            self._pending_rows += rows
            if self._pending_rows >= self._max_batch_rows:
                self._cond.notify()
            elif len(self._pending) == 1:
                self._cond.notify()  # start the delay clock in the writer
        return batch.future

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything pending, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("batch writer did not finish within %ss", timeout)

    def _take(self) -> list[PendingBatch] | None:
        """Block until a batch is due (full, or old enough, or stopping); None when stopped and drained."""
        with self._cond:
            while True:
                if self._pending:
                    due = self._first_pending_at + self._max_delay
                    now = time.monotonic()
                    if self._stopping or self._pending_rows >= self._max_batch_rows or now >= due:
                        taken: list[PendingBatch] = []
                        rows = 0
                        while self._pending and (not taken or rows + self._pending[0].spans.num_rows
                                                 <= self._max_batch_rows):
                            batch = self._pending.popleft()
                            taken.append(batch)
                            rows += batch.spans.num_rows
                        self._pending_rows -= rows
                        self._first_pending_at = time.monotonic()
                        return taken
                    self._cond.wait(due - now)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            started = time.perf_counter()
            try:
                spans = pa.concat_tables([b.spans for b in taken]) if len(taken) > 1 else taken[0].spans
                payloads = pa.concat_tables([b.payloads for b in taken]) if len(taken) > 1 else taken[0].payloads
                self._write(spans, payloads)
            except Exception as exc:  # every waiting request learns the failure; the writer goes on
                self.stats.failures += 1
                log.exception("batch write failed", extra={"fields": {"requests": len(taken)}})
                for batch in taken:
                    batch.future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            self.stats.batches += 1
            self.stats.spans += spans.num_rows
            self.stats.requests += len(taken)
            self.stats.last_batch_spans = spans.num_rows
            self.stats.write_seconds += elapsed
            for batch in taken:
                batch.future.set_result(None)
            if self._on_written is not None:
                try:
                    self._on_written(WrittenBatch(spans=spans, requests=len(taken), seconds=elapsed))
                except Exception:
                    log.exception("live notification failed")
