"""Scoring one stored trace: read it back as an evaluation `Case` and `Outcome`, run scorers, and turn their
verdicts into score rows with ids that make a rerun replace the earlier verdict.

Shared by score jobs (stored traces chosen by a filter) and the online scorer (new traces as they arrive).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neon.evaluate.types import Case, Outcome, Score, Scorer, decode_payload, run_scorer
from neon.tracing import attributes as A
from neon_server.services.scores import NewScore, ScoreService
from neon_server.services.traces import TraceService

MAX_SPANS = 5000  # scorers read the first spans of very large traces only
PAYLOAD_TYPES = ("tool", "retrieval")  # besides the root, the spans whose inputs/outputs scorers read
# Where a trace carries what it was expected to produce: the SDK's `neon.metadata.*` attributes, or the
# native ingest format's `metadata` object (whose keys land as they are).
EXPECTED_KEYS = ("neon.metadata.expected", "expected")
EXPECTED_TOOLS_KEYS = ("neon.metadata.expected_tools", "expected_tools")
SOURCE = "online"


@dataclass
class LoadedTrace:
    """A stored trace as scorers see it, and its rollup (for matching rules against it)."""

    trace_id: str
    summary: dict[str, Any]
    case: Case
    outcome: Outcome


@dataclass
class Verdict:
    """One scorer's result on one trace: a Score, or the error it raised."""

    scorer: str  # the built-in's name (spec `scorer`)
    name: str  # the score's name
    score: Score | None = None
    error: str | None = None


@dataclass
class Tally:
    """Counts per score name over many traces, for a job's summary."""

    scores: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, verdict: Verdict) -> None:
        entry = self.scores.setdefault(verdict.name, {"scored": 0, "no_value": 0, "errors": 0, "passed": 0,
                                                      "failed": 0, "sum": 0.0, "first_error": None})
        if verdict.error is not None:
            entry["errors"] += 1
            entry["first_error"] = entry["first_error"] or verdict.error
            return
        if verdict.score is None or verdict.score.value is None:
            entry["no_value"] += 1
            return
        entry["scored"] += 1
        entry["sum"] += verdict.score.value
        if verdict.score.passed is not None:
            entry["passed" if verdict.score.passed else "failed"] += 1

    def summary(self) -> dict[str, Any]:
        out = {}
        for name, entry in self.scores.items():
            mean = entry["sum"] / entry["scored"] if entry["scored"] else None
            out[name] = {k: v for k, v in entry.items() if k != "sum"} | {"mean": mean}
        return out


def score_id(project_id: str, trace_id: str, name: str, origin: str) -> str:
    """The same trace, score name and origin (a rule, or a job key) always give the same id, so scoring a trace
    again replaces its score (the scores table keeps the newest row per id)."""
    return hashlib.sha256(f"{project_id}\x1f{trace_id}\x1f{name}\x1f{origin}".encode()).hexdigest()[:32]


def _first(attributes: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if attributes.get(key) not in (None, ""):
            return decode_payload(attributes[key])
    return None


class TraceScoring:
    """Loads stored traces for scorers and writes their verdicts as scores (source `online`)."""

    def __init__(self, traces: TraceService, scores: ScoreService) -> None:
        self._traces = traces
        self._scores = scores

    def load(self, project_id: str, trace_id: str) -> LoadedTrace:
        """The trace's spans with the payloads scorers read (root, tools, retrievals); the Case's input is the
        root's input, its expected value and tools come from the root's metadata when the trace carries them.
        Raises NotFound when the trace is not (yet) stored."""
        detail = self._traces.get(project_id, trace_id, limit=MAX_SPANS)
        spans: list[dict[str, Any]] = detail["spans"]
        summary: dict[str, Any] = detail["trace"]
        ids = {s["span_id"] for s in spans}
        roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in ids]
        root = roots[0] if roots else None
        wanted = [(trace_id, s["span_id"]) for s in spans if s is root or s["span_type"] in PAYLOAD_TYPES]
        payloads = self._traces.root_payloads(project_id, wanted)
        for span in spans:
            attributes = span["attributes"]
            payload = payloads.get((trace_id, span["span_id"]))
            if payload is not None:
                attributes.setdefault(A.INPUT, payload["input"])
                attributes.setdefault(A.OUTPUT, payload["output"])
            # token counts live in columns once stored; the Outcome reads them from attributes
            if span.get("input_tokens"):
                attributes.setdefault(A.INPUT_TOKENS, int(span["input_tokens"]))
            if span.get("output_tokens"):
                attributes.setdefault(A.OUTPUT_TOKENS, int(span["output_tokens"]))
        root_attributes = root["attributes"] if root else {}
        raw_input = root_attributes.get(A.INPUT)
        metadata = {k.removeprefix(A.METADATA_PREFIX): v for k, v in root_attributes.items()
                    if k.startswith(A.METADATA_PREFIX)}
        tools = _first(root_attributes, EXPECTED_TOOLS_KEYS)
        case = Case(input=decode_payload(raw_input) if raw_input not in (None, "") else None,
                    expected=_first(root_attributes, EXPECTED_KEYS),
                    expected_tools=tools if isinstance(tools, list) else None, metadata=metadata, id=trace_id)
        # A partial cost (some LLM calls had no price) is not the trace's cost: budgets see it as unknown.
        known = summary.get("priced_span_count") and not summary.get("unpriced_llm_calls")
        cost = float(summary["cost"]) if known else None
        outcome = Outcome.from_spans(spans, cost_usd=cost)
        outcome.trace_id = trace_id
        return LoadedTrace(trace_id=trace_id, summary=summary, case=case, outcome=outcome)

    @staticmethod
    async def run(scorers: Sequence[tuple[str, Scorer]], loaded: LoadedTrace) -> list[Verdict]:
        """Every scorer on the trace, concurrently; a scorer that raises gives a Verdict with its error."""
        async def one(kind: str, scorer: Scorer) -> Verdict:
            try:
                score = await run_scorer(scorer, loaded.case, loaded.outcome)
            except Exception as exc:  # a scorer's failure is recorded, never allowed to stop the others
                return Verdict(kind, scorer.name, error=f"{type(exc).__name__}: {exc}")
            return Verdict(kind, score.name or scorer.name, score=score)

        return list(await asyncio.gather(*(one(kind, scorer) for kind, scorer in scorers)))

    def rows(self, project_id: str, trace_id: str, verdicts: Sequence[Verdict], *, origin: str,
             metadata: Mapping[str, str]) -> list[NewScore]:
        """The score rows for the verdicts that have a value (a verdict without one writes nothing)."""
        return [row for v in verdicts if (row := self._new_score(project_id, trace_id, v, origin, metadata))]

    def write(self, project_id: str, rows: Sequence[NewScore]) -> int:
        """Store score rows in one insert (many small inserts are what a column store handles worst)."""
        if rows:
            self._scores.create(project_id, list(rows))
        return len(rows)

    @staticmethod
    def _new_score(project_id: str, trace_id: str, verdict: Verdict, origin: str,
                   metadata: Mapping[str, str]) -> NewScore | None:
        score = verdict.score
        if score is None:
            return None
        value: float | bool | str
        if score.data_type == "categorical" and score.label:
            value = score.label
        elif score.value is None:
            return None  # "could not score" (nothing to compare with): no row, counted in the job's summary
        elif score.data_type == "boolean":
            value = score.value >= 0.5
        else:
            value = score.value
        extra = {"passed": str(score.passed).lower()} if score.passed is not None else {}
        evidence = score.evidence if score.evidence is None or isinstance(score.evidence, str) else json.dumps(
            score.evidence, default=str, ensure_ascii=False)
        return NewScore(trace_id=trace_id, name=verdict.name, value=value, source=SOURCE, scorer=verdict.scorer,
                        reason=score.reason, evidence=evidence, metadata={**metadata, **extra},
                        score_id=score_id(project_id, trace_id, verdict.name, origin))
