"""Scoring production traffic: score jobs over stored traces (`/api/score-jobs`) and online evaluation rules
that score new traces as they arrive (`/api/online-rules`). The scores land in the scores table with source
`online`; see docs/online-evaluation.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import ConfigDict, Field, WithJsonSchema
from starlette.concurrency import run_in_threadpool

from neon.evaluate.specs import BUILTINS
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import JSON_INTEGER, NOT_BLANK, Body, TraceFilterIn
from neon_server.services.score_jobs import MAX_KEY, MAX_TRACES

router = APIRouter(tags=["online evaluation"])

# Scorer specs are checked by their own parser (neon.evaluate.specs), whose messages name the scorer and the
# argument; the schema says what it accepts. Each scorer's arguments are checked by that scorer (docs/scorers.md).
ARGS = "the scorer's arguments: names and types per scorer in docs/scorers.md"
NO_ARGS_NEEDED = [name for name, builtin in BUILTINS.items() if not builtin.required]
SCORER_SPECS: dict[str, Any] = {
    "type": "array", "minItems": 1,
    "description": 'scorer specs: {"scorer": NAME, "args": {...}}, or a bare NAME for a scorer that needs no '
                   "arguments; each writes a score of its own name",
    "items": {"anyOf": [
        {"type": "string", "enum": NO_ARGS_NEEDED},
        {"type": "object", "required": ["scorer"], "additionalProperties": False, "properties": {
            "scorer": {"type": "string", "enum": NO_ARGS_NEEDED},
            "args": {"anyOf": [{"type": "object"}, {"type": "null"}], "description": ARGS}}},
        *({"type": "object", "required": ["scorer", "args"], "additionalProperties": False, "properties": {
            "scorer": {"const": name},
            "args": {"type": "object", "required": list(builtin.required), "description": ARGS}}}
          for name, builtin in BUILTINS.items() if builtin.required),
    ]},
}
ScorerSpecs = Annotated[Any, WithJsonSchema(SCORER_SPECS)]
NonEmpty = Annotated[str, Field(min_length=1)]


class RuleFilterIn(Body):
    """What a rule matches: the root-span fields of a new trace (the live tail's vocabulary)."""

    model_config = ConfigDict(extra="forbid")

    name: NonEmpty | None = None
    name_contains: NonEmpty | None = None
    status: Literal["ok", "error", "unset"] | None = None
    service: NonEmpty | None = None
    session_id: NonEmpty | None = None
    user_id: NonEmpty | None = None
    agent_id: NonEmpty | None = None
    agent_version: NonEmpty | None = None
    environment: NonEmpty | None = None
    tag: NonEmpty | list[NonEmpty] | None = Field(default=None, description="all must be present")


RuleName = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK,
                                description="1–100 characters (trimmed); unique in the project")]
SampleRate = Annotated[float, Field(ge=0, le=1, description="share of matching traces scored, 0–1, by trace id")]


class ScoreJobIn(Body):
    filter: TraceFilterIn = Field(default_factory=TraceFilterIn, description="the parameters of GET /api/traces")
    scorers: ScorerSpecs
    limit: Annotated[int, Field(strict=False, ge=1, le=MAX_TRACES), JSON_INTEGER] = Field(
        default=100, description="newest matching traces to score")
    key: str = Field(default="", max_length=MAX_KEY,
                     description="scores of the same key replace each other on a rerun; give another key to keep "
                                 "several verdicts of a scorer side by side")
    dry_run: bool = Field(default=False, description="only list the traces that would be scored")


class RuleIn(Body):
    model_config = ConfigDict(extra="forbid")

    name: RuleName
    filter: RuleFilterIn = Field(default_factory=RuleFilterIn)
    sample_rate: SampleRate = 1.0
    scorers: ScorerSpecs
    enabled: bool = True


class RulePatch(Body):
    """The fields to change; absent or null ones keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: RuleName | None = None
    filter: RuleFilterIn | None = None
    sample_rate: SampleRate | None = None
    scorers: ScorerSpecs | None = None
    enabled: bool | None = None


def _rule_json(rule: RuleIn | RulePatch) -> dict[str, Any]:
    return rule.model_dump(mode="json", exclude_none=True)


NO_RULE = (404, "No online rule with this id in the caller's project")


@router.post("/api/score-jobs", status_code=status.HTTP_202_ACCEPTED,
             summary="Score stored traces chosen by a filter, in the background (or list them: dry_run)",
             responses={202: {"description": "The job, started"},
                        200: {"description": "dry_run: the traces that would be scored"},
                        **errors((503, "The server is stopping"))})
async def start_score_job(body: ScoreJobIn, services: ServicesDep, principal: PrincipalDep,
                          response: Response) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.score_jobs.start(
        principal.project_id, filter=body.filter.as_json(), scorers=body.scorers, limit=body.limit, key=body.key,
        dry_run=body.dry_run))
    if body.dry_run:
        response.status_code = status.HTTP_200_OK
    return result


@router.get("/api/score-jobs", summary="The project's score jobs, newest first")
async def list_score_jobs(services: ServicesDep, principal: PrincipalDep,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    jobs = await run_in_threadpool(services.score_jobs.recent, principal.project_id, limit)
    return {"jobs": [j.to_dict() for j in jobs]}


@router.get("/api/score-jobs/{job_id}", summary="A score job: status, progress and a summary per score",
            responses=errors((404, "No score job with this id in the caller's project")))
async def get_score_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    job = await run_in_threadpool(services.score_jobs.get, principal.project_id, job_id)
    return job.to_dict()


@router.post("/api/online-rules", status_code=status.HTTP_201_CREATED, summary="Create an online evaluation rule",
             responses=errors((409, "A rule of this name exists")))
async def create_rule(body: RuleIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.create, principal.project_id, _rule_json(body))
    return rule.to_dict()


@router.get("/api/online-rules", summary="The project's online evaluation rules")
async def list_rules(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rules = await run_in_threadpool(services.online_rules.all, principal.project_id)
    return {"rules": [r.to_dict() for r in rules]}


@router.get("/api/online-rules/{rule_id}", summary="An online evaluation rule", responses=errors(NO_RULE))
async def get_rule(rule_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.get, principal.project_id, rule_id)
    return rule.to_dict()


@router.patch("/api/online-rules/{rule_id}", summary="Change some of a rule's fields, e.g. {\"enabled\": false}",
              responses=errors(NO_RULE, (409, "Another rule has this name")))
async def update_rule(rule_id: str, body: RulePatch, services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    rule = await run_in_threadpool(services.online_rules.update, principal.project_id, rule_id, _rule_json(body))
    return rule.to_dict()


@router.delete("/api/online-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an online evaluation rule (its scores stay)", responses=errors(NO_RULE))
async def delete_rule(rule_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    await run_in_threadpool(services.online_rules.delete, principal.project_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
