"""Datasets: versioned items for eval suites, created through the API or from production traces."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neon_server.api import eval_schemas as out
from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.schemas import ok

router = APIRouter(tags=["evaluation"])


class DatasetIn(BaseModel):
    name: str
    description: str = ""
    items: list[dict[str, Any]] = Field(default_factory=list,
                                        description="{input, expected?, expected_tools?, metadata?, id?}")


class ItemsIn(BaseModel):
    items: list[dict[str, Any]]


class RemoveIn(BaseModel):
    item_ids: list[str]


class FromTracesIn(BaseModel):
    filter: dict[str, Any] = Field(default_factory=dict,
                                   description="the parameters of GET /api/traces, as JSON (from, to, name, tag…)")
    limit: int = Field(default=100, ge=1, le=1000, description="newest matching traces to take")
    expected: Literal["output", "none"] = Field(default="output",
                                                description="take the root's output as the expected value?")


@router.post("/api/datasets", status_code=status.HTTP_201_CREATED, summary="Create a dataset (version 1)",
             responses=out.created(out.Dataset), response_model=None)
async def create_dataset(body: DatasetIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(lambda: services.datasets.create(
        principal.project_id, body.name, description=body.description, items=body.items))
    return dataset.to_dict()


@router.get("/api/datasets", summary="The project's datasets", responses=ok(out.DatasetList), response_model=None)
async def list_datasets(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    found = await run_in_threadpool(services.datasets.all, principal.project_id)
    return {"datasets": [d.to_dict() for d in found]}


@router.get("/api/datasets/{name}", summary="A dataset: its current version and item count",
            responses=ok(out.Dataset), response_model=None)
async def get_dataset(name: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(services.datasets.get, principal.project_id, name)
    return dataset.to_dict()


@router.post("/api/datasets/{name}/items", status_code=status.HTTP_201_CREATED,
             summary="Add items (a new version)", responses=out.created(out.ItemsAdded), response_model=None)
async def add_items(name: str, body: ItemsIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset, ids = await run_in_threadpool(services.datasets.add_items, principal.project_id, name, body.items)
    return {"dataset": dataset.to_dict(), "version": dataset.current_version, "item_ids": ids}


@router.post("/api/datasets/{name}/items/remove", summary="Remove items by id (a new version)",
             responses=ok(out.ItemsRemoved), response_model=None)
async def remove_items(name: str, body: RemoveIn, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    dataset = await run_in_threadpool(services.datasets.remove_items, principal.project_id, name, body.item_ids)
    return {"dataset": dataset.to_dict(), "version": dataset.current_version}


@router.get("/api/datasets/{name}/versions", summary="The dataset's versions, oldest first",
            responses=ok(out.DatasetVersionList), response_model=None)
async def list_versions(name: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    versions = await run_in_threadpool(services.datasets.versions, principal.project_id, name)
    return {"versions": [v.to_dict() for v in versions]}


@router.get("/api/datasets/{name}/items", summary="Items at a version (default: the newest)",
            responses=ok(out.DatasetItemPage), response_model=None)
async def list_items(name: str, services: ServicesDep, principal: PrincipalDep,
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
async def from_traces(name: str, body: FromTracesIn, services: ServicesDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(lambda: services.datasets.from_traces(
        principal.project_id, name, filter=body.filter, limit=body.limit, expected=body.expected))
    return result
