"""The runs table and attribute-name search: what the Track UI's table, column chooser and chart builder read."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from neon_server.api import track_table_schemas as io
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.schemas import ok
from neon_server.domain.track_table import MAX_LIMIT, Column, SortKey
from neon_server.runtime import Services
from neon_server.services.track_table import MAX_NAME_RUNS, TableAnswer, TableRequest

router = APIRouter(tags=["track"])


@router.post("/api/track/table", summary="The runs table: NQL filter, any columns, sort, keyset pages, groups",
             responses={**ok(io.TableResponse),
                        **errors(400, (422, "a query that does not parse (`position` says where), an unknown type "
                                            "or aggregate, too many columns, or a cursor this API did not give"))},
             response_model=None)
async def table(body: io.TableRequest, services: ServicesDep, principal: PrincipalDep) -> Response:
    return await answer_table(services, principal.project_id, table_request(body))


def table_request(body: io.TableRequest, run_ids: list[str] | None = None) -> TableRequest:
    """The service's request for the body; `run_ids` keeps only those runs (a shared report's)."""
    return TableRequest(
        query=body.query, columns=[Column(c.path, c.type, c.aggregate) for c in body.columns],
        sort=[SortKey(Column(s.path, s.type, s.aggregate), s.direction == "desc") for s in body.sort],
        limit=body.limit, after=body.after, group_by=list(body.group_by), group=body.group,
        group_limit=body.group_limit, group_after=body.group_after, run_ids=run_ids)


async def answer_table(services: Services, project_id: str, request: TableRequest) -> Response:
    answer = await run_in_threadpool(services.track_table.table, project_id, request)
    # Up to 1,000 rows × 200 values: serialised once, here, instead of by FastAPI's per-value encoder.
    return Response(orjson.dumps(_answer(answer)), media_type="application/json")


def _answer(answer: TableAnswer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "columns": [{"path": c.path, "type": c.type, "aggregate": c.aggregate} for c in answer.columns],
        "rows": [{"run_id": r.run_id, "short_id": r.short_id, "name": r.name, "values": r.values}
                 for r in answer.rows],
        "next_cursor": answer.next_cursor, "total": answer.total, "groups": None, "groups_next_cursor": None}
    if answer.groups is not None:
        out["groups"] = [{
            "key": g.key, "values": g.values, "types": [p[0] if p else None for p in g.stats.key.parts],
            "runs": g.stats.runs,
            "columns": [dict(zip(("count", "mean", "std", "min", "max"), g.stats.columns[i], strict=True))
                        if i in g.stats.columns else None for i in range(len(answer.columns))]}
            for g in answer.groups]
        out["groups_next_cursor"] = answer.groups_next_cursor
    return out


@router.get("/api/track/attributes", summary="Attribute and series names of the project matching a regex",
            responses={**ok(io.AttributeNameList), **errors((422, "a regex RE2 refuses, or an unknown type"))},
            response_model=None)
async def attribute_names(
        services: ServicesDep, principal: PrincipalDep,
        regex: Annotated[str, Query(max_length=1_000, description="RE2, searched anywhere in the path "
                                                                  "(anchor with ^ and $); empty: every name")] = "",
        type: Annotated[list[io.ColumnType] | None, Query(description="keep these types (repeat the parameter)")
                        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        after: Annotated[str | None, Query(min_length=1, max_length=1024, description=(
            "`next_cursor` of the previous page (the last path answered)"))] = None,
        run: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=1024)]] | None, Query(
            description=f"only the names these runs have, `runs` counting among them (repeat the parameter; at most "
                        f"{MAX_NAME_RUNS})")] = None,
) -> dict[str, Any]:
    found, cursor = await run_in_threadpool(partial(services.track_table.attribute_names, run_ids=list(run or [])),
                                            principal.project_id, regex, list(type or []), after, limit)
    return {"attributes": [{"path": path, "runs": runs, "types": [{"type": t, "runs": n} for t, n in kinds]}
                           for path, runs, kinds in found], "next_cursor": cursor}
