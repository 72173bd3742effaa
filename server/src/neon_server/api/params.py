"""Parameter types shared by the routers, documented as strictly as they are checked."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
TIME_HINT = "a date-time with a time zone, as in 2026-01-02T03:04:05Z (RFC 3339)"


def _rfc3339(value: Any) -> Any:
    """Only what `format: date-time` allows: no bare numbers (which pydantic reads as Unix times), no zone-less
    times (whose zone would be a guess)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError(f"must be {TIME_HINT}")
    return value


Time = Annotated[datetime, Strict(False), BeforeValidator(_rfc3339)]
"""A date-time parameter: RFC 3339 with a zone, nothing else."""


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


JSON_INTEGER = BeforeValidator(_json_integer)
"""For an integer of a strict body, after `Field(strict=False, <bounds>)`: JSON Schema counts 3.0 as an integer,
so it is taken; 3.5, true and "3" are not. (Bounds after this validator would be documented as `ge`/`le`.)"""

PATTERN_MEANINGS: dict[str, str] = {}
"""What each pattern of the API means, for 422 messages: a regular expression is no message."""


def described(pattern: str, meaning: str) -> str:
    """`pattern`, with what it means recorded for the messages of the requests that do not match it."""
    PATTERN_MEANINGS[pattern] = meaning
    return pattern


TRACE_ID_PATTERN = described(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             r"[0-9a-fA-F]{12}$", "32 hex characters, or a UUID")
SPAN_ID_PATTERN = described(r"^[0-9a-fA-F]{16}$", "16 hex characters")
OPTIONAL_SPAN_ID_PATTERN = described(r"^([0-9a-fA-F]{16})?$", "16 hex characters, or empty")
ATTRIBUTE_PATTERN = described(r"^[^=]+=.*$", "KEY=VALUE with a KEY")
# Stored durations are nanoseconds in 64 bits: a larger minimum could match nothing, and would overflow.
MAX_DURATION_MS = 9.2e12
MAX_COUNT = 2**53 - 1  # the largest integer every JSON client reads exactly
CURSOR = "the `next_cursor` of the previous page, as given (anything else is refused with 422)"
# What Python's str.strip() removes, spelled out: `\s` differs between regex dialects (ECMA's lacks U+0085).
WHITESPACE = "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())
NOT_BLANK = described(f"[^{WHITESPACE}]", "a non-blank string")
"""A pattern that finds a character other than whitespace: the value is not blank once trimmed."""
CONTROL = r"\u0000-\u001f\u007f"
# Labels (suite names, versions, case ids): printable, and not only spaces.
LABEL_PATTERN = described(f"^[^{CONTROL}]*[^{WHITESPACE}{CONTROL}][^{CONTROL}]*$",
                          "printable characters, not only spaces")
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL_PATTERN,
                             description="1–200 printable characters, not only spaces")]


class Body(BaseModel):
    """A request body, validated strictly: a boolean or a numeric string is not taken for a number, nor a number for
    a boolean. What the JSON Schema refuses, the API refuses."""

    model_config = ConfigDict(strict=True)


class TraceFilterIn(Body):
    """The trace filter of `GET /api/traces` as a JSON object, for requests that choose traces in their body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Time | None = Field(default=None, alias="from", description="default: `to` minus 24 h")
    to: Time | None = Field(default=None, description="default: now")
    status: Literal["ok", "error", "unset"] | None = None
    name: str | None = None
    name_contains: str | None = None
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    agent_version: str | None = None
    environment: str | None = None
    model: str | None = None
    tool: str | None = None
    tag: str | list[str] | None = Field(default=None, description="all must be present")
    attr: Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)] | list[Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)]] \
        | None = Field(default=None, description="KEY=VALUE on any span of the trace")
    min_duration_ms: float | None = Field(default=None, ge=0, le=MAX_DURATION_MS)
    min_tokens: Annotated[int, Field(strict=False, ge=0, le=MAX_COUNT), JSON_INTEGER] | None = None
    max_tokens: Annotated[int, Field(strict=False, ge=0, le=MAX_COUNT), JSON_INTEGER] | None = None
    min_cost: float | None = Field(default=None, ge=0)
    max_cost: float | None = Field(default=None, ge=0)
    score_name: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    search: str | None = Field(default=None, min_length=1, max_length=500, description="text in inputs/outputs")

    def as_json(self) -> dict[str, Any]:
        """The filter as the services take it: only the fields given, times as ISO 8601 strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
