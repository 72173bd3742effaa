"""Group commit: requests hand in column batches or logged bodies; one thread writes them in large batches.

Two kinds of work wait in one buffer:
- column batches (`submit`): the request's future resolves only after the batch holding its spans is written to
  the store (so an answered request is durable), or fails with the store's error;
- logged requests (`submit_logged`): bodies already synced to the ingest log (`wal.py`), answered before they are
  written. The writer maps them in bulk (`materialize`, one call per batch) and writes them with the rest; a
  failed write is retried, with a growing pause, until it succeeds, since their senders were already answered.
The buffer is bounded by rows: when it is full, `submit` and `submit_logged` raise Overloaded at once and the API
answers 429 with Retry-After, instead of queueing without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from neon_server.ingest.wal import LoggedRequest
from neon_server.os_threads import name_this_thread

log = logging.getLogger("neon.ingest.writer")


class Overloaded(RuntimeError):
    """The write buffer is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"ingest buffer full; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class WriterStopped(RuntimeError):
    """The writer is shutting down and takes no more work."""


Materialize = Callable[[list[LoggedRequest]], tuple[pa.Table, pa.Table]]
MAX_RETRY_PAUSE = 5.0


@dataclass
class PendingBatch:
    spans: pa.Table | None
    payloads: pa.Table | None
    rows: int
    logged: LoggedRequest | None = None
    seq: int = 0  # logged requests are numbered in the order they were admitted
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
    retries: int = 0
    # Seconds from a logged request's arrival to its spans being in the store, for the latest requests.
    queryable_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


def queryable_after(stats: WriterStats) -> dict[str, float | None]:
    """Median and p99 of the seconds from a logged request's arrival to its spans being in the store (latest
    10,000 requests): how long an answered export takes to become queryable."""
    times = sorted(stats.queryable_seconds)
    if not times:
        return {"queryable_p50_ms": None, "queryable_p99_ms": None}
    return {"queryable_p50_ms": round(times[len(times) // 2] * 1000, 1),
            "queryable_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1)}


class BatchWriter:
    def __init__(self, write: Callable[[pa.Table, pa.Table], None], *, max_batch_rows: int = 20_000,
                 behind_batch_rows: int | None = None, max_delay_seconds: float = 0.05,
                 max_pending_rows: int = 200_000,
                 on_written: Callable[[WrittenBatch], None] | None = None) -> None:
        self._write = write
        self._materialize: Materialize | None = None
        self._on_logged_written: Callable[[list[LoggedRequest]], None] | None = None
        self._failures_in_a_row = 0
        self._logged_seq = 0
        self._written_seq = 0
        self._written = threading.Condition()
        self._max_batch_rows = max_batch_rows
        self._behind_batch_rows = max(max_batch_rows, behind_batch_rows or max_batch_rows)
        self._max_delay = max_delay_seconds
        self._max_pending_rows = max_pending_rows
        self._on_written = on_written
        self._pending: deque[PendingBatch] = deque()
        self._pending_rows = 0
        self._unwritten_rows = 0  # taken and not yet written: pending, being mapped and being written
        self._written_listeners: list[Callable[[], None]] = []
        self._first_pending_at = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = WriterStats()

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    @property
    def unwritten_rows(self) -> int:
        """Spans taken and not yet written (or failed): what the store lags behind the answers."""
        return self._unwritten_rows

    def when_written(self, listener: Callable[[], None]) -> None:
        """Call `listener` (in the writer's thread) after each batch is written or has failed."""
        self._written_listeners.append(listener)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="neon-batch-writer", daemon=True)
        self._thread.start()

    def take_logged(self, materialize: Materialize, on_written: Callable[[list[LoggedRequest]], None]) -> None:
        """Accept logged requests: `materialize` maps a batch of them onto tables; `on_written` hears which were
        written. Call before `start`."""
        self._materialize = materialize
        self._on_logged_written = on_written

    def submit(self, spans: pa.Table, payloads: pa.Table) -> Future[None]:
        batch = PendingBatch(spans, payloads, spans.num_rows)
        with self._cond:
            self._admit(batch.rows)
            self._enqueue(batch)
        return batch.future

    def submit_logged(self, rows: int, log: Callable[[], LoggedRequest]) -> Future[None]:
        """Admit a request of `rows` spans, then call `log` (which syncs it to the ingest log) and queue what it
        returns. Admission comes first so that a request refused with 429 is never logged (its retry would be a
        second copy)."""
        if self._materialize is None:
            raise RuntimeError("this writer takes no logged requests")
        with self._cond:
            self._admit(rows)
            batch = PendingBatch(None, None, rows, log(), self._logged_seq + 1)
            self._logged_seq += 1
            self._enqueue(batch)
        return batch.future

    def settle(self, timeout: float) -> bool:
        """Wait until every logged request admitted so far is written (read-your-writes for a caller that was
        answered before its spans were written); False if that took longer than `timeout`."""
        target = self._logged_seq
        with self._written:
            return self._written.wait_for(lambda: self._written_seq >= target, timeout)

    def submit_recovered(self, record: LoggedRequest) -> Future[None]:
        """Queue a request logged before a restart, whatever the buffer holds (it was answered already)."""
        with self._cond:
            batch = PendingBatch(None, None, record.spans, record, self._logged_seq + 1)
            self._logged_seq += 1
            self._enqueue(batch)
        return batch.future

    def _admit(self, rows: int) -> None:
        if self._stopping:
            raise WriterStopped("the server is shutting down")
        # One oversized request is admitted into an empty buffer, or it could never be written.
        if self._pending_rows and self._pending_rows + rows > self._max_pending_rows:
            self.stats.rejected_overload += 1
            raise Overloaded(retry_after=1.0)

    def _enqueue(self, batch: PendingBatch) -> None:
        if not self._pending:
            self._first_pending_at = time.monotonic()
        self._pending.append(batch)
        self._pending_rows += batch.rows
        self._unwritten_rows += batch.rows
        if self._pending_rows >= self._max_batch_rows:
            self._cond.notify()
        elif len(self._pending) == 1:
            self._cond.notify()  # start the delay clock in the writer

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything pending, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("batch writer did not finish within %ss", timeout)

    def _take(self, wait: bool = True) -> list[PendingBatch] | None:
        """Block until a batch is due (full, or old enough, or stopping); None when stopped and drained. With
        `wait=False`, a full batch if one waits now, else an empty list (the batch mapped while another is
        written: taking a part-filled one early would leave the rest arriving meanwhile to a batch of its own)."""
        with self._cond:
            while True:
                if not wait and not (self._pending and (
                        self._stopping or self._pending_rows >= self._batch_limit())):
                    return []
                if self._pending:
                    due = self._first_pending_at + self._max_delay
                    now = time.monotonic()
                    if self._stopping or self._pending_rows >= self._max_batch_rows or now >= due:
                        taken: list[PendingBatch] = []
                        rows = 0
                        limit = self._batch_limit()
                        while self._pending and (not taken or rows + self._pending[0].rows <= limit):
                            batch = self._pending.popleft()
                            taken.append(batch)
                            rows += batch.rows
                        self._pending_rows -= rows
                        self._first_pending_at = time.monotonic()
                        return taken
                    self._cond.wait(due - now)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait()

    def _batch_limit(self) -> int:
        """Spans in the next batch: `max_batch_rows`, or `behind_batch_rows` while more than two batches' worth
        are unwritten (the writer is behind: fewer, larger inserts write more spans a second, since each insert
        has a fixed cost in the engine; while it keeps up, smaller batches keep the wait for the store short)."""
        if self._unwritten_rows > 2 * self._max_batch_rows:
            return self._behind_batch_rows
        return self._max_batch_rows

    def _run(self) -> None:
        # While a batch is written, the next one (if due) is already being mapped, so mapping (in decode workers
        # or a thread) and the engine's insert overlap.
        name_this_thread("neon-writer")
        ahead: tuple[list[PendingBatch], Future[tuple[pa.Table, pa.Table]]] | None = None
        mapper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neon-batch-map",
                                    initializer=name_this_thread, initargs=("neon-map",))
        try:
            while True:
                if ahead is None:
                    taken = self._take()
                    if taken is None:
                        return
                    tables = self._prepare(taken, mapper)
                else:
                    (taken, tables), ahead = ahead, None
                started = time.perf_counter()
                try:
                    spans, payloads = tables.result()
                    upcoming = self._take(wait=False) if self._materialize is not None else []
                    if upcoming:
                        ahead = (upcoming, self._prepare(upcoming, mapper))
                    self._write(spans, payloads)
                except Exception as exc:
                    put_back, ahead = (ahead[0] if ahead else []), None
                    self._failed(taken, exc, put_back)
                    continue
                self._written_batch(taken, spans, time.perf_counter() - started)
        finally:
            mapper.shutdown(wait=True)

    def _prepare(self, taken: list[PendingBatch],
                 mapper: ThreadPoolExecutor) -> Future[tuple[pa.Table, pa.Table]]:
        if any(b.logged is not None for b in taken):
            return mapper.submit(self._tables, taken)
        done: Future[tuple[pa.Table, pa.Table]] = Future()
        try:
            done.set_result(self._tables(taken))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def _written_batch(self, taken: list[PendingBatch], spans: pa.Table, elapsed: float) -> None:
        self._failures_in_a_row = 0
        self._count(taken, spans, elapsed)
        for batch in taken:
            batch.future.set_result(None)
        self._done(taken)
        logged = [b.logged for b in taken if b.logged is not None]
        if logged:
            if self._on_logged_written is not None:
                self._on_logged_written(logged)
            with self._written:  # batches are written in admission order; failed ones go back in front
                self._written_seq = max(self._written_seq, *(b.seq for b in taken))
                self._written.notify_all()
        if self._on_written is not None:
            try:
                self._on_written(WrittenBatch(spans=spans, requests=len(taken), seconds=elapsed))
            except Exception:
                log.exception("live notification failed")

    def _tables(self, taken: list[PendingBatch]) -> tuple[pa.Table, pa.Table]:
        parts = [(b.spans, b.payloads) for b in taken if b.spans is not None and b.payloads is not None]
        logged = [b.logged for b in taken if b.logged is not None]
        if logged and self._materialize is not None:
            parts.append(self._materialize(logged))
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables([p[0] for p in parts]), pa.concat_tables([p[1] for p in parts])

    def _failed(self, taken: list[PendingBatch], exc: Exception, put_back: list[PendingBatch]) -> None:
        """Requests waiting for the write learn the failure; logged ones (already answered) go back to the
        front of the buffer and are tried again after a pause, followed by the batch taken to map ahead
        (`put_back`), so the buffer's order holds."""
        self.stats.failures += 1
        self._failures_in_a_row += 1
        log.exception("batch write failed", extra={"fields": {"requests": len(taken)}})
        again = [b for b in taken if b.logged is not None] + put_back
        for batch in taken:
            if batch.logged is None:
                batch.future.set_exception(exc)
        self._done([b for b in taken if b.logged is None])
        if not again:
            return
        self.stats.retries += 1
        pause = min(MAX_RETRY_PAUSE, 0.1 * 2 ** min(self._failures_in_a_row, 6))
        with self._cond:
            self._pending.extendleft(reversed(again))
            self._pending_rows += sum(b.rows for b in again)
            self._first_pending_at = time.monotonic() - self._max_delay  # due at once after the pause
            self._cond.wait(pause)

    def _done(self, batches: list[PendingBatch]) -> None:
        with self._cond:
            self._unwritten_rows -= sum(b.rows for b in batches)
        for listener in self._written_listeners:
            try:
                listener()
            except Exception:
                log.exception("written listener failed")

    def _count(self, taken: list[PendingBatch], spans: pa.Table, elapsed: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.spans += spans.num_rows
        stats.requests += len(taken)
        stats.last_batch_spans = spans.num_rows
        stats.write_seconds += elapsed
        now_ns = time.time_ns()
        for batch in taken:
            if batch.logged is not None:
                stats.queryable_seconds.append((now_ns - batch.logged.received_ns) / 1e9)
