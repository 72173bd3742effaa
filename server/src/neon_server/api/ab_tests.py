"""A/B tests: variants of an agent-spec suite's agent run over its cases as one workflow, compared with the
baseline per scorer (services/ab_tests.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import ConfigDict, Field

from neon_server.api import ab_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import JSON_INTEGER, Body, Label
from neon_server.api.schemas import ok

router = APIRouter(tags=["evaluation"])

NO_TEST = (404, "No A/B test with this id in the caller's project")
ENDED = (409, "The A/B test has ended")


class VariantIn(Body):
    model_config = ConfigDict(strict=True, extra="forbid")  # a misspelt override must not pass unnoticed

    label: Label = Field(description="unique in the test; the version of the variant's eval run")
    version: str | None = Field(default=None, description="a recorded version of the suite's agent")
    system_prompt: str | None = None
    model: str | None = None
    provider: str | None = None
    parameters: dict[str, Any] | None = None
    tools: list[str] | None = Field(default=None, description="keep only these tools of the spec")


class AbTestIn(Body):
    suite: Label = Field(description="an agent-spec suite of the server's evals folder")
    variants: list[VariantIn] = Field(min_length=2, max_length=10, description="2–10 with unique labels; the "
                                                                             "first is the baseline")
    concurrency: Annotated[int, Field(strict=False, ge=1, le=1000), JSON_INTEGER] | None = Field(
        default=None, description="cases in flight per variant (default 8)")


@router.post("/api/ab-tests", status_code=status.HTTP_202_ACCEPTED,
             summary="Start an A/B test: one eval run per variant over the suite, then each compared with the first",
             responses={202: {"model": out.AbStarted},
                        **errors((404, "Unknown suite, or a variant's unknown agent version"),
                                 (409, "The server has no evals folder (NEON_EVALS_PATH)"),
                                 (503, "Temporal did not accept the workflow"))},
             response_model=None)
async def start_ab_test(body: AbTestIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.ab_tests.start(
        principal.project_id, suite=body.suite, concurrency=body.concurrency,
        variants=[v.model_dump(exclude_none=True) for v in body.variants])


@router.get("/api/ab-tests", summary="The project's A/B tests, newest first",
            responses=ok(out.AbTestPage), response_model=None)
async def list_ab_tests(services: ServicesDep, principal: PrincipalDep,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    return {"ab_tests": await services.ab_tests.list_tests(principal.project_id, limit)}


@router.get("/api/ab-tests/{ab_test_id}",
            summary="An A/B test: status, variants with progress, verdicts once done, per-case scores and traces",
            responses={**ok(out.AbDetail), **errors(NO_TEST)}, response_model=None)
async def get_ab_test(ab_test_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await services.ab_tests.get(principal.project_id, ab_test_id)


def _control(action: str, summary: str) -> Any:
    async def control(ab_test_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
        return await services.ab_tests.control(principal.project_id, ab_test_id, action)

    control.__name__ = f"{action}_ab_test"
    router.post(f"/api/ab-tests/{{ab_test_id}}/{action}", status_code=status.HTTP_202_ACCEPTED, summary=summary,
                responses={202: {"model": out.AbAction}, **errors(NO_TEST, ENDED)}, response_model=None)(control)
    return control


cancel_ab_test = _control("cancel", "Cancel an A/B test: every variant's run is cancelled and closes as cancelled")
pause_ab_test = _control("pause", "Pause an A/B test: no variant starts a new case; running cases finish")
resume_ab_test = _control("resume", "Resume a paused A/B test")
