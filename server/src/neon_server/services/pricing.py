"""Model prices per project: the project's overrides over the default price source (genai-prices).

Ingestion asks for a project's PriceBook on every request; books are cached for `cache_seconds` so the
metadata store is read at most that often per project, and a change made through this service is seen at once.
The default source is shared by all projects: it matches each distinct (provider, model) once per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from neon_server.ingest.default_prices import SOURCE, AffinePrices, DefaultPrices, LibraryModel
from neon_server.ingest.pricing import ModelPrice, PriceBook, override_for
from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.metadata.repositories import ModelPriceRepository


@dataclass(frozen=True)
class DefaultSource:
    name: str
    version: str
    providers: int
    models: int


@dataclass(frozen=True)
class ResolvedPrice:
    """The price that a span of `model` (from `provider`) starting now would get, USD per million tokens."""

    source: str  # "override" or the default source's name
    provider: str | None  # the default source's provider and model the name matched
    model: str | None
    input: float
    output: float
    cached_input: float
    tiered: bool  # a larger request (input tokens past a threshold) pays other prices


class PricingService:
    def __init__(self, overrides: ModelPriceRepository, *, cache_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._overrides = overrides
        self._defaults = DefaultPrices()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._books: dict[str, tuple[PriceBook, float]] = {}
        self._lock = threading.Lock()

    def book(self, project_id: str) -> PriceBook:
        entry = self._books.get(project_id)
        now = self._clock()
        if entry is not None and entry[1] > now:
            return entry[0]
        book = PriceBook(self._defaults, self.overrides(project_id))
        with self._lock:
            self._books[project_id] = (book, now + self._cache_seconds)
        return book

    def default_source(self) -> DefaultSource:
        providers, models = self._defaults.counts()
        return DefaultSource(SOURCE, self._defaults.version, providers, models)

    def resolve(self, project_id: str, model: str, provider: str = "") -> ResolvedPrice | None:
        """What a span of this model would be charged now, and where the price comes from; None: no price."""
        own = override_for(self.overrides(project_id), model)
        if own is not None:
            cached = own.cached_input if own.cached_input is not None else own.input
            return ResolvedPrice("override", None, None, own.input, own.output, cached, tiered=False)
        found = self._defaults.lookup(provider, model)
        price = found.price_at(time.time_ns()) if isinstance(found, LibraryModel) else None
        if found is None or not isinstance(price, AffinePrices):
            return None
        _base, per_input, per_output, per_cached = price.pieces[0]
        return ResolvedPrice(SOURCE, found.provider_id, found.model_id, per_input, per_output,
                             round(per_input + per_cached, 9), tiered=bool(price.thresholds))

    def overrides(self, project_id: str) -> dict[str, ModelPrice]:
        return {model: ModelPrice(*price) for model, price in self._overrides.list(project_id).items()}

    def set_override(self, project_id: str, model: str, price: ModelPrice) -> None:
        name = model.strip().lower()
        if not name or len(name) > 200:
            raise InvalidInput("model name must be 1–200 characters")
        for label, value in (("input", price.input), ("output", price.output), ("cached_input", price.cached_input)):
            if value is not None and not (0 <= value < 1e6):
                raise InvalidInput(f"{label} price must be between 0 and 1,000,000 USD per million tokens")
        self._overrides.put(project_id, name, (price.input, price.output, price.cached_input))
        self._forget(project_id)

    def remove_override(self, project_id: str, model: str) -> None:
        if not self._overrides.delete(project_id, model.strip().lower()):
            raise NotFound(f"no price override for model {model!r} in this project")
        self._forget(project_id)

    def _forget(self, project_id: str) -> None:
        with self._lock:
            self._books.pop(project_id, None)
