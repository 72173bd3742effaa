"""Mapping logged OTLP bodies onto span columns in worker processes, so decoding uses more than one core.

Decoding OTLP protobuf in Python holds the interpreter lock (~45 µs a span): in the server's own process it takes
turns with request handling and the batch writer, and one core is the ceiling. Worker processes each decode a
share of a batch and send back the two Arrow tables (`SpanColumns.to_arrow`), which pickle as Arrow IPC buffers.
Workers are started with `spawn` (the server process holds chDB and threads, which must not be forked). If a
worker dies, the batch is decoded in the calling thread and the pool is started again.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pyarrow as pa

from neon_server.ingest.columns import PAYLOAD_SCHEMA, SPAN_SCHEMA
from neon_server.ingest.native_map import map_requests
from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.ingest.wal import LoggedRequest

log = logging.getLogger("neon.ingest.decode")

Decoded = tuple[pa.Table, pa.Table]
CHUNK_SPANS = 4096


def decode_logged(requests: Iterable[LoggedRequest], limits: Limits, *, native: bool = True) -> Decoded:
    """The span and payload tables of logged requests, in order (run in a worker or in the caller). Logged
    bodies passed `check_protobuf`, so `native` may map them with the C mapper (`native_map`). Requests are
    mapped in chunks of about `CHUNK_SPANS` rows, each one chunk of the tables: the engine reads a table of one
    chunk per request ~3 µs a span slower, and one chunk for a whole batch would hold a second copy of it."""
    spans: list[pa.Table] = []
    payloads: list[pa.Table] = []
    pending: list[LoggedRequest] = []
    rows = 0
    for request in requests:
        pending.append(request)
        rows += request.spans
        if rows >= CHUNK_SPANS:
            _add_chunk(pending, limits, native, spans, payloads)
            rows = 0
    if pending:
        _add_chunk(pending, limits, native, spans, payloads)
    if not spans:
        return SPAN_SCHEMA.empty_table(), PAYLOAD_SCHEMA.empty_table()
    return pa.concat_tables(spans), pa.concat_tables(payloads)


def _add_chunk(requests: list[LoggedRequest], limits: Limits, native: bool, spans: list[pa.Table],
               payloads: list[pa.Table]) -> None:
    """Map `requests` (emptied after) onto tables appended to `spans` and `payloads`: by the C mapper when
    `native` and installed, else (and for a request it leaves to Python whole) by the Python mapper."""
    mapped = map_requests([(r.body, r.project_id, r.digest) for r in requests], limits) if native else None
    python: list[tuple[pa.Table, pa.Table]] = []
    for i, request in enumerate(requests):
        outcome = mapped.outcomes[i] if mapped is not None else None
        if outcome is None:
            decoded = decode_protobuf(request.body, request.project_id, limits, native=native)
            python.append(decoded.columns.to_arrow(request.digest))
            rejected, message = decoded.rejected, decoded.message()
        else:
            rejected, message = outcome.rejected, outcome.message()
        if rejected:
            log.warning("logged request %s: %d spans could not be mapped: %s", request.digest, rejected, message)
    if mapped is not None:
        spans.append(mapped.spans)
        payloads.append(mapped.payloads)
    if python:
        spans.append(pa.concat_tables([t for t, _ in python]).combine_chunks())
        payloads.append(pa.concat_tables([p for _, p in python]).combine_chunks())
    requests.clear()


def _shares(requests: list[LoggedRequest], count: int) -> list[list[LoggedRequest]]:
    """Up to `count` consecutive runs of requests with about the same number of spans each."""
    total = sum(r.spans for r in requests)
    shares: list[list[LoggedRequest]] = [[]]
    done = 0
    for request in requests:
        if shares[-1] and done >= total * len(shares) / count:
            shares.append([])
        shares[-1].append(request)
        done += request.spans
    return shares


class DecodePool:
    def __init__(self, processes: int, limits: Limits, *, native: bool = True) -> None:
        self._processes = processes
        self._native = native
        self._limits = limits
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def start(self) -> None:
        """Start the workers now (they take about a second to import), not on the first batch."""
        pool = self._executor()
        for future in [pool.submit(decode_logged, [], self._limits) for _ in range(self._processes)]:
            future.result()

    def decode(self, requests: list[LoggedRequest]) -> Decoded:
        shares = _shares(requests, self._processes)
        if len(shares) == 1 and len(requests) == 1 and requests[0].spans < 50:
            return self._here(requests)  # not worth a trip to a worker
        try:
            pool = self._executor()
            parts = [f.result() for f in [pool.submit(decode_logged, share, self._limits, native=self._native)
                                          for share in shares]]
        except BrokenProcessPool:
            log.exception("a decode worker died; decoding this batch here and starting new workers")
            with self._lock:
                broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            return self._here(requests)
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables([p[0] for p in parts]), pa.concat_tables([p[1] for p in parts])

    def _here(self, requests: list[LoggedRequest]) -> Decoded:
        return decode_logged(requests, self._limits, native=self._native)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
