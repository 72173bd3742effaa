"""Model prices per project: the shipped table with the project's overrides on top.

Ingestion asks for a project's PriceBook on every request; books are cached for `cache_seconds` so the
metadata store is read at most that often per project, and a change made through this service is seen at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from neon_server.ingest.pricing import ModelPrice, PriceBook, bundled_prices
from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.metadata.repositories import ModelPriceRepository


class PricingService:
    def __init__(self, overrides: ModelPriceRepository, *, cache_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._overrides = overrides
        self._base = bundled_prices()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._books: dict[str, tuple[PriceBook, float]] = {}
        self._lock = threading.Lock()

    def book(self, project_id: str) -> PriceBook:
        entry = self._books.get(project_id)
        now = self._clock()
        if entry is not None and entry[1] > now:
            return entry[0]
        own = {model.lower(): ModelPrice(*price) for model, price in self._overrides.list(project_id).items()}
        book = PriceBook(self._base, own)
        with self._lock:
            self._books[project_id] = (book, now + self._cache_seconds)
        return book

    def shipped(self) -> dict[str, ModelPrice]:
        return dict(self._base)

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
