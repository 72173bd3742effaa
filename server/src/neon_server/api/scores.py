"""Creating scores: `POST /api/scores` with one score or a list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.schemas import ScorePage, ok
from neon_server.services.scores import NewScore

router = APIRouter(tags=["scores"])


class ScoreIn(BaseModel):
    trace_id: str = Field(description="32 hex characters")
    span_id: str = Field(default="", description="16 hex characters, to score one span of the trace")
    name: str
    value: float | bool | str = Field(description="number, boolean, or a category")
    data_type: Literal["numeric", "boolean", "categorical"] | None = None
    source: Literal["api", "sdk", "annotation", "eval", "online"] = "api"
    scorer: str = ""
    reason: str = ""
    evidence: Any = None
    eval_run_id: str = ""
    dataset_item_id: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    score_id: str | None = Field(default=None, max_length=64, description="give one to make retries idempotent")


class ScoresCreated(BaseModel):
    score_ids: list[str]


@router.post("/api/scores", status_code=status.HTTP_201_CREATED, summary="Score traces or spans (one or a list)")
async def create_scores(body: ScoreIn | list[ScoreIn], services: ServicesDep,
                        principal: PrincipalDep) -> ScoresCreated:
    items = body if isinstance(body, list) else [body]
    scores = [NewScore(**item.model_dump()) for item in items]
    ids = await run_in_threadpool(services.scores.create, principal.project_id, scores)
    return ScoresCreated(score_ids=ids)


@router.get("/api/scores", summary="Scores of the caller's project, newest first", responses=ok(ScorePage))
async def list_scores(services: ServicesDep, principal: PrincipalDep, trace_id: str | None = None,
                      span_id: str | None = None, name: str | None = None, eval_run_id: str | None = None,
                      dataset_item_id: str | None = None, scorer: str | None = None,
                      source: Literal["api", "sdk", "annotation", "eval", "online"] | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: str | None = None) -> JSONResponse:
    given = {"trace_id": trace_id, "span_id": span_id, "name": name, "eval_run_id": eval_run_id,
             "dataset_item_id": dataset_item_id, "scorer": scorer}
    exact = {k: v for k, v in given.items() if v is not None}
    result = await run_in_threadpool(lambda: services.scores.find(principal.project_id, exact=exact, source=source,
                                                                  limit=limit, cursor=cursor))
    return JSONResponse(jsonable_encoder(result))
