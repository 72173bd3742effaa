"""Model prices of the caller's project: the shipped table and the project's overrides."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from neon_server.api.deps import PrincipalDep, ServicesDep
from neon_server.ingest.pricing import ModelPrice

router = APIRouter(tags=["pricing"])


class Price(BaseModel):
    input: float = Field(ge=0, description="USD per million input tokens")
    output: float = Field(ge=0, description="USD per million output tokens")
    cached_input: float | None = Field(default=None, ge=0, description="USD per million cached input tokens")


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
def put_price(model: str, price: Price, services: ServicesDep, principal: PrincipalDep) -> Price:
    services.pricing.set_override(principal.project_id, model,
                                  ModelPrice(price.input, price.output, price.cached_input))
    return price


@router.delete("/api/model-prices/{model}", status_code=204, summary="Remove this project's price for a model")
def delete_price(model: str, services: ServicesDep, principal: PrincipalDep) -> None:
    services.pricing.remove_override(principal.project_id, model)
