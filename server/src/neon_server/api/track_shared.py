"""What a report's share link opens without an API key: the report, and read-only data of its own runs.

`/api/shared/reports/{token}` answers the report; the routes under it answer as their keyed twins in `track.py`,
`track_formulas.py` and `track_table.py` do (the same code), for the report's project and only its runs: a run that
is not the report's is a 404, as is an unknown or revoked token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from neon_server.api import track, track_formulas, track_ingest, track_table
from neon_server.api import track_dashboard_schemas as io
from neon_server.api import track_formula_schemas as formula_io
from neon_server.api import track_schemas as track_io
from neon_server.api import track_table_schemas as table_io
from neon_server.api.deps import ServicesDep
from neon_server.api.errors import errors
from neon_server.api.schemas import ok
from neon_server.api.track_dashboards import shared_report_dict
from neon_server.domain.projects import Principal
from neon_server.domain.track_dashboards import Report
from neon_server.runtime import Services

router = APIRouter(tags=["track"])
Token = Annotated[str, Path(min_length=1, max_length=200, description="the share link's token")]
NOT_SHARED = (404, "No report is shared with this token (unknown or revoked), or a run that is not the report's")


async def _report(services: Services, token: str) -> Report:
    return await run_in_threadpool(services.track_reports.shared, token)


def _principal(report: Report) -> Principal:
    return Principal(project_id=report.project_id, key_id="", key_prefix="", credential="share_link")


@router.get("/api/shared/reports/{token}", summary="A shared report, read with its share link (no key)",
            responses={**ok(io.SharedReport), **errors(NOT_SHARED)}, response_model=None)
async def shared_report(token: Token, services: ServicesDep) -> dict[str, Any]:
    return shared_report_dict(await _report(services, token))


@router.get("/api/shared/reports/{token}/runs/{run_id}", summary="A run of a shared report (as GET /api/track/runs/…)",
            responses={**ok(track_io.TrackRunDetail), **errors(NOT_SHARED)}, response_model=None)
async def shared_run(token: Token, run_id: track.RunId, services: ServicesDep) -> dict[str, Any]:
    report = await _report(services, token)
    services.track_reports.check_runs(report, [run_id])
    return await track.get_run(run_id, services, _principal(report))


@router.get("/api/shared/reports/{token}/runs/{run_id}/points",
            summary="A series' points of a shared report's run (as GET /api/track/runs/…/points)",
            responses={**ok(track_io.PointList), **errors(NOT_SHARED)}, response_model=None)
async def shared_points(token: Token, run_id: track.RunId, services: ServicesDep,
                        path: Annotated[str, Query(min_length=1, max_length=1024, description="the series' path")],
                        kind: Annotated[Literal["float", "string", "histogram", "file"],
                                        Query(description="the series' kind")] = "float") -> dict[str, Any]:
    report = await _report(services, token)
    services.track_reports.check_runs(report, [run_id])
    return await track.get_points(run_id, services, _principal(report), path=path, kind=kind)


@router.get("/api/shared/reports/{token}/files/{key:path}",
            summary="The bytes of a file one of a shared report's runs logged (as GET /api/track/files/…)",
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(NOT_SHARED)})
async def shared_file(token: Token, key: track_ingest.Key, services: ServicesDep) -> Response:
    report = await _report(services, token)
    await run_in_threadpool(services.track.check_file, report.project_id, sorted(report.run_ids()), key)
    return await track_ingest.get_file(key, services, _principal(report))


@router.post("/api/shared/reports/{token}/buckets",
             summary="Chart buckets of a shared report's runs (as POST /api/track/buckets)",
             responses={**ok(track_io.BucketsResponse), **errors(400, NOT_SHARED, (422, "as /api/track/buckets"))},
             response_model=None)
async def shared_buckets(token: Token, body: track_io.BucketsRequest, services: ServicesDep) -> Response:
    report = await _report(services, token)
    services.track_reports.check_runs(report, [s.run_id for s in body.series])
    return await track.buckets(body, services, _principal(report))


@router.post("/api/shared/reports/{token}/formula",
             summary="A formula over a shared report's runs (as POST /api/track/formula)",
             responses={**ok(formula_io.FormulaAnswer),
                        **errors(400, NOT_SHARED, (422, track_formulas.PARSE_ERROR))}, response_model=None)
async def shared_formula(token: Token, body: formula_io.FormulaRequest, services: ServicesDep) -> Response:
    report = await _report(services, token)
    services.track_reports.check_runs(report, [*(body.runs or []), *(r for g in body.groups or [] for r in g.runs)])
    return await track_formulas.formula(body, services, _principal(report))


@router.get("/api/shared/reports/{token}/attributes",
            summary="Attribute and series names of a shared report's runs (as GET /api/track/attributes with run=…)",
            responses={**ok(table_io.AttributeNameList), **errors(NOT_SHARED, (422, "as /api/track/attributes"))},
            response_model=None)
async def shared_attribute_names(
        token: Token, services: ServicesDep,
        regex: Annotated[str, Query(max_length=1_000, description="as /api/track/attributes")] = "",
        type: Annotated[list[table_io.ColumnType] | None, Query(description="as /api/track/attributes")] = None,
        limit: Annotated[int, Query(ge=1, le=track_table.MAX_LIMIT)] = 100,
        after: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> dict[str, Any]:
    report = await _report(services, token)
    return await track_table.attribute_names(services, _principal(report), regex=regex, type=type, limit=limit,
                                             after=after, run=sorted(report.run_ids()))


@router.post("/api/shared/reports/{token}/table",
             summary="The runs table over a shared report's runs only (as POST /api/track/table)",
             responses={**ok(table_io.TableResponse), **errors(400, NOT_SHARED, (422, "as /api/track/table"))},
             response_model=None)
async def shared_table(token: Token, body: table_io.TableRequest, services: ServicesDep) -> Response:
    report = await _report(services, token)
    return await track_table.answer_table(services, report.project_id,
                                          track_table.table_request(body, sorted(report.run_ids())))
