"""Reading a judge model's reply: JSON when we get it, and the ways models stray from it.

Handled: code fences, prose before or after the JSON, nested objects, scores as numbers, numeric strings,
"7/10", "7 out of 10", "70%", and — on a pass/fail (0–1) scale — verdict words (pass, fail, yes, no, safe,
unsafe…). A score outside the scale is not clamped into it: the judgment then has no value and says why, as
does a reply with no score at all. A made-up number would be worse than none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCORE_KEYS = ("score", "rating", "value", "grade", "verdict", "result", "label")
REASON_KEYS = ("reasoning", "rationale", "reason", "explanation", "justification", "analysis", "critique")
TRUE_WORDS = frozenset({"pass", "passed", "yes", "true", "safe", "correct", "supported", "grounded", "relevant",
                        "consistent", "acceptable"})
FALSE_WORDS = frozenset({"fail", "failed", "no", "false", "unsafe", "incorrect", "unsupported", "ungrounded",
                         "irrelevant", "inconsistent", "unacceptable"})

_NUM = r"[-+]?\d+(?:\.\d+)?"
_FRACTION = re.compile(rf"^\s*({_NUM})\s*(?:/|out of)\s*({_NUM})\s*$", re.IGNORECASE)
_PERCENT = re.compile(rf"^\s*({_NUM})\s*%\s*$")
_PLAIN = re.compile(rf"^\s*({_NUM})\s*$")
# "score: 7/10", "Score = 0.8", "**Rating:** 4 out of 5", "final score of 7"
_PROSE_SCORE = re.compile(
    rf"\b(?:score|rating|grade)\b[\s*_:=\"'-]*(?:is|of|was)?[\s*_:=\"'-]*({_NUM})\s*(%|(?:/|out of)\s*{_NUM})?",
    re.IGNORECASE)
_PROSE_FRACTION = re.compile(rf"({_NUM})\s*(?:/|out of)\s*({_NUM})", re.IGNORECASE)
_PROSE_VERDICT = re.compile(r"\b(?:verdict|result|answer|judgement|judgment)\b[\s*_:=\"'-]*([a-z]+)", re.IGNORECASE)
_FENCE = re.compile(r"```[\w-]*\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Judgment:
    """What a judge reply said: `value` normalised to [0, 1] (None when it could not be read — `error` says
    why), the judge's reasoning, the score as written, and the parsed JSON object (empty if none)."""

    value: float | None
    reasoning: str = ""
    score: Any = None
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


def parse_judgment(text: str, *, scale: tuple[float, float] = (0, 10)) -> Judgment:
    """Read a judge's reply on a `(low, high)` scale. Never raises on a bad reply: look at `error`."""
    low, high = scale
    if not high > low:
        raise ValueError(f"scale {scale} must go from low to high")
    data = _find_object(text)
    if data is not None:
        reasoning = _first(data, REASON_KEYS)
        raw = _first(data, SCORE_KEYS)
        if raw is not None:
            value, error = _normalise(raw, low, high)
            return Judgment(value, str(reasoning or "").strip(), raw, data, error)
        # A JSON object without a score: try the prose (a reply may put "Score: 7" outside the JSON).
        found = _from_prose(text, low, high)
        if found is not None:
            value, error, raw = found
            return Judgment(value, str(reasoning or "").strip(), raw, data, error)
        return Judgment(None, str(reasoning or "").strip(), None, data,
                        f"the reply's JSON has no score (looked for {', '.join(SCORE_KEYS)})")
    found = _from_prose(text, low, high)
    if found is None:
        return Judgment(None, "", None, {}, "the reply has neither JSON nor a recognisable score")
    value, error, raw = found
    return Judgment(value, text.strip(), raw, {}, error)


def _find_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the text that carries a score (else the first object at all)."""
    candidates: list[dict[str, Any]] = []
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for source in sources:
        start = source.find("{")
        while start != -1 and len(candidates) < 20:
            try:
                obj, end = decoder.raw_decode(source, start)
            except ValueError:
                start = source.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                candidates.append(obj)
            start = source.find("{", end)
    for obj in candidates:
        if _first(obj, SCORE_KEYS) is not None:
            return obj
    return candidates[0] if candidates else None


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The first scalar value under one of `keys` (any letter case), looking into nested objects too
    (`{"result": {"score": 8}}`)."""
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in keys:
        value = lowered.get(key)
        if value is not None and not isinstance(value, Mapping | list):
            return value
    for nested in data.values():
        if isinstance(nested, Mapping):
            found = _first(nested, keys)
            if found is not None:
                return found
    return None


def _normalise(raw: Any, low: float, high: float) -> tuple[float | None, str]:  # noqa: PLR0911 - one per form
    """(value in [0, 1], "") or (None, why)."""
    binary = (low, high) == (0, 1)
    if isinstance(raw, bool):
        return (1.0 if raw else 0.0), ""
    if isinstance(raw, int | float):
        return _on_scale(float(raw), low, high)
    if isinstance(raw, str):
        word = raw.strip().strip(".!*").lower()
        if binary and word in TRUE_WORDS:
            return 1.0, ""
        if binary and word in FALSE_WORDS:
            return 0.0, ""
        if m := _FRACTION.match(raw):
            return _fraction(float(m.group(1)), float(m.group(2)))
        if m := _PERCENT.match(raw):
            return _fraction(float(m.group(1)), 100.0)
        if m := _PLAIN.match(raw):
            return _on_scale(float(m.group(1)), low, high)
        return None, f"the score {raw!r} is not a number" + (" or a pass/fail word" if binary else "")
    return None, f"the score {raw!r} is not a number"


def _on_scale(value: float, low: float, high: float) -> tuple[float | None, str]:
    if not low <= value <= high:
        return None, f"the score {value:g} is outside the {low:g}–{high:g} scale"
    return (value - low) / (high - low), ""


def _fraction(numerator: float, denominator: float) -> tuple[float | None, str]:
    if denominator <= 0 or not 0 <= numerator <= denominator:
        return None, f"the score {numerator:g}/{denominator:g} is not between 0 and 1"
    return numerator / denominator, ""


def _from_prose(text: str, low: float, high: float) -> tuple[float | None, str, str] | None:
    """(value, error, the score as written) from free text; the last statement wins (models conclude last)."""
    scored = list(_PROSE_SCORE.finditer(text))
    if scored:
        m = scored[-1]
        number, suffix = m.group(1), (m.group(2) or "").strip()
        raw = f"{number}{suffix}" if suffix == "%" else f"{number} {suffix}".strip()
        value, error = _normalise(raw if suffix else float(number), low, high)
        return value, error, raw
    fractions = list(_PROSE_FRACTION.finditer(text))
    if fractions:
        m = fractions[-1]
        value, error = _fraction(float(m.group(1)), float(m.group(2)))
        return value, error, m.group(0)
    if (low, high) == (0, 1):
        verdicts = list(_PROSE_VERDICT.finditer(text))
        if verdicts:
            raw = verdicts[-1].group(1)
            value, error = _normalise(raw, low, high)
            return value, error, raw
    return None
