"""Creating scores: `POST /api/scores` with one score or a list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.config import JsonDict
from starlette.concurrency import run_in_threadpool

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.params import CURSOR, OPTIONAL_SPAN_ID_PATTERN, TRACE_ID_PATTERN, Body
from neon_server.api.schemas import ScorePage, ok
from neon_server.services.scores import MAX_BATCH, NewScore

router = APIRouter(tags=["scores"])


# `data_type`, when given, must name the value's type: stated in the schema as one branch per type.
VALUE_TYPES: JsonDict = {"anyOf": [
    {"properties": {"value": {"type": "number"}, "data_type": {"enum": ["numeric", None]}}},
    {"properties": {"value": {"type": "boolean"}, "data_type": {"enum": ["boolean", None]}}},
    {"properties": {"value": {"type": "string"}, "data_type": {"enum": ["categorical", None]}}},
]}


class ScoreIn(Body):
    model_config = ConfigDict(json_schema_extra=VALUE_TYPES)

    trace_id: str = Field(pattern=TRACE_ID_PATTERN, description="32 hex characters, or a UUID")
    span_id: str = Field(default="", pattern=OPTIONAL_SPAN_ID_PATTERN,
                         description="16 hex characters, to score one span of the trace")
    name: str = Field(min_length=1, max_length=200)
    value: Annotated[float, Field(allow_inf_nan=False)] | bool | str = Field(
        description="number, boolean, or a category")
    data_type: Literal["numeric", "boolean", "categorical"] | None = Field(
        default=None, description="inferred from the value when absent; when given, it must be the value's type "
                                  "(numeric for a number, boolean, categorical for a string)")
    source: Literal["api", "sdk", "annotation", "eval", "online"] = "api"
    scorer: str = ""
    reason: str = ""
    evidence: Any = None
    eval_run_id: str = ""
    dataset_item_id: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    score_id: str | None = Field(default=None, max_length=64, description="give one to make retries idempotent")


# One score or a list, told apart by the body's JSON type, so that a 422 speaks of `score.x` or `scores[i].x`.
OneOrMany = Annotated[
    Annotated[ScoreIn, Tag("score")]
    | Annotated[list[ScoreIn], Tag("scores"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(lambda body: "scores" if isinstance(body, list) else "score")]


class ScoresCreated(BaseModel):
    score_ids: list[str]


@router.post("/api/scores", status_code=status.HTTP_201_CREATED, summary="Score traces or spans (one or a list)")
async def create_scores(body: OneOrMany, services: ServicesDep, principal: PrincipalDep) -> ScoresCreated:
    items = body if isinstance(body, list) else [body]
    scores = [NewScore(**item.model_dump()) for item in items]
    ids = await run_in_threadpool(services.scores.create, principal.project_id, scores)
    return ScoresCreated(score_ids=ids)


@router.get("/api/scores", summary="Scores of the caller's project, newest first", responses=ok(ScorePage))
async def list_scores(services: ServicesDep, principal: PrincipalDep, trace_id: str | None = None,
                      span_id: str | None = None, name: str | None = None, eval_run_id: str | None = None,
                      dataset_item_id: str | None = None, scorer: str | None = None,
                      source: Literal["api", "sdk", "annotation", "eval", "online"] | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      cursor: Annotated[str | None, Query(description=CURSOR)] = None) -> JSONResponse:
    given = {"trace_id": trace_id, "span_id": span_id, "name": name, "eval_run_id": eval_run_id,
             "dataset_item_id": dataset_item_id, "scorer": scorer}
    exact = {k: v for k, v in given.items() if v is not None}
    result = await run_in_threadpool(lambda: services.scores.find(principal.project_id, exact=exact, source=source,
                                                                  limit=limit, cursor=cursor))
    return JSONResponse(jsonable_encoder(result))
