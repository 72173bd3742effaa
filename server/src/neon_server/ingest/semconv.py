"""Map what real clients emit onto Neon's span model, keeping every original attribute.

Understood, in order of precedence where they overlap:
- Neon's SDK: `neon.*` (span_type, component_type, input, output, session_id, user_id, agent_id, …);
- OpenTelemetry GenAI semantic conventions, current and older names (`gen_ai.operation.name`,
  `gen_ai.provider.name` / `gen_ai.system`, `gen_ai.usage.input_tokens` / `prompt_tokens`,
  `gen_ai.input.messages`, `gen_ai.prompt.N.*`, `gen_ai.tool.*`, `gen_ai.agent.*`, `gen_ai.conversation.id`);
- OpenInference (`openinference.span.kind`, `llm.*`, `input.value`, `output.value`, `tool.*`, `session.id`,
  `user.id`, `tag.tags`, `llm.input_messages.N.message.*`).

Attributes that carry payloads (prompts, messages, inputs, outputs) are stored beside the span in
`span_payloads.attributes`; all others in `spans.attributes`. Nothing is dropped; oversized values are
truncated with a marker and the span is flagged (`truncated = 1`, keys listed in `neon.truncated_keys`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from neon_server.ingest.columns import clamp_uint32

SPAN_TYPES = frozenset({"span", "generation", "embedding", "tool", "retrieval", "reranker", "agent", "workflow",
                        "chain", "guardrail", "evaluator", "event"})
OPENINFERENCE_KINDS = {"LLM": "generation", "EMBEDDING": "embedding", "CHAIN": "chain", "RETRIEVER": "retrieval",
                       "RERANKER": "reranker", "TOOL": "tool", "AGENT": "agent", "GUARDRAIL": "guardrail",
                       "EVALUATOR": "evaluator", "PROMPT": "span", "DECISION": "span"}
GENAI_OPERATIONS = {"chat": "generation", "text_completion": "generation", "generate_content": "generation",
                    "completion": "generation", "embeddings": "embedding", "execute_tool": "tool",
                    "invoke_agent": "agent", "create_agent": "agent"}

# Each field lists the attribute keys that may carry it, best first.
FIELDS: dict[str, tuple[str, ...]] = {
    "span_type": ("neon.span_type",),
    "oi_kind": ("openinference.span.kind",),
    "operation": ("gen_ai.operation.name",),
    "component_type": ("neon.component_type",),
    "model": ("neon.model", "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
    "provider": ("neon.provider", "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                      "llm.token_count.completion"),
    "total_tokens": ("gen_ai.usage.total_tokens", "llm.token_count.total"),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                            "gen_ai.usage.input_tokens.cached", "llm.token_count.prompt_details.cache_read"),
    "cost": ("neon.cost", "gen_ai.usage.cost", "llm.cost.total"),
    "tool_name": ("neon.tool.name", "gen_ai.tool.name", "tool.name"),
    "session_id": ("neon.session_id", "session.id", "gen_ai.conversation.id"),
    "user_id": ("neon.user_id", "user.id", "enduser.id"),
    "agent_id": ("neon.agent_id", "gen_ai.agent.id", "gen_ai.agent.name", "agent.name"),
    "agent_version": ("neon.agent_version", "gen_ai.agent.version"),
    "environment": ("neon.environment", "deployment.environment.name", "deployment.environment"),
    "tags": ("neon.tags", "tag.tags"),
    "error_type": ("error.type", "exception.type"),
    "input": ("neon.input", "gen_ai.input.messages", "input.value", "gen_ai.tool.call.arguments",
              "tool.parameters", "gen_ai.prompt"),
    "output": ("neon.output", "gen_ai.output.messages", "output.value", "gen_ai.tool.call.result",
               "gen_ai.completion"),
    "system_instructions": ("gen_ai.system_instructions",),
}
KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for keys in FIELDS.values() for k in keys))
KEY_INDEX: dict[str, int] = {k: i for i, k in enumerate(KEYS)}
FIELD_SLOTS: dict[str, tuple[int, ...]] = {f: tuple(KEY_INDEX[k] for k in keys) for f, keys in FIELDS.items()}

PAYLOAD_KEYS = frozenset(FIELDS["input"] + FIELDS["output"] + FIELDS["system_instructions"])
PAYLOAD_PREFIXES = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.",
                    "retrieval.documents.", "reranker.input_documents.", "reranker.output_documents.")
# Flattened message lists: `llm.input_messages.0.message.role`, `gen_ai.prompt.0.content`, …
MESSAGE_PREFIXES = {"llm.input_messages.": "input", "gen_ai.prompt.": "input",
                    "llm.output_messages.": "output", "gen_ai.completion.": "output"}
RESOURCE_FIELDS = ("environment", "session_id", "user_id", "agent_id", "agent_version")


# key → (index in KEYS or -1, is a payload, message side or "", length of the message prefix). Attribute
# names repeat across spans, so classifying each name once per process keeps the per-attribute cost low.
_KEY_INFO: dict[str, tuple[int, bool, str, int]] = {}
_KEY_INFO_LIMIT = 100_000


def _classify(key: str) -> tuple[int, bool, str, int]:
    info: tuple[int, bool, str, int] = (KEY_INDEX.get(key, -1), key in PAYLOAD_KEYS, "", 0)
    if not info[1]:
        for prefix in PAYLOAD_PREFIXES:
            if key.startswith(prefix):
                info = (info[0], True, MESSAGE_PREFIXES.get(prefix, ""), len(prefix))
                break
    if len(_KEY_INFO) < _KEY_INFO_LIMIT:
        _KEY_INFO[key] = info
    return info


@dataclass(frozen=True)
class Limits:
    max_attribute_bytes: int = 64 * 1024
    max_payload_bytes: int = 1024 * 1024


def to_text(value: Any) -> str:
    """An attribute value as the string stored in a Map(String, String)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, ensure_ascii=False, default=str)


def truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit // 4 or len(text.encode("utf-8", "surrogatepass")) <= limit:
        return text, False
    cut = text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    return f"{cut}…[truncated by neon: {len(text)} characters]", True


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _first(slots: list[Any], field: str) -> Any:
    for index in FIELD_SLOTS[field]:
        value = slots[index]
        if value is not None and value != "":
            return value
    return None


def _first_key(slots: list[Any], field: str) -> tuple[str, Any]:
    for index in FIELD_SLOTS[field]:
        value = slots[index]
        if value is not None and value != "":
            return KEYS[index], value
    return "", None


def _str(value: Any) -> str:
    return "" if value is None else to_text(value)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [to_text(v) for v in value if v is not None and v != ""]
    if isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [to_text(v) for v in parsed]
        return [t.strip() for t in value.split(",") if t.strip()]
    return [to_text(value)]


def _messages(flat: dict[int, dict[str, Any]]) -> str:
    """Rebuild a message list from flattened attributes (index → {role, content, …})."""
    return json.dumps([flat[i] for i in sorted(flat)], ensure_ascii=False, default=str)


def _add_flat_message(target: dict[int, dict[str, Any]], rest: str, value: Any) -> None:
    index, _, path = rest.partition(".")
    if not index.isdigit():
        return
    path = path.removeprefix("message.")
    target.setdefault(int(index), {})[path] = value


class ResourceInfo:
    """What a resource contributes to each of its spans: service, stored attributes, defaults for fields."""

    __slots__ = ("defaults", "keys", "service", "tags", "values")

    def __init__(self, pairs: list[tuple[str, Any]], limits: Limits) -> None:
        slots: list[Any] = [None] * len(KEYS)
        attributes: list[tuple[str, str]] = []
        service = ""
        for key, value in pairs:
            if key == "service.name":
                service = to_text(value)
            index = KEY_INDEX.get(key)
            if index is not None:
                slots[index] = value
            attributes.append((key, truncate(to_text(value), limits.max_attribute_bytes)[0]))
        self.service = service
        self.keys = [k for k, _ in attributes]
        self.values = [v for _, v in attributes]
        self.defaults = {f: _str(_first(slots, f)) for f in RESOURCE_FIELDS}
        self.tags = _tags(_first(slots, "tags"))


def append_span(cols: dict[str, list[Any]], limits: Limits, *, trace_id: str, span_id: str, parent_span_id: str,
                name: str, start_ns: int, end_ns: int, status: str, status_message: str,
                attributes: list[tuple[str, Any]], resource: ResourceInfo, scope: str, events: str) -> None:
    """Map one span's attributes onto Neon's fields and append it to the column lists."""
    slots: list[Any] = [None] * len(KEYS)
    stored_keys: list[str] = cols["attributes.keys"]
    stored_values: list[str] = cols["attributes.values"]
    payload_attrs: list[tuple[str, str]] = []
    flat_in: dict[int, dict[str, Any]] = {}
    flat_out: dict[int, dict[str, Any]] = {}
    truncated_keys: list[str] = []
    short_limit = limits.max_attribute_bytes // 4  # shorter strings cannot exceed any byte limit
    for key, value in attributes:
        info = _KEY_INFO.get(key) or _classify(key)
        index, is_payload, side, prefix_len = info
        if index >= 0:
            slots[index] = value
        if side:
            _add_flat_message(flat_in if side == "input" else flat_out, key[prefix_len:], value)
        text = value if value.__class__ is str else to_text(value)
        if len(text) > short_limit:
            text, cut = truncate(text, limits.max_payload_bytes if is_payload else limits.max_attribute_bytes)
            if cut:
                truncated_keys.append(key)
        if is_payload:
            payload_attrs.append((key, text))
        else:
            stored_keys.append(key)
            stored_values.append(text)

    # What kind of span is it?
    span_type = _str(_first(slots, "span_type")).lower()
    if span_type not in SPAN_TYPES:
        oi_kind = _first(slots, "oi_kind")
        operation = _first(slots, "operation")
        if oi_kind is not None and str(oi_kind).upper() in OPENINFERENCE_KINDS:
            span_type = OPENINFERENCE_KINDS[str(oi_kind).upper()]
        elif operation is not None and str(operation) in GENAI_OPERATIONS:
            span_type = GENAI_OPERATIONS[str(operation)]
        elif _first(slots, "tool_name") is not None:
            span_type = "tool"
        elif _first(slots, "model") is not None and _first(slots, "input_tokens") is not None:
            span_type = "generation"
        else:
            span_type = "span"

    input_tokens = clamp_uint32(_int(_first(slots, "input_tokens")) or 0)
    output_tokens = clamp_uint32(_int(_first(slots, "output_tokens")) or 0)
    total = _int(_first(slots, "total_tokens"))
    total_tokens = clamp_uint32(total if total is not None else input_tokens + output_tokens)
    cached = clamp_uint32(_int(_first(slots, "cached_input_tokens")) or 0)

    # The payload attribute chosen as input/output is stored once, in the input/output column; the span
    # records which attribute it came from, so the original attributes can always be rebuilt.
    in_key, payload_in = _first_key(slots, "input")
    out_key, payload_out = _first_key(slots, "output")
    if in_key or out_key:
        payload_attrs = [(k, v) for k, v in payload_attrs if k not in (in_key, out_key)]
        if in_key:
            stored_keys.append("neon.input_source")
            stored_values.append(in_key)
        if out_key:
            stored_keys.append("neon.output_source")
            stored_values.append(out_key)
    input_text = to_text(payload_in) if payload_in is not None else (_messages(flat_in) if flat_in else "")
    output_text = to_text(payload_out) if payload_out is not None else (_messages(flat_out) if flat_out else "")
    input_text, cut_in = truncate(input_text, limits.max_payload_bytes)
    output_text, cut_out = truncate(output_text, limits.max_payload_bytes)
    if cut_in:
        truncated_keys.append("neon.input")
    if cut_out:
        truncated_keys.append("neon.output")
    if truncated_keys:
        stored_keys.append("neon.truncated_keys")
        stored_values.append(",".join(truncated_keys))

    if status == "unset" and _first(slots, "error_type") is not None:
        status = "error"
    if status == "error" and not status_message:
        status_message = _str(_first(slots, "error_type"))

    defaults = resource.defaults
    tags = _tags(_first(slots, "tags")) or resource.tags
    cost = _float(_first(slots, "cost"))

    cols["trace_id"].append(trace_id)
    cols["span_id"].append(span_id)
    cols["parent_span_id"].append(parent_span_id)
    cols["name"].append(name)
    cols["span_type"].append(span_type)
    cols["component_type"].append(_str(_first(slots, "component_type")).lower())
    cols["service"].append(resource.service)
    cols["scope"].append(scope)
    cols["start_time"].append(start_ns)
    cols["end_time"].append(end_ns)
    cols["duration_ns"].append(end_ns - start_ns if end_ns > start_ns else 0)
    cols["status"].append(status)
    cols["status_message"].append(status_message)
    cols["model"].append(_str(_first(slots, "model")))
    cols["provider"].append(_str(_first(slots, "provider")).lower())
    cols["input_tokens"].append(input_tokens)
    cols["output_tokens"].append(output_tokens)
    cols["cached_input_tokens"].append(cached)
    cols["total_tokens"].append(total_tokens)
    cols["cost"].append(cost if cost is not None and cost >= 0 else None)
    cols["tool_name"].append(_str(_first(slots, "tool_name")))
    cols["session_id"].append(_str(_first(slots, "session_id")) or defaults["session_id"])
    cols["user_id"].append(_str(_first(slots, "user_id")) or defaults["user_id"])
    cols["agent_id"].append(_str(_first(slots, "agent_id")) or defaults["agent_id"])
    cols["agent_version"].append(_str(_first(slots, "agent_version")) or defaults["agent_version"])
    cols["environment"].append(_str(_first(slots, "environment")) or defaults["environment"])
    cols["tags"].append(tags)
    cols["attributes.ends"].append(len(stored_keys))
    cols["resource_attributes.keys"].extend(resource.keys)
    cols["resource_attributes.values"].extend(resource.values)
    cols["resource_attributes.ends"].append(len(cols["resource_attributes.keys"]))
    cols["events"].append(events)
    cols["truncated"].append(1 if truncated_keys else 0)
    cols["input"].append(input_text)
    cols["output"].append(output_text)
    cols["payload_attributes.keys"].extend(k for k, _ in payload_attrs)
    cols["payload_attributes.values"].extend(v for _, v in payload_attrs)
    cols["payload_attributes.ends"].append(len(cols["payload_attributes.keys"]))  # last: marks the span complete
