"""The server's parts, opened together from settings and closed together (no module-level singletons)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neon.execute.errors import SpecError
from neon.execute.folder import load_agents
from neon.tracing.config import disable_autoconfigure
from neon_server.ingest.semconv import Limits
from neon_server.ingest.wal import IngestLog
from neon_server.ingest.writer import BatchWriter, queryable_after
from neon_server.services.ab_tests import AbTestService
from neon_server.services.agent_blobs import AgentBlobService
from neon_server.services.agent_runs import AgentRunService
from neon_server.services.agents import AgentService
from neon_server.services.datasets import DatasetService
from neon_server.services.errors import NotFound, Unavailable
from neon_server.services.eval_launcher import EvalLauncher
from neon_server.services.eval_workflows import EvalWorkflowService
from neon_server.services.evals import EvalRunService
from neon_server.services.ingest import IngestService
from neon_server.services.keys import KeyService
from neon_server.services.live import LiveHub
from neon_server.services.logs import LogIngestService, LogService
from neon_server.services.neptune_files import NeptuneFiles
from neon_server.services.neptune_ingest import NeptuneIngest, RequestIds
from neon_server.services.neptune_read import NeptuneRead
from neon_server.services.neptune_tokens import NeptuneTokens
from neon_server.services.online_rules import OnlineRuleService
from neon_server.services.online_scorer import OnlineScorer
from neon_server.services.pricing import PricingService
from neon_server.services.projects import ProjectService
from neon_server.services.run_stream import RunStreamHub
from neon_server.services.run_tokens import RunTokens, load_secret
from neon_server.services.score_jobs import ScoreJobService
from neon_server.services.scores import ScoreService
from neon_server.services.stats import StatsService
from neon_server.services.trace_scoring import TraceScoring
from neon_server.services.traces import SpanListService, TraceListService, TraceService
from neon_server.services.track import TrackService
from neon_server.services.track_dashboards import TrackDashboardService, TrackReportService, TrackViewService
from neon_server.services.track_formulas import TrackFormulaService
from neon_server.services.track_table import TrackTableService
from neon_server.services.track_uploads import TrackUploads
from neon_server.settings import Settings
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.analytics.logs import LogStore
from neon_server.storage.analytics.scores import ScoreStore
from neon_server.storage.analytics.span_list import SpanListStore
from neon_server.storage.analytics.spans import SpanStore
from neon_server.storage.analytics.stats import StatsStore
from neon_server.storage.analytics.trace_list import TraceListStore
from neon_server.storage.analytics.trace_rows import TraceRowStore
from neon_server.storage.analytics.traces import TraceStore
from neon_server.storage.analytics.track import TrackStore
from neon_server.storage.analytics.track_buckets import TrackBucketStore
from neon_server.storage.analytics.track_formula import TrackFormulaStore
from neon_server.storage.analytics.track_read import TrackReadStore
from neon_server.storage.analytics.track_table import TrackTableStore
from neon_server.storage.blobs import FilesystemBlobStore
from neon_server.storage.metadata import MetadataStore, open_metadata
from neon_server.storage.track_files import TrackFileStore
from neon_server.track.writer import TrackWriter

if TYPE_CHECKING:
    from temporalio.client import Client

    from neon.execute.spec import AgentSpec
    from neon_server.execute.runtime import TemporalRuntime
    from neon_server.execute.worker_host import WorkerFactory


@dataclass
class Services:
    settings: Settings
    analytics: AnalyticsDB
    metadata: MetadataStore
    llm_env: Mapping[str, str] = field(default_factory=lambda: os.environ)  # where judges find their provider
    temporal: TemporalRuntime | None = None  # set by start_temporal (`neon up`); None where nothing runs agents
    keys: KeyService = field(init=False)
    projects: ProjectService = field(init=False)
    pricing: PricingService = field(init=False)
    live: LiveHub = field(init=False)
    writer: BatchWriter = field(init=False)
    ingest: IngestService = field(init=False)
    ingest_log: IngestLog | None = field(init=False)
    log_ingest: LogIngestService = field(init=False)
    logs: LogService = field(init=False)
    scores: ScoreService = field(init=False)
    traces: TraceService = field(init=False)
    trace_list: TraceListService = field(init=False)
    span_list: SpanListService = field(init=False)
    stats: StatsService = field(init=False)
    datasets: DatasetService = field(init=False)
    eval_runs: EvalRunService = field(init=False)
    eval_launcher: EvalLauncher = field(init=False)
    eval_workflows: EvalWorkflowService = field(init=False)
    ab_tests: AbTestService = field(init=False)
    score_jobs: ScoreJobService = field(init=False)
    online_rules: OnlineRuleService = field(init=False)
    online_scorer: OnlineScorer | None = field(init=False)
    run_tokens: RunTokens = field(init=False)
    agent_blobs: AgentBlobService = field(init=False)
    run_stream: RunStreamHub = field(init=False)
    agents: AgentService = field(init=False)
    agent_runs: AgentRunService = field(init=False)
    track_writer: TrackWriter = field(init=False)
    track: TrackService = field(init=False)
    track_formulas: TrackFormulaService = field(init=False)
    track_files: TrackFileStore = field(init=False)
    track_uploads: TrackUploads = field(init=False)
    neptune_tokens: NeptuneTokens = field(init=False)
    neptune_ingest: NeptuneIngest = field(init=False)
    neptune_files: NeptuneFiles = field(init=False)
    neptune_read: NeptuneRead = field(init=False)
    track_table: TrackTableService = field(init=False)
    track_views: TrackViewService = field(init=False)
    track_dashboards: TrackDashboardService = field(init=False)
    track_reports: TrackReportService = field(init=False)

    def _open_logs(self) -> None:
        s = self.settings
        store = LogStore(self.analytics)
        self.logs = LogService(store)
        self.log_ingest = LogIngestService(store, Limits(s.ingest_max_attribute_bytes, s.ingest_max_payload_bytes),
                                           dedupe_window_seconds=s.ingest_dedupe_window_seconds)
        self.log_ingest.load_recent_requests()

    def __post_init__(self) -> None:
        # The server's own LLM calls (judges) make SDK spans; they must not configure the SDK on first use
        # from the credentials `neon up` saved and send the server's traces to itself.
        disable_autoconfigure()
        s = self.settings
        self.keys = KeyService(self.metadata.api_keys, cache_seconds=s.auth_cache_seconds)
        secret_key = s.secret_key.get_secret_value() if s.secret_key is not None else None
        secret = load_secret(secret_key, s.home)
        self.run_tokens = RunTokens(secret)
        self.agent_blobs = AgentBlobService(FilesystemBlobStore(s.home / "agent-blobs"),
                                            max_blob_bytes=s.agent_blob_max_bytes,
                                            max_batch_bytes=s.agent_blob_max_batch_bytes)
        self.run_stream = RunStreamHub(queue_size=s.run_stream_queue_size)
        self.projects = ProjectService(self.metadata.projects, self.keys)
        self.pricing = PricingService(self.metadata.model_prices)
        self.agents = AgentService(self.metadata.agent_versions)
        self._neon_url_for_workers = ""
        self.agent_runs = AgentRunService(
            self._temporal_client, specs=self._agent_spec,
            record_version=lambda project_id, spec: self.agents.record(project_id, spec)[0].version,
            issue_token=self.run_tokens.issue, neon_url=lambda: self._neon_url_for_workers,
            task_queue=s.agent_task_queue, versions=self.agent_version_specs)
        self.live = LiveHub()
        self._start_ingest()
        self.scores = ScoreService(ScoreStore(self.analytics))
        self._open_logs()
        self.traces = TraceService(TraceStore(self.analytics), self.logs, settle=self.writer.settle)
        self.trace_list = TraceListService(TraceListStore(self.analytics))
        self.span_list = SpanListService(SpanListStore(self.analytics))
        self.stats = StatsService(StatsStore(self.analytics))
        self.datasets = DatasetService(self.metadata.datasets, self.trace_list, self.traces)
        self.eval_runs = EvalRunService(self.metadata.eval_runs, self.scores)
        self.eval_workflows = EvalWorkflowService(
            self.eval_runs, client=self.agent_runs.client, available=lambda: self.temporal is not None,
            issue_token=self.run_tokens.issue, neon_url=lambda: self._neon_url_for_workers,
            task_queue=s.agent_task_queue, evals_path=s.evals_path)
        self.ab_tests = AbTestService(self.eval_runs, eval_workflows=lambda: self.eval_workflows,
                                      agent_runs=lambda: self.agent_runs)
        self.eval_launcher = EvalLauncher(self.eval_runs, evals_path=s.evals_path, logs_dir=s.home / "eval-runs",
                                          timeout_seconds=s.eval_run_timeout_seconds)
        scoring = TraceScoring(self.traces, self.scores)
        self.score_jobs = ScoreJobService(self.metadata.score_jobs, self.trace_list, scoring, env=self.llm_env,
                                          workers=s.score_job_workers)
        self.online_rules = OnlineRuleService(self.metadata.online_rules, env=self.llm_env)
        self.online_scorer = None
        if s.online_scoring:
            self.online_scorer = OnlineScorer(self.metadata.online_rules, scoring, env=self.llm_env,
                                              settle_seconds=s.online_settle_seconds,
                                              queue_size=s.online_queue_size, max_settling=s.online_max_settling)
            self.online_rules.set_on_change(self.online_scorer.reload)
            self.live.listen(self.online_scorer.on_written)
            self.online_scorer.start()
        self.ingest.recover()  # requests a crash left in the ingest log, now that every listener is in place
        track_store = TrackStore(self.analytics)
        self.track_writer = TrackWriter(track_store)
        self.track = TrackService(self.metadata.track_runs, track_store, self.track_writer,
                                  TrackBucketStore(self.analytics))
        self.track_formulas = TrackFormulaService(self.track, TrackFormulaStore(self.analytics))
        self.track_writer.start()
        self.neptune_tokens = NeptuneTokens(secret, access_seconds=s.neptune_token_seconds,
                                            refresh_seconds=s.neptune_refresh_seconds)
        self.neptune_ingest = NeptuneIngest(self.track, lambda project_id: self.projects.get(project_id).name,
                                            RequestIds(secret))
        self.track_files = TrackFileStore(s.home / "track-files")  # neon.track's and Neptune's uploads alike
        self.track_uploads = TrackUploads(self.track_files)
        self.neptune_files = NeptuneFiles(self.track_files, secret,
                                          part_bytes=s.neptune_file_part_bytes)
        self.neptune_read = NeptuneRead(TrackReadStore(self.analytics), lambda p: self.projects.get(p).name)
        self.track_table = TrackTableService(TrackTableStore(self.analytics))
        self._start_track_ui()

    def _start_ingest(self) -> None:
        """The span writer and the ingest service."""
        s = self.settings
        spans = SpanStore(self.analytics)
        self.ingest_log = IngestLog(s.home / "ingest-log") if s.ingest_log else None
        self.writer = BatchWriter(spans.write, max_batch_rows=s.ingest_batch_rows,
                                  behind_batch_rows=s.ingest_batch_rows_behind,
                                  max_delay_seconds=s.ingest_batch_delay_ms / 1000,
                                  max_pending_rows=s.ingest_buffer_rows, on_written=self.live.publish)
        self.ingest = IngestService(spans, self.writer, self.pricing,
                                    Limits(s.ingest_max_attribute_bytes, s.ingest_max_payload_bytes),
                                    ingest_log=self.ingest_log, decoder=s.ingest_decoder,
                                    decode_processes=s.ingest_decode_processes,
                                    dedupe_window_seconds=s.ingest_dedupe_window_seconds,
                                    lag_rows=s.ingest_lag_rows, pace_seconds=s.ingest_pace_ms / 1000)
        self.ingest.load_recent_requests()
        # The last batches written before a stop may lack their trace-list rows (trace_rows.py).
        TraceRowStore(self.analytics).refresh_last(60)
        self.writer.start()

    def _start_track_ui(self) -> None:
        """What the Track UI saves: views of the runs table, dashboards and reports."""
        self.track_views = TrackViewService(self.metadata.track_views)
        self.track_dashboards = TrackDashboardService(self.metadata.track_dashboards, self.metadata.api_keys)
        self.track_reports = TrackReportService(self.metadata.track_reports)

    def start_temporal(self, neon_url: str, worker_factory: WorkerFactory | None = None) -> TemporalRuntime:
        """Start Temporal (the embedded dev server, or a client of the cluster) and the in-process worker, in
        the background; `close()` stops them. `worker_factory` replaces the `agent_worker_factory` setting."""
        from neon_server.execute.runtime import TemporalRuntime  # temporalio loads only where Temporal runs

        self._neon_url_for_workers = neon_url
        self.temporal = TemporalRuntime(self.settings, neon_url=neon_url, factory=worker_factory)
        self.temporal.start()
        return self.temporal

    def agent_version_specs(self, project_id: str, name: str) -> dict[str, dict[str, Any]]:
        """An agent's recorded versions, newest first, with their specs (what a fork may run instead)."""
        try:
            return {found.version: found.spec for found in self.agents.versions(project_id, name)}
        except NotFound:
            return {}

    def _agent_spec(self, name: str) -> AgentSpec | None:
        """An agent's spec as its file in the agents folder says now (read at each start: edits apply at once)."""
        path = self.settings.agents_path
        try:
            folder = load_agents(path)
        except SpecError as exc:
            raise NotFound(f"no agent {name!r}: {exc}") from None
        found = folder.specs.get(name)
        if found is None and folder.errors:
            raise NotFound(f"no agent {name!r} among the valid specs in {path}; {len(folder.errors)} file(s) there "
                           f"have errors: run `neon agent validate {path}`")
        return found

    async def _temporal_client(self) -> Client:
        from neon_server.execute.client import TemporalUnavailable

        if self.temporal is None:
            raise Unavailable("agent runs need Temporal, which this process did not start (neon up starts it)")
        try:
            return self.temporal.require_client()
        except TemporalUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    def health(self) -> dict[str, Any]:
        """Each dependency's state; `status` is ok only when all are. The in-process worker is reported
        beside them (`workers`) and does not make Neon degraded: Temporal keeps its tasks until a worker
        polls, from this process or a `neon worker`."""
        dependencies = {"analytics": self.analytics.health(), "metadata": self.metadata.health()}
        if self.temporal is not None:
            dependencies["temporal"] = self.temporal.health()
        ok = all(d["status"] == "ok" for d in dependencies.values())
        stats = self.writer.stats
        pacing = self.ingest.pacer.stats
        ingest: dict[str, Any] = {"pending_spans": self.writer.pending_rows, "written_spans": stats.spans,
                                  "unwritten_spans": self.writer.unwritten_rows,
                                  "batches": stats.batches, "failed_batches": stats.failures,
                                  "rejected_overloaded": stats.rejected_overload,
                                  "paced_requests": pacing.paced_requests,
                                  "paced_seconds": round(pacing.paced_seconds, 3), **queryable_after(stats)}
        written = self.track_writer.stats
        track = {"pending_rows": self.track_writer.pending_rows, "written_points": written.points,
                 "batches": written.batches, "failed_batches": written.failures,
                 "rejected_overloaded": written.rejected_overload}
        online = self.online_scorer.stats() if self.online_scorer else {"enabled": False}
        workers = self.temporal.workers_health() if self.temporal is not None else {"status": "off"}
        return {"status": "ok" if ok else "degraded", "dependencies": dependencies, "ingest": ingest, "track": track,
                "online_scoring": online, "workers": workers}

    def stop_scoring(self) -> None:
        """Stop the online scorer and score jobs (before the stores they write to close)."""
        if self.online_scorer is not None:
            self.live.unlisten(self.online_scorer.on_written)
            self.online_scorer.stop(timeout=self.settings.shutdown_timeout_seconds)
        self.score_jobs.close()

    def stop_writers(self) -> None:
        """Write what the span and Track writers hold, then stop them."""
        timeout = self.settings.shutdown_timeout_seconds
        self.writer.stop(timeout=timeout)
        self.ingest.close_workers()
        if self.ingest_log is not None:
            self.ingest_log.close()
        self.track.close()
        self.track_writer.stop(timeout=timeout)

    def close(self) -> None:
        """Stop Temporal (worker, client, dev server), eval runs and scoring started here, write what is
        buffered, then close the stores."""
        if self.temporal is not None:
            self.temporal.stop()
        self.eval_launcher.close()
        self.stop_scoring()
        self.ingest.close()
        self.stats.close()
        self.stop_writers()
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
