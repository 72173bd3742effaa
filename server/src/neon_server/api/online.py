"""Scoring production traffic: score jobs over stored traces (`/api/score-jobs`) and online evaluation rules
that score new traces as they arrive (`/api/online-rules`). The scores land in the scores table with source
`online`; see docs/online-evaluation.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["online evaluation"])

SPEC = 'a built-in scorer and its arguments: {"scorer": "contains", "args": {"needles": "refund"}}'


class ScoreJobIn(BaseModel):
    filter: dict[str, Any] = Field(default_factory=dict,
                                   description="the parameters of GET /api/traces, as JSON (from, to, name, tag…)")
    scorers: list[Any] = Field(description=f"scorer specs, each {SPEC}")
    limit: int = Field(default=100, description="newest matching traces to score (1–10000)")
    key: str = Field(default="", description="scores of the same key replace each other on a rerun; give "
                                             "another key to keep several verdicts of a scorer side by side")
    dry_run: bool = Field(default=False, description="only list the traces that would be scored")


class RuleIn(BaseModel):
    model_config = {"extra": "allow"}  # unknown fields reach the service, which names them in its 4xx

    name: str
    filter: dict[str, Any] = Field(default_factory=dict,
                                   description="root-span fields: name, name_contains, status, service, session_id, "
                                               "user_id, agent_id, agent_version, environment, tag")
    sample_rate: float = Field(default=1.0, description="share of matching traces scored, 0–1, by trace id")
    scorers: list[Any] = Field(description=f"scorer specs, each {SPEC}")
    enabled: bool = True


@router.post("/api/score-jobs", status_code=status.HTTP_202_ACCEPTED,
             summary="Score stored traces chosen by a filter, in the background (or list them: dry_run)")
async def start_score_job(body: ScoreJobIn, services: ServicesDep, principal: PrincipalDep,
                          response: Response) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.score_jobs.start(
        principal.project_id, filter=body.filter, scorers=body.scorers, limit=body.limit, key=body.key,
        dry_run=body.dry_run))
    if body.dry_run:
        response.status_code = status.HTTP_200_OK
    return result


@router.get("/api/score-jobs", summary="The project's score jobs, newest first")
async def list_score_jobs(services: ServicesDep, principal: PrincipalDep,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    jobs = await run_in_threadpool(services.score_jobs.recent, principal.project_id, limit)
    return {"jobs": [j.to_dict() for j in jobs]}


@router.get("/api/score-jobs/{job_id}", summary="A score job: status, progress and a summary per score")
async def get_score_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    job = await run_in_threadpool(services.score_jobs.get, principal.project_id, job_id)
    return job.to_dict()


@router.post("/api/online-rules", status_code=status.HTTP_201_CREATED, summary="Create an online evaluation rule")
async def create_rule(body: RuleIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.create, principal.project_id, body.model_dump())
    return rule.to_dict()


@router.get("/api/online-rules", summary="The project's online evaluation rules")
async def list_rules(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rules = await run_in_threadpool(services.online_rules.all, principal.project_id)
    return {"rules": [r.to_dict() for r in rules]}


@router.get("/api/online-rules/{rule_id}", summary="An online evaluation rule")
async def get_rule(rule_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.get, principal.project_id, rule_id)
    return rule.to_dict()


@router.patch("/api/online-rules/{rule_id}", summary="Change some of a rule's fields, e.g. {\"enabled\": false}")
async def update_rule(rule_id: str, body: dict[str, Any], services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.update, principal.project_id, rule_id, body)
    return rule.to_dict()


@router.delete("/api/online-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an online evaluation rule (its scores stay)")
async def delete_rule(rule_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.online_rules.delete, principal.project_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
