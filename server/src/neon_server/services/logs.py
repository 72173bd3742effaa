"""OTLP logs: ingestion (`POST /v1/logs`), the log search, and GenAI events folded into their span's input/output.

GenAI instrumentations (such as the official OpenAI one) send prompts and completions as log records tied to the
LLM span by trace and span id, in a request of their own: the logs may reach Neon before the span or after it.
So nothing is merged at write time. The records stay in `logs`, and whenever a span's input/output is read for
display (span detail, root payloads for datasets and scoring), an empty input or output is filled from the span's
GenAI events, in time order, as a GenAI message list (`[{"role", "parts": [...]}]`, the shape of
`gen_ai.input.messages`). The span's own input/output, when present, win. Either arrival order gives the same
answer, no row is ever rewritten, and a span whose events come late shows them as soon as they are written.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from neon_server.ingest.otlp_logs import LogDecodeResult, decode_logs_json, decode_logs_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.services.errors import InvalidInput
from neon_server.services.ingest import IngestResult
from neon_server.services.request_dedupe import RequestDedupe
from neon_server.services.traces import _decode_any_cursor, encode_cursor, ns_to_iso
from neon_server.storage.analytics.logs import LogFilter, LogStore

MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
FOLDED_EVENTS = (*MESSAGE_EVENTS, CHOICE_EVENT, DETAILS_EVENT)
CURSOR_KIND = "logs"


class LogIngestService:
    def __init__(self, store: LogStore, limits: Limits, *, dedupe_window_seconds: int = 600) -> None:
        self._store = store
        self._limits = limits
        self._dedupe = RequestDedupe(dedupe_window_seconds)
        self._window = dedupe_window_seconds

    def load_recent_requests(self) -> int:
        found = self._store.recent_requests(self._window)
        self._dedupe.remember_all(found)
        return len(found)

    async def otlp(self, project_id: str, body: bytes, *, json_body: bool) -> IngestResult:
        decoder = decode_logs_json if json_body else decode_logs_protobuf

        def decode_and_write(digest: str) -> LogDecodeResult:
            decoded = decoder(body, project_id, self._limits)
            if len(decoded):
                self._store.write(decoded.to_arrow(digest))  # answered only once written: acknowledged = durable
            return decoded

        async def run(digest: str) -> IngestResult:
            decoded = await asyncio.to_thread(decode_and_write, digest)
            return IngestResult(len(decoded), decoded.rejected, decoded.message())

        return await self._dedupe.once(project_id, body, IngestResult(0, 0, "", duplicate=True), run)


class LogService:
    def __init__(self, store: LogStore) -> None:
        self._store = store

    def search(self, project_id: str, flt: LogFilter, cursor: str | None) -> dict[str, Any]:
        if flt.start is not None and flt.end is not None and flt.end <= flt.start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        if cursor:
            value, record_id = _decode_any_cursor(cursor, CURSOR_KIND)
            flt.after = (int(value), record_id)
        requested = flt.limit
        flt.limit = requested + 1
        rows = self._store.search(project_id, flt)
        next_cursor = None
        if len(rows) > requested:
            rows = rows[:requested]
            next_cursor = encode_cursor(CURSOR_KIND, rows[-1]["time_ns"], rows[-1]["record_id"])
        return {"logs": [_public(row) for row in rows], "next_cursor": next_cursor}

    def fill_payloads(self, project_id: str, payloads: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Fill the empty input/output (and absent system instructions) of the given spans from their GenAI
        events. `payloads` maps (trace id, span id) to {"input", "output"[, "attributes"]}."""
        wanted = [key for key, p in payloads.items() if not p.get("input") or not p.get("output")]
        if not wanted:
            return
        events: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in self._store.events_of_spans(project_id, wanted, FOLDED_EVENTS):
            events.setdefault((row["trace_id"], row["span_id"]), []).append(row)
        for key, rows in events.items():
            folded = fold(rows)
            payload = payloads[key]
            for side in ("input", "output"):
                if not payload.get(side) and folded[side]:
                    payload[side] = folded[side]
            attributes = payload.get("attributes")
            if isinstance(attributes, dict) and folded["system_instructions"]:
                attributes.setdefault("gen_ai.system_instructions", folded["system_instructions"])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["time"] = ns_to_iso(out.pop("time_ns"))
    out["observed_time"] = ns_to_iso(out.pop("observed_ns"))
    out["attributes"] = dict(out["attributes"])
    out["resource_attributes"] = dict(out["resource_attributes"])
    out["truncated"] = bool(out["truncated"])
    return out


# ---------------------------------------------------------------- folding GenAI events
def fold(events: list[dict[str, Any]]) -> dict[str, str]:
    """A span's GenAI events (time order) → {"input", "output", "system_instructions"} as JSON text ('' if none).

    `gen_ai.client.inference.operation.details` carries the message lists as attributes (stored as JSON text);
    the per-message events (`gen_ai.*.message`, `gen_ai.choice`) carry one message each in their body."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    found = {"input": "", "output": "", "system_instructions": ""}
    for event in events:
        name = event["event_name"]
        if name == DETAILS_EVENT:
            attributes = dict(event["attributes"])
            for side, key in (("input", "gen_ai.input.messages"), ("output", "gen_ai.output.messages"),
                              ("system_instructions", "gen_ai.system_instructions")):
                found[side] = found[side] or attributes.get(key, "")
            continue
        body = _body(event)
        if name in MESSAGE_EVENTS:
            inputs.append(_message(MESSAGE_EVENTS[name], body))
        elif name == CHOICE_EVENT:
            outputs.append(_choice(body))
    if not found["input"] and any(m["parts"] for m in inputs):
        found["input"] = json.dumps(inputs, ensure_ascii=False)
    if not found["output"] and any(m["parts"] for m in outputs):
        found["output"] = json.dumps(outputs, ensure_ascii=False)
    return found


def _body(event: dict[str, Any]) -> Any:
    if event["body_type"] == "json":
        try:
            return json.loads(event["body"])
        except ValueError:
            return event["body"]
    return event["body"] or None


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": …}, {"type": "image_url", …}]
        parts: list[dict[str, Any]] = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
                parts.append({"type": "text", "content": item["text"]})
            elif isinstance(item, dict):
                parts.append(item)
            elif item is not None:
                parts.append({"type": "text", "content": str(item)})
        return parts
    return [{"type": "text", "content": json.dumps(content, ensure_ascii=False)}]


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        raw = call.get("function")
        function: dict[str, Any] = raw if isinstance(raw, dict) else {}
        part = {"type": "tool_call", "id": call.get("id"), "name": function.get("name", call.get("name")),
                "arguments": function.get("arguments", call.get("arguments"))}
        parts.append({k: v for k, v in part.items() if v is not None})
    return parts


def _message(role: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {"role": role, "parts": _parts(body)}
    if role == "tool":
        response = body.get("content")
        part = {"type": "tool_call_response", "id": body.get("id"), "response": response}
        parts = [{k: v for k, v in part.items() if v is not None}] if response is not None else []
        return {"role": role, "parts": parts}
    return {"role": role, "parts": _parts(body.get("content")) + _tool_calls(body.get("tool_calls"))}


def _choice(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {"role": "assistant", "parts": _parts(body)}
    message = body.get("message")
    message = message if isinstance(message, dict) else {}
    folded = _message(str(message.get("role") or "assistant"), message)
    if body.get("finish_reason"):
        folded["finish_reason"] = body["finish_reason"]
    return folded
