"""Ingestion use case: from an authenticated request body to durably written spans.

Retried exports are recognised by a digest of the request body (per project): an OTLP exporter resends the
identical body, so a retry of a request that was written is answered OK without writing it again, and a retry
arriving while the original is still being written waits for the original. Digests are written with the
spans (`spans.ingest_request`) and reloaded at start, so a retry after a crash is recognised too.

OTLP protobuf, the hot path, is checked (ids, times, duplicates: what partial success reports), synced to the
ingest log and answered; the batch writer maps and writes the logged bodies in bulk (`_materialize`). At start,
`recover` writes the logged requests a crash left unwritten. JSON OTLP and native requests are decoded here
and answered once written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from neon_server.ingest.decode_pool import DecodePool, decode_logged
from neon_server.ingest.native import decode_native
from neon_server.ingest.otlp import DecodeResult, decode_json, decode_protobuf
from neon_server.ingest.otlp_check import check_protobuf
from neon_server.ingest.pacing import WritePacer
from neon_server.ingest.pricing import price_spans
from neon_server.ingest.semconv import Limits
from neon_server.ingest.wal import IngestLog, LoggedRequest
from neon_server.ingest.writer import BatchWriter
from neon_server.os_threads import name_this_thread
from neon_server.services.pricing import PricingService
from neon_server.services.request_dedupe import RequestDedupe
from neon_server.storage.analytics.otlp_decode import OtlpRequest
from neon_server.storage.analytics.spans import SpanStore

log = logging.getLogger("neon.ingest")


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejected: int
    message: str
    duplicate: bool = False
    trace_ids: list[str] = field(default_factory=list)


class IngestService:
    def __init__(self, spans: SpanStore, writer: BatchWriter, pricing: PricingService, limits: Limits, *,
                 ingest_log: IngestLog | None = None, decoder: str = "native", decode_processes: int = 0,
                 dedupe_window_seconds: int = 600, decode_threads: int = 1, lag_rows: int = 20_000,
                 pace_seconds: float = 5.0) -> None:
        self._spans = spans
        self._writer = writer
        self._log = ingest_log
        self._engine_decodes = decoder == "engine"
        self._native = decoder == "native"  # logged bodies read by the C walker (neon_native) when installed
        self._pool = (DecodePool(decode_processes, limits, native=self._native)
                      if decode_processes and ingest_log is not None else None)
        if self._pool is not None:
            self._pool.start()
        if ingest_log is not None:
            writer.take_logged(self.materialize, self.written)
        self._pricing = pricing
        self._limits = limits
        self._window = dedupe_window_seconds
        self._dedupe = RequestDedupe(dedupe_window_seconds)
        self.pacer = WritePacer(lambda: writer.unwritten_rows, lag_rows, pace_seconds)
        writer.when_written(self.pacer.written)
        # Decoding is pure Python: several decoder threads would only take turns on the GIL (and lose time
        # handing it over), so requests are decoded one at a time, off the event loop.
        self._decoder = ThreadPoolExecutor(max_workers=decode_threads, thread_name_prefix="neon-decode",
                                           initializer=name_this_thread, initargs=("neon-decode",))

    def load_recent_requests(self) -> int:
        """Remember the requests written in the last window (after a restart); returns how many."""
        found = self._spans.recent_requests(self._window)
        self._dedupe.remember_all(found)
        return len(found)

    async def otlp(self, project_id: str, body: bytes, *, json_body: bool) -> IngestResult:
        if not json_body and self._log is not None:
            arrived_ns = time.time_ns()  # queryable delays count from here, any wait for the writer included
            return await self._ingest(project_id, body,
                                      lambda digest: self._check_and_log(project_id, digest, body, arrived_ns))
        decoder = decode_json if json_body else decode_protobuf
        return await self._ingest(project_id, body, lambda digest: self._decode_and_write(
            project_id, digest, lambda: (decoder(body, project_id, self._limits), [])))

    async def native(self, project_id: str, body: bytes) -> IngestResult:
        return await self._ingest(project_id, body, lambda digest: self._decode_and_write(
            project_id, digest, lambda: decode_native(body, project_id, self._limits)))

    async def _ingest(self, project_id: str, body: bytes,
                      work: Callable[[str], Awaitable[IngestResult]]) -> IngestResult:
        async def paced(digest: str) -> IngestResult:
            await self.pacer.wait()  # a retry of a request being written waits for it instead (dedupe)
            return await work(digest)

        return await self._dedupe.once(project_id, body, IngestResult(0, 0, "", duplicate=True), paced)

    async def _decode_and_write(self, project_id: str, digest: str,
                                decode: Callable[[], tuple[DecodeResult, list[str]]]) -> IngestResult:
        def prepare() -> tuple[DecodeResult, list[str], Future[None] | None]:
            decoded, trace_ids = decode()
            if not len(decoded.columns):
                return decoded, trace_ids, None
            self._pricing.book(project_id).apply(decoded.columns.cols)
            spans, payloads = decoded.columns.to_arrow(digest)
            return decoded, trace_ids, self._writer.submit(spans, payloads)

        decoded, trace_ids, written = await asyncio.get_running_loop().run_in_executor(self._decoder, prepare)
        if written is not None:
            await asyncio.wrap_future(written)
        return IngestResult(len(decoded.columns), decoded.rejected, decoded.message(), trace_ids=trace_ids)

    async def _check_and_log(self, project_id: str, digest: str, body: bytes, arrived_ns: int) -> IngestResult:
        """Check the request, sync it to the ingest log and hand it to the writer; answered without waiting for
        the write."""
        ingest_log = self._log
        assert ingest_log is not None

        def prepare() -> IngestResult:
            checked = check_protobuf(body, project_id)
            if checked.spans:
                record = LoggedRequest(project_id, digest, arrived_ns, checked.spans, checked.body)
                self._writer.submit_logged(checked.spans, lambda: ingest_log.append(record))
            return IngestResult(checked.spans, checked.rejected, checked.message)

        return await asyncio.get_running_loop().run_in_executor(self._decoder, prepare)

    def materialize(self, logged: list[LoggedRequest]) -> tuple[pa.Table, pa.Table]:
        """Map logged requests onto span and payload tables, priced: the batch writer's bulk step."""
        records: Iterable[LoggedRequest] = logged
        if self._log is not None:  # waiting requests are held as places in the log, not bodies in memory
            records = self._loaded(self._log, logged)
        spans, payloads = (self._engine_decode(list(records)) if self._engine_decodes
                           else self._python_decode(records))
        return price_spans(spans, self._pricing.book), payloads

    @staticmethod
    def _loaded(ingest_log: IngestLog, logged: list[LoggedRequest]) -> Iterator[LoggedRequest]:
        """The requests with their bodies read back from the log, one at a time (a batch's bodies are not all
        held at once). One that no longer reads back as written (the disk changed under it) is left out with an
        error, rather than retried forever ahead of the rest."""
        for record in logged:
            try:
                loaded = ingest_log.load(record)
            except OSError:
                log.exception("logged request %s (project %s) could not be read back from the ingest log: its %d "
                              "spans are lost", record.digest, record.project_id, record.spans)
                continue
            yield loaded

    def _python_decode(self, logged: Iterable[LoggedRequest]) -> tuple[pa.Table, pa.Table]:
        if self._pool is not None:
            return self._pool.decode(list(logged))
        return decode_logged(logged, self._limits, native=self._native)

    def _engine_decode(self, logged: list[LoggedRequest]) -> tuple[pa.Table, pa.Table]:
        """One statement for the batch; if the engine refuses it, this process maps the batch instead (a body
        upb accepted but the engine's reader does not must not block the requests behind it)."""
        try:
            return self._spans.decode_otlp(
                [OtlpRequest(r.project_id, r.digest, r.body) for r in logged], self._limits)
        except Exception:
            log.exception("the engine could not map %d logged requests; mapping them here", len(logged))
            return self._python_decode(logged)

    def written(self, logged: list[LoggedRequest]) -> None:
        """The writer wrote these logged requests: their log records are done."""
        if self._log is not None:
            self._log.done([r.segment for r in logged])

    def recover(self) -> int:
        """Write the requests a previous process logged but did not write (call once, with the writer started,
        before serving); returns how many. A request whose spans are already stored is only remembered."""
        if self._log is None:
            return 0
        records = self._log.recovered()
        if not records:
            return 0
        stored = set(self._spans.written_requests(
            [r.digest for r in records], since_ns=min(r.received_ns for r in records)))
        waits: list[Future[None]] = []
        skipped: list[LoggedRequest] = []
        self._dedupe.remember_all([(r.project_id, r.digest) for r in records])
        for record in records:
            if (record.project_id, record.digest) in stored:
                skipped.append(record)
            else:
                waits.append(self._writer.submit_recovered(record))
        self._log.done([r.segment for r in skipped])
        for wait in waits:
            wait.result()
        log.info("ingest log: %d requests written again after a restart, %d were already stored",
                 len(waits), len(skipped))
        return len(waits)

    def close(self) -> None:
        self._decoder.shutdown(wait=True)

    def close_workers(self) -> None:
        """Stop the decode workers (after the writer has written its last batch)."""
        if self._pool is not None:
            self._pool.close()
