"""A trace filter from a JSON object, with the names and meanings of `GET /api/traces`' query parameters.

Used where a filter travels in a request body (datasets from traces); unknown names and bad values are
refused with a message naming them, so a typo never silently widens the selection.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from neon_server.domain.time_range import within_store_range
from neon_server.services.errors import InvalidInput
from neon_server.storage.analytics.trace_list import EXACT_FIELDS, TraceFilter

TEXT = ("name_contains", "model", "tool", "score_name", "search")
NUMBERS = ("min_duration_ms", "min_cost", "max_cost", "score_min", "score_max")
COUNTS = ("min_tokens", "max_tokens")
KNOWN = frozenset({"from", "to", "status", "tag", "attr", *EXACT_FIELDS, *TEXT, *NUMBERS, *COUNTS})
DEFAULT_WINDOW = timedelta(hours=24)


def _time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"filter.{key} must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"filter.{key} is not an ISO 8601 time: {value!r}") from None
    return within_store_range(parsed)


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise InvalidInput(f"filter.{key} must be a string or a list of strings")
    return items


def trace_filter_from(data: dict[str, Any], *, now: datetime | None = None) -> TraceFilter:
    """The TraceFilter a JSON object describes; `from`/`to` default to the 24 hours before now."""
    if not isinstance(data, dict):
        raise InvalidInput("filter must be an object")
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise InvalidInput(f"filter: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
    end = _time(data, "to") or now or datetime.now(UTC)
    start = _time(data, "from") or end - DEFAULT_WINDOW
    status = data.get("status")
    if status is not None and status not in ("ok", "error", "unset"):
        raise InvalidInput("filter.status must be ok, error or unset")
    for key in (*EXACT_FIELDS, *TEXT):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInput(f"filter.{key} must be a string")
    for key in NUMBERS:
        if data.get(key) is not None and (isinstance(data[key], bool) or not isinstance(data[key], int | float)):
            raise InvalidInput(f"filter.{key} must be a number")
    for key in COUNTS:
        if data.get(key) is not None and (isinstance(data[key], bool) or not isinstance(data[key], int)
                                          or data[key] < 0):
            raise InvalidInput(f"filter.{key} must be a whole number ≥ 0")
    attributes: dict[str, str] = {}
    for item in _strings(data, "attr"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"filter.attr must look like KEY=VALUE, got {item!r}")
        attributes[key] = value
    return TraceFilter(
        start=start, end=end, status=status, name_contains=data.get("name_contains"),
        exact={k: data[k] for k in EXACT_FIELDS if data.get(k) is not None}, model=data.get("model"),
        tool=data.get("tool"), tags=_strings(data, "tag"), attributes=attributes,
        min_duration_ms=data.get("min_duration_ms"), min_tokens=data.get("min_tokens"),
        max_tokens=data.get("max_tokens"), min_cost=data.get("min_cost"), max_cost=data.get("max_cost"),
        score_name=data.get("score_name"), score_min=data.get("score_min"), score_max=data.get("score_max"),
        search=data.get("search"))
