"""Model prices: a table shipped as data (`prices.json`), overridable per project, applied at ingest.

cost = (input − cached) × input price + cached × cached-input price + output × output price.
A model with no known price costs null, never zero; a span that reports its own cost keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

PER_TOKEN = 1e-6  # the table is in USD per million tokens


@dataclass(frozen=True)
class ModelPrice:
    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> float:
        cached = min(cached_input_tokens, input_tokens) if self.cached_input is not None else 0
        cached_price = self.cached_input if self.cached_input is not None else self.input
        return ((input_tokens - cached) * self.input + cached * cached_price
                + output_tokens * self.output) * PER_TOKEN


def parse_prices(models: Mapping[str, Any]) -> dict[str, ModelPrice]:
    table: dict[str, ModelPrice] = {}
    for name, entry in models.items():
        table[name.lower()] = ModelPrice(float(entry["input"]), float(entry["output"]),
                                         None if entry.get("cached_input") is None else float(entry["cached_input"]))
    return table


def bundled_prices() -> dict[str, ModelPrice]:
    data = json.loads((resources.files("neon_server.ingest") / "prices.json").read_text(encoding="utf-8"))
    return parse_prices(data["models"])


class PriceBook:
    """Prices for one project: its overrides over the shipped table; lookups are memoised per model."""

    def __init__(self, base: Mapping[str, ModelPrice], overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._table = {**base, **(overrides or {})}
        # Longest names first, so 'gpt-4o-mini-2024' matches gpt-4o-mini, not gpt-4o.
        self._prefixes = sorted(self._table, key=len, reverse=True)
        self._memo: dict[str, ModelPrice | None] = {}

    def lookup(self, model: str) -> ModelPrice | None:
        if model in self._memo:
            return self._memo[model]
        name = model.lower()
        name = name.rsplit("/", 1)[-1]  # provider-qualified names: openai/gpt-4o, models/gemini-2.5-pro
        price = self._table.get(name)
        if price is None:
            price = next((self._table[p] for p in self._prefixes if name.startswith(p)), None)
        if len(self._memo) < 10_000:
            self._memo[model] = price
        return price

    def apply(self, cols: dict[str, list[Any]]) -> None:
        """Fill `cost` for spans with a model and no cost of their own."""
        costs, models = cols["cost"], cols["model"]
        inputs, outputs, cached = cols["input_tokens"], cols["output_tokens"], cols["cached_input_tokens"]
        for i, model in enumerate(models):
            if not model or costs[i] is not None:
                continue
            price = self.lookup(model)
            if price is not None and (inputs[i] or outputs[i]):
                costs[i] = price.cost(inputs[i], outputs[i], cached[i])
