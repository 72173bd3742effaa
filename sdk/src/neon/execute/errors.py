"""Errors of agent specs: every problem in a file at once, each with its file, line, column and field path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]
"""A field's place in a spec: `("tools", 1, "parameters", "type")`."""


def format_path(path: Sequence[str | int]) -> str:
    """`("tools", 1, "parameters", "type")` → `tools[1].parameters.type`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec. `line` and `column` count from 1; they are None when the spec did not come from a
    file (a dict or a Python object) or the place is unknown."""

    field: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        text = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {text}" if where else text

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "field": self.field,
                "message": self.message}


class SpecError(ValueError):
    """A spec that is not valid. `errors` lists every problem found (not just the first); `str()` gives one per
    line, as `file:line:col: field: message`."""

    def __init__(self, errors: Iterable[SpecIssue], *, source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("\n".join(str(e) for e in self.errors) or "invalid agent spec")


class TemplateError(ValueError):
    """A system prompt that cannot be rendered: names the variables that were missing (or unknown)."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), unknown: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.unknown = list(unknown)
