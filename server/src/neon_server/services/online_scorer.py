"""The online scorer: runs the enabled online rules over new traces, off the ingest path.

    batch writer ──(trace ids, on its thread: note and return)──► settling: {trace → last seen}
    dispatcher thread: traces quiet for `settle_seconds` ──► bounded work queue
    worker thread: load trace → rules that sample it in and match it → scorers → one score insert per batch

Spans of one trace arrive in several batches (children usually first), so a trace is scored only once it has
been quiet for the settle delay; if more spans come later it settles again and is scored again — the score
ids are deterministic per (trace, score name, rule), so the new verdict replaces the old one.

It must never slow ingestion down: the writer's thread only takes a lock to note the trace ids; when the
settling set or the work queue is full, traces are dropped — counted in `dropped` and logged — rather than
waited for. A scorer that raises is counted in `errors` and logged; the trace's other scores are kept.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neon.evaluate.types import Scorer
from neon_server.domain.online import OnlineRule
from neon_server.services.errors import InvalidInput, ServiceError
from neon_server.services.online_rules import matches, sampled
from neon_server.services.score_jobs import checked_scorers
from neon_server.services.scores import NewScore
from neon_server.services.trace_scoring import LoadedTrace, TraceScoring, Verdict
from neon_server.storage.metadata.online import OnlineRuleRepository

log = logging.getLogger("neon.online")

WORK_BATCH = 16  # traces taken off the queue at once: their judges run concurrently, their scores in one insert


@dataclass(frozen=True)
class ActiveRule:
    rule: OnlineRule
    scorers: list[tuple[str, Scorer]]


class OnlineScorer:
    def __init__(self, rules: OnlineRuleRepository, scoring: TraceScoring, *, env: Mapping[str, str] | None = None,
                 settle_seconds: float = 5.0, queue_size: int = 1000, max_settling: int = 10_000,
                 reload_seconds: float = 30.0) -> None:
        self._rules_repo = rules
        self._scoring = scoring
        self._env = env
        self.settle_seconds = settle_seconds
        self._max_settling = max_settling
        self._reload_seconds = reload_seconds
        self._rules: dict[str, list[ActiveRule]] = {}
        self._broken: set[tuple[str, str]] = set()  # (rule id, updated_at) already reported as unbuildable
        self._settling: dict[tuple[str, str], float] = {}
        self._work: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.scored = 0  # traces at least one rule scored
        self.scores_written = 0
        self.dropped = 0
        self.errors = 0
        self._dropped_logged = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.reload()
        self._threads = [threading.Thread(target=self._dispatch, name="neon-online-dispatch", daemon=True),
                         threading.Thread(target=self._score_forever, name="neon-online-score", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads; traces still settling or queued are not scored (logged with their count)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = len(self._settling) + self._work.qsize()
        if left:
            log.info("online scorer stopped with traces unscored", extra={"fields": {"traces": left}})

    def reload(self) -> None:
        """Read the enabled rules again and build their scorers (called after every rule change, and
        periodically so changes made through another process are picked up)."""
        active: dict[str, list[ActiveRule]] = {}
        for rule in self._rules_repo.enabled():
            try:
                _, scorers = checked_scorers(rule.scorers, self._env, where=f"rule {rule.name!r} scorers")
            except InvalidInput as exc:
                # checked when saved, but the environment (an LLM provider) may have changed since
                marker = (rule.id, rule.updated_at.isoformat())
                if marker not in self._broken:
                    self._broken.add(marker)
                    self.errors += 1
                    log.error("online rule skipped: its scorers cannot be built",
                              extra={"fields": {"rule_id": rule.id, "error": exc.message}})
                continue
            active.setdefault(rule.project_id, []).append(ActiveRule(rule, scorers))
        self._rules = active  # one assignment: readers see the old set or the new one, never a mix

    def stats(self) -> dict[str, Any]:
        return {"enabled_rules": sum(len(r) for r in self._rules.values()), "settling": len(self._settling),
                "queue_depth": self._work.qsize(), "scored": self.scored, "scores_written": self.scores_written,
                "dropped": self.dropped, "errors": self.errors}

    # ------------------------------------------------------------ on the writer's thread
    def on_written(self, project_id: str, trace_ids: list[str]) -> None:
        """Note traces that had spans written; O(traces) under a lock, never waits on anything else."""
        rules = self._rules.get(project_id)
        if not rules or self._stop.is_set():
            return
        now = time.monotonic()
        with self._lock:
            for trace_id in trace_ids:
                key = (project_id, trace_id)
                if key not in self._settling:
                    if not any(sampled(trace_id, r.rule.sample_rate) for r in rules):
                        continue
                    if len(self._settling) >= self._max_settling:
                        self.dropped += 1
                        continue
                self._settling[key] = now

    # ------------------------------------------------------------ dispatcher thread
    def _dispatch(self) -> None:
        tick = min(1.0, max(0.05, self.settle_seconds / 4))
        next_reload = time.monotonic() + self._reload_seconds
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                due = [key for key, seen in self._settling.items() if now - seen >= self.settle_seconds]
                for key in due:
                    del self._settling[key]
            for key in due:
                try:
                    self._work.put_nowait(key)
                except queue.Full:
                    with self._lock:  # the writer's thread counts drops too
                        self.dropped += 1
            if self.dropped > self._dropped_logged:
                log.warning("online scorer overloaded: traces dropped unscored",
                            extra={"fields": {"dropped": self.dropped - self._dropped_logged,
                                              "dropped_total": self.dropped, "queue_depth": self._work.qsize()}})
                self._dropped_logged = self.dropped
            if now >= next_reload:
                next_reload = now + self._reload_seconds
                try:
                    self.reload()
                except Exception:  # the metadata store may be briefly away: keep the rules we have
                    log.exception("online rules could not be reloaded")

    # ------------------------------------------------------------ worker thread
    def _score_forever(self) -> None:
        loop = asyncio.new_event_loop()  # this thread's own, for the judges' HTTP calls
        try:
            while not self._stop.is_set():
                try:
                    batch = [self._work.get(timeout=0.2)]
                except queue.Empty:
                    continue
                while len(batch) < WORK_BATCH:
                    try:
                        batch.append(self._work.get_nowait())
                    except queue.Empty:
                        break
                try:
                    self._score_batch(batch, loop)
                except Exception:  # never let one bad batch end the thread
                    self.errors += 1
                    log.exception("online scoring failed for a batch", extra={"fields": {"traces": len(batch)}})
        finally:
            loop.close()

    def _score_batch(self, batch: list[tuple[str, str]], loop: asyncio.AbstractEventLoop) -> None:
        jobs: list[tuple[ActiveRule, LoadedTrace]] = []
        for project_id, trace_id in batch:
            candidates = [r for r in self._rules.get(project_id, []) if sampled(trace_id, r.rule.sample_rate)]
            if not candidates:
                continue
            try:
                loaded = self._scoring.load(project_id, trace_id)
            except ServiceError as exc:
                self.errors += 1
                log.warning("online scoring could not read a trace",
                            extra={"fields": {"trace_id": trace_id, "error": exc.message}})
                continue
            jobs += [(r, loaded) for r in candidates if matches(r.rule.filter, loaded.summary)]
        if not jobs:
            return

        async def run_all() -> list[list[Verdict]]:
            return list(await asyncio.gather(*(self._scoring.run(r.scorers, t) for r, t in jobs)))

        results = loop.run_until_complete(run_all())
        rows: dict[str, list[NewScore]] = {}
        for (active, loaded), verdicts in zip(jobs, results, strict=True):
            rule = active.rule
            for verdict in verdicts:
                if verdict.error is not None:
                    self.errors += 1
                    log.warning("online scorer failed", extra={"fields": {
                        "rule_id": rule.id, "rule": rule.name, "trace_id": loaded.trace_id, "score": verdict.name,
                        "error": verdict.error}})
            rows.setdefault(rule.project_id, []).extend(self._scoring.rows(
                rule.project_id, loaded.trace_id, verdicts, origin=f"rule:{rule.id}",
                metadata={"rule_id": rule.id, "rule": rule.name}))
        self.scored += len({(r.rule.project_id, t.trace_id) for r, t in jobs})
        for project_id, project_rows in rows.items():
            try:
                self.scores_written += self._scoring.write(project_id, project_rows)
            except Exception:
                self.errors += 1
                log.exception("online scores could not be written", extra={"fields": {"project_id": project_id}})
