"""Pricing LLM spans at ingest: a project's own prices (overrides) first, then the default source (genai-prices).

An override is USD per million tokens: cost = (input − cached) × input + cached × cached input + output × output.
A model with no known price costs null, never zero; a span that reports its own cost keeps it; a span without
input or output tokens is not priced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from neon_server.ingest.default_prices import MAX_MEMO, DefaultPrices

PER_TOKEN = 1e-6  # overrides are in USD per million tokens
# A dated snapshot of a model: gpt-4o-2024-08-06, claude-sonnet-4-20250514, claude-3-5-sonnet@20240620.
DATED = re.compile(r"^(.+?)[-@](?:\d{4}-\d{2}-\d{2}|20\d{6})$")


class Pricer(Protocol):
    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int,
             start_ns: int) -> float | None: ...


@dataclass(frozen=True)
class ModelPrice:
    """A project's own price for a model, USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int, start_ns: int = 0) -> float:
        cached = min(cached_input_tokens, input_tokens) if self.cached_input is not None else 0
        cached_price = self.cached_input if self.cached_input is not None else self.input
        return ((input_tokens - cached) * self.input + cached * cached_price
                + output_tokens * self.output) * PER_TOKEN


def override_for(overrides: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """A project's price for `model`: by its name, its name without a `provider/` prefix, or its undated name."""
    name = model.strip().lower()
    for candidate in dict.fromkeys((name, name.rsplit("/", 1)[-1])):
        dated = DATED.match(candidate)
        for key in (candidate, dated[1] if dated else None):
            if key is not None and key in overrides:
                return overrides[key]
    return None


class PriceBook:
    """Prices for one project: its overrides, then the default source; resolved once per (provider, model)."""

    def __init__(self, defaults: DefaultPrices, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._defaults = defaults
        self._overrides = {name.lower(): price for name, price in (overrides or {}).items()}
        self._memo: dict[tuple[str, str], Pricer | None] = {}

    def lookup(self, model: str, provider: str = "") -> Pricer | None:
        key = (provider, model)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found: Pricer | None = override_for(self._overrides, model)
        if found is None:
            found = self._defaults.lookup(provider, model)
        if len(self._memo) >= MAX_MEMO:
            self._memo.clear()
        self._memo[key] = found
        return found

    def apply(self, cols: dict[str, list[Any]]) -> None:
        """Fill `cost` for spans with a model, tokens, and no cost of their own."""
        costs, models, providers = cols["cost"], cols["model"], cols["provider"]
        inputs, outputs, cached = cols["input_tokens"], cols["output_tokens"], cols["cached_input_tokens"]
        starts = cols["start_time"]
        memo = self._memo
        for i, model in enumerate(models):
            if not model or costs[i] is not None or not (inputs[i] or outputs[i]):
                continue
            pricer = memo.get((providers[i], model))
            if pricer is None:
                pricer = self.lookup(model, providers[i])
                if pricer is None:
                    continue
            costs[i] = pricer.cost(inputs[i], outputs[i], cached[i], starts[i])


def price_spans(spans: pa.Table, book_for: Callable[[str], PriceBook]) -> pa.Table:
    """`spans` (the span table of a write batch) with `cost` filled as `PriceBook.apply` fills it, project by
    project. Only the rows that need a price are read into Python."""
    needs = pc.and_(pc.and_(pc.is_null(spans["cost"]), pc.not_equal(spans["model"], "")),
                    pc.or_(pc.greater(spans["input_tokens"], 0), pc.greater(spans["output_tokens"], 0)))
    rows = pc.indices_nonzero(needs)
    if not len(rows):
        return spans
    picked = spans.select(["project_id", "model", "provider", "input_tokens", "output_tokens",
                           "cached_input_tokens"]).take(rows).to_pydict()
    starts = pc.cast(spans["start_time"].take(rows), pa.int64()).to_pylist()
    costs = spans["cost"].to_pylist()
    books: dict[str, PriceBook] = {}
    for i, row in enumerate(rows.to_pylist()):
        project = picked["project_id"][i]
        book = books.get(project)
        if book is None:
            book = books[project] = book_for(project)
        pricer = book.lookup(picked["model"][i], picked["provider"][i])
        if pricer is not None:
            costs[row] = pricer.cost(picked["input_tokens"][i], picked["output_tokens"][i],
                                     picked["cached_input_tokens"][i], starts[i])
    return spans.set_column(spans.schema.get_field_index("cost"), "cost", pa.array(costs, pa.float64()))
