"""What every scorer shares: making a Score with pass/fail from a threshold, reading the output as text or a
field, and `define_scorer` for scorers written as plain functions."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, overload

from neon.evaluate.types import Case, Outcome, Score, ScoreType, decode_payload

ScorerResult = Score | float | bool | tuple[float | bool | None, str] | None
"""What a custom scorer function may return."""

ScorerFunction = Callable[[Case, Outcome], "ScorerResult | Awaitable[ScorerResult]"]


def make_score(name: str, value: float | None, *, threshold: float | None = 1.0, data_type: ScoreType = "numeric",
               label: str = "", reason: str = "", evidence: Any = None) -> Score:
    """A Score whose `passed` is `value >= threshold` (None when there is no value or no threshold)."""
    passed = None if value is None or threshold is None else value >= threshold
    return Score(name=name, value=value, data_type=data_type, label=label, reason=reason, evidence=evidence,
                 passed=passed)


def no_score(name: str, reason: str, evidence: Any = None) -> Score:
    """A Score that could not be given (nothing to compare with, an unparseable judge reply): value None."""
    return Score(name=name, value=None, reason=reason, evidence=evidence, passed=None)


def as_text(value: Any) -> str:
    """A value as scorers read it: strings as they are, None as "", anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def pick(value: Any, path: str | None) -> Any:
    """`value` itself, or the part of it at a dotted path (`"answer"`, `"result.items.0"`). JSON text is decoded
    first. Raises KeyError naming the missing part."""
    if not path:
        return value
    current = decode_payload(value)
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.lstrip("-").isdigit() \
                and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(f"the output has no {path!r} (stopped at {part!r})")
    return current


def short(value: Any, limit: int = 120) -> str:
    """A value for a reason string: its text, cut to `limit` characters."""
    text = as_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FunctionScorer:
    """A scorer made from a function by `define_scorer`: coerces what the function returns into a Score."""

    def __init__(self, fn: ScorerFunction, *, name: str, threshold: float | None,
                 data_type: ScoreType | None) -> None:
        self.fn = fn
        self.name = name
        self.threshold = threshold
        self.data_type = data_type
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"define_scorer({self.name!r})"

    def __call__(self, case: Case, outcome: Outcome) -> Score | Awaitable[Score]:
        result = self.fn(case, outcome)
        if inspect.isawaitable(result):
            return self._finish(result)
        return self.coerce(result)

    async def _finish(self, pending: Awaitable[ScorerResult]) -> Score:
        return self.coerce(await pending)

    def coerce(self, result: ScorerResult) -> Score:
        """A Score from a Score (passed filled from the threshold if unset), a number, a bool,
        `(value, reason)` or None (no score)."""
        if isinstance(result, Score):
            if result.passed is None and result.value is not None and self.threshold is not None:
                return make_score(result.name, result.value, threshold=self.threshold, data_type=result.data_type,
                                  label=result.label, reason=result.reason, evidence=result.evidence)
            return result
        reason = ""
        if isinstance(result, tuple):
            if len(result) != 2 or not isinstance(result[1], str):
                raise TypeError(f"scorer {self.name!r} returned a tuple that is not (value, reason): {result!r}")
            result, reason = result
        if result is None:
            return no_score(self.name, reason or "the scorer gave no value")
        if isinstance(result, bool):
            return make_score(self.name, 1.0 if result else 0.0, threshold=1.0 if self.threshold is None
                              else self.threshold, data_type=self.data_type or "boolean", reason=reason)
        if isinstance(result, int | float):
            if not 0.0 <= float(result) <= 1.0:
                raise ValueError(f"scorer {self.name!r} returned {result}: values must be in [0, 1]")
            return make_score(self.name, float(result), threshold=self.threshold,
                              data_type=self.data_type or "numeric", reason=reason)
        raise TypeError(f"scorer {self.name!r} returned {type(result).__name__}: return a Score, a number in "
                        "[0, 1], a bool, (value, reason) or None")


@overload
def define_scorer(fn: ScorerFunction, *, name: str | None = None, threshold: float | None = None,
                  data_type: ScoreType | None = None) -> FunctionScorer: ...


@overload
def define_scorer(fn: None = None, *, name: str | None = None, threshold: float | None = None,
                  data_type: ScoreType | None = None) -> Callable[[ScorerFunction], FunctionScorer]: ...


def define_scorer(fn: ScorerFunction | None = None, *, name: str | None = None, threshold: float | None = None,
                  data_type: ScoreType | None = None) -> FunctionScorer | Callable[[ScorerFunction], FunctionScorer]:
    """A scorer from a function of `(case, outcome)`, sync or async, as a decorator or a call:

        @define_scorer
        def polite(case, outcome):
            return "please" in outcome.output, "asked nicely"

        @define_scorer(name="short", threshold=0.5)
        async def brevity(case, outcome):
            return min(1.0, 50 / max(len(outcome.output), 1))

        scorer = define_scorer(my_function, name="mine")

    The function may return a `Score`, a number in [0, 1], a bool, `(value, reason)`, or None (no score).
    `passed` is `value >= threshold` (bools pass when true; numbers have no pass/fail without a threshold).
    """
    def wrap(function: ScorerFunction) -> FunctionScorer:
        return FunctionScorer(function, name=name or str(getattr(function, "__name__", "scorer")), threshold=threshold,
                              data_type=data_type)

    return wrap(fn) if fn is not None else wrap
