"""Scores on traces and spans: numeric, boolean or categorical, with a reason and evidence."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neon_server.services.errors import InvalidInput
from neon_server.services.traces import iso_times
from neon_server.storage.analytics.scores import ScoreStore

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
SOURCES = ("api", "sdk", "annotation", "eval", "online")
MAX_BATCH = 10_000


@dataclass
class NewScore:
    trace_id: str
    name: str
    value: float | bool | str
    span_id: str = ""
    source: str = "api"
    scorer: str = ""
    reason: str = ""
    evidence: Any = None
    eval_run_id: str = ""
    dataset_item_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    score_id: str | None = None
    data_type: str | None = None  # inferred from the value when absent


class ScoreService:
    def __init__(self, store: ScoreStore) -> None:
        self._store = store

    def find(self, project_id: str, *, exact: dict[str, str], source: str | None, limit: int,
             cursor: str | None) -> dict[str, Any]:
        before = None
        if cursor:
            try:
                at, _, score_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
                datetime.strptime(at, "%Y-%m-%d %H:%M:%S.%f")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise InvalidInput("cursor is not valid: use the next_cursor of a previous page") from None
            before = (at, score_id)
        rows = self._store.find(project_id, exact=exact, source=source, limit=limit + 1, before=before)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            raw = f"{last['created_at'].strftime('%Y-%m-%d %H:%M:%S.%f')}|{last['score_id']}"
            next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return {"scores": iso_times(rows), "next_cursor": next_cursor}

    def create(self, project_id: str, scores: list[NewScore]) -> list[str]:
        """Validate all, then write all; returns the score ids. A score id given again replaces that score."""
        if not scores:
            raise InvalidInput("no scores given")
        if len(scores) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} scores per request")
        rows = [self._row(project_id, i, score) for i, score in enumerate(scores)]
        self._store.insert(rows)
        return [row["score_id"] for row in rows]

    @staticmethod
    def _row(project_id: str, index: int, score: NewScore) -> dict[str, Any]:
        where = f"scores[{index}]"
        trace_id = score.trace_id.lower().replace("-", "")
        if not TRACE_ID.match(trace_id):
            raise InvalidInput(f"{where}.trace_id must be 32 hex characters")
        span_id = score.span_id.lower()
        if span_id and not SPAN_ID.match(span_id):
            raise InvalidInput(f"{where}.span_id must be 16 hex characters")
        if not 0 < len(score.name) <= 200:
            raise InvalidInput(f"{where}.name must be 1–200 characters")
        if score.source not in SOURCES:
            raise InvalidInput(f"{where}.source must be one of {', '.join(SOURCES)}")
        value: float | None
        text = ""
        if isinstance(score.value, bool):
            data_type, value = "boolean", 1.0 if score.value else 0.0
        elif isinstance(score.value, int | float):
            data_type, value = "numeric", float(score.value)
            if not math.isfinite(value):
                raise InvalidInput(f"{where}.value must be a finite number")
        elif isinstance(score.value, str):
            data_type, value, text = "categorical", None, score.value
        else:
            raise InvalidInput(f"{where}.value must be a number, a boolean or a string")
        if score.data_type is not None and score.data_type != data_type:
            raise InvalidInput(f"{where}.data_type is {score.data_type!r} but the value is {data_type}")
        evidence = score.evidence if isinstance(score.evidence, str) or score.evidence is None else json.dumps(
            score.evidence, default=str)
        return {"project_id": project_id, "score_id": score.score_id or uuid.uuid4().hex, "trace_id": trace_id,
                "span_id": span_id, "name": score.name, "value": value, "string_value": text,
                "data_type": data_type, "source": score.source, "scorer": score.scorer, "reason": score.reason,
                "evidence": evidence or "", "eval_run_id": score.eval_run_id,
                "dataset_item_id": score.dataset_item_id,
                "metadata": {str(k): str(v) for k, v in score.metadata.items()}}
