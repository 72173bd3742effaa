"""Saved views of the runs table, versioned dashboards and reports (`/api/track/views|dashboards|reports`), and
reports' share links. What a share link opens without a key is in `track_shared.py`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from neon_server.api import track_dashboard_schemas as io
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.eval_schemas import created
from neon_server.api.schemas import ok
from neon_server.domain.track_dashboards import Dashboard, DashboardVersion, Report, SavedView

router = APIRouter(tags=["track"])
ItemId = Annotated[str, Path(min_length=1, max_length=40)]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="a version number")]
NO_VIEW = (404, "No view with this id in the caller's project")
NO_DASHBOARD = (404, "No dashboard with this id (or version) in the caller's project")
NO_REPORT = (404, "No report with this id in the caller's project")
BAD_SPEC = (422, "A field is invalid (the message names it): a block's type or layout outside the 12-column grid, "
                 "options over 64 KB, a dynamic section's regex that does not compile, more than 50 sections or "
                 "200 blocks, an id that appears twice")


def _iso(value: Any) -> str:
    return str(value.isoformat(timespec="milliseconds"))


def view_dict(view: SavedView) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "state": view.state, "created_at": _iso(view.created_at),
            "updated_at": _iso(view.updated_at)}


def version_dict(version: DashboardVersion) -> dict[str, Any]:
    return {"version": version.version, "author": version.author, "saved_at": _iso(version.created_at)}


def dashboard_dict(dashboard: Dashboard, *, spec: bool = True) -> dict[str, Any]:
    out = {"id": dashboard.id, "name": dashboard.name, "created_at": _iso(dashboard.created_at),
           **version_dict(dashboard.latest)}
    if spec:
        out["spec"] = dashboard.latest.spec
    return out


def shared_report_dict(report: Report) -> dict[str, Any]:
    return {"id": report.id, "name": report.name, "spec": report.spec, "runs": report.runs, "groups": report.groups,
            "updated_at": _iso(report.updated_at)}


def report_dict(report: Report) -> dict[str, Any]:
    return {**shared_report_dict(report), "shared": report.shared,
            "shared_at": _iso(report.shared_at) if report.shared_at else None,
            "created_at": _iso(report.created_at)}


# ---------------------------------------------------------------- saved views
@router.get("/api/track/views", summary="The project's saved views of the runs table",
            responses=ok(io.ViewList), response_model=None)
async def list_views(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.track_views.all, principal.project_id)
    return {"views": [view_dict(v) for v in found]}


@router.post("/api/track/views", status_code=status.HTTP_201_CREATED, summary="Save a view of the runs table",
             responses={**created(io.ViewOut), **errors(400, (409, "A view of this name exists in the project"))},
             response_model=None)
async def create_view(body: io.ViewCreate, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    view = await run_in_threadpool(services.track_views.create, principal.project_id, body.name,
                                   body.state.model_dump(mode="json"))
    return view_dict(view)


@router.get("/api/track/views/{view_id}", summary="A saved view", responses={**ok(io.ViewOut), **errors(NO_VIEW)},
            response_model=None)
async def get_view(view_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_dict(await run_in_threadpool(services.track_views.get, principal.project_id, view_id))


@router.patch("/api/track/views/{view_id}", summary="Rename a saved view or replace its state",
              responses={**ok(io.ViewOut), **errors(400, NO_VIEW, (409, "A view of this name exists in the project"))},
              response_model=None)
async def update_view(view_id: ItemId, body: io.ViewUpdate, services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    state = body.state.model_dump(mode="json") if body.state is not None else None
    view = await run_in_threadpool(services.track_views.update, principal.project_id, view_id, body.name, state)
    return view_dict(view)


@router.delete("/api/track/views/{view_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a saved view",
               responses=errors(NO_VIEW))
async def delete_view(view_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.track_views.delete, principal.project_id, view_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- dashboards
@router.get("/api/track/dashboards", summary="The project's dashboards, each with its newest version",
            responses=ok(io.DashboardList), response_model=None)
async def list_dashboards(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.track_dashboards.all, principal.project_id)
    return {"dashboards": [dashboard_dict(d, spec=False) for d in found]}


@router.post("/api/track/dashboards", status_code=status.HTTP_201_CREATED,
             summary="Create a dashboard (its spec is version 1)",
             responses={**created(io.DashboardOut), **errors(400, (409, "A dashboard of this name exists"), BAD_SPEC)},
             response_model=None)
async def create_dashboard(body: io.DashboardCreate, services: ServicesDep,
                           principal: PrincipalDep) -> dict[str, Any]:
    def create() -> Dashboard:
        author = services.track_dashboards.author(principal.project_id, principal.key_id)
        return services.track_dashboards.create(principal.project_id, body.name, body.spec.model_dump(mode="json"),
                                                author)

    found = await run_in_threadpool(create)
    return {**dashboard_dict(found), "latest_version": found.latest.version}


@router.get("/api/track/dashboards/{dashboard_id}", summary="A dashboard: its newest version, or the one asked for",
            responses={**ok(io.DashboardOut), **errors(NO_DASHBOARD)}, response_model=None)
async def get_dashboard(dashboard_id: ItemId, services: ServicesDep, principal: PrincipalDep,
                        version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description=(
                            "an older version (default: the newest)"))] = None) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        found = services.track_dashboards.get(principal.project_id, dashboard_id, version)
        newest = found if version is None else services.track_dashboards.get(principal.project_id, dashboard_id)
        return {**dashboard_dict(found), "latest_version": newest.latest.version}

    return await run_in_threadpool(read)


@router.put("/api/track/dashboards/{dashboard_id}", summary="Save a dashboard: its spec becomes a new version",
            responses={**ok(io.DashboardOut), **errors(400, NO_DASHBOARD, (409, "A dashboard of this name exists"),
                                                       BAD_SPEC)}, response_model=None)
async def save_dashboard(dashboard_id: ItemId, body: io.DashboardSave, services: ServicesDep,
                         principal: PrincipalDep) -> dict[str, Any]:
    def save() -> Dashboard:
        author = services.track_dashboards.author(principal.project_id, principal.key_id)
        return services.track_dashboards.save(principal.project_id, dashboard_id, body.spec.model_dump(mode="json"),
                                              author, body.name)

    found = await run_in_threadpool(save)
    return {**dashboard_dict(found), "latest_version": found.latest.version}


@router.get("/api/track/dashboards/{dashboard_id}/versions", summary="A dashboard's versions, newest first",
            responses={**ok(io.DashboardVersionList), **errors(NO_DASHBOARD)}, response_model=None)
async def dashboard_versions(dashboard_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.track_dashboards.versions, principal.project_id, dashboard_id)
    return {"versions": [version_dict(v) for v in found]}


@router.post("/api/track/dashboards/{dashboard_id}/versions/{version}/restore",
             summary="Restore a version: save its spec as the newest version",
             responses={**ok(io.DashboardOut), **errors(NO_DASHBOARD)}, response_model=None)
async def restore_dashboard(dashboard_id: ItemId, version: VersionNumber, services: ServicesDep,
                            principal: PrincipalDep) -> dict[str, Any]:
    def restore() -> Dashboard:
        author = services.track_dashboards.author(principal.project_id, principal.key_id)
        return services.track_dashboards.restore(principal.project_id, dashboard_id, version, author)

    found = await run_in_threadpool(restore)
    return {**dashboard_dict(found), "latest_version": found.latest.version}


@router.delete("/api/track/dashboards/{dashboard_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a dashboard and all its versions", responses=errors(NO_DASHBOARD))
async def delete_dashboard(dashboard_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.track_dashboards.delete, principal.project_id, dashboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- reports
@router.get("/api/track/reports", summary="The project's reports", responses=ok(io.ReportList), response_model=None)
async def list_reports(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.track_reports.all, principal.project_id)
    return {"reports": [report_dict(r) for r in found]}


@router.post("/api/track/reports", status_code=status.HTTP_201_CREATED,
             summary="Create a report: blocks over a fixed list of runs (and groups of runs)",
             responses={**created(io.ReportOut), **errors(400, BAD_SPEC)}, response_model=None)
async def create_report(body: io.ReportCreate, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.track_reports.create, principal.project_id, body.name,
                                    body.spec.model_dump(mode="json"), body.runs,
                                    [g.model_dump(mode="json") for g in body.groups])
    return report_dict(found)


@router.get("/api/track/reports/{report_id}", summary="A report",
            responses={**ok(io.ReportOut), **errors(NO_REPORT)}, response_model=None)
async def get_report(report_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return report_dict(await run_in_threadpool(services.track_reports.get, principal.project_id, report_id))


@router.patch("/api/track/reports/{report_id}", summary="Change a report's name, spec, runs or groups",
              responses={**ok(io.ReportOut), **errors(400, NO_REPORT, BAD_SPEC)}, response_model=None)
async def update_report(report_id: ItemId, body: io.ReportUpdate, services: ServicesDep,
                        principal: PrincipalDep) -> dict[str, Any]:
    changes = body.model_dump(mode="json", exclude_none=True)
    found = await run_in_threadpool(services.track_reports.update, principal.project_id, report_id, changes)
    return report_dict(found)


@router.delete("/api/track/reports/{report_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a report (its share link stops working)", responses=errors(NO_REPORT))
async def delete_report(report_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.track_reports.delete, principal.project_id, report_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/track/reports/{report_id}/share", status_code=status.HTTP_201_CREATED,
             summary="Make a share link: anyone with it reads this report and its runs' data, without a key "
                     "(an earlier link of the report stops working)",
             responses={**created(io.ShareLink), **errors(NO_REPORT)}, response_model=None)
async def share_report(report_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    _report, token = await run_in_threadpool(services.track_reports.share, principal.project_id, report_id)
    return {"token": token, "path": f"/share/reports/{token}"}


@router.delete("/api/track/reports/{report_id}/share", status_code=status.HTTP_204_NO_CONTENT,
               summary="Revoke the report's share link", responses=errors(NO_REPORT))
async def revoke_share(report_id: ItemId, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.track_reports.revoke, principal.project_id, report_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
