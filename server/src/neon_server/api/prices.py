"""Model prices of the caller's project: the shipped table and the project's overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.api.errors import errors
from neon_server.api.params import NOT_BLANK, Body
from neon_server.ingest.pricing import ModelPrice

router = APIRouter(tags=["pricing"])


MAX_PRICE = 1_000_000


class Price(Body):
    input: float = Field(ge=0, lt=MAX_PRICE, description="USD per million input tokens")
    output: float = Field(ge=0, lt=MAX_PRICE, description="USD per million output tokens")
    cached_input: float | None = Field(default=None, ge=0, lt=MAX_PRICE,
                                       description="USD per million cached input tokens")


# Model names are compared trimmed and in lower case.
Model = Annotated[str, PathParam(max_length=200, pattern=NOT_BLANK, description="a model name, e.g. gpt-4o")]


class PriceTable(BaseModel):
    overrides: dict[str, Price] = Field(description="This project's prices; they win over the shipped ones")
    shipped: dict[str, Price]


def _out(prices: dict[str, ModelPrice]) -> dict[str, Price]:
    return {m: Price(input=p.input, output=p.output, cached_input=p.cached_input) for m, p in sorted(prices.items())}


@router.get("/api/model-prices", summary="Prices used to cost LLM spans at ingest")
def list_prices(services: ServicesDep, principal: PrincipalDep) -> PriceTable:
    return PriceTable(overrides=_out(services.pricing.overrides(principal.project_id)),
                      shipped=_out(services.pricing.shipped()))


@router.put("/api/model-prices/{model}", summary="Set this project's price for a model (applies to new spans)")
def put_price(model: Model, price: Price, services: ServicesDep, principal: PrincipalDep) -> Price:
    services.pricing.set_override(principal.project_id, model,
                                  ModelPrice(price.input, price.output, price.cached_input))
    return price


@router.delete("/api/model-prices/{model}", status_code=204, summary="Remove this project's price for a model",
               responses=errors((404, "This project has no price of its own for the model")))
def delete_price(model: Model, services: ServicesDep, principal: PrincipalDep) -> None:
    services.pricing.remove_override(principal.project_id, model)
