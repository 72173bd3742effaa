"""Prices at ingest: genai-prices as the default source behind per-project overrides, and partial trace costs.

The expected costs come from the library's own `calc_price`, never from numbers copied here: Neon's fast path
(matching memoised, prices turned into floats) must agree with it for every model the library ships.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice as LibraryModelPrice
from genai_prices.types import Tier, TieredPrices

from neon_server.ingest.default_prices import DefaultPrices, LibraryCall, LibraryModel, compile_price
from neon_server.ingest.pricing import ModelPrice, PriceBook
from neon_server.runtime import Services
from neon_server.services.trace_scoring import TraceScoring
from neon_server.storage.analytics import AnalyticsDB
from server.tests.conftest import LiveServer
from server.tests.test_ingest_otlp import spans_of

DAY = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def library_cost(model: str, provider: str | None, when: datetime, input_tokens: int, output_tokens: int,
                 cached: int = 0) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    found = calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=when)
    return float(found.total_price)


# ---------------------------------------------------------------- the fast path agrees with the library
def test_every_model_the_library_ships_costs_what_the_library_says() -> None:
    usages = [(0, 50, 0), (1_234, 567, 89), (200_000, 10, 0), (200_001, 4_000, 20_000), (600_000, 100, 600_000)]
    # a date before many price changes, and two times of one day: off-peak prices (deepseek) differ by the hour
    times = [datetime(2024, 6, 1, 3, tzinfo=UTC), DAY.replace(hour=3), DAY.replace(hour=20)]
    wrong: list[str] = []
    checked = 0
    for provider in get_snapshot().providers:
        for model in provider.models:
            ours = LibraryModel(provider, model)
            for when in times:
                for i, o, c in usages:
                    usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=c)
                    expected = float(model.calc_price(usage, provider, genai_request_timestamp=when).total_price)
                    got = ours.cost(i, o, c, ns(when))
                    checked += 1
                    if got != pytest.approx(expected, rel=1e-12, abs=1e-15):
                        wrong.append(f"{provider.id}/{model.id} at {when} {(i, o, c)}: {got} != {expected}")
    assert checked > 2_000 * 15
    assert not wrong, "\n".join(wrong[:20])


def test_tiers_too_close_to_probe_are_priced_by_the_library_itself() -> None:
    price = LibraryModelPrice(input_mtok=TieredPrices(base=Decimal(1), tiers=[Tier(start=0, price=Decimal(2))]),
                              output_mtok=Decimal(3))
    compiled = compile_price(price)
    assert isinstance(compiled, LibraryCall)
    usage = Usage(input_tokens=10, output_tokens=5)
    assert compiled.cost(10, 5, 0) == float(price.calc_price(usage)["total_price"])


def test_lookups_run_once_per_provider_and_model() -> None:
    defaults = DefaultPrices()
    first = defaults.lookup("openai", "gpt-4o-2024-08-06")
    assert first is not None
    assert (first.provider_id, first.model_id) == ("openai", "gpt-4o")
    assert defaults.lookup("openai", "gpt-4o-2024-08-06") is first  # memoised: the same object
    assert defaults.lookup("", "no-such-model") is None
    book = PriceBook(defaults, {"gpt-4o": ModelPrice(1.0, 2.0)})
    cols: dict[str, list[Any]] = {
        "cost": [None, None, 0.25, None, None], "model": ["gpt-4o", "claude-sonnet-4-5", "gpt-4o", "", "mystery"],
        "provider": ["openai", "", "openai", "", ""], "input_tokens": [1_000, 1_000, 1_000, 5, 1_000],
        "output_tokens": [100, 100, 100, 5, 100], "cached_input_tokens": [0, 0, 0, 0, 0],
        "start_time": [ns(DAY)] * 5}
    book.apply(cols)
    assert cols["cost"][0] == pytest.approx((1_000 * 1.0 + 100 * 2.0) / 1e6)  # the override
    assert cols["cost"][1] == pytest.approx(library_cost("claude-sonnet-4-5", None, DAY, 1_000, 100))
    assert cols["cost"][2:] == [0.25, None, None]  # its own cost kept; no model; unknown model: null


# ---------------------------------------------------------------- through the real server and store
def ingest(server: LiveServer, key: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/api/traces/ingest", json=body, headers={"x-api-key": key}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["rejected_spans"] == 0, response.text


def llm(name: str, model: str, when: datetime, input_tokens: int, output_tokens: int, **fields: Any) -> dict[str, Any]:
    return {"span_id": name, "name": name, "type": "generation", "model": model, "input_tokens": input_tokens,
            "output_tokens": output_tokens, "start_time": when.isoformat(), "duration_ms": 300, **fields}


def test_models_only_the_library_knows_get_its_price_at_their_start_time(
        live_server: LiveServer, project_key: tuple[str, str], analytics: AnalyticsDB) -> None:
    peak, off_peak = DAY.replace(hour=3), DAY.replace(hour=20)
    trace_id = "61" * 16
    ingest(live_server, project_key[1], {"trace_id": trace_id, "name": "new-models", "spans": [
        llm("dated", "claude-sonnet-4-5-20250929", peak, 1_200, 300, provider="anthropic",
            cached_input_tokens=200),
        llm("long", "claude-sonnet-4-5", peak, 250_000, 1_000),  # past the 200k-token tier
        llm("lite", "gemini-2.5-flash-lite", peak, 5_000, 700, provider="gcp.gemini"),
        llm("grok", "grok-4", peak, 900, 90),  # no provider: the library infers x-ai from the name
        llm("deepseek-peak", "deepseek-chat", peak, 10_000, 1_000, provider="deepseek"),
        llm("deepseek-off-peak", "deepseek-chat", off_peak, 10_000, 1_000, provider="deepseek"),
        llm("own", "gpt-4o", peak, 1_000, 100, cost=0.5),
    ]})
    spans = spans_of(analytics, trace_id)
    expected = {
        "dated": library_cost("claude-sonnet-4-5-20250929", "anthropic", peak, 1_200, 300, cached=200),
        "long": library_cost("claude-sonnet-4-5", None, peak, 250_000, 1_000),
        "lite": library_cost("gemini-2.5-flash-lite", "google", peak, 5_000, 700),
        "grok": library_cost("grok-4", None, peak, 900, 90),
        "deepseek-peak": library_cost("deepseek-chat", "deepseek", peak, 10_000, 1_000),
        "deepseek-off-peak": library_cost("deepseek-chat", "deepseek", off_peak, 10_000, 1_000),
        "own": 0.5,  # a span that reports its cost keeps it
    }
    assert {name: spans[name]["cost"] for name in expected} == {k: pytest.approx(v, rel=1e-9)
                                                                for k, v in expected.items()}
    assert spans["dated"]["cached_input_tokens"] == 200
    assert spans["long"]["cost"] > 250_000 * 3 / 1e6  # the tier's price, not the base one
    assert spans["deepseek-peak"]["cost"] != pytest.approx(spans["deepseek-off-peak"]["cost"])


def test_provider_qualified_names_price_as_the_model(live_server: LiveServer, project_key: tuple[str, str],
                                                     analytics: AnalyticsDB) -> None:
    trace_id = "62" * 16
    ingest(live_server, project_key[1], {"trace_id": trace_id, "name": "qualified", "spans": [
        llm("openai-prefixed", "openai/gpt-4o", DAY, 2_000, 100),
        llm("google-path", "models/gemini-2.5-pro", DAY, 3_000, 200, provider="gcp.gemini"),
    ]})
    spans = spans_of(analytics, trace_id)
    assert spans["openai-prefixed"]["cost"] == pytest.approx(library_cost("gpt-4o", "openai", DAY, 2_000, 100))
    assert spans["google-path"]["cost"] == pytest.approx(library_cost("gemini-2.5-pro", "google", DAY, 3_000, 200))


def test_a_project_override_wins_over_the_library(live_server: LiveServer, project_key: tuple[str, str],
                                                  analytics: AnalyticsDB) -> None:
    headers = {"x-api-key": project_key[1]}
    put = httpx.put(f"{live_server.url}/api/model-prices/claude-sonnet-4-5", headers=headers,
                    json={"input": 1.0, "output": 2.0, "cached_input": 0.1})
    assert put.status_code == 200
    trace_id = "63" * 16
    ingest(live_server, project_key[1], {"trace_id": trace_id, "name": "override", "spans": [
        llm("dated", "claude-sonnet-4-5-20250929", DAY, 1_000, 100, provider="anthropic",
            cached_input_tokens=400),
        llm("other", "claude-opus-4-1", DAY, 1_000, 100),
    ]})
    spans = spans_of(analytics, trace_id)
    assert spans["dated"]["cost"] == pytest.approx((600 * 1.0 + 400 * 0.1 + 100 * 2.0) / 1e6)
    assert spans["other"]["cost"] == pytest.approx(library_cost("claude-opus-4-1", None, DAY, 1_000, 100))


def test_a_trace_with_unpriced_llm_calls_has_a_partial_cost(live_server: LiveServer, services: Services,
                                                            project_key: tuple[str, str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    partial, complete, unknown = "64" * 16, "65" * 16, "66" * 16
    ingest(live_server, project_key[1], {"traces": [
        {"trace_id": partial, "name": "partial", "spans": [
            llm("known", "gpt-4o", now, 1_000, 100), llm("internal", "acme-internal-llm", now, 1_000, 100)]},
        {"trace_id": complete, "name": "complete", "spans": [
            llm("known", "gpt-4o-mini", now, 1_000, 100),
            llm("no-tokens", "acme-internal-llm", now, 0, 0)]},  # no tokens: nothing to price, not unpriced
        {"trace_id": unknown, "name": "unknown", "spans": [llm("internal", "acme-internal-llm", now, 50, 5)]},
    ]})
    headers = {"x-api-key": project_key[1]}
    listed = httpx.get(f"{live_server.url}/api/traces", headers=headers).json()["traces"]
    rows = {t["name"]: t for t in listed}
    detail = {name: httpx.get(f"{live_server.url}/api/traces/{tid}", headers=headers).json()["trace"]
              for name, tid in (("partial", partial), ("complete", complete), ("unknown", unknown))}
    for answer in (rows, detail):
        assert {n: answer[n]["unpriced_llm_calls"] for n in detail} == {"partial": 1, "complete": 0, "unknown": 1}
        assert answer["partial"]["cost"] == pytest.approx(library_cost("gpt-4o", None, now, 1_000, 100))
        assert answer["complete"]["cost"] == pytest.approx(library_cost("gpt-4o-mini", None, now, 1_000, 100))
        assert answer["unknown"]["cost"] is None  # nothing priced: no cost at all, not $0
    spans = httpx.get(f"{live_server.url}/api/traces/{partial}", headers=headers).json()["spans"]
    internal = next(s for s in spans if s["name"] == "internal")
    assert (internal["model"], internal["input_tokens"], internal["cost"]) == ("acme-internal-llm", 1_000, None)
    # scorers of stored traces (cost budgets) see a partial cost as unknown, not as the whole cost
    scoring = TraceScoring(services.traces, services.scores)
    assert scoring.load(project_key[0], partial).outcome.cost is None
    assert scoring.load(project_key[0], complete).outcome.cost == pytest.approx(detail["complete"]["cost"])
