"""Score jobs: built-in scorers run over the stored traces a filter chooses, in the background.

A job is recorded in the metadata store (so progress can be read from any API process) and runs on one of a
few threads of this process, a chunk of traces at a time: load the chunk, run every scorer on every trace
concurrently (judges wait on the network), write the chunk's scores in one insert, record progress.

Scores have source `online` and the id `score_id(project, trace, score name, "job:" + key)`: running the same
scorers over the same traces again replaces their scores instead of adding more. A job whose process stops
before it ends is marked failed by that process when it can; one that crashed stays `running`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from neon.evaluate.specs import SpecError, build_scorers, parse_specs
from neon.evaluate.types import Scorer
from neon_server.domain.online import ScoreJob
from neon_server.services.errors import InvalidInput, NotFound, ServiceError, Unavailable
from neon_server.services.trace_filters import trace_filter_from
from neon_server.services.trace_scoring import LoadedTrace, Tally, TraceScoring, Verdict
from neon_server.services.traces import TraceListService
from neon_server.storage.analytics.trace_list import TraceFilter
from neon_server.storage.metadata.online import ScoreJobRepository

log = logging.getLogger("neon.score_jobs")

MAX_TRACES = 10_000
CHUNK = 8  # traces scored at once: enough to overlap judges' network waits, few enough to report progress often
MAX_KEY = 100


def checked_scorers(data: Any, env: Mapping[str, str] | None, where: str = "scorers"
                    ) -> tuple[list[dict[str, Any]], list[tuple[str, Scorer]]]:
    """(the specs as stored, (built-in name, scorer) pairs), or InvalidInput naming what is wrong."""
    try:
        specs = parse_specs(data, where=where)
        built = build_scorers(specs, env=env, where=where)
    except SpecError as exc:
        raise InvalidInput(str(exc)) from None
    return [s.to_dict() for s in specs], [(s.scorer, b) for s, b in zip(specs, built, strict=True)]


class ScoreJobService:
    def __init__(self, repo: ScoreJobRepository, trace_list: TraceListService, scoring: TraceScoring, *,
                 env: Mapping[str, str] | None = None, workers: int = 2) -> None:
        self._repo = repo
        self._trace_list = trace_list
        self._scoring = scoring
        self._env = env
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="neon-score-job")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}

    def start(self, project_id: str, *, filter: dict[str, Any], scorers: Any, limit: int = 100, key: str = "",
              dry_run: bool = False) -> dict[str, Any]:
        """Check everything, then either list the traces that would be scored (`dry_run`) or start a job."""
        flt = trace_filter_from(filter)
        if not 1 <= limit <= MAX_TRACES:
            raise InvalidInput(f"limit must be 1–{MAX_TRACES}")
        if len(key) > MAX_KEY:
            raise InvalidInput(f"key must be at most {MAX_KEY} characters")
        specs, built = checked_scorers(scorers, self._env)
        if dry_run:
            traces = self._trace_list.matching(project_id, flt, limit)
            return {"dry_run": True, "matched": len(traces), "scorers": specs,
                    "traces": [{k: t.get(k) for k in ("trace_id", "name", "start_time", "status")} for t in traces]}
        with self._lock:  # no job may start once close() began, or it would outlive the stores
            if self._stopping.is_set():
                raise Unavailable("the server is stopping; start the job again once it is back")
            job = self._repo.create(project_id, filter=filter, scorers=specs, limit=limit, key=key)
            self._futures = {i: f for i, f in self._futures.items() if not f.done()}
            self._futures[job.id] = self._pool.submit(self._run, job, flt, built)
        return job.to_dict()

    def get(self, project_id: str, job_id: str) -> ScoreJob:
        job = self._repo.get(project_id, job_id)
        if job is None:
            raise NotFound(f"no score job {job_id!r} in this project")
        return job

    def recent(self, project_id: str, limit: int = 50) -> list[ScoreJob]:
        return self._repo.recent(project_id, limit)

    def close(self) -> None:
        """Stop taking jobs; running ones stop after their current chunk and are marked failed."""
        with self._lock:
            self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job_id, future in self._futures.items():
            if future.cancelled():  # queued behind others, never started
                self._repo.progress(job_id, status="failed", finished=True,
                                    error="the server stopped before the job started; start it again")

    def _run(self, job: ScoreJob, flt: TraceFilter, scorers: list[tuple[str, Scorer]]) -> None:
        loop = asyncio.new_event_loop()  # this thread's own: judges' HTTP calls run on it
        counts = {"done": 0, "scores_written": 0, "errors": 0}
        tally = Tally()
        try:
            trace_ids = [t["trace_id"] for t in self._trace_list.matching(job.project_id, flt, job.limit)]
            self._repo.progress(job.id, counts, status="running", total=len(trace_ids))
            for start in range(0, len(trace_ids), CHUNK):
                if self._stopping.is_set():
                    self._repo.progress(job.id, counts, status="failed", summary=tally.summary(), finished=True,
                                        error="the server stopped before the job finished; start it again "
                                              "(traces already scored are replaced, not duplicated)")
                    return
                self._chunk(job, trace_ids[start:start + CHUNK], scorers, loop=loop, counts=counts, tally=tally)
                self._repo.progress(job.id, counts, summary=tally.summary())
            self._repo.progress(job.id, counts, status="completed", summary=tally.summary(), finished=True)
            log.info("score job finished", extra={"fields": {"job_id": job.id, **counts}})
        except Exception as exc:
            log.exception("score job failed", extra={"fields": {"job_id": job.id}})
            self._repo.progress(job.id, counts, status="failed", summary=tally.summary(), finished=True,
                                error=f"{type(exc).__name__}: {exc}")
        finally:
            loop.close()

    def _chunk(self, job: ScoreJob, trace_ids: list[str], scorers: list[tuple[str, Scorer]], *,
               loop: asyncio.AbstractEventLoop, counts: dict[str, int], tally: Tally) -> None:
        loaded: list[LoadedTrace] = []
        for trace_id in trace_ids:
            try:
                loaded.append(self._scoring.load(job.project_id, trace_id))
            except ServiceError as exc:  # e.g. gone since it was listed: count it, go on
                counts["errors"] += 1
                tally.add(Verdict("", "(trace)", error=f"{trace_id}: {exc.message}"))
        async def all_traces() -> list[list[Verdict]]:
            return list(await asyncio.gather(*(self._scoring.run(scorers, t) for t in loaded)))

        results = loop.run_until_complete(all_traces())
        origin = f"job:{job.key}"
        metadata = {"job_id": job.id, **({"job_key": job.key} if job.key else {})}
        rows = []
        for trace, verdicts in zip(loaded, results, strict=True):
            for verdict in verdicts:
                tally.add(verdict)
                if verdict.error is not None:
                    counts["errors"] += 1
                    log.warning("scorer failed", extra={"fields": {"job_id": job.id, "trace_id": trace.trace_id,
                                                                   "score": verdict.name, "error": verdict.error}})
            rows += self._scoring.rows(job.project_id, trace.trace_id, verdicts, origin=origin, metadata=metadata)
        counts["scores_written"] += self._scoring.write(job.project_id, rows)
        counts["done"] += len(trace_ids)
