"""The server's parts, opened together from settings and closed together (no module-level singletons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neon_server.ingest.semconv import Limits
from neon_server.ingest.writer import BatchWriter
from neon_server.services.datasets import DatasetService
from neon_server.services.eval_launcher import EvalLauncher
from neon_server.services.evals import EvalRunService
from neon_server.services.ingest import IngestService
from neon_server.services.keys import KeyService
from neon_server.services.live import LiveHub
from neon_server.services.pricing import PricingService
from neon_server.services.projects import ProjectService
from neon_server.services.scores import ScoreService
from neon_server.services.stats import StatsService
from neon_server.services.traces import SpanListService, TraceListService, TraceService
from neon_server.settings import Settings
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.analytics.scores import ScoreStore
from neon_server.storage.analytics.span_list import SpanListStore
from neon_server.storage.analytics.spans import SpanStore
from neon_server.storage.analytics.stats import StatsStore
from neon_server.storage.analytics.trace_list import TraceListStore
from neon_server.storage.analytics.traces import TraceStore
from neon_server.storage.metadata import MetadataStore, open_metadata


@dataclass
class Services:
    settings: Settings
    analytics: AnalyticsDB
    metadata: MetadataStore
    keys: KeyService = field(init=False)
    projects: ProjectService = field(init=False)
    pricing: PricingService = field(init=False)
    live: LiveHub = field(init=False)
    writer: BatchWriter = field(init=False)
    ingest: IngestService = field(init=False)
    scores: ScoreService = field(init=False)
    traces: TraceService = field(init=False)
    trace_list: TraceListService = field(init=False)
    span_list: SpanListService = field(init=False)
    stats: StatsService = field(init=False)
    datasets: DatasetService = field(init=False)
    eval_runs: EvalRunService = field(init=False)
    eval_launcher: EvalLauncher = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.keys = KeyService(self.metadata.api_keys, cache_seconds=s.auth_cache_seconds)
        self.projects = ProjectService(self.metadata.projects, self.keys)
        self.pricing = PricingService(self.metadata.model_prices)
        self.live = LiveHub()
        self.scores = ScoreService(ScoreStore(self.analytics))
        self.traces = TraceService(TraceStore(self.analytics))
        self.trace_list = TraceListService(TraceListStore(self.analytics))
        self.span_list = SpanListService(SpanListStore(self.analytics))
        self.stats = StatsService(StatsStore(self.analytics))
        self.datasets = DatasetService(self.metadata.datasets, self.trace_list, self.traces)
        self.eval_runs = EvalRunService(self.metadata.eval_runs, self.scores)
        self.eval_launcher = EvalLauncher(self.eval_runs, evals_path=s.evals_path, logs_dir=s.home / "eval-runs",
                                          timeout_seconds=s.eval_run_timeout_seconds)
        spans = SpanStore(self.analytics)
        self.writer = BatchWriter(spans.write, max_batch_rows=s.ingest_batch_rows,
                                  max_delay_seconds=s.ingest_batch_delay_ms / 1000,
                                  max_pending_rows=s.ingest_buffer_rows, on_written=self.live.publish)
        self.ingest = IngestService(spans, self.writer, self.pricing,
                                    Limits(s.ingest_max_attribute_bytes, s.ingest_max_payload_bytes),
                                    dedupe_window_seconds=s.ingest_dedupe_window_seconds)
        self.ingest.load_recent_requests()
        self.writer.start()

    def health(self) -> dict[str, Any]:
        """Each dependency's state; `status` is ok only when all are."""
        dependencies = {"analytics": self.analytics.health(), "metadata": self.metadata.health()}
        ok = all(d["status"] == "ok" for d in dependencies.values())
        stats = self.writer.stats
        ingest = {"pending_spans": self.writer.pending_rows, "written_spans": stats.spans,
                  "batches": stats.batches, "failed_batches": stats.failures,
                  "rejected_overloaded": stats.rejected_overload}
        return {"status": "ok" if ok else "degraded", "dependencies": dependencies, "ingest": ingest}

    def close(self) -> None:
        """Stop eval runs started here, write what is buffered, then close the stores."""
        self.eval_launcher.close()
        self.ingest.close()
        self.stats.close()
        self.writer.stop(timeout=self.settings.shutdown_timeout_seconds)
        try:
            self.analytics.close()
        finally:
            self.metadata.close()


def open_services(settings: Settings) -> Services:
    """Open the metadata store, then the analytics store (which may be locked by another process)."""
    metadata = open_metadata(settings.metadata_url)
    try:
        analytics = open_analytics(settings.analytics_url)
    except BaseException:
        metadata.close()
        raise
    return Services(settings=settings, analytics=analytics, metadata=metadata)
