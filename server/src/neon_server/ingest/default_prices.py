"""Default model prices from pydantic's genai-prices: hundreds of models across providers, with their price history.

Ingest prices tens of thousands of spans a second, and the library's own `calc_price` spends ~100 µs per call
matching the model and summing Decimals. So the library's work runs once per distinct (provider, model) and
once per distinct price of that model, never per span:

- `DefaultPrices.lookup(provider, model)` matches the model as the library does (provider column first, then
  the library's inference from the name, then without a `provider/` or `models/` prefix), memoised;
- a matched model's price is resolved at the span's start time (`ModelInfo.get_prices`: prices that changed on
  a date, off-peak hours), memoised per day for date-based history;
- each resolved price is turned into a few floats by evaluating the library's own calculation at probe
  points: for the usage Neon records (input tokens including cached ones, cached input tokens, output
  tokens) the library's price is affine in those counts between the input-token thresholds of tiered prices
  (`TieredPrices`: crossing a tier reprices every token). A span then costs a few multiplications.

A test checks the floats against the library's `calc_price` for every model it ships.
"""

from __future__ import annotations

import bisect
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the library loads ~2,300 models (~1.5 s): only when prices are first needed
    from genai_prices import types as gp

log = logging.getLogger("neon.pricing")

SOURCE = "genai-prices"
NS_PER_DAY = 86_400 * 1_000_000_000
PROBE_TOKENS = 1_000_000
PER_MILLION = 1_000_000
MAX_MEMO = 10_000  # distinct (provider, model) pairs remembered; past that the memo starts again


def preload() -> None:
    """Load the library's price data now (e.g. in a thread while the server starts), not on the first span."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()


class AffinePrices:
    """One resolved price of a model as floats: per input-token regime, cost = base + a·input + b·output + e·cached
    (the four in USD per million: per million requests, input tokens, …).

    `thresholds` are the input-token counts above which a tier applies (sorted); piece k holds for inputs
    with exactly k thresholds below them, as the library's `total_input_tokens > tier.start` rule decides.
    """

    __slots__ = ("pieces", "thresholds")

    def __init__(self, thresholds: list[int], pieces: list[tuple[float, float, float, float]]) -> None:
        self.thresholds = thresholds
        self.pieces = pieces

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> float:
        cached = cached_input_tokens if cached_input_tokens <= input_tokens else input_tokens
        thresholds = self.thresholds
        base, per_input, per_output, per_cached = (
            self.pieces[bisect.bisect_left(thresholds, input_tokens)] if thresholds else self.pieces[0])
        total = base + per_input * input_tokens + per_output * output_tokens + per_cached * cached
        return total / PER_MILLION if total > 0 else 0.0


class LibraryCall:
    """A price whose tiers are too close together to probe: the library prices each span itself (slow, exact)."""

    __slots__ = ("price",)

    def __init__(self, price: gp.ModelPrice) -> None:
        self.price = price

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> float:
        return float(_library_price(self.price, input_tokens, output_tokens,
                                    min(cached_input_tokens, input_tokens)))


def _library_price(price: gp.ModelPrice, input_tokens: int, output_tokens: int, cached: int) -> Decimal:
    from genai_prices import Usage

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    return price.calc_price(usage)["total_price"]


def compile_price(price: gp.ModelPrice) -> AffinePrices | LibraryCall:
    """The library's price for Neon's usage, as floats (see the module's docstring)."""
    from genai_prices.types import TieredPrices

    thresholds = sorted({tier.start for value in vars(price).values() if isinstance(value, TieredPrices)
                         for tier in value.tiers})
    pieces = []
    for k in range(len(thresholds) + 1):
        low = thresholds[k - 1] + 1 if k else 0  # smallest input-token count of this piece
        high = thresholds[k] if k < len(thresholds) else None
        x = max(low, 1)
        if high is not None and x + 1 > high:
            return LibraryCall(price)
        at_x = _library_price(price, x, 0, 0)
        per_input = _library_price(price, x + 1, 0, 0) - at_x
        per_output = (_library_price(price, x, PROBE_TOKENS, 0) - at_x) / PROBE_TOKENS
        per_cached = (_library_price(price, x, 0, x) - at_x) / x
        # In USD per million tokens (prices as published, e.g. 2.5): sums of tokens × such prices are exact in
        # floats far more often than with per-token prices (2.5e-6), and one division ends the sum.
        pieces.append((float((at_x - per_input * x) * PER_MILLION), float(per_input * PER_MILLION),
                       float(per_output * PER_MILLION), float(per_cached * PER_MILLION)))
    return AffinePrices(thresholds, pieces)


class LibraryModel:
    """A model genai-prices knows, priced at a span's start time."""

    def __init__(self, provider: gp.Provider, model: gp.ModelInfo) -> None:
        from genai_prices.types import ModelPrice, StartDateConstraint

        self.provider_id = provider.id
        self.model_id = model.id
        self._model = model
        self._compiled: dict[int, tuple[gp.ModelPrice, AffinePrices | LibraryCall | None]] = {}
        self._by_day: dict[int, AffinePrices | LibraryCall | None] = {}
        prices = model.prices
        self._constant = isinstance(prices, ModelPrice)
        self._fixed = self._compile(prices) if isinstance(prices, ModelPrice) else None
        # Prices that change on dates are the same all day; off-peak prices need the time of day.
        self._daily = not isinstance(prices, ModelPrice) and all(
            c.constraint is None or isinstance(c.constraint, StartDateConstraint) for c in prices)

    def price_at(self, start_ns: int) -> AffinePrices | LibraryCall | None:
        if self._constant:
            return self._fixed
        if not self._daily:
            return self._compile(self._model.get_prices(datetime.fromtimestamp(start_ns / 1e9, UTC)))
        day = start_ns // NS_PER_DAY
        try:
            return self._by_day[day]
        except KeyError:
            if len(self._by_day) >= 1000:
                self._by_day.clear()
            found = self._by_day[day] = self._compile(
                self._model.get_prices(datetime.fromtimestamp(day * 86_400, UTC)))
            return found

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int, start_ns: int) -> float | None:
        price = self._fixed if self._constant else self.price_at(start_ns)
        return None if price is None else price.cost(input_tokens, output_tokens, cached_input_tokens)

    def _compile(self, price: gp.ModelPrice) -> AffinePrices | LibraryCall | None:
        known = self._compiled.get(id(price))
        if known is not None:
            return known[1]
        try:
            compiled: AffinePrices | LibraryCall | None = compile_price(price)
        except (ValueError, ArithmeticError) as exc:  # the library cannot price this usage for this model
            log.warning("no default price for model %s (%s)", self.model_id, exc)
            compiled = None
        self._compiled[id(price)] = (price, compiled)  # the price is kept so its id stays its own
        return compiled


class DefaultPrices:
    """genai-prices as Neon's default price source, memoised per (provider, model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Any = None
        self._memo: dict[tuple[str, str], LibraryModel | None] = {}

    @property
    def version(self) -> str:
        from genai_prices import __version__

        return __version__

    def counts(self) -> tuple[int, int]:
        """(providers, models) in the library's data."""
        providers = self._data().providers
        return len(providers), sum(len(p.models) for p in providers)

    def lookup(self, provider: str, model: str) -> LibraryModel | None:
        """The library's model for a span's provider column (may be empty) and model name, or None."""
        key = (provider, model)
        try:
            return self._memo[key]
        except KeyError:
            if len(self._memo) >= MAX_MEMO:
                self._forget()
            found = self._memo[key] = self._match(provider.strip().lower(), model.strip().lower())
            return found

    def _match(self, provider: str, model: str) -> LibraryModel | None:
        if not model:
            return None
        tries: list[tuple[str | None, str]] = [(provider or None, model), (None, model)]
        if "/" in model:  # openai/gpt-4o (a provider's name first), models/gemini-2.5-pro (Google's API paths)
            head, tail = model.split("/", 1)[0], model.rsplit("/", 1)[-1]
            tries += [(head, tail), (provider or None, tail), (None, tail)]
        snapshot = self._data()
        for provider_id, name in dict.fromkeys(tries):
            try:
                found = snapshot.find_provider_model(name, None, provider_id, None)
            except LookupError:
                continue
            return LibraryModel(*found)
        return None

    def _data(self) -> Any:
        snapshot = self._snapshot
        if snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._new_snapshot()
                snapshot = self._snapshot
        return snapshot

    @staticmethod
    def _new_snapshot() -> Any:
        # A snapshot of our own over the library's data: its lookup caches (which grow with every name asked
        # for, found or not) are dropped with ours.
        from genai_prices.data_snapshot import DataSnapshot, get_snapshot

        return DataSnapshot(providers=get_snapshot().providers, from_auto_update=False)

    def _forget(self) -> None:
        with self._lock:
            self._memo = {}
            self._snapshot = self._new_snapshot()
