"""neon.configure(): zero configuration from saved credentials, joining an existing OTel setup, bounded export."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import neon
from neon.credentials import Credentials, save_credentials
from neon.tracing import config as neon_config


@pytest.fixture(autouse=True)
def restore_sdk() -> Iterator[None]:
    saved = neon_config.current()
    yield
    neon_config.restore(saved)


def test_zero_config_uses_the_key_neon_up_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEON_HOME", str(tmp_path))
    monkeypatch.delenv("NEON_BASE_URL", raising=False)
    monkeypatch.delenv("NEON_API_KEY", raising=False)
    save_credentials(Credentials("http://127.0.0.1:4321", "default", "neon_sk_saved"), tmp_path)
    neon.configure(tracer_provider=TracerProvider(), export=False)
    assert (neon_config.current().base_url, neon_config.current().api_key) == ("http://127.0.0.1:4321",
                                                                                "neon_sk_saved")
    monkeypatch.setenv("NEON_API_KEY", "neon_sk_env")
    neon.configure(tracer_provider=TracerProvider(), export=False)
    assert neon_config.current().api_key == "neon_sk_env"  # the environment wins over the saved file
    neon.configure(tracer_provider=TracerProvider(), export=False, api_key="neon_sk_arg")
    assert neon_config.current().api_key == "neon_sk_arg"  # and arguments over both


def test_joins_an_existing_sdk_provider_instead_of_replacing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    existing = TracerProvider()
    theirs = InMemorySpanExporter()
    existing.add_span_processor(SimpleSpanProcessor(theirs))
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: existing)
    ours = InMemorySpanExporter()
    provider = neon.configure(exporter=ours, schedule_delay_millis=10)
    assert provider is existing
    with neon.span("shared"):
        pass
    neon.flush()
    assert [s.name for s in theirs.get_finished_spans()] == ["shared"]  # their pipeline still gets spans
    assert [s.name for s in ours.get_finished_spans()] == ["shared"]  # and so does Neon's


class StuckExporter(SpanExporter):
    """An exporter whose server never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.release.set()


def test_a_stuck_server_drops_spans_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    exporter = StuckExporter()
    provider = TracerProvider()
    neon.configure(tracer_provider=provider, exporter=exporter, max_queue_size=50, schedule_delay_millis=10)
    with caplog.at_level(logging.WARNING, logger="neon"):
        for i in range(500):
            with neon.span(f"s{i}"):
                pass
    assert neon.dropped_spans() >= 300
    assert caplog.text.count("export queue is full") == 1
    exporter.release.set()
    provider.shutdown()
