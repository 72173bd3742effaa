"""Turning inputs and outputs into attribute strings: safely (never raises), size-limited, redactable."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

Redactor = Callable[[Any], Any]
TRUNCATION_MARK = "…[truncated by neon sdk]"


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)  # pydantic v2 models
    if callable(dump):
        try:
            return dump()
        except Exception:  # noqa: S110 - fall through to repr
            pass
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return repr(value)


def to_attribute(value: Any, max_chars: int, redact: Redactor | None = None) -> tuple[str, bool]:
    """(text, truncated). Strings pass as they are; everything else becomes JSON (repr as a last resort)."""
    try:
        if redact is not None:
            value = redact(value)
        text = value if isinstance(value, str) else json.dumps(value, default=_default, ensure_ascii=False)
    except Exception:  # a broken __repr__ or redaction hook must not break the user's program
        try:
            text = repr(value)
        except Exception:
            text = f"<unserialisable {type(value).__name__}>"
    if len(text) > max_chars:
        return text[:max_chars] + TRUNCATION_MARK, True
    return text, False
