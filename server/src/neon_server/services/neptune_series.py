"""Series points for neptune-query: float series (`fetch_metrics`) and string, histogram and file series
(`fetch_series`), with step ranges, previews, per-series limits, pages, and fork lineage stitched at read time.

Lineage FULL: a run forked from a parent at step s shows the parent's points with step <= s (and the parent's
own ancestors' points up to their fork steps), then its own points after s. NONE (or ONLY_OWNED): its own
points only.

Pages: float series follow the client's `afterStep` (descending: the next page has steps below it). The other
series answer `searchAfter{finished, token}`; the token carries the last step sent and how many points were
sent, so `perSeriesPointsLimit` bounds the whole series as neptune-query expects (it asks again until
`finished`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any

from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import (
    ProtoFloatSeriesValuesResponseDTO,
    ProtoSeriesValuesResponseDTO,
)

from neon_server.domain import neptune_read as body
from neon_server.domain.neptune_read import RunRef
from neon_server.services.errors import BadBody
from neon_server.storage.analytics.track_read import NO_HIGH, NO_LOW, Segment, TrackReadStore
from neon_server.track.neptune_attributes import HISTOGRAM_TYPES
from neon_server.track.neptune_wire import float_points, runs_of

MAX_DEPTH = 100  # fork ancestors followed
PAGE = 10_000  # points of a string, histogram or file series per answer
KINDS = {"stringSeries": "string", "histogramSeries": "histogram", "fileRefSeries": "file"}


class SeriesReader:
    def __init__(self, store: TrackReadStore, resolve: Callable[[str, list[str]], dict[str, RunRef]]) -> None:
        self._store = store
        self._resolve = resolve

    def lineages(self, project_id: str, wanted: list[tuple[str, str, bool]]
                  ) -> dict[str, list[tuple[RunRef, float, float]]]:
        """(request id, run identifier, full lineage?) → [(run, lo, hi)]: the runs whose points make up each
        requested series, each with its steps lo < s <= hi. Runs that do not exist have no entry."""
        found = self._resolve(project_id, sorted({identifier for _, identifier, _ in wanted}))
        known = {ref.run_id: ref for ref in found.values()}
        parents = {ref.fork_parent_run_id for ref in known.values() if ref.fork_parent_run_id}
        for _ in range(MAX_DEPTH):  # load ancestors, a generation at a time
            missing = sorted(parents - known.keys())
            if not missing:
                break
            for row in self._store.runs(project_id, run_ids=missing):
                known[row["run_id"]] = RunRef.of(row)
            parents = {known[m].fork_parent_run_id for m in missing if m in known and known[m].fork_parent_run_id}
        out: dict[str, list[tuple[RunRef, float, float]]] = {}
        for request_id, identifier, full in wanted:
            current = found.get(identifier)
            if current is None:
                continue
            chain: list[tuple[RunRef, float, float]] = []
            hi = NO_HIGH
            while current is not None and len(chain) < MAX_DEPTH:
                parent = known.get(current.fork_parent_run_id) if full and current.fork_parent_run_id else None
                lo = current.fork_step if parent is not None and current.fork_step is not None else NO_LOW
                if lo < hi:
                    chain.append((current, lo, hi))
                hi = min(hi, lo)
                current = parent
            out[request_id] = chain
        return out

    def _lineages_of(self, project_id: str, request: body.PointsBody) -> dict[str, list[tuple[RunRef, float, float]]]:
        return self.lineages(project_id, [(r.request_id, r.series.holder.identifier, r.series.lineage == "FULL")
                                           for r in request.requests])

    def floats(self, project_id: str, request: body.PointsBody) -> ProtoFloatSeriesValuesResponseDTO:
        descending = request.order == "descending"
        limit = request.per_series_points_limit or body.MAX_POINTS
        segments = []
        lineages = self._lineages_of(project_id, request)
        for r in request.requests:
            for run, lo, hi in lineages.get(r.request_id, []):
                segments.append(_segment(r, run.run_id, lo, hi, after=r.after_step, descending=descending,
                                         limit=limit, preview=r.series.include_preview))
        table = self._store.points("float", project_id, segments, step_from=request.step_range.from_,
                                   step_to=request.step_range.to, descending=descending)
        slices = {request_id: table.slice(start, length) for request_id, start, length
                  in runs_of(table.column("request"))} if table.num_rows else {}
        result = ProtoFloatSeriesValuesResponseDTO()
        for r in request.requests:
            series = result.series.add(requestId=r.request_id)
            points = slices.get(r.request_id)
            if points is None:
                continue
            series.series.total_item_count = points.num_rows
            encoded = float_points(points)
            if encoded is not None:  # parsed back by the C protobuf runtime: fast, and checks the encoding
                series.series.MergeFromString(encoded)
                continue
            for row in points.to_pylist():
                series.series.values.add(timestamp_millis=int(row["time_ms"]), step=row["step"], value=row["value"],
                                         is_preview=bool(row["preview"]), completion_ratio=row["ratio"])
        return result

    def objects(self, project_id: str, request: body.PointsBody) -> ProtoSeriesValuesResponseDTO:
        descending = request.order == "descending"
        total_limit = request.per_series_points_limit
        lineages = self._lineages_of(project_id, request)
        runs = sorted({run.run_id for chain in lineages.values() for run, _, _ in chain})
        types = self._store.series_types(project_id, runs, sorted({r.series.attribute for r in request.requests}))
        by_kind: dict[str, list[Segment]] = {}
        sent_before: dict[str, int] = {}
        for r in request.requests:
            chain = lineages.get(r.request_id, [])
            kind = next((KINDS[t] for run, _, _ in chain
                         if (t := types.get((run.run_id, r.series.attribute), "")) in KINDS), None)
            if kind is None:
                continue  # no such series: left out of the answer, as the client expects
            last_step, sent = None, 0
            if r.search_after is not None and r.search_after.token:
                last_step, sent = _decode(r.search_after.token)
            sent_before[r.request_id] = sent
            page = PAGE if total_limit is None else max(0, min(PAGE, total_limit - sent))
            for run, lo, hi in chain:
                by_kind.setdefault(kind, []).append(
                    _segment(r, run.run_id, lo, hi, after=last_step, descending=descending, limit=page,
                             preview=r.series.include_preview))
        result = ProtoSeriesValuesResponseDTO()
        answered: dict[str, Any] = {}
        for kind, segments in by_kind.items():
            table = self._store.points(kind, project_id, segments, step_from=request.step_range.from_,
                                       step_to=request.step_range.to, descending=descending)
            grouped = _group(table)
            for segment in segments:
                answered.setdefault(segment.request, (kind, segment.limit, grouped.get(segment.request, [])))
        for r in request.requests:
            if r.request_id not in answered:
                continue
            kind, page, rows = answered[r.request_id]
            series = result.series.add(requestId=r.request_id)
            values = series.seriesValues.values
            for row in rows:
                point = values.add(timestamp_millis=int(row["time_ms"]), step=row["step"],
                                   is_preview=bool(row["preview"]), completion_ratio=row["ratio"])
                _object(point.object, kind, row)
            sent = sent_before[r.request_id] + len(rows)
            limit_reached = total_limit is not None and sent >= total_limit
            finished = len(rows) < page or limit_reached or page == 0
            series.searchAfter.finished = finished
            series.searchAfter.token = _encode(rows[-1]["step"] if rows else None, sent)
        return result


def _segment(r: body.SeriesRequest, run_id: str, lo: float, hi: float, *, after: float | None, descending: bool,
             limit: int, preview: bool) -> Segment:
    segment = Segment(r.request_id, run_id, r.series.attribute, lo=lo, hi=hi, preview=preview, limit=limit)
    if after is not None:
        if descending:
            segment.before = after
        else:
            segment.after = after
    return segment


def _group(table: Any) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    if table.num_rows:
        for row in table.to_pylist():
            grouped.setdefault(row["request"], []).append(row)
    return grouped


def _object(obj: Any, kind: str, row: dict[str, Any]) -> None:
    if kind == "string":
        obj.stringValue = row["value"]
    elif kind == "histogram":
        obj.histogram.type = HISTOGRAM_TYPES.get(row["kind"], row["kind"])
        obj.histogram.edges.extend(row["bin_edges"])
        obj.histogram.values.extend(row["bin_values"])
    else:
        obj.fileRef.path = row["file_path"]
        obj.fileRef.sizeBytes = int(row["file_size"])
        obj.fileRef.mimeType = row["file_mime"]


def _encode(step: float | None, sent: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([step, sent]).encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[float | None, int]:
    try:
        step, sent = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise BadBody("searchAfter.token is not one this server issued") from None
    if not (step is None or (isinstance(step, int | float) and math.isfinite(step))) \
            or not isinstance(sent, int) or sent < 0:
        raise BadBody("searchAfter.token is not one this server issued")
    return (float(step) if step is not None else None), sent
