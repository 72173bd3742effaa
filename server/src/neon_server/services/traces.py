"""Reading a trace: its summary and span tree (light), and a span's payload on demand."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.analytics.traces import TraceStore

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class TraceService:
    def __init__(self, store: TraceStore) -> None:
        self._store = store

    def get(self, project_id: str, trace_id: str) -> dict[str, Any]:
        trace_id = _trace_id(trace_id)
        summary = self._store.summary(project_id, trace_id)
        if summary is None:
            raise NotFound(f"no trace {trace_id} in this project")
        # The rollup's time range bounds the days to read (a day of slack for clocks at midnight).
        spans = self._store.spans(project_id, trace_id, summary["start_time"] - timedelta(days=1),
                                  summary["end_time"] + timedelta(days=1))
        for span in spans:
            span["attributes"] = dict(span["attributes"])
            span["events"] = json.loads(span["events"]) if span["events"] else []
            span["truncated"] = bool(span["truncated"])
        return {"trace": summary, "spans": spans}

    def payload(self, project_id: str, trace_id: str, span_id: str) -> dict[str, Any]:
        trace_id = _trace_id(trace_id)
        if not HEX16.match(span_id):
            raise InvalidInput("span_id must be 16 hex characters")
        found = self._store.payload(project_id, trace_id, span_id)
        if found is None:
            return {"input": "", "output": "", "attributes": {}}
        return {"input": found["input"], "output": found["output"], "attributes": dict(found["attributes"])}


def _trace_id(value: str) -> str:
    trace_id = value.lower().replace("-", "")
    if not HEX32.match(trace_id):
        raise InvalidInput("trace_id must be 32 hex characters")
    return trace_id
