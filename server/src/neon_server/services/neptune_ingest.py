"""Neptune ingest: one `RunOperation` in, written durably through Track, answered with a request id that *is*
its outcome.

`submit` returns only once Track has written the operation (its group commit is durable), so every request id
Neon hands out is final. The id carries the outcome, signed with the server's secret (`nr1.<payload>.<mac>`),
so `/ingest/check` answers from the id alone: nothing is kept in memory or in a store, and the answer is the
same after a restart. neptune-scale keeps a batch in its local log until its id's status is known, and retries
a request that got no answer, so a crash between writing and answering costs a rewrite, which Track makes
idempotent.

Projects: `NEPTUNE_PROJECT` is `workspace/project`. The project part must be the name of the Neon project the
token was issued for; the workspace part is free (Neon has none). Anything else is PROJECT_NOT_FOUND, which
stops the client with its data kept in its local log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import DecodeError
from neptune_api.proto.google_rpc import code_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2, request_status_pb2

from neon_server.domain.track import Outcome, TrackCode
from neon_server.services.track import TrackService
from neon_server.track import neptune_ops

log = logging.getLogger("neon.neptune")

SIGNING_CONTEXT = b"neon-neptune-request:v1"
ID_PREFIX = "nr1"
MAC_BYTES = 16
# A request Neon could not read at all (not a RunOperation, over the size limit): answered with a code that
# stops neptune-scale and keeps the operations in its local log, rather than an HTTP error it retries forever.
UNREADABLE = TrackCode.RUN_INVALID_CREATION_PARAMETERS
UNKNOWN_ID = TrackCode.INTERNAL

Entry = tuple[int, int, int]  # google.rpc code, count, IngestCode


@dataclass(frozen=True)
class Answer:
    request_id: str
    entries: tuple[Entry, ...]


def grpc_code(code: TrackCode | int) -> int:
    return int(_grpc_code(code))


def _grpc_code(code: TrackCode | int) -> Any:
    if code == TrackCode.OK:
        return code_pb2.OK
    if code in (TrackCode.PROJECT_NOT_FOUND, TrackCode.RUN_NOT_FOUND, TrackCode.RUN_FORK_PARENT_NOT_FOUND):
        return code_pb2.NOT_FOUND
    if code in (TrackCode.RUN_DUPLICATE, TrackCode.RUN_CONFLICTING):
        return code_pb2.ALREADY_EXISTS
    if code == TrackCode.INTERNAL:
        return code_pb2.INTERNAL
    return code_pb2.INVALID_ARGUMENT


def entries_of(outcome: Outcome, extra: Iterable[tuple[TrackCode, int]] = ()) -> tuple[Entry, ...]:
    """An outcome as the (code, count, detail) entries of a RequestStatus."""
    if not outcome.ok:
        return ((grpc_code(outcome.code), 1, int(outcome.code)),)
    counts: dict[int, int] = {}
    for rejection in outcome.rejections:
        counts[rejection.code] = counts.get(rejection.code, 0) + rejection.count
    for code, count in extra:
        counts[code] = counts.get(code, 0) + count
    entries = [(code_pb2.OK, outcome.accepted, 0)] if outcome.accepted or not counts else []
    return (*entries, *((grpc_code(code), count, code) for code, count in counts.items()))


class RequestIds:
    """Request ids that carry their outcome, signed so a client can neither forge nor alter one."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, SIGNING_CONTEXT, hashlib.sha256).digest()

    def issue(self, project_id: str, entries: tuple[Entry, ...]) -> str:
        payload = json.dumps({"p": project_id, "n": secrets.token_hex(6), "c": [list(e) for e in entries]},
                             separators=(",", ":")).encode()
        body = f"{ID_PREFIX}.{_b64(payload)}"
        return f"{body}.{_b64(self._mac(body))}"

    def outcome(self, project_id: str, request_id: str) -> tuple[Entry, ...] | None:
        """The entries an id carries, or None when it is not an id Neon issued for this project."""
        body, dot, mac = request_id.rpartition(".")
        if not dot or not body.startswith(ID_PREFIX + "."):
            return None
        try:
            if not hmac.compare_digest(_unb64(mac), self._mac(body)):
                return None
            data = json.loads(_unb64(body[len(ID_PREFIX) + 1:]))
        except (ValueError, TypeError):
            return None
        if data.get("p") != project_id:
            return None
        return tuple((int(c), int(n), int(d)) for c, n, d in data["c"])

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def project_problem(neptune_project: str, neon_project: str) -> tuple[TrackCode, str] | None:
    """Whether `workspace/project` names the Neon project `neon_project` (the workspace is free)."""
    workspace, slash, name = neptune_project.partition("/")
    if not slash or not workspace or not name or "/" in name:
        return TrackCode.PROJECT_INVALID_NAME, f"project {neptune_project!r} is not 'workspace/project'"
    if name != neon_project:
        return TrackCode.PROJECT_NOT_FOUND, (f"project {neptune_project!r} is not this API key's project: set "
                                             f"NEPTUNE_PROJECT to '<any workspace>/{neon_project}'")
    return None


class NeptuneIngest:
    def __init__(self, track: TrackService, project_name: Callable[[str], str], ids: RequestIds) -> None:
        self._track = track
        self._project_name = project_name
        self._names: dict[str, str] = {}  # project id → name (names do not change)
        self.ids = ids

    async def project_name(self, project_id: str) -> str:
        name = self._names.get(project_id)
        if name is None:
            name = self._names[project_id] = await asyncio.to_thread(self._project_name, project_id)
        return name

    def refuse(self, project_id: str, code: TrackCode, why: str) -> Answer:
        log.warning("neptune ingest refused for project %s: %s", project_id, why)
        entries = ((grpc_code(code), 1, int(code)),)
        return Answer(self.ids.issue(project_id, entries), entries)

    async def submit(self, project_id: str, body: bytes) -> Answer:
        """Write one serialized RunOperation durably and answer with its request id."""
        try:  # a 16 MiB body takes a while to decode: off the event loop
            op = await asyncio.to_thread(ingest_pb2.RunOperation.FromString, body)
        except DecodeError as exc:
            return self.refuse(project_id, UNREADABLE, f"body is not a protobuf RunOperation ({exc})")
        problem = project_problem(op.project, await self.project_name(project_id))
        if problem is not None:
            return self.refuse(project_id, *problem)
        entries = await self._apply(project_id, op)
        return Answer(self.ids.issue(project_id, entries), entries)

    async def _apply(self, project_id: str, op: ingest_pb2.RunOperation) -> tuple[Entry, ...]:
        kind = op.WhichOneof("operation")
        if kind == "create":
            create = neptune_ops.to_run_create(op)
            parent_project = neptune_ops.fork_parent_project(op)
            outcome = Outcome(TrackCode.RUN_FORK_PARENT_NOT_FOUND, "forks within a project only")
            if parent_project is None or parent_project.partition("/")[2] == op.project.partition("/")[2]:
                outcome, _run = await self._track.create_run(project_id, create)
            if outcome.code == TrackCode.RUN_FORK_PARENT_NOT_FOUND:
                # neptune-scale takes this as a warning and goes on logging: keep the run, without a parent.
                log.info("run %r: %s; created without a fork parent", create.run_id, outcome.message)
                await self._track.create_run(project_id, replace(create, fork=None))
            return entries_of(outcome)
        if kind in ("update", "update_batch"):
            converted = await asyncio.to_thread(neptune_ops.to_run_writes, op, now_ms=time.time() * 1000)
            outcome = await self._track.write(project_id, converted.writes)
            rejected = [(r.code, r.count) for r in converted.rejections()]
            for rejection in (*outcome.rejections, *converted.rejections()):
                log.info("run %r: %d rejected (%s): %s", op.run_id, rejection.count, rejection.code.name,
                         rejection.message)
            return entries_of(outcome, rejected)
        return ((code_pb2.OK, 0, 0),)

    def check(self, project_id: str, request_ids: Iterable[str]) -> list[request_status_pb2.RequestStatus]:
        """One status per id, in order: the outcome the id carries; an id Neon did not issue for this project
        is answered INTERNAL (the client logs it and drops what it sent under that id)."""
        statuses = []
        for request_id in request_ids:
            entries = self.ids.outcome(project_id, request_id)
            if entries is None:
                entries = ((grpc_code(UNKNOWN_ID), 1, int(UNKNOWN_ID)),)
            statuses.append(request_status_pb2.RequestStatus(code_by_count=[
                request_status_pb2.RequestStatus.CodeByCount(code=c, count=n, detail=d) for c, n, d in entries]))
        return statuses
