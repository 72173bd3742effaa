"""Model prices of the caller's project: its overrides, the default price source, and what a model would cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
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


class DefaultPriceSource(BaseModel):
    name: str = Field(description="the library that prices models without an override: genai-prices")
    version: str = Field(description="its installed version; its data is the price list of that release")
    providers: int
    models: int


class PriceLookup(BaseModel):
    model: str
    provider: str = Field(description="as asked (a span's provider column); empty: inferred from the model name")
    source: str | None = Field(description="`override`, the default source's name, or null when no price is known")
    matched_provider: str | None = Field(default=None, description="the default source's provider that matched")
    matched_model: str | None = Field(default=None, description="the default source's model that matched")
    price: Price | None = Field(default=None, description="for a span starting now (cached_input: what cached "
                                "input tokens pay)")
    tiered: bool = Field(default=False, description="requests past an input-token threshold pay other prices")


class PriceTable(BaseModel):
    overrides: dict[str, Price] = Field(description="This project's prices; they win over the default source")
    default_source: DefaultPriceSource = Field(description="where prices of models without an override come from")
    lookup: PriceLookup | None = Field(default=None, description="the price of the model asked for with `model`")


def _out(prices: dict[str, ModelPrice]) -> dict[str, Price]:
    return {m: Price(input=p.input, output=p.output, cached_input=p.cached_input) for m, p in sorted(prices.items())}


@router.get("/api/model-prices", summary="Prices used to cost LLM spans at ingest")
def list_prices(
    services: ServicesDep, principal: PrincipalDep,
    model: Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="also tell which price this model gets")] = None,
    provider: Annotated[str, Query(max_length=100, description="the span's provider, if any")] = "",
) -> PriceTable:
    pricing = services.pricing
    source = pricing.default_source()
    lookup = None
    if model is not None:
        found = pricing.resolve(principal.project_id, model, provider)
        lookup = PriceLookup(model=model, provider=provider, source=None)
        if found is not None:
            lookup = PriceLookup(model=model, provider=provider, source=found.source,
                                 matched_provider=found.provider, matched_model=found.model,
                                 price=Price(input=found.input, output=found.output, cached_input=found.cached_input),
                                 tiered=found.tiered)
    return PriceTable(overrides=_out(pricing.overrides(principal.project_id)),
                      default_source=DefaultPriceSource(name=source.name, version=source.version,
                                                        providers=source.providers, models=source.models),
                      lookup=lookup)


@router.put("/api/model-prices/{model}", summary="Set this project's price for a model (applies to new spans)")
def put_price(model: Model, price: Price, services: ServicesDep, principal: PrincipalDep) -> Price:
    services.pricing.set_override(principal.project_id, model,
                                  ModelPrice(price.input, price.output, price.cached_input))
    return price


@router.delete("/api/model-prices/{model}", status_code=204, summary="Remove this project's price for a model",
               responses=errors((404, "This project has no price of its own for the model")))
def delete_price(model: Model, services: ServicesDep, principal: PrincipalDep) -> None:
    services.pricing.remove_override(principal.project_id, model)
