"""Track import and export in neptune-exporter's row shape, as Arrow IPC streams.

    POST /api/track/import   rows of one or a few runs (`application/vnd.apache.arrow.stream`)
                             → 200 {rows, runs_created, runs_existing, detached, relinked, written, rejected, errors}
                             → 422 when some rows could not be used: `errors` names each (row, column, message);
                               every other row is written all the same
    GET  /api/track/export   ?run_id=…(repeatable; none = every run) → the runs' rows as an Arrow IPC stream

`neon import neptune` reads the exporter's Parquet and sends it here; `neon export` writes what this answers
back as Parquet. The CLI never opens the store: in embedded mode `neon up` owns it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from neon_server.api.bodies import read_body
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import error_response, errors
from neon_server.api.ingest_schemas import BINARY
from neon_server.api.schemas import ok
from neon_server.domain.track import RUN_ID_PATTERN
from neon_server.ingest.writer import Overloaded, WriterStopped
from neon_server.services.errors import BadBody, InvalidInput, UnsupportedMediaType
from neon_server.services.track_transfer import TrackTransfer
from neon_server.track.exporter_format import EXPORT_SCHEMA, FormatError

router = APIRouter(tags=["track"])
ARROW_STREAM = "application/vnd.apache.arrow.stream"
ROWS_DOC = ("neptune-exporter's rows (columns project_id, run_id, attribute_path, attribute_type, step "
            "decimal(18,6), timestamp, int_value, float_value, string_value, bool_value, datetime_value, "
            "string_set_value, file_value{path}, histogram_value{type, edges, values}) as an Arrow IPC stream")
MAX_NAMED_ERRORS = 1000


class RowError(BaseModel):
    row: int = Field(description="the row's index in the stream sent, from 0")
    column: str
    message: str


class ImportAnswer(BaseModel):
    rows: int = Field(description="rows received")
    runs_created: list[str]
    runs_existing: list[str] = Field(description="runs already there (their values were written again: no change)")
    detached: list[str] = Field(description="forks whose parent is not in the project: kept without lineage")
    relinked: list[str] = Field(description="runs imported before their parent, now linked to it")
    written: int = Field(description="attributes and points written")
    rejected: list[str] = Field(description="values the store refused, by run, count and reason")
    errors: list[RowError] = Field(description="rows left out (a 422 answer lists them)")


@router.post("/api/track/import", summary="Import neptune-exporter rows (Arrow IPC stream) into the project",
             responses={**ok(ImportAnswer), **errors(
                 (400, "The body is not an Arrow IPC stream, or gzip that does not decompress"), 413, 415,
                 (422, "Some rows could not be used: the message and `errors` name each; the others are written"),
                 429, (503, "The server is shutting down or cannot write; retry after Retry-After seconds"))},
             response_model=None,
             openapi_extra={"requestBody": {"required": True, "description": ROWS_DOC,
                                            "content": {ARROW_STREAM: {"schema": BINARY}}}})
async def import_rows(request: Request, services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any] | JSONResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != ARROW_STREAM:
        raise UnsupportedMediaType(f"unsupported Content-Type {media or '(none)'!r}: send {ARROW_STREAM}")
    settings = services.settings
    body = await read_body(request, settings.ingest_max_body_bytes, settings.ingest_max_decompressed_bytes)
    table = await run_in_threadpool(_read_stream, body)
    try:
        report = await TrackTransfer(services.track).import_rows(principal.project_id, table)
    except FormatError as exc:
        raise InvalidInput(exc.message, column=exc.column) from None
    except Overloaded as exc:  # what was written stays; the retry writes it again, changing nothing
        return error_response(429, "too_many_requests", str(exc), {"Retry-After": str(int(exc.retry_after))})
    except WriterStopped as exc:
        return error_response(503, "unavailable", str(exc), {"Retry-After": "5"})
    answer = report.to_dict()
    if report.problems:
        first = report.problems[0]
        answer["errors"] = answer["errors"][:MAX_NAMED_ERRORS]
        raise InvalidInput(f"{len(report.problems)} row(s) could not be imported (the others were): {first}",
                           **{k: v for k, v in answer.items()})
    return answer


def _read_stream(body: bytes) -> pa.Table:
    try:
        return pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadBody(f"the body is not an Arrow IPC stream: {exc}") from None


class _Chunks:
    """A write-only file that hands out what was written since the last `take` (for a streamed answer)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


@router.get("/api/track/export", summary="Export runs in neptune-exporter's row shape (Arrow IPC stream)",
            response_class=StreamingResponse,
            responses={200: {"description": "the runs' rows, run after run", "content": {ARROW_STREAM: {
                "schema": BINARY}}}, **errors(404)})
async def export_runs(services: ServicesDep, principal: PrincipalDep,
                      run_id: Annotated[list[Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN.pattern)]] | None,
                                        Query(description="runs to export (repeat the parameter); none: every run "
                                                          "of the project")] = None,
                      ) -> StreamingResponse:
    def prepare() -> tuple[str, list[str]]:
        project = services.projects.get(principal.project_id).name
        if not run_id:
            return project, [r.run_id for r in services.track.runs(principal.project_id)]
        for given in run_id:
            services.track.run(principal.project_id, given)  # 404 before anything is streamed
        return project, list(dict.fromkeys(run_id))

    project, runs = await run_in_threadpool(prepare)
    transfer = TrackTransfer(services.track)

    def stream() -> Iterator[bytes]:
        sink = _Chunks()
        with pa.ipc.new_stream(sink, EXPORT_SCHEMA) as writer:
            yield sink.take()
            for run in runs:
                for table in transfer.export_run(principal.project_id, project, run):
                    writer.write_table(table)
                    yield sink.take()
        yield sink.take()

    return StreamingResponse(iterate_in_threadpool(stream()), media_type=ARROW_STREAM)
