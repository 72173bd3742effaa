"""Eval runs: recorded by `neon eval` (open, add results, finish), started on the server, listed, read, and
compared (the regression gate `neon compare` and the UI use)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from neon_server.api import eval_schemas as out
from neon_server.api.deps import KeyOrRunTokenDep, PrincipalDep, ServicesDep, api_key_from
from neon_server.api.errors import errors
from neon_server.api.params import JSON_INTEGER, Body, Label, described
from neon_server.api.schemas import ok
from neon_server.domain.evaluation import CaseResult
from neon_server.services.evals import MAX_RESULTS_PER_REQUEST

router = APIRouter(tags=["evaluation"])

NO_RUN = (404, "No eval run with this id in the caller's project")
OPTIONAL_TRACE_ID = described(r"^([0-9a-f]{32})?$", "32 lowercase hex characters, or empty")
THRESHOLD = "regression when candidate mean < threshold × baseline mean; in (0, 1]"


class RunIn(Body):
    suite: Label = Field(description="suite name")
    version: Label = Field(description="what is evaluated: a branch, a PR, a commit")
    dataset: str = ""
    case_count: Annotated[int, Field(strict=False, ge=0, le=1_000_000_000), JSON_INTEGER] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StartIn(Body):
    suite: Label
    version: Label
    concurrency: Annotated[int, Field(strict=False, ge=1, le=1000), JSON_INTEGER] | None = None


class CaseScoreIn(Body):
    name: str = Field(min_length=1, max_length=200, description="unique within the case")
    value: float | None = Field(default=None, ge=0, le=1, description="in [0, 1]; null for a label only")
    data_type: Literal["numeric", "boolean", "categorical"] = "numeric"
    label: str = ""
    reason: str = ""
    passed: bool | None = None
    error: str | None = None
    evidence: Any = None


class ResultIn(Body):
    case_id: Label = Field(description="unique within the request; a case sent again replaces its result")
    trace_id: str = Field(default="", pattern=OPTIONAL_TRACE_ID, description="32 lowercase hex characters")
    input: Any = None
    expected: Any = None
    expected_tools: list[str] | None = None
    output: Any = None
    error: str | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    tools: list[str] | None = None
    passed: bool = False
    scores: list[CaseScoreIn] = Field(default_factory=list)


class ResultsIn(Body):
    results: list[ResultIn] = Field(min_length=1, max_length=MAX_RESULTS_PER_REQUEST)


class FinishIn(Body):
    status: Literal["completed", "failed", "cancelled"] = "completed"
    error: str = ""


@router.post("/api/eval-runs", status_code=status.HTTP_201_CREATED,
             summary="Open a run that the caller fills (what `neon eval` does)",
             responses=out.created(out.EvalRun), response_model=None)
async def create_run(body: RunIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    run = await run_in_threadpool(lambda: services.eval_runs.create(
        principal.project_id, suite=body.suite, version=body.version, dataset=body.dataset,
        case_count=body.case_count, metadata=body.metadata))
    return run.to_dict()


@router.post("/api/eval-runs/start", status_code=status.HTTP_202_ACCEPTED,
             summary="Run a suite of the server's evals folder (NEON_EVALS_PATH): as a Temporal workflow where "
                     "Temporal runs (`neon up`), else `neon eval` in a subprocess",
             responses={202: {"model": out.EvalRun},
                        **errors((409, "The server has no evals folder (NEON_EVALS_PATH), or it does not exist"),
                                 (503, "Temporal did not accept the workflow"))},
             response_model=None)
async def start_run(body: StartIn, request: Request, services: ServicesDep,
                    principal: PrincipalDep) -> dict[str, Any]:
    if services.eval_workflows.available:
        started = await services.eval_workflows.start(principal.project_id, suite=body.suite, version=body.version,
                                                      concurrency=body.concurrency)
        return started.to_dict()
    key = api_key_from(request.headers) or ""
    base_url = services.settings.public_url or str(request.base_url).rstrip("/")
    run = await run_in_threadpool(lambda: services.eval_launcher.start(
        principal.project_id, suite=body.suite, version=body.version, concurrency=body.concurrency, api_key=key,
        base_url=base_url))
    return run.to_dict()


@router.get("/api/eval-runs", summary="Eval runs, newest first", responses=ok(out.EvalRunPage), response_model=None)
async def list_runs(services: ServicesDep, principal: PrincipalDep, suite: str | None = None,
                    version: str | None = None,
                    status: Literal["queued", "running", "completed", "failed", "cancelled"] | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    runs = await run_in_threadpool(lambda: services.eval_runs.list(
        principal.project_id, suite=suite, version=version, status=status, limit=limit))
    return {"runs": [r.to_dict() for r in runs]}


@router.get("/api/eval-runs/compare",
            summary="Compare two versions' latest completed runs: per-scorer means, paired deltas, bootstrap CI",
            responses={**ok(out.Comparison),
                       **errors((404, "A version has no completed run (of the suite), or they share no suite"))},
            response_model=None)
async def compare_runs(services: ServicesDep, principal: PrincipalDep,
                       baseline: Annotated[Label, Query(description="version to compare against")],
                       candidate: Annotated[Label, Query(description="version under test")],
                       suite: str | None = None,
                       threshold: Annotated[float, Query(gt=0, le=1, description=THRESHOLD)] = 0.95,
                       seed: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.eval_runs.compare(
        principal.project_id, baseline=baseline, candidate=candidate, suite=suite, threshold=threshold, seed=seed))
    return result


@router.get("/api/eval-runs/compare-runs", summary="Compare two given runs of one suite (the shape of compare); "
                                                  "a run token may call it (an A/B test's comparison does)",
            responses={**ok(out.Comparison), **errors(NO_RUN)}, response_model=None)
async def compare_two_runs(services: ServicesDep, principal: KeyOrRunTokenDep,
                           baseline_run: Annotated[str, Query(description="id of the run to compare against")],
                           candidate_run: Annotated[str, Query(description="id of the run under test")],
                           threshold: Annotated[float, Query(gt=0, le=1, description=THRESHOLD)] = 0.95,
                           seed: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.eval_runs.compare_runs(
        principal.project_id, baseline_run=baseline_run, candidate_run=candidate_run, threshold=threshold,
        seed=seed))
    return result


@router.get("/api/eval-runs/{run_id}", summary="An eval run with its case results",
            responses={**ok(out.EvalRunDetail), **errors(NO_RUN)}, response_model=None)
async def get_run(run_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(services.eval_runs.get, principal.project_id, run_id)
    return result


@router.get("/api/eval-runs/{run_id}/progress",
            summary="How far a run is: live from its workflow while it runs, else the stored counts",
            responses={**ok(out.EvalRunProgress), **errors(NO_RUN)}, response_model=None)
async def run_progress(run_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.eval_workflows.progress(principal.project_id, run_id)


NOT_CONTROLLABLE = (409, "The run is not a workflow run (`neon eval` fills it), or it has ended")


@router.post("/api/eval-runs/{run_id}/pause", status_code=status.HTTP_202_ACCEPTED,
             summary="Pause a workflow run: no new case starts, the running ones finish",
             responses={202: {"model": out.EvalRunAction}, **errors(NO_RUN, NOT_CONTROLLABLE)},
             response_model=None)
async def pause_run(run_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.eval_workflows.control(principal.project_id, run_id, "pause")


@router.post("/api/eval-runs/{run_id}/resume", status_code=status.HTTP_202_ACCEPTED,
             summary="Resume a paused workflow run", responses={202: {"model": out.EvalRunAction},
                                                                **errors(NO_RUN, NOT_CONTROLLABLE)},
             response_model=None)
async def resume_run(run_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.eval_workflows.control(principal.project_id, run_id, "resume")


@router.post("/api/eval-runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED,
             summary="Cancel a workflow run: running cases are cancelled, the run closes as cancelled",
             responses={202: {"model": out.EvalRunAction}, **errors(NO_RUN, NOT_CONTROLLABLE)},
             response_model=None)
async def cancel_run(run_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.eval_workflows.control(principal.project_id, run_id, "cancel")


@router.post("/api/eval-runs/{run_id}/results", summary="Add case results to an open run (idempotent per case)",
             responses={**ok(out.ResultsStored), **errors(NO_RUN, (409, "The run is finished"))},
             response_model=None)
async def add_results(run_id: str, body: ResultsIn, services: ServicesDep,
                      principal: KeyOrRunTokenDep) -> dict[str, int]:
    results = [CaseResult(case_id=r.case_id, trace_id=r.trace_id, input=r.input, expected=r.expected,
                          output=r.output, error=r.error, duration_ms=r.duration_ms, passed=r.passed,
                          scores=[s.model_dump() for s in r.scores], tools=r.tools) for r in body.results]
    stored = await run_in_threadpool(services.eval_runs.add_results, principal.project_id, run_id, results)
    return {"stored": stored}


@router.post("/api/eval-runs/{run_id}/finish", summary="Close a run; its counts and summary are computed here",
             responses={**ok(out.EvalRun), **errors(NO_RUN, (409, "The run is finished already"))},
             response_model=None)
async def finish_run(run_id: str, body: FinishIn, services: ServicesDep,
                     principal: KeyOrRunTokenDep) -> dict[str, Any]:
    run = await run_in_threadpool(lambda: services.eval_runs.finish(
        principal.project_id, run_id, status=body.status, error=body.error))
    return run.to_dict()
