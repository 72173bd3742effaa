"""What pricing LLM spans costs on the ingest path, per span, with the price book a request uses.

    uv run python bench/pricing_bench.py

Builds the columns of a 1,000-span request (half LLM calls over seven models, one of them unknown, start
times spread over three days; half tool spans without a model) and times `PriceBook.apply` on them:
- warm: the project's book already met these models (the usual case: books live for seconds, across requests);
- cold: a new book and a new default price source, so every distinct (provider, model) is matched once.
For reference it also times one call of genai-prices' own `calc_price` (matching and pricing a span from scratch).

Runs against the code it finds: the genai-prices default source (`neon_server.ingest.default_prices`), or the
older shipped table (`bundled_prices()`), so the same script measures before and after.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from neon_server.ingest.pricing import PriceBook

SPANS = 1_000
MODELS = [("gpt-4o-2024-08-06", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5-20250929", "anthropic"),
          ("claude-sonnet-4", ""), ("gemini-2.5-pro", "gcp.gemini"), ("deepseek-chat", "deepseek"),
          ("acme-internal-llm", "")]
NOW_NS = time.time_ns()


def book_factory() -> Callable[[], PriceBook]:
    try:
        from neon_server.ingest.default_prices import DefaultPrices
    except ImportError:  # before genai-prices: the shipped table
        from neon_server.ingest import pricing

        return lambda: PriceBook(pricing.bundled_prices(), {})  # type: ignore[attr-defined, arg-type, unused-ignore]
    return lambda: PriceBook(DefaultPrices(), {})


def columns(rng: random.Random) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {k: [] for k in ("cost", "model", "provider", "input_tokens", "output_tokens",
                                                   "cached_input_tokens", "start_time")}
    for i in range(SPANS):
        llm = i % 2 == 0
        model, provider = rng.choice(MODELS) if llm else ("", "")
        cols["cost"].append(None)
        cols["model"].append(model)
        cols["provider"].append(provider)
        cols["input_tokens"].append(rng.randrange(100, 5_000) if llm else 0)
        cols["output_tokens"].append(rng.randrange(10, 800) if llm else 0)
        cols["cached_input_tokens"].append(rng.randrange(0, 100) if llm else 0)
        cols["start_time"].append(NOW_NS - rng.randrange(0, 3 * 86_400) * 1_000_000_000)
    return cols


def timed(book: PriceBook, cols: dict[str, list[Any]]) -> float:
    batch = {**cols, "cost": list(cols["cost"])}
    start = time.perf_counter()
    book.apply(batch)
    return time.perf_counter() - start


def main() -> None:
    new_book = book_factory()
    cols = columns(random.Random(7))
    llm_spans = sum(1 for m in cols["model"] if m)

    cold = [timed(new_book(), cols) for _ in range(5)]
    book = new_book()
    timed(book, cols)
    warm = [timed(book, cols) for _ in range(200)]
    priced = {**cols, "cost": list(cols["cost"])}
    book.apply(priced)
    unpriced = sorted({m for m, c in zip(priced["model"], priced["cost"], strict=True) if m and c is None})

    print(f"request of {SPANS} spans, {llm_spans} LLM calls over {len(MODELS)} models; unpriced: {unpriced}")
    print(f"warm book:  {statistics.median(warm) / SPANS * 1e6:.3f} µs per span, "
          f"{statistics.median(warm) / llm_spans * 1e6:.3f} µs per LLM span")
    print(f"cold book:  {statistics.median(cold) * 1e3:.1f} ms for the first request "
          f"({statistics.median(cold) / len(MODELS) * 1e3:.2f} ms per distinct model)")
    try:
        from datetime import UTC, datetime

        from genai_prices import Usage, calc_price
    except ImportError:
        return
    usage, when = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=50), datetime.now(UTC)
    calc_price(usage, "claude-sonnet-4-5-20250929", provider_id="anthropic", genai_request_timestamp=when)
    runs = []
    for _ in range(200):
        start = time.perf_counter()
        calc_price(usage, "claude-sonnet-4-5-20250929", provider_id="anthropic", genai_request_timestamp=when)
        runs.append(time.perf_counter() - start)
    print(f"reference:  genai-prices calc_price, one call: {statistics.median(runs) * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
