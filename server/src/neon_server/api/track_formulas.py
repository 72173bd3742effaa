"""Track formulas over HTTP: a derived metric per run, or aggregated across groups of runs with a band, bucketed
like stored series; and a cheap check for the UI's live editor (parse only)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from neon_server.api import track_formula_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.schemas import ok
from neon_server.api.track import buckets_dict, special
from neon_server.domain.track import BUCKET_COLUMNS, BucketQuery
from neon_server.services.errors import InvalidInput

router = APIRouter(tags=["track"])
PARSE_ERROR = ("the formula does not parse or breaks a limit (`position`: the 0-based character where, "
               "`expected`: what would fit there), or a bad range or run list")


@router.post("/api/track/formula/check", summary="Check a formula without evaluating it (for a live editor)",
             responses={**ok(out.FormulaChecked), **errors(400, (422, PARSE_ERROR))}, response_model=None)
async def check(body: out.FormulaCheck, services: ServicesDep, _principal: PrincipalDep) -> dict[str, Any]:
    checked = services.track_formulas.check(body.formula)
    return {"ok": True, "references": list(checked.references), "functions": list(checked.functions),
            "aggregate": checked.aggregate}


@router.post("/api/track/formula", summary="A formula over float series per run or per group, bucketed for charts",
             responses={**ok(out.FormulaAnswer), **errors(400, 404, (422, PARSE_ERROR))}, response_model=None)
async def formula(body: out.FormulaRequest, services: ServicesDep, principal: PrincipalDep) -> Response:
    if (body.runs is None) == (body.groups is None):
        raise InvalidInput("send either `runs` (per run) or `groups` (aggregated), not both or neither")
    if (body.from_x is None) != (body.to_x is None):
        raise InvalidInput("a window needs both from_x and to_x")
    window = (body.from_x, body.to_x) if body.from_x is not None and body.to_x is not None else None
    query = BucketQuery(n=body.buckets, window=window, log_x=body.log_x, shared_range=body.shared_range,
                        include_preview=body.include_preview,
                        fields=tuple(body.fields) if body.fields is not None else BUCKET_COLUMNS)
    checked = services.track_formulas.check(body.formula)
    payload: dict[str, Any] = {"references": list(checked.references), "runs": [], "groups": []}
    formulas = services.track_formulas
    if body.runs is not None:
        found = await run_in_threadpool(formulas.runs, principal.project_id, body.formula, body.runs, query,
                                        lineage=body.lineage)
        payload["runs"] = [{"run_id": run_id, **buckets_dict(result)}
                           for run_id, result in zip(body.runs, found, strict=True)]
    else:
        groups = body.groups or []
        answers = await run_in_threadpool(formulas.groups, principal.project_id, body.formula,
                                          [g.runs for g in groups], query, lineage=body.lineage)
        for group, answer in zip(groups, answers, strict=True):
            line = buckets_dict(answer.line)
            line["points"] = [[x, special(c), special(lo), special(hi)] for x, c, lo, hi in answer.points]
            payload["groups"].append({"name": group.name, "aggregate": checked.aggregate, **line,
                                      "band": {"lower": answer.lower, "upper": answer.upper}})
    return Response(orjson.dumps(payload), media_type="application/json")

