"""Neptune's read protocol over Track, so the unmodified neptune-query client reads runs stored in Neon.

Projects: neptune-query names a project `workspace/project`. The caller's credential already says which Neon
project it reads; the `project` part must be that project's name (any workspace is accepted), otherwise the
answer is ACCESS_DENIED. Runs are addressed as `workspace/project/NEON-7` (the short id, `sys/id`) or
`CUSTOM/workspace/project/<run id>`.

Experiments: a run with an experiment name belongs to that experiment; `experimentLeader` keeps the newest run
of each experiment (its head). Series reads stitch fork lineage at read time: with lineage FULL a run's series
is its ancestors' points up to each fork step followed by its own points; NONE gives its own points only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from neptune_api.proto.neptune_pb.api.v1.model.attributes_pb2 import ProtoQueryAttributesResultDTO
from neptune_api.proto.neptune_pb.api.v1.model.leaderboard_entries_pb2 import (
    ProtoAttributesDTO,
    ProtoLeaderboardEntriesSearchResultDTO,
)

from neon_server.domain import neptune_read as body
from neon_server.domain.neptune_read import RunRef
from neon_server.services.errors import BadBody, Forbidden, InvalidInput, ServiceError
from neon_server.services.neptune_buckets import Buckets
from neon_server.services.neptune_series import SeriesReader
from neon_server.storage.analytics.track_query import compile_filter
from neon_server.storage.analytics.track_read import SORTABLE_TYPES, NameFilter, Sort, TrackReadStore
from neon_server.track import nql
from neon_server.track.neptune_attributes import attribute_dto, series_dto

MAX_REGEX_CHARS = 1_000
IDENTITY = {"sys/id", "sys/name", "sys/custom_run_id"}
NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|>)|\\[1-9]")  # Python regex features RE2 refuses
OBJECT_SERIES = {"stringSeries": "string", "histogramSeries": "histogram", "fileRefSeries": "file"}


class ProjectInaccessible(Forbidden):
    """The request names a project the credential does not open (neptune-query: NeptuneProjectInaccessible)."""

    error_type = "ACCESS_DENIED"


class TooBusy(ServiceError):
    """Too many reads at once: the client waits Retry-After seconds and retries."""

    status_code = 429
    code = "too_many_requests"
    retry_after = 1


class NeptuneRead:
    def __init__(self, store: TrackReadStore, project_name: Callable[[str], str], *, max_concurrent: int = 8,
                 queue_seconds: float = 10.0) -> None:
        self._store = store
        self._project_name = project_name
        self._names: dict[str, str] = {}
        # Reads beyond `max_concurrent` wait (without holding a thread) up to `queue_seconds` for a slot,
        # then are answered 429: neptune-query runs up to 32 requests at once and waits as told.
        self._max_concurrent = max_concurrent
        self._queue_seconds = queue_seconds
        self._slots: asyncio.Semaphore | None = None
        self.series = SeriesReader(store, self.resolve)
        self.buckets = Buckets(store, self.series)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the concurrent-read slots, or raise TooBusy (answered 429 with Retry-After)."""
        if self._max_concurrent <= 0:
            raise TooBusy("reads are switched off on this server: retry later")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_concurrent)
        try:
            await asyncio.wait_for(self._slots.acquire(), self._queue_seconds)
        except TimeoutError:
            raise TooBusy(f"too many reads in progress for {self._queue_seconds:g} s: retry after 1 second") from None
        try:
            yield
        finally:
            self._slots.release()

    # -- projects and runs ---------------------------------------------------------------------------------------
    def check_project(self, project_id: str, identifier: str) -> str:
        """The workspace part of `workspace/project` when `project` is the caller's project's name."""
        workspace, slash, name = identifier.partition("/")
        if not slash or not workspace or not name or "/" in name:
            raise InvalidInput(f"project {identifier[:200]!r} is not 'workspace/project' (NEPTUNE_PROJECT)")
        own = self.project_name(project_id)
        if name != own:
            raise ProjectInaccessible(f"project {identifier[:200]!r} is not this API key's project: set "
                                      f"NEPTUNE_PROJECT to '<any workspace>/{own}'")
        return workspace

    def project_name(self, project_id: str) -> str:
        name = self._names.get(project_id)
        if name is None:
            name = self._names[project_id] = self._project_name(project_id)
        return name

    def resolve(self, project_id: str, identifiers: list[str]) -> dict[str, RunRef]:
        """Run identifiers (`ws/proj/NEON-7`, `CUSTOM/ws/proj/<run id>`) → the runs that exist."""
        shorts: dict[str, str] = {}
        customs: dict[str, str] = {}
        for identifier in identifiers:
            custom = identifier.startswith("CUSTOM/")
            project, _, run = _split_custom(identifier) if custom else identifier.rpartition("/")
            if not run or not project:
                raise InvalidInput(f"run identifier {identifier[:200]!r} is not 'workspace/project/<sys/id>' or "
                                   "'CUSTOM/workspace/project/<run id>'")
            self.check_project(project_id, project)
            (customs if custom else shorts)[identifier] = run
        rows = self._store.runs(project_id, run_ids=sorted(set(customs.values())),
                                short_ids=sorted(set(shorts.values())))
        by_id = {r["run_id"]: RunRef.of(r) for r in rows}
        by_short = {r["short_id"]: RunRef.of(r) for r in rows}
        found = {i: by_short[s] for i, s in shorts.items() if s in by_short}
        found.update({i: by_id[c] for i, c in customs.items() if c in by_id})
        return found

    # -- #1 runs search ------------------------------------------------------------------------------------------
    def search(self, project_id: str, workspace: str, request: body.SearchBody, *, identity: bool = False
               ) -> ProtoLeaderboardEntriesSearchResultDTO:
        """A page of runs (or experiment heads) with the projected attributes; `identity` adds sys/id, sys/name
        and sys/custom_run_id (the global search answers them without being asked)."""
        where: str | None = None
        params: dict[str, Any] = {}
        if request.query is not None and request.query.query.strip():
            try:
                where, params = compile_filter(nql.parse(request.query.query))
            except nql.NQLError as exc:
                raise InvalidInput(str(exc), position=exc.position, reason=exc.reason) from None
        total, rows = self._store.search(project_id, where=where, where_params=params,
                                         leaders=request.experiment_leader, sort=_sort(request.sorting),
                                         offset=request.pagination.offset, limit=request.pagination.limit)
        result = ProtoLeaderboardEntriesSearchResultDTO(matching_item_count=total)
        runs = [r["run_id"] for r in rows]
        paths = sorted({f.path for f in request.attribute_filters} | (IDENTITY if identity else set()))
        values = self._values(project_id, runs, NameFilter(exact=tuple(paths))) if paths else {}
        project_name = self.project_name(project_id)
        for row in rows:
            entry = ProtoAttributesDTO(experiment_id=row["run_id"], type="run", project_id=project_id,
                                       organization_id=workspace, project_name=project_name,
                                       organization_name=workspace)
            entry.attributes.extend(values.get(row["run_id"], []))
            result.entries.append(entry)
        return result

    def _values(self, project_id: str, runs: list[str], names: NameFilter) -> dict[str, list[Any]]:
        """run → its ProtoAttributeDTOs (attributes and series) that `names` keeps, by path."""
        if not runs:
            return {}
        out: dict[str, list[tuple[str, Any]]] = {}
        for row in self._store.attribute_rows(project_id, runs, names):
            out.setdefault(row["run_id"], []).append((row["path"], attribute_dto(row)))
        series = self._store.series_rows(project_id, runs, names)
        lasts: dict[tuple[str, str], dict[str, Any]] = {}
        for kind_name, kind in OBJECT_SERIES.items():
            paths = sorted({r["path"] for r in series if r["type"] == kind_name})
            lasts.update(self._store.last_values(kind, project_id, runs, paths))
        for row in series:
            out.setdefault(row["run_id"], []).append(
                (row["path"], series_dto(row, lasts.get((row["run_id"], row["path"])))))
        return {run: [dto for _, dto in sorted(items, key=lambda item: item[0])] for run, items in out.items()}

    # -- #2 attribute definitions --------------------------------------------------------------------------------
    def definitions(self, project_id: str, request: body.DefinitionsBody) -> dict[str, Any]:
        for identifier in request.project_identifiers:
            self.check_project(project_id, identifier)
        runs: list[str] | None = None
        if request.experiment_ids_filter is not None:
            runs = sorted({r.run_id for r in self.resolve(project_id, request.experiment_ids_filter).values()})
        after = _decode_token(request.next_page.next_page_token, 2) if request.next_page.next_page_token else None
        limit = request.next_page.limit
        rows = self._store.definitions(project_id, runs, _name_filter(request.attribute_name_filter,
                                                                      request.attribute_filter),
                                       (str(after[0]), str(after[1])) if after else None, limit)
        next_page: dict[str, Any] = {"limit": limit}
        if len(rows) == limit:
            next_page["nextPageToken"] = _encode_token(list(rows[-1]))
        return {"entries": [{"name": p, "type": t} for p, t in rows], "nextPage": next_page}

    # -- #3 attribute values -------------------------------------------------------------------------------------
    def attribute_values(self, project_id: str, request: body.AttributesBody) -> ProtoQueryAttributesResultDTO:
        found = self.resolve(project_id, request.experiment_ids_filter)
        refs = {ref.run_id: ref for ref in found.values()}
        if request.attribute_names_filter is not None:
            names = NameFilter(exact=tuple(sorted(set(request.attribute_names_filter))))
        else:
            names = _name_filter(request.attribute_name_filter, request.attribute_filter)
        values = self._values(project_id, sorted(refs), names)
        flat = [(run, dto) for run in sorted(refs, key=lambda r: _number(refs[r].short_id))
                for dto in values.get(run, [])]
        offset = 0
        if request.next_page.next_page_token:
            offset = int(_decode_token(request.next_page.next_page_token, 1)[0])
        page = flat[offset:offset + request.next_page.limit]
        result = ProtoQueryAttributesResultDTO()
        for run in dict.fromkeys(run for run, _ in page):
            entry = result.entries.add(experimentId=run, experimentShortId=refs[run].short_id)
            entry.attributes.extend(dto for r, dto in page if r == run)
        result.nextPage.limit = request.next_page.limit
        if offset + len(page) < len(flat):
            result.nextPage.nextPageToken = _encode_token([offset + len(page)])
        return result


def _split_custom(identifier: str) -> tuple[str, str, str]:
    """`CUSTOM/ws/proj/<run id>` → (ws/proj, '/', run id); the run id has no '/'."""
    parts = identifier.split("/", 3)
    if len(parts) != 4:
        return "", "", ""
    return f"{parts[1]}/{parts[2]}", "/", parts[3]


def _number(short_id: str) -> int:
    tail = short_id.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def _sort(sorting: body.Sorting) -> Sort:
    field = sorting.sort_by
    aggregation = (field.aggregation_mode or sorting.aggregation_mode or "last").lower()
    kind = field.type or ("floatSeries" if field.aggregation_mode or sorting.aggregation_mode
                          else "datetime" if field.name in ("sys/creation_time", "sys/modification_time")
                          else "string")
    if kind not in SORTABLE_TYPES:
        raise InvalidInput(f"sorting by a {kind} attribute is not supported: sort by one of "
                           f"{', '.join(sorted(SORTABLE_TYPES))}")
    if aggregation == "auto":
        aggregation = "last"
    if aggregation not in ("last", "min", "max", "average", "variance"):
        raise InvalidInput(f"unknown aggregation {aggregation!r}: use last, min, max, average or variance")
    return Sort(field.name, kind, aggregation, sorting.dir == "descending")


def _regexes(patterns: list[str]) -> tuple[str, ...]:
    for pattern in patterns:
        if len(pattern) > MAX_REGEX_CHARS:
            raise InvalidInput(f"attribute name regex longer than {MAX_REGEX_CHARS} characters")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(f"invalid attribute name regex {pattern[:80]!r}: {exc}") from None
        if NOT_RE2.search(pattern):
            raise InvalidInput(f"attribute name regex {pattern[:80]!r} uses lookaround or a backreference, which "
                               "RE2 (the syntax regexes run in) does not have")
    return tuple(patterns)


def _name_filter(names: body.NameFilterBody | None, types: list[body.TypeFilter] | None) -> NameFilter:
    alternatives = tuple((_regexes(a.must_match_regexes), _regexes(a.must_not_match_regexes))
                         for a in (names.must_match_any or []) if names is not None) if names else ()
    return NameFilter(alternatives=alternatives, types=tuple(t.attribute_type for t in types or []))


def _encode_token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_token(token: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise BadBody("nextPageToken is not one this server issued") from None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str | int) for v in values):
        raise BadBody("nextPageToken is not one this server issued")
    if size == 1 and (not isinstance(values[0], int) or values[0] < 0):
        raise BadBody("nextPageToken is not one this server issued")
    return values
