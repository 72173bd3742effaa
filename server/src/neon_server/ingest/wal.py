"""The ingest log: accepted request bodies on disk before they are answered, so a request can be answered as soon
as it is durable, without waiting for its insert.

An OTLP exporter sends one request at a time and waits for the answer, so the time to answer bounds a single
sender's throughput. An insert into the analytics store costs tens of milliseconds however few spans it carries
(a part in every table and view written); appending the body to a file and syncing it costs well under one. The
batch writer then inserts many logged requests at once, and a request's record counts as done once its spans
are in the store. After a crash, the records not yet done are written again at start (see
`IngestService.recover`); a record whose spans did reach the store is recognised by its digest and skipped.

Layout: segment files `NNNNNNNNNNNN.log` in one folder, each a sequence of records:
`magic (4) | length (4, little endian) | crc32 of the payload (4) | payload`; the payload is
`project id (2 + n) | digest (1 + n) | received at, ns (8) | span count (4) | body`. A segment is deleted when it is
no longer the one being appended to and all its records are done. A record cut short by a crash (a torn tail) was
never answered, since answers wait for the sync, and is dropped at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("neon.ingest.wal")

MAGIC = b"NWL1"
HEADER = struct.Struct("<4sII")
SEGMENT_BYTES = 64 * 2**20
# An active segment with nothing outstanding is replaced by a fresh one past this size, so that a restart
# rereads little and disk use stays small under a steady load.
ROLL_BYTES = 4 * 2**20


@dataclass(frozen=True)
class LoggedRequest:
    """One accepted request as the log holds it."""

    project_id: str
    digest: str
    received_ns: int
    spans: int
    body: bytes
    segment: int = -1
    offset: int = -1  # where its record starts in the segment file
    size: int = 0     # the record's length there (header included)


def encode(record: LoggedRequest) -> bytes:
    project = record.project_id.encode()
    digest = record.digest.encode()
    payload = b"".join((struct.pack("<H", len(project)), project, struct.pack("<B", len(digest)), digest,
                        struct.pack("<qI", record.received_ns, record.spans), record.body))
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes, segment: int) -> LoggedRequest:
    at = 0
    (n,) = struct.unpack_from("<H", payload, at)
    project = payload[at + 2:at + 2 + n].decode()
    at += 2 + n
    (n,) = struct.unpack_from("<B", payload, at)
    digest = payload[at + 1:at + 1 + n].decode()
    at += 1 + n
    received_ns, spans = struct.unpack_from("<qI", payload, at)
    return LoggedRequest(project, digest, received_ns, spans, payload[at + 12:], segment)


def read_segment(path: Path, segment: int) -> Iterator[LoggedRequest]:
    """The segment's whole records, in order; stops at the first torn or corrupt one."""
    data = path.read_bytes()
    at = 0
    while at + HEADER.size <= len(data):
        magic, length, crc = HEADER.unpack_from(data, at)
        payload = data[at + HEADER.size:at + HEADER.size + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            log.warning("ingest log %s: a torn record at byte %d (from a crash mid-write) and what follows it "
                        "are skipped; none of it was acknowledged", path, at)
            return
        yield decode(payload, segment)
        at += HEADER.size + length


class IngestLog:
    """Append-only, synced segments of accepted requests; thread-safe."""

    def __init__(self, folder: Path, *, segment_bytes: int = SEGMENT_BYTES, roll_bytes: int = ROLL_BYTES) -> None:
        self._folder = folder
        self._segment_bytes = segment_bytes
        self._roll_bytes = roll_bytes
        self._lock = threading.Lock()
        self._outstanding: dict[int, int] = {}
        folder.mkdir(parents=True, exist_ok=True)
        self._existing = sorted(int(p.stem) for p in folder.glob("*.log") if p.stem.isdigit())
        self._active = (self._existing[-1] + 1) if self._existing else 1
        self._file = self._open(self._active)
        self._size = 0

    def _path(self, segment: int) -> Path:
        return self._folder / f"{segment:012d}.log"

    def _open(self, segment: int) -> int:
        fd = os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._outstanding[segment] = 0
        dir_fd = os.open(self._folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)
        return fd

    def recovered(self) -> list[LoggedRequest]:
        """Records left by the previous process (call once, before appending). Their segments are deleted when
        every record is marked done with `done`."""
        records: list[LoggedRequest] = []
        for segment in self._existing:
            found = list(read_segment(self._path(segment), segment))
            records.extend(found)
            with self._lock:
                self._outstanding[segment] = len(found)
            if not found:
                self._delete(segment)
        return records

    def append(self, record: LoggedRequest) -> LoggedRequest:
        """Write and sync a record; returns it as logged, without its body (read it back with `load`): its
        segment (to pass to `done`) and place. A request waiting to be written need not be held in memory too."""
        data = encode(record)
        with self._lock:
            if self._size and self._size + len(data) > self._segment_bytes:
                self._roll()
            os.write(self._file, data)
            os.fdatasync(self._file)
            offset = self._size
            self._size += len(data)
            self._outstanding[self._active] += 1
            segment = self._active
        return dataclasses.replace(record, body=b"", segment=segment, offset=offset, size=len(data))

    def load(self, record: LoggedRequest) -> LoggedRequest:
        """The record with its body, read back from its segment (which stays until the record is done)."""
        if record.body or record.offset < 0:
            return record
        with self._path(record.segment).open("rb") as segment:
            segment.seek(record.offset)
            data = segment.read(record.size)
        magic, length, crc = HEADER.unpack_from(data)
        payload = data[HEADER.size:]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            raise OSError(f"ingest log segment {record.segment}: the record at byte {record.offset} does not read "
                          "back as written")
        return dataclasses.replace(decode(payload, record.segment), offset=record.offset, size=record.size)

    def done(self, segments: list[int]) -> None:
        """The records (one entry per record) are in the store: their segments may go."""
        with self._lock:
            for segment in segments:
                left = self._outstanding.get(segment)
                if left is None:
                    continue
                self._outstanding[segment] = left - 1
                if left == 1 and segment != self._active:
                    self._delete(segment)
            if not self._outstanding.get(self._active) and self._size >= self._roll_bytes:
                self._roll()

    def _roll(self) -> None:
        old = self._active
        os.close(self._file)
        self._active = old + 1
        self._file = self._open(self._active)
        self._size = 0
        if not self._outstanding.get(old):
            self._delete(old)

    def _delete(self, segment: int) -> None:
        self._outstanding.pop(segment, None)
        with contextlib.suppress(FileNotFoundError):
            self._path(segment).unlink()

    def pending_records(self) -> int:
        with self._lock:
            return sum(self._outstanding.values())

    def close(self) -> None:
        with self._lock:
            if self._file < 0:
                return
            os.close(self._file)
            self._file = -1
            if not self._outstanding.get(self._active):
                self._delete(self._active)
