"""Datasets: versioned items for eval suites, created through the API or from production traces."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from neon_server.api import eval_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import JSON_INTEGER, Body, TraceFilterIn, described
from neon_server.api.schemas import ok
from neon_server.services.datasets import ITEM_ID, MAX_FROM_TRACES, MAX_ITEMS_PER_REQUEST, NAME

router = APIRouter(tags=["evaluation"])

NAME_RULE = "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME_PATTERN = described(NAME.pattern, NAME_RULE)
ITEM_ID_PATTERN = described(rf"{ITEM_ID.pattern}|^$", "1–200 letters, digits, '.', '_', ':' or '-', starting with "
                                                     "a letter or digit")
DatasetName = Annotated[str, Path(pattern=NAME_PATTERN, description=NAME_RULE)]
NO_DATASET = (404, "No dataset of this name in the caller's project")


class ItemIn(Body):
    """A dataset item; its `id` is made up when not given."""

    model_config = ConfigDict(extra="forbid")

    input: Any = Field(description="what the agent is given (any JSON)")
    expected: Any = Field(default=None, description="what it should answer, for the scorers")
    expected_tools: list[str] | None = Field(default=None, description="tools it should call")
    metadata: dict[str, Any] | None = None
    id: str | None = Field(default=None, pattern=ITEM_ID_PATTERN,
                           description="1–200 letters, digits, '.', '_', ':' or '-'; unique in the request")


Items = Annotated[list[ItemIn], Field(max_length=MAX_ITEMS_PER_REQUEST)]


class DatasetIn(Body):
    name: str = Field(pattern=NAME_PATTERN, description=NAME_RULE)
    description: str = Field(default="", max_length=10_000)
    items: Items = Field(default_factory=list)


class ItemsIn(Body):
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS_PER_REQUEST)]


class RemoveIn(Body):
    item_ids: list[str] = Field(min_length=1, json_schema_extra={"uniqueItems": True},
                                description="ids of items in the current version, each once")


class FromTracesIn(Body):
    filter: TraceFilterIn = Field(default_factory=TraceFilterIn, description="the parameters of GET /api/traces")
    limit: Annotated[int, Field(strict=False, ge=1, le=MAX_FROM_TRACES), JSON_INTEGER] = Field(
        default=100, description="newest matching traces to take")
    expected: Literal["output", "none"] = Field(default="output",
                                                description="take the root's output as the expected value?")


def _dicts(items: list[ItemIn]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_unset=True) for item in items]


@router.post("/api/datasets", status_code=status.HTTP_201_CREATED, summary="Create a dataset (version 1)",
             responses={**out.created(out.Dataset), **errors((409, "A dataset of this name exists"))},
             response_model=None)
async def create_dataset(body: DatasetIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(lambda: services.datasets.create(
        principal.project_id, body.name, description=body.description, items=_dicts(body.items)))
    return dataset.to_dict()


@router.get("/api/datasets", summary="The project's datasets", responses=ok(out.DatasetList), response_model=None)
async def list_datasets(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.datasets.all, principal.project_id)
    return {"datasets": [d.to_dict() for d in found]}


@router.get("/api/datasets/{name}", summary="A dataset: its current version and item count",
            responses={**ok(out.Dataset), **errors(NO_DATASET)}, response_model=None)
async def get_dataset(name: DatasetName, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(services.datasets.get, principal.project_id, name)
    return dataset.to_dict()


@router.post("/api/datasets/{name}/items", status_code=status.HTTP_201_CREATED,
             summary="Add items (a new version)", response_model=None,
             responses={**out.created(out.ItemsAdded), **errors(NO_DATASET, (409, "An item id is in the dataset"))})
async def add_items(name: DatasetName, body: ItemsIn, services: ServicesDep,
                    principal: PrincipalDep) -> dict[str, Any]:
    dataset, ids = await run_in_threadpool(services.datasets.add_items, principal.project_id, name,
                                           _dicts(body.items))
    return {"dataset": dataset.to_dict(), "version": dataset.current_version, "item_ids": ids}


@router.post("/api/datasets/{name}/items/remove", summary="Remove items by id (a new version)",
             responses={**ok(out.ItemsRemoved),
                        **errors((404, "No dataset of this name, or an item id not in its current version"))},
             response_model=None)
async def remove_items(name: DatasetName, body: RemoveIn, services: ServicesDep,
                       principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(services.datasets.remove_items, principal.project_id, name, body.item_ids)
    return {"dataset": dataset.to_dict(), "version": dataset.current_version}


@router.get("/api/datasets/{name}/versions", summary="The dataset's versions, oldest first",
            responses={**ok(out.DatasetVersionList), **errors(NO_DATASET)}, response_model=None)
async def list_versions(name: DatasetName, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    versions = await run_in_threadpool(services.datasets.versions, principal.project_id, name)
    return {"versions": [v.to_dict() for v in versions]}


@router.get("/api/datasets/{name}/items", summary="Items at a version (default: the newest)",
            responses={**ok(out.DatasetItemPage), **errors((404, "No dataset of this name, or no such version"))},
            response_model=None)
async def list_items(name: DatasetName, services: ServicesDep, principal: PrincipalDep,
                     version: Annotated[int | None, Query(ge=1)] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    at, items = await run_in_threadpool(lambda: services.datasets.items(
        principal.project_id, name, version=version, limit=limit + 1, offset=offset))
    more = len(items) > limit
    return {"version": at, "items": [i.to_dict() for i in items[:limit]],
            "next_offset": offset + limit if more else None}


@router.post("/api/datasets/{name}/from-traces", status_code=status.HTTP_201_CREATED,
             summary="Add the root inputs/outputs of matching traces as items (creates the dataset if needed)",
             responses=out.created(out.FromTracesResult), response_model=None)
async def from_traces(name: DatasetName, body: FromTracesIn, services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.datasets.from_traces(
        principal.project_id, name, filter=body.filter.as_json(), limit=body.limit, expected=body.expected))
    return result
