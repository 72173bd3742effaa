"""What changed between two agent specs, field by field, on their canonical forms (so defaults written out or left
implicit, and formatting, are not changes).

Tools are matched by name (`tools[issue_refund].requires_approval`), so adding a tool does not shift the others;
other lists of objects (guardrail rules) by content, so inserting a rule is one addition; a rule replaced by one of
another type is one change; lists of plain values compare whole.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neon.execute.spec import AgentSpec


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The `old` of an added field, the `new` of a removed one."""


@dataclass(frozen=True)
class SpecChange:
    """One changed field: its path, the old value and the new (MISSING when added or removed)."""

    path: str
    old: Any
    new: Any

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        if self.old is MISSING:
            return "added"
        if self.new is MISSING:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        """As JSON: `old`/`new` are null when missing (see `kind`)."""
        return {"path": self.path, "kind": self.kind, "old": None if self.old is MISSING else self.old,
                "new": None if self.new is MISSING else self.new}

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {_show(self.new)}"
        if self.kind == "removed":
            return f"- {self.path}: {_show(self.old)}"
        if _multiline(self.old) or _multiline(self.new):
            lines = difflib.unified_diff(str(self.old).splitlines(), str(self.new).splitlines(), lineterm="", n=1)
            body = "\n".join(f"    {line}" for line in list(lines)[2:])  # without the ---/+++ header
            return f"~ {self.path}:\n{body}"
        return f"~ {self.path}: {_show(self.old)} → {_show(self.new)}"


def diff_specs(old: AgentSpec | Mapping[str, Any], new: AgentSpec | Mapping[str, Any]) -> list[SpecChange]:
    """The changes from `old` to `new` (specs, or their `to_dict()` forms as stored), in field order."""
    before = old.to_dict() if isinstance(old, AgentSpec) else old
    after = new.to_dict() if isinstance(new, AgentSpec) else new
    changes: list[SpecChange] = []
    _walk(before, after, "", changes)
    return changes


def format_changes(changes: Sequence[SpecChange]) -> str:
    """One line per change (a small unified diff for multi-line text such as the system prompt)."""
    return "\n".join(str(change) for change in changes) if changes else "no changes"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(old: Any, new: Any, path: str, out: list[SpecChange]) -> None:
    if old == new and type(old) is type(new):
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            _walk(old.get(key, MISSING), new.get(key, MISSING), _join(path, str(key)), out)
        return
    if isinstance(old, list) and isinstance(new, list) and _all_objects(old) and _all_objects(new):
        if _named(old) and _named(new):
            before = {item["name"]: item for item in old}
            after = {item["name"]: item for item in new}
            for name in [*before, *(n for n in after if n not in before)]:
                _walk(before.get(name, MISSING), after.get(name, MISSING), f"{path}[{name}]", out)
            return
        _walk_sequence(old, new, path, out)
        return
    out.append(SpecChange(path, old, new))


def _walk_sequence(old: list[Any], new: list[Any], path: str, out: list[SpecChange]) -> None:
    """Lists of objects aligned by content, so inserting a rule reports one addition rather than shifting every
    rule after it. Paths use the new position (the old one for removals)."""
    keys = [[json.dumps(item, sort_keys=True, default=str) for item in items] for items in (old, new)]
    matcher = difflib.SequenceMatcher(a=keys[0], b=keys[1], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            before, after = old[i1 + k], new[j1 + k]
            if before.get("type") != after.get("type"):
                out.append(SpecChange(f"{path}[{j1 + k}]", before, after))
            else:
                _walk(before, after, f"{path}[{j1 + k}]", out)
        for k in range(i1 + paired, i2):
            out.append(SpecChange(f"{path}[{k}]", old[k], MISSING))
        for k in range(j1 + paired, j2):
            out.append(SpecChange(f"{path}[{k}]", MISSING, new[k]))


def _all_objects(items: list[Any]) -> bool:
    return all(isinstance(item, Mapping) for item in items)


def _named(items: list[Any]) -> bool:
    names = [item.get("name") for item in items]
    return all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)


def _multiline(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value.strip()


def _show(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
