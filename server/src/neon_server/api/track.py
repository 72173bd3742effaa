"""Track's read API: a project's training runs, a run's attributes and series summaries, a series' points.

Runs are written by neptune-scale (`api/neptune/`), `neon.track` and the importer; this is how to read them
back over HTTP (the runs table, NQL and buckets come with the read issue).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from neon_server.api import track_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.schemas import ok
from neon_server.domain.track import BUCKET_COLUMNS, RUN_ID_PATTERN, BucketQuery, SeriesBuckets, SeriesSummary, TrackRun
from neon_server.services.errors import InvalidInput

router = APIRouter(tags=["track"])
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN.pattern, description="the run's id")]
MAX_POINTS = 100_000


def special(value: float) -> float | str:
    """A float for JSON: NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def run_dict(run: TrackRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "short_id": run.short_id, "experiment_name": run.experiment_name,
            "family": run.family, "owner": run.owner, "created_at": run.created_at.isoformat(timespec="milliseconds"),
            "fork_parent_run_id": run.fork_parent_run_id, "fork_step": run.fork_step}


def summary_dict(s: SeriesSummary) -> dict[str, Any]:
    return {"type": s.type, "count": s.count, "first_step": s.first_step, "last_step": s.last_step,
            "last_time": _iso(s.last_time_ms), "finite_count": s.finite_count, "nan_count": s.nan_count,
            "posinf_count": s.posinf_count, "neginf_count": s.neginf_count, "last": special(s.last_value),
            "min": special(s.min_value), "max": special(s.max_value), "average": special(s.mean_value),
            "variance": special(s.variance)}


def _attribute(kind: str, value: Any) -> dict[str, Any]:
    if isinstance(value, datetime):
        value = value.isoformat(timespec="milliseconds")
    elif isinstance(value, float):
        value = special(value)
    return {"type": kind, "value": value}


@router.get("/api/track/runs", summary="The project's training runs, oldest first; an NQL query filters them",
            responses={**ok(out.TrackRunList), **errors((422, "the query does not parse, or a value does not fit "
                                                                "its attribute's type: `position` says where"))},
            response_model=None)
async def list_runs(services: ServicesDep, principal: PrincipalDep,
                    # in the URL: 1,500 characters stay under the server's request-line limit however they encode
                    query: Annotated[str | None, Query(max_length=1_500, description=(
                        "NQL, e.g. `` `config/lr`:float > \"0.001\" AND `sys/tags`:stringSet CONTAINS \"best\" `` "
                        "or ``max(`val/acc`) >= \"0.9\"`` (docs/track.md#nql)"))] = None) -> dict[str, Any]:
    runs = await run_in_threadpool(services.track.runs, principal.project_id, query)
    return {"runs": [run_dict(r) for r in runs]}


@router.get("/api/track/runs/{run_id}", summary="A run: its identity, attributes and series summaries",
            responses={**ok(out.TrackRunDetail), **errors(404)}, response_model=None)
async def get_run(run_id: RunId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        run = services.track.run(principal.project_id, run_id)
        attributes = services.track.attributes(principal.project_id, run_id)
        series = services.track.series(principal.project_id, run_id)
        return {**run_dict(run), "attributes": {p: _attribute(k, v) for p, (k, v) in attributes.items()},
                "series": {p: summary_dict(s) for p, s in series.items()}}

    return await run_in_threadpool(read)


@router.get("/api/track/runs/{run_id}/points", summary="A series' points in step order (at most 100,000)",
            responses={**ok(out.PointList), **errors(404)}, response_model=None)
async def get_points(run_id: RunId, services: ServicesDep, principal: PrincipalDep,
                     path: Annotated[str, Query(min_length=1, max_length=1024, description="the series' path")],
                     kind: Annotated[Literal["float", "string", "histogram", "file"],
                                     Query(description="the series' kind")] = "float",
                     ) -> dict[str, Any]:
    table = await run_in_threadpool(services.track.points, kind, principal.project_id, run_id, path)
    points = []
    for row in table.slice(0, MAX_POINTS).to_pylist():
        if kind == "float":
            value: Any = special(row["value"])
        elif kind == "string":
            value = row["value"]
        elif kind == "histogram":
            value = {"type": row["kind"], "edges": row["bin_edges"], "values": row["bin_values"]}
        else:
            value = {"path": row["file_path"], "size_bytes": row["file_size"], "mime_type": row["file_mime"]}
        points.append({"step": row["step"], "time": _iso(row["time_ms"]), "preview": row["preview"],
                       "completion_ratio": row["ratio"], "value": value})
    return {"run_id": run_id, "path": path, "kind": kind, "points": points}


@router.post("/api/track/buckets", summary="Float series bucketed for charts (Neptune's bucket semantics)",
             responses={**ok(out.BucketsResponse),
                        **errors(400, 404, (422, "a bad range, x axis or series list"))},
             response_model=None)
async def buckets(body: out.BucketsRequest, services: ServicesDep, principal: PrincipalDep) -> Response:
    if (body.from_x is None) != (body.to_x is None):
        raise InvalidInput("a window needs both from_x and to_x")
    window = (body.from_x, body.to_x) if body.from_x is not None and body.to_x is not None else None
    query = BucketQuery(n=body.buckets, x=body.x, x_path=body.x_path, window=window, log_x=body.log_x,
                        shared_range=body.shared_range, include_preview=body.include_preview,
                        fields=tuple(body.fields) if body.fields is not None else BUCKET_COLUMNS)
    pairs = [(s.run_id, s.path) for s in body.series]
    found = await run_in_threadpool(services.track.buckets, principal.project_id, pairs, query, lineage=body.lineage)
    # Thousands of buckets: serialise once, here, instead of through FastAPI's per-value encoder.
    payload = {"series": [{"run_id": run_id, "path": path, **buckets_dict(result)}
                          for (run_id, path), result in zip(pairs, found, strict=True)]}
    return Response(orjson.dumps(payload), media_type="application/json")


def buckets_dict(result: SeriesBuckets) -> dict[str, Any]:
    return {"from_x": result.from_x, "to_x": result.to_x, "exact": result.exact,
            "points": [[x, special(y)] for x, y in result.points],
            "buckets": result.columns or {"index": []}}
