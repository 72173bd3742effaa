"""Rule-based scorers: deterministic checks of the agent's output (contains, regex, exact match, JSON, numbers).

Each reads `outcome.output` (or the part of it at `field=`, a dotted path) and compares it with what it was given,
or with `case.expected` when it was given nothing. An agent that failed with no output scores 0 with the error as
the reason. Without anything to compare with, the score has value None and says so.
"""

from __future__ import annotations

import json
import math
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from neon.evaluate.scorers.base import as_text, make_score, no_score, pick, short
from neon.evaluate.types import Case, Outcome, Score, decode_payload

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_CODE_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?")


class OutputRule(ABC):
    """Common ground of the rule scorers: the score's name, `field`, `threshold`, and the failed-agent case."""

    name: str

    def __init__(self, name: str, field: str | None, threshold: float | None) -> None:
        self.name = name
        self.field = field
        self.threshold = threshold

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        if outcome.output is None and outcome.error:
            return make_score(self.name, 0.0, threshold=self.threshold, reason=f"the agent failed: {outcome.error}")
        try:
            actual = pick(outcome.output, self.field)
        except KeyError as missing:
            return make_score(self.name, 0.0, threshold=self.threshold, reason=str(missing.args[0]))
        return self.check(case, actual)

    @abstractmethod
    def check(self, case: Case, actual: Any) -> Score:
        """Score `actual` (the output, or its `field`)."""


class Contains(OutputRule):
    """The output contains the given strings: `mode="any"` (one is enough, a boolean score) or `"all"` (the
    value is the fraction found; passes when all are there). Case-insensitive unless `case_sensitive=True`.
    Without `needles`, uses `case.expected` (a string or a list of strings)."""

    def __init__(self, needles: str | Sequence[str] | None = None, *, mode: Literal["any", "all"] = "any",
                 case_sensitive: bool = False, field: str | None = None, name: str = "contains",
                 threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        if mode not in ("any", "all"):
            raise ValueError(f"mode must be 'any' or 'all', not {mode!r}")
        self.needles = needles
        self.mode = mode
        self.case_sensitive = case_sensitive

    def check(self, case: Case, actual: Any) -> Score:
        needles = self.needles if self.needles is not None else case.expected
        if isinstance(needles, str):
            needles = [needles]
        if not needles or not all(isinstance(n, str) for n in needles):
            return no_score(self.name, "nothing to look for: pass needles or set the case's expected to text")
        text = as_text(actual)
        haystack = text if self.case_sensitive else text.casefold()
        found = [n for n in needles if (n if self.case_sensitive else n.casefold()) in haystack]
        missing = [n for n in needles if n not in found]
        evidence = {"found": found, "missing": missing}
        if self.mode == "any":
            reason = f"found {found[0]!r}" if found else f"none of {list(needles)!r} in {short(text)!r}"
            return make_score(self.name, 1.0 if found else 0.0, threshold=self.threshold, data_type="boolean",
                              reason=reason, evidence=evidence)
        reason = f"all {len(needles)} found" if not missing else f"missing {missing!r} in {short(text)!r}"
        return make_score(self.name, len(found) / len(needles), threshold=self.threshold, reason=reason,
                          evidence=evidence)


class Regex(OutputRule):
    """The output matches a regular expression (anywhere, or the whole of it with `full_match=True`)."""

    def __init__(self, pattern: str | re.Pattern[str], *, ignore_case: bool = False, full_match: bool = False,
                 field: str | None = None, name: str = "regex", threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        flags = re.IGNORECASE if ignore_case else 0
        self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        self.full_match = full_match

    def check(self, case: Case, actual: Any) -> Score:
        text = as_text(actual)
        match = self.pattern.fullmatch(text) if self.full_match else self.pattern.search(text)
        if match is None:
            how = "does not fully match" if self.full_match else "no match for"
            return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean",
                              reason=f"{how} /{self.pattern.pattern}/ in {short(text)!r}")
        return make_score(self.name, 1.0, threshold=self.threshold, data_type="boolean",
                          reason=f"matched {short(match.group(0), 60)!r}",
                          evidence={"match": match.group(0), "span": list(match.span()),
                                    "groups": list(match.groups())})


class ExactMatch(OutputRule):
    """The output equals the expected value, after normalising text: `strip` (default on), `case_sensitive`
    (default on), `collapse_whitespace`, `ignore_punctuation`, or your own `normalize` function. Structured
    expected values (dicts, lists, numbers) are compared as values, the output's JSON text decoded first."""

    def __init__(self, expected: Any = None, *, case_sensitive: bool = True, strip: bool = True,
                 collapse_whitespace: bool = False, ignore_punctuation: bool = False,
                 normalize: Callable[[str], str] | None = None, field: str | None = None,
                 name: str = "exact_match", threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        self.expected = expected
        self.case_sensitive = case_sensitive
        self.strip = strip
        self.collapse_whitespace = collapse_whitespace
        self.ignore_punctuation = ignore_punctuation
        self.normalize = normalize

    def _norm(self, text: str) -> str:
        if self.normalize is not None:
            return self.normalize(text)
        if self.ignore_punctuation:
            text = text.translate(_PUNCTUATION)
        if self.collapse_whitespace:
            text = " ".join(text.split())
        elif self.strip:
            text = text.strip()
        return text if self.case_sensitive else text.casefold()

    def check(self, case: Case, actual: Any) -> Score:
        expected = self.expected if self.expected is not None else case.expected
        if expected is None:
            return no_score(self.name, "nothing to compare with: pass expected or set the case's expected")
        if not isinstance(expected, str):
            value = decode_payload(actual) if isinstance(actual, str) else actual
            equal = value == expected
            return make_score(self.name, 1.0 if equal else 0.0, threshold=self.threshold, data_type="boolean",
                              reason="equal" if equal else f"expected {short(expected)}, got {short(value)}",
                              evidence={"expected": expected, "actual": value})
        want, got = self._norm(expected), self._norm(as_text(actual))
        if want == got:
            return make_score(self.name, 1.0, threshold=self.threshold, data_type="boolean", reason="equal",
                              evidence={"expected": want, "actual": got})
        at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
        return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean",
                          reason=f"differs at character {at}: expected {short(want[at:], 40)!r}, "
                                 f"got {short(got[at:], 40)!r}",
                          evidence={"expected": want, "actual": got, "first_difference": at})


def _load_json(actual: Any, strip_code_fence: bool) -> tuple[Any, str | None]:
    """(value, None), or (None, why it is not JSON). Dicts and lists are already JSON values."""
    if not isinstance(actual, str):
        return actual, None
    text = actual
    if strip_code_fence and (fenced := _CODE_FENCE.match(text)):
        text = fenced.group(1)
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"


class JsonValid(OutputRule):
    """The output is valid JSON text (or already a JSON value: a dict, list…). `strip_code_fence=True`
    accepts a reply wrapped in a ``` block, as chat models often send it."""

    def __init__(self, *, strip_code_fence: bool = False, field: str | None = None, name: str = "json_valid",
                 threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        self.strip_code_fence = strip_code_fence

    def check(self, case: Case, actual: Any) -> Score:
        _, error = _load_json(actual, self.strip_code_fence)
        if error:
            return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean", reason=error,
                              evidence={"output": short(actual, 500)})
        return make_score(self.name, 1.0, threshold=self.threshold, data_type="boolean", reason="valid JSON")


class JsonSchema(OutputRule):
    """The output (JSON text or a value) is valid against a JSON Schema (any draft `jsonschema` knows; the
    schema's `$schema` picks it). Needs the `eval` extra: `pip install 'neon[eval]'`. The evidence lists every
    violation with its path."""

    def __init__(self, schema: Mapping[str, Any], *, strip_code_fence: bool = False, field: str | None = None,
                 name: str = "json_schema", threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        try:
            from jsonschema.validators import validator_for
        except ImportError as missing:
            raise ImportError("the json_schema scorer needs the jsonschema package: "
                              "pip install 'neon[eval]'") from missing
        cls = validator_for(schema)
        cls.check_schema(schema)  # a broken schema is the test author's bug: say so now, not per case
        self.schema = schema
        self.validator = cls(schema)
        self.strip_code_fence = strip_code_fence

    def check(self, case: Case, actual: Any) -> Score:
        value, error = _load_json(actual, self.strip_code_fence)
        if error:
            return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean", reason=error,
                              evidence={"output": short(actual, 500)})
        errors = sorted(self.validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        if not errors:
            return make_score(self.name, 1.0, threshold=self.threshold, data_type="boolean",
                              reason="matches the schema")
        violations = [{"path": "/" + "/".join(map(str, e.absolute_path)), "message": e.message} for e in errors]
        listed = "; ".join(f"{v['path']}: {v['message']}" for v in violations[:3])
        more = f" (and {len(violations) - 3} more)" if len(violations) > 3 else ""
        return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean",
                          reason=f"{len(violations)} schema violation(s): {listed}{more}", evidence=violations)


def _number(value: Any, which: Literal["first", "last", "only"]) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    found = _NUMBER.findall(as_text(value))
    if not found or (which == "only" and len(found) != 1):
        return None
    return float((found[0] if which == "first" else found[-1]).replace(",", ""))


class NumericClose(OutputRule):
    """The output is a number close to the expected one: `|actual - expected| <= max(abs_tol,
    rel_tol * |expected|)`. Text outputs have their number extracted ("about 1,234.5 km"): the `last` number by
    default (reasoning usually ends with the answer), or `first`, or `only` (fail unless there is exactly one)."""

    def __init__(self, expected: float | None = None, *, abs_tol: float = 1e-9, rel_tol: float = 0.0,
                 extract: Literal["first", "last", "only"] = "last", field: str | None = None,
                 name: str = "numeric_close", threshold: float = 1.0) -> None:
        super().__init__(name, field, threshold)
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("tolerances must be 0 or more")
        self.expected = expected
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol
        self.extract = extract

    def check(self, case: Case, actual: Any) -> Score:
        expected = _number(self.expected if self.expected is not None else case.expected, "only")
        if expected is None:
            return no_score(self.name, "no expected number: pass expected or set the case's expected to a number")
        got = _number(actual, self.extract)
        if got is None or math.isnan(got):
            return make_score(self.name, 0.0, threshold=self.threshold, data_type="boolean",
                              reason=f"no number ({self.extract}) in {short(actual)!r}")
        tolerance = max(self.abs_tol, self.rel_tol * abs(expected))
        diff = abs(got - expected)
        close = diff <= tolerance
        evidence = {"expected": expected, "actual": got, "difference": diff, "tolerance": tolerance}
        reason = (f"{got:g} is within {tolerance:g} of {expected:g}" if close
                  else f"{got:g} is {diff:g} away from {expected:g} (tolerance {tolerance:g})")
        return make_score(self.name, 1.0 if close else 0.0, threshold=self.threshold, data_type="boolean",
                          reason=reason, evidence=evidence)


# The names the docs use: `contains("refund")`, `json_schema({...})`.
contains = Contains
regex = Regex
exact_match = ExactMatch
json_valid = JsonValid
json_schema = JsonSchema
numeric_close = NumericClose
